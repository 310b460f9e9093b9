"""Where one pretraining step (Eq.6 + fusion term) spends its time, part by part, and clips/s.

    python benchmarks/train_step_profile.py --preset lite --data-root data/synth [--threads 2] [--steps 5]
    python benchmarks/train_step_profile.py --preset tiny            # makes a small synthetic set in a temp dir

Parts of one step, each the median over --steps timed steps (after --warmup untimed ones):
  data            DataLoader: shard reading + decoding, window resampling, point refill, collate
  augment+degrade two views (augment.make_views), degrade_for_training of both, the L_deg skeleton masking
  forward <enc>   each encoder's forward over both views (forward hooks, in the real step)
  forward rest    projections, gates, decoder, L_CM / L_IM / L_deg / fusion InfoNCE
  backward        the whole backward; the per-encoder backward rows below it come from a separate isolated
                  run (each encoder on view-sized inputs, forward then backward of a random projection)
  optimiser       grad clipping + AdamW + scheduler-free step
clips/s = batch / (sum of the parts). The first step of a fresh dataset decodes shards; with
--shard-cache-mb 0 every shard miss decodes again (the behaviour before the in-memory cache).
Prints, asserts nothing; quote the load average it prints next to any figure.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import rcmcl_core.augment.batch as augment  # noqa: E402
import rcmcl_core.training.objectives as objectives
from rcmcl_core.config import MODALITIES, PRESETS, RCMCLConfig, preset  # noqa: E402
from rcmcl_core.data.dataset import ClipDataset  # noqa: E402
from rcmcl_core.models.rcmcl import INPUTS, RCMCL  # noqa: E402
from rcmcl_core.training.objectives import PretrainObjective  # noqa: E402
from rcmcl_core.training.loop import _load, epoch_batches  # noqa: E402
from rcmcl_core.training.distributed import World  # noqa: E402


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


class Timers:
    """Named wall-clock accumulators for one step."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, name: str, function):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
        return timed


def hook_encoders(model: RCMCL, timers: Timers) -> None:
    """Add each encoder's forward wall time to timers['forward <name>']."""
    for name, encoder in model.encoders.items():
        def before(module, inputs, name=name):
            module._profile_start = time.perf_counter()

        def after(module, inputs, output, name=name):
            timers.seconds[f"forward {name}"] += time.perf_counter() - module._profile_start
        encoder.register_forward_pre_hook(before)
        encoder.register_forward_hook(after)


def small_dataset(config: RCMCLConfig, folder: Path) -> Path:
    from rcmcl_core.data.synthetic.generate import generate
    generate(out=folder, config=config, subjects=2, clips_per_class_per_view=1, progress=False)
    return folder


def isolated_encoders(model: RCMCL, batch: dict, iters: int) -> dict[str, tuple[float, float]]:
    """name -> (forward s, backward s) of one encoder on `batch` alone, medians of `iters` runs."""
    out = {}
    for name in MODALITIES:
        encoder = model.encoders[name]
        inputs = [batch[key] for key in INPUTS[name]]
        forwards, backwards = [], []
        for _ in range(iters + 1):
            start = time.perf_counter()
            z = encoder(*inputs)
            middle = time.perf_counter()
            (z * torch.randn_like(z)).sum().backward()
            end = time.perf_counter()
            forwards.append(middle - start)
            backwards.append(end - middle)
        model.zero_grad(set_to_none=True)
        out[name] = (statistics.median(forwards[1:]), statistics.median(backwards[1:]))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="lite")
    parser.add_argument("--config", type=Path, help="YAML overriding the preset")
    parser.add_argument("--data-root", type=Path, help="dataset root (default: a small synthetic set in a temp dir)")
    parser.add_argument("--split", default="xsub")
    parser.add_argument("--batch", type=int, help="batch size (default: the preset's optim.batch_size)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--interop-threads", type=int, default=None, help="torch.set_num_interop_threads")
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (shard decoding, allocator)")
    parser.add_argument("--shard-cache-mb", type=float, default=None,
                        help="ClipDataset in-memory cache of decoded shards (default: the Dataset's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.interop_threads:
        torch.set_num_interop_threads(args.interop_threads)
    config = RCMCLConfig.from_yaml(args.config) if args.config else preset(args.preset)
    batch_size = args.batch or config.optim.batch_size
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.data_root or small_dataset(config, Path(scratch) / "synth")
        kwargs = {} if args.shard_cache_mb is None else {"shard_cache_mb": args.shard_cache_mb}
        dataset = ClipDataset(root, split=args.split, subset="train", config=config, train=True, seed=0, **kwargs)
        run(config, dataset, batch_size=batch_size, args=args, root=root)


def run(config: RCMCLConfig, dataset: ClipDataset, *, batch_size: int, args: argparse.Namespace, root: Path) -> None:
    model = RCMCL(config=config)
    objective = PretrainObjective(model=model, config=config).train()
    trainable = [p for p in objective.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.optim.lr, weight_decay=config.optim.weight_decay)
    generator = torch.Generator().manual_seed(0)
    timers = Timers()
    hook_encoders(model, timers)
    # Route the objective's augmentation and degradation calls through timers (module attributes it calls),
    # and put the originals back afterwards.
    originals = [(augment, "make_views"), (augment, "mask_skeleton"), (objectives, "degrade_for_training")]
    saved = [(module, name, getattr(module, name)) for module, name in originals]
    for module, name, function in saved:
        setattr(module, name, timers.wrap("augment+degrade", function))
    try:
        timed_steps(config, dataset, batch_size=batch_size, args=args, root=root, model=model, objective=objective,
                    optimizer=optimizer, trainable=trainable, generator=generator, timers=timers)
    finally:
        for module, name, function in saved:
            setattr(module, name, function)


def timed_steps(config: RCMCLConfig, dataset: ClipDataset, *, batch_size: int, args: argparse.Namespace, root: Path,
                model: RCMCL, objective: PretrainObjective, optimizer, trainable, generator: torch.Generator,
                timers: Timers) -> None:

    world = World(rank=0, size=1, local_rank=0, device=torch.device("cpu"))
    needed = args.warmup + args.steps
    batches = []
    epoch = 0
    while len(batches) < needed:
        batches += epoch_batches(num_items=len(dataset), batch_size=batch_size, seed=0, epoch=epoch, world=world)
        epoch += 1
    loader = _load(dataset, batches[:needed], config)
    rows: list[dict[str, float]] = []
    last_batch = None
    for step in range(needed):
        timers.seconds.clear()
        start = time.perf_counter()
        batch = next(loader)
        data = time.perf_counter() - start
        start = time.perf_counter()
        terms = objective(batch, generator)
        forward = time.perf_counter() - start
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        backward = time.perf_counter() - start
        start = time.perf_counter()
        if config.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(trainable, config.optim.grad_clip)
        optimizer.step()
        optim = time.perf_counter() - start
        encoder_forward = {f"forward {m}": timers.seconds.get(f"forward {m}", 0.0) for m in MODALITIES}
        aug = timers.seconds.get("augment+degrade", 0.0)
        row = {"data": data, "augment+degrade": aug, **encoder_forward,
               "forward rest": forward - aug - sum(encoder_forward.values()), "backward": backward,
               "optimiser": optim}
        if step >= args.warmup:
            rows.append(row)
        last_batch = batch
    median = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    total = sum(median.values())
    isolated = isolated_encoders(model, augment.make_view(last_batch, config=config.augment, generator=generator),
                                 iters=max(1, min(3, args.steps)))

    print(f"train step profile: preset {config.preset}, batch {batch_size}, data {root} ({len(dataset)} train clips), "
          f"shard cache {dataset.shard_cache_mb:g} MB")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, interop {torch.get_num_interop_threads()}, "
          f"cpus {os.cpu_count()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")
    print(f"load average (1, 5, 15 min): {load_average()}; {len(rows)} timed steps after {args.warmup} warm-up, "
          "medians")
    print("| part | ms per step | share |")
    print("|---|---:|---:|")
    for key, value in median.items():
        print(f"| {key} | {1000 * value:.1f} | {100 * value / total:.0f}% |")
        if key == "backward":
            for name, (_, back) in isolated.items():
                print(f"| - {name} (isolated, x2 views) | {2000 * back:.1f} | {200 * back / total:.0f}% |")
    print(f"| total | {1000 * total:.1f} | 100% |")
    print(f"clips/s: {batch_size / total:.1f} (batch {batch_size} / {total:.3f} s)")


if __name__ == "__main__":
    main()
