"""Speed of the RCMCL model alone (no preprocessing), against a plain R(2+1)D-18 anchor, on CPU or CUDA.

    python benchmarks/model_speed.py --device cuda --amp [--cuda-graph] [--compile] [--channels-last]
    python benchmarks/model_speed.py --device cpu --presets lite [--threads N]
    python benchmarks/model_speed.py --quick         # (= --tiny) every code path at tiny sizes, CPU in seconds

Part 1, per preset in --presets: batch-1 latency p50/p95 (ms) and windows/s at batch 1 and 8 of
RCMCL.forward (the node's call), all three modalities present.
Part 2, the issue-9 figures at --anchor-preset (default: paper on CUDA, tiny with --tiny, none otherwise),
each against the anchor measured in the same run (benchmarks/r2plus1d_anchor.py, torchvision's
r2plus1d_18 written from torch.nn, on RGB clips of the same T x S x S):
  - batch-1 inference p50: all three encoders + AMG (RCMCL.forward_all_present) vs the anchor's forward;
    goal <= 5 ms on one H100 and <= 1.7x the anchor;
  - pretraining clips/s at --train-batch (64): one Eq.6 step (two views, degradations, L_CM + L_IM + L_deg +
    fusion term, backward, AdamW) vs the anchor's supervised step (cross-entropy, backward, AdamW);
    goal >= 250 clips/s and >= 0.77x the anchor.
Options apply to both sides alike: --amp (bf16 autocast, CUDA), --cuda-graph (batch-1 inference replayed
from a captured CUDA graph), --compile (torch.compile), --channels-last (channels_last_3d video convs).
Part 3 (with part 2): sampling + grouping of the paper preset's first point level, fused Triton kernels vs
torch (benchmarks/point_ops_speed.py; fused needs CUDA); goal: fused FPS at 16 x 1024 -> 512 well under 1 ms.
Part 4 (with part 2, unless --no-bag): bag replay windows/s and x real time over the demo bag
(benchmarks/bag_eval_speed.py); goal >= 20x real time. It needs the ROS message packages; without rclpy
the row prints why it was skipped.
Parts 1-3 import only torch, numpy and rcmcl_core (they run on a bare GPU box without ROS). Prints, asserts
nothing.
"""
from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))

from point_ops_speed import cuda_graph as capture_cuda_graph, point_ops_rows  # noqa: E402
from r2plus1d_anchor import R2Plus1D18  # noqa: E402
from rcmcl_core.config import MODALITIES, RCMCLConfig, preset  # noqa: E402
from rcmcl_core.models import RCMCL, rgbd  # noqa: E402
from rcmcl_core.training.objectives import PretrainObjective  # noqa: E402

DEFAULT_ITERS = {"cpu": {"tiny": 30, "lite": 30, "paper": 3}, "cuda": {"tiny": 50, "lite": 50, "paper": 100}}
"""Timed batch-1 forwards when --iters is not given (paper on CPU takes seconds per forward)."""
BATCHES = (1, 8)
WARMUP = 3
NAN_PADDING = 0.1                     # fraction of point rows that are NaN padding, as after cropping
GOALS = {"latency_ms": 5.0, "latency_ratio": 1.7, "train_clips_s": 250.0, "train_ratio": 0.77}
TINY_ANCHOR_WIDTH_DIVISOR = 8         # --tiny only: a narrow anchor, to exercise the code path quickly


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def make_batch(config: RCMCLConfig, *, batch_size: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Random contract tensors: one tracked body, depth with holes, NaN point padding, all present."""
    c = config.clip
    g = torch.Generator().manual_seed(0)
    depth = 1.5 + torch.rand(batch_size, c.frames, 1, c.image_size, c.image_size, generator=g)
    depth[torch.rand(depth.shape, generator=g) < 0.1] = 0.0
    skeleton = torch.zeros(batch_size, c.frames, c.max_bodies, c.num_joints, 3)
    skeleton[:, :, 0] = torch.randn(batch_size, c.frames, c.num_joints, 3, generator=g) * 0.3 + torch.tensor(
        [0.0, 0.0, 2.5])
    points = torch.randn(batch_size, c.frames, c.num_points, 3, generator=g) * 0.3 + torch.tensor([0.0, 0.0, 2.5])
    points[:, :, : int(NAN_PADDING * c.num_points)] = float("nan")
    batch = {
        "rgb": torch.rand(batch_size, c.frames, 3, c.image_size, c.image_size, generator=g),
        "depth": depth, "skeleton": skeleton, "points": points,
        "present": torch.ones(batch_size, len(MODALITIES), dtype=torch.bool),
    }
    return {k: v.to(device) for k, v in batch.items()}


def anchor_clips(config: RCMCLConfig, *, batch_size: int, device: torch.device, channels_last: bool) -> torch.Tensor:
    """(B, 3, T, S, S) RGB clips of the preset's size for the anchor."""
    c = config.clip
    g = torch.Generator().manual_seed(1)
    clips = torch.rand(batch_size, 3, c.frames, c.image_size, c.image_size, generator=g).to(device)
    return clips.to(memory_format=torch.channels_last_3d) if channels_last else clips


# -- timing ----------------------------------------------------------------------------------------------
def synchroniser(device: torch.device) -> Callable[[], None]:
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def autocast(device: torch.device, amp: bool) -> Any:
    return torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda" else nullcontext()


def time_calls(call: Callable[[], Any], *, iters: int, device: torch.device, warmup: int = WARMUP) -> np.ndarray:
    """Seconds per call: `iters` values after `warmup` untimed calls, synchronised around each on CUDA."""
    sync = synchroniser(device)
    times = []
    for i in range(warmup + iters):
        sync()
        start = time.perf_counter()
        call()
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return np.array(times)


# -- part 1: latency table -------------------------------------------------------------------------------
def latency_table(names: list[str], *, device: torch.device, iters: int, amp: bool) -> None:
    print(f"\n{'preset':<7} {'params M':>8} {'p50 ms':>8} {'p95 ms':>8} "
          + " ".join(f"{f'win/s @{b}':>10}" for b in BATCHES))
    for name in names:
        config = preset(name)
        torch.manual_seed(0)
        model = RCMCL(config=config).to(device).eval()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        count = iters or DEFAULT_ITERS[device.type][name]
        rates, latency = [], np.array([np.nan])
        for batch_size in BATCHES:
            batch = make_batch(config, batch_size=batch_size, device=device)
            with torch.inference_mode(), autocast(device, amp):
                times = time_calls(lambda: model(batch), iters=max(1, count // batch_size), device=device,
                                   warmup=min(WARMUP, max(1, count // 2)))
            latency = times if batch_size == 1 else latency
            rates.append(batch_size / float(np.median(times)))
        p50, p95 = np.percentile(latency * 1e3, [50, 95])
        print(f"{name:<7} {params:>8.2f} {p50:>8.1f} {p95:>8.1f} " + " ".join(f"{r:>10.1f}" for r in rates),
              flush=True)


def conv3d_ab(names: list[str], *, iters: int, rounds: int = 5) -> None:
    """CPU batch-1 RGB-D encoder: rgbd.Conv3d (oneDNN called directly) vs nn.Conv3d's kernel choice,
    alternating in `rounds` so that load changes on a shared machine hit both alike."""
    print("\n| preset | RGB-D encoder, oneDNN direct | nn.Conv3d's choice | ratio |\n|---|---:|---:|---:|")
    fast_forward = rgbd.Conv3d.forward
    for name in names:
        config = preset(name)
        torch.manual_seed(0)
        encoder = RCMCL(config=config).encoders["rgbd"].eval()
        batch = make_batch(config, batch_size=1, device=torch.device("cpu"))
        times: dict[str, list[float]] = {"fast": [], "stock": []}
        with torch.inference_mode():
            for _ in range(rounds):
                for kind, forward in (("fast", fast_forward), ("stock", torch.nn.Conv3d.forward)):
                    rgbd.Conv3d.forward = forward
                    times[kind] += list(time_calls(lambda: encoder(batch["rgb"], batch["depth"]), iters=iters,
                                                   device=torch.device("cpu"), warmup=1))
        rgbd.Conv3d.forward = fast_forward
        fast, stock = (float(np.median(times[k])) * 1e3 for k in ("fast", "stock"))
        print(f"| {name} | {fast:.1f} ms | {stock:.1f} ms | {fast / stock:.2f}x |", flush=True)


# -- part 2: the issue-9 figures against the anchor ------------------------------------------------------
def inference_call(module: Any, inputs: Any, *, device: torch.device, args: argparse.Namespace) -> Callable[[], Any]:
    """A zero-argument batch-1 forward with the chosen options (compile, CUDA graph, AMP)."""
    if args.compile:
        module = torch.compile(module, mode=args.compile_mode)

    def call() -> Any:
        with torch.inference_mode(), autocast(device, args.amp):
            return module(inputs)
    if args.cuda_graph:
        if device.type != "cuda":
            raise SystemExit("--cuda-graph needs --device cuda")
        return capture_cuda_graph(call, warmup=WARMUP)
    return call


def ours_training_step(config: RCMCLConfig, *, device: torch.device, args: argparse.Namespace) -> Callable[[], None]:
    torch.manual_seed(0)
    model = RCMCL(config=config).to(device).train()
    if args.channels_last:
        model.encoders["rgbd"].to(memory_format=torch.channels_last_3d)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.optim.lr, weight_decay=config.optim.weight_decay)
    if args.compile:   # the encoders only: the objective's random degradations branch in Python
        for name in MODALITIES:
            model.encoders[name] = torch.compile(model.encoders[name], mode=args.compile_mode, dynamic=True)
    objective = PretrainObjective(model=model, config=config)
    batch = make_batch(config, batch_size=args.train_batch, device=device)
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        with autocast(device, args.amp):
            total = objective(batch, generator)["total"]
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
    return step


def anchor_training_step(anchor: torch.nn.Module, clips: torch.Tensor, *, num_classes: int, device: torch.device,
                         args: argparse.Namespace) -> Callable[[], None]:
    anchor.train()
    optimizer = torch.optim.AdamW(anchor.parameters(), lr=1e-3)
    labels = torch.randint(0, num_classes, (len(clips),), generator=torch.Generator().manual_seed(0)).to(device)
    forward = torch.compile(anchor, mode=args.compile_mode) if args.compile else anchor

    def step() -> None:
        with autocast(device, args.amp):
            loss = F.cross_entropy(forward(clips), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def anchor_figures(name: str, *, device: torch.device, args: argparse.Namespace) -> None:
    config = preset(name)
    c = config.clip
    divisor = TINY_ANCHOR_WIDTH_DIVISOR if args.tiny else 1
    flags = (("bf16 autocast", args.amp and device.type == "cuda"), ("CUDA graph", args.cuda_graph),
             (f"torch.compile {args.compile_mode}", args.compile), ("channels_last_3d", args.channels_last))
    options = ", ".join(name for name, on in flags if on) or "eager fp32"
    print(f"\nissue rows (9, 16): preset {name} (T={c.frames}, {c.image_size}x{c.image_size}, N={c.num_points}) vs "
          f"R(2+1)D-18{f' / {divisor} widths (smoke run)' if divisor > 1 else ''} on 3x{c.frames}x{c.image_size}"
          f"x{c.image_size}; {options}")
    torch.manual_seed(0)
    model = RCMCL(config=config).to(device).eval()
    anchor = R2Plus1D18(width_divisor=divisor).to(device).eval()
    if args.channels_last:
        model.encoders["rgbd"].to(memory_format=torch.channels_last_3d)
        anchor.to(memory_format=torch.channels_last_3d)
    iters = args.iters or DEFAULT_ITERS[device.type][name]
    batch = make_batch(config, batch_size=1, device=device)
    clips = anchor_clips(config, batch_size=1, device=device, channels_last=args.channels_last)
    ours = time_calls(inference_call(model.forward_all_present, batch, device=device, args=args), iters=iters,
                      device=device)
    theirs = time_calls(inference_call(anchor, clips, device=device, args=args), iters=iters, device=device)
    ours_ms, theirs_ms = (float(np.median(t)) * 1e3 for t in (ours, theirs))
    del model, batch
    train_iters, train_warmup = max(3, iters // 10), (8 if args.compile else 2)   # compiling takes a few steps
    step = ours_training_step(config, device=device, args=args)
    ours_rate = args.train_batch / float(np.median(time_calls(step, iters=train_iters, device=device,
                                                              warmup=train_warmup)))
    del step
    train_clips = anchor_clips(config, batch_size=args.train_batch, device=device, channels_last=args.channels_last)
    step = anchor_training_step(anchor, train_clips, num_classes=config.model.num_classes, device=device, args=args)
    theirs_rate = args.train_batch / float(np.median(time_calls(step, iters=train_iters, device=device,
                                                                warmup=train_warmup)))
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU {cpu_model()}"
    latency_met = ours_ms <= GOALS["latency_ms"] and ours_ms / theirs_ms <= GOALS["latency_ratio"]
    train_met = ours_rate >= GOALS["train_clips_s"] and ours_rate / theirs_rate >= GOALS["train_ratio"]
    print("| figure | ours | anchor | ratio | goal | met | device |")
    print("|---|---:|---:|---:|---|---|---|")
    print(f"| batch-1 inference p50 ({iters} runs) | {ours_ms:.2f} ms | {theirs_ms:.2f} ms | "
          f"{ours_ms / theirs_ms:.2f}x | <= {GOALS['latency_ms']:g} ms, <= {GOALS['latency_ratio']}x | "
          f"{'yes' if latency_met else 'no'} | {device_name} |")
    print(f"| pretraining, batch {args.train_batch} ({train_iters} steps) | {ours_rate:.1f} clips/s | "
          f"{theirs_rate:.1f} clips/s | {ours_rate / theirs_rate:.2f}x | >= {GOALS['train_clips_s']:g} clips/s, "
          f">= {GOALS['train_ratio']}x | {'yes' if train_met else 'no'} | {device_name} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default=None, help="part 1 presets, comma-separated (default tiny,lite,paper; "
                                                        "tiny with --tiny; '' skips part 1)")
    parser.add_argument("--anchor-preset", default=None, help="part 2 preset (default paper on CUDA, tiny with "
                                                              "--tiny, none otherwise; 'none' skips part 2)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--iters", type=int, default=0, help="timed batch-1 forwards (0: per-preset default)")
    parser.add_argument("--train-batch", type=int, default=0, help="pretraining batch (default 64; 4 with --tiny)")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    parser.add_argument("--cuda-graph", action="store_true", help="replay batch-1 inference from a CUDA graph")
    parser.add_argument("--compile", action="store_true", help="torch.compile the timed modules")
    parser.add_argument("--compile-mode", default="default", help="torch.compile mode (default, max-autotune, ...)")
    parser.add_argument("--channels-last", action="store_true", help="channels_last_3d for the video convolutions")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--conv3d-ab", action="store_true",
                        help="CPU: time the batch-1 RGB-D encoder with rgbd.Conv3d's oneDNN call and with nn.Conv3d's "
                             "own kernel choice, interleaved (what the oneDNN call saves)")
    parser.add_argument("--tiny", "--quick", action="store_true",
                        help="smoke run of every path at tiny sizes (CPU is fine)")
    parser.add_argument("--no-bag", action="store_true", help="skip the bag replay row (part 4)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch.cuda.is_available() is False")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if args.threads:
        torch.set_num_threads(args.threads)
    args.train_batch = args.train_batch or (4 if args.tiny else 64)
    if args.tiny:
        args.iters = args.iters or 3
    presets = args.presets if args.presets is not None else ("tiny" if args.tiny else "tiny,lite,paper")
    anchor = args.anchor_preset or ("tiny" if args.tiny else ("paper" if device.type == "cuda" else "none"))

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    print(f"machine: {cpu_model()} | Python {platform.python_version()} | torch {torch.__version__} | "
          f"torch threads {torch.get_num_threads()} | GPU {gpu} | device {device} | "
          f"amp {'bf16' if args.amp and device.type == 'cuda' else 'off'}")
    names = [p.strip() for p in presets.split(",") if p.strip()]
    if args.conv3d_ab:
        conv3d_ab(names, iters=args.iters or 10)
    if names:
        latency_table(names, device=device, iters=args.iters, amp=args.amp)
    if anchor != "none":
        anchor_figures(anchor, device=device, args=args)
        point_ops_rows(device=device, quick=args.tiny, iters=args.iters or (50 if device.type == "cuda" else 3))
        if not args.no_bag:
            bag_replay_row(anchor, device=device, quick=args.tiny)


def bag_replay_row(name: str, *, device: torch.device, quick: bool) -> None:
    """Part 4: evaluate-bag over the demo bag (benchmarks/bag_eval_speed.py). The bag's messages are ROS
    types, so this row needs the ROS Python packages; without them it says so and the rest still runs."""
    print(f"\nbag replay: preset {name}, {'8' if quick else '32'} s demo bag, device {device}")
    if importlib.util.find_spec("rclpy") is None:
        print("| bag replay | skipped: rclpy is not importable (the bag's message types come with ROS); run "
              "benchmarks/bag_eval_speed.py on a machine with ROS 2 |", flush=True)
        return
    try:
        import bag_eval_speed
    except ImportError as error:
        print(f"| bag replay | skipped: {error} |", flush=True)
        return
    bag_eval_speed.replay_row(name, device=device.type, quick=quick)


if __name__ == "__main__":
    main()
