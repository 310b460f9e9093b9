"""The whole "teach it your actions" path on synthetic recordings, timed by stage: record takes of the 8
novel actions (the novel class set, docs/DATASET.md 1.2a) by training subjects, write their labels file,
make-shards, fine-tune from a checkpoint (or from scratch), export, and score one held-out subject's takes
with evaluate-bag's pipeline and the labels file.

    python -m rcmcl_ros teach-demo --out cache/teach_demo [--takes 10] [--scratch] [--epochs N]

Writes <out>/teach_demo.json: the stage wall times, the held-out accuracy on clean windows (every frame in
one labelled segment) overall and per class, and the paths. Bags are reused when they exist (make_demo_bag
caches by config), shards resume, so a rerun repeats only what changed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rcmcl_core.atomic_io import atomic_write_bytes

TRAIN_SUBJECTS = (1, 3, 5, 7, 9)
"""Takes cycle over the synthetic benchmark's training subjects."""
HELD_OUT_SUBJECT = 2
RESULT = "teach_demo.json"


@dataclass
class TeachDemoConfig:
    out: Path
    takes: int = 10                     # recordings per action for training
    held_out_takes: int = 2             # recordings per action by the held-out subject
    segment_s: float = 4.0              # seconds per take
    image_size: int = 64                # rendered colour / depth size (the node resizes to the checkpoint's)
    classes: tuple[str, ...] = ()       # () = all of the novel set
    init: Path | None = None            # None: the bundled checkpoint
    scratch: bool = False               # train the init checkpoint's architecture from random weights
    epochs: int | None = None           # fine-tuning epochs (default: the checkpoint's config's)
    seed: int = 0
    progress: bool = True
    bags: Path | None = None            # where the takes are recorded (default <out>/bags); runs may share it


@dataclass
class TeachDemoResult:
    stages_s: dict[str, float] = field(default_factory=dict)
    clean_windows: int = 0
    accuracy: float = float("nan")
    per_class: dict[str, float] = field(default_factory=dict)
    train_clips: int = 0                # clips of the training takes (the held-out takes' are the test split)
    test_clips: int = 0
    checkpoint: str = ""
    settings: dict = field(default_factory=dict)


def run_teach_demo(config: TeachDemoConfig) -> TeachDemoResult:
    """Every stage in order; raises what the stages raise (BagError, LabelsError, ...)."""
    from rcmcl_core.bundled import require_checkpoint
    from rcmcl_core.data.synthetic.classes import class_set

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    classes = list(config.classes or class_set("novel").names)
    init = require_checkpoint(str(config.init or ""), setting="--init", fix="pass --init PATH to an rcmcl .pt file")
    result = TeachDemoResult(settings={k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()})
    clock = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        result.stages_s[name] = round(now - clock, 3)
        clock = now
        _say(f"{name}: {result.stages_s[name]:.1f} s")

    train_bags, held_out = _record(config, classes, out)
    labels = _write_labels(out / "labels.csv", train=train_bags, test=held_out)
    stage("record")
    shards = out / "shards"
    _check(_make_shards([*map(str, train_bags + held_out), "--labels", str(labels), "--out", str(shards),
                         "--checkpoint", str(init), "--split", "file"], config), "make-shards")
    stage("make_shards")
    run = out / ("run_scratch" if config.scratch else "run")
    command = ["finetune", "--data-root", str(shards), "--split", "recordings", "--out", str(run), "--no-heldout",
               "--seed", str(config.seed), "--resume", "--config", str(_checkpoint_config(init, out, config.epochs))]
    command += [] if config.scratch else ["--init", str(init)]
    _check(_rcmcl(command + ([] if config.progress else ["--no-progress"])), "finetune")
    model = out / ("model_scratch.pt" if config.scratch else "model.pt")
    _check(_rcmcl(["export", str(run / "finetune.pt"), str(model)]), "export")
    stage("finetune")
    result.checkpoint = str(model)
    result.train_clips, result.test_clips = split_clips(shards)
    right, seen = Counter(), Counter()
    for bag in held_out:
        for truth, decided in _clean_decisions(bag, labels, model):
            seen[truth] += 1
            right[truth] += truth == decided
    stage("evaluate")
    result.clean_windows = sum(seen.values())
    result.accuracy = sum(right.values()) / max(1, result.clean_windows)
    result.per_class = {name: right[name] / seen[name] for name in classes if seen[name]}
    atomic_write_bytes(out / RESULT, (json.dumps(asdict(result), indent=1) + "\n").encode())
    return result


def split_clips(shards: Path) -> tuple[int, int]:
    """(train, test) clip counts of a make-shards root, from its per-recording sidecars."""
    counts = {"train": 0, "test": 0}
    for sidecar in sorted((shards / "shards").glob("shard_*.json")):
        result = json.loads(sidecar.read_text())["result"]
        counts[result["split"]] += sum(result["kept"].values())
    return counts["train"], counts["test"]


def _record(config: TeachDemoConfig, classes: list[str], out: Path) -> tuple[list[Path], list[Path]]:
    """One bag per take: `takes` per action by the training subjects, `held_out_takes` by the held-out one."""
    from tqdm import tqdm

    from rcmcl_ros.bag.demo import DemoBagConfig, make_demo_bag

    subjects = [TRAIN_SUBJECTS[take % len(TRAIN_SUBJECTS)] for take in range(config.takes)]
    plans = [(f"{name.replace(' ', '_')}_s{subjects[take]:02d}_t{take:02d}", name, subjects[take], take)
             for name in classes for take in range(config.takes)]
    held = [(f"{name.replace(' ', '_')}_s{HELD_OUT_SUBJECT:02d}_t{take:02d}", name, HELD_OUT_SUBJECT, take)
            for name in classes for take in range(config.held_out_takes)]
    bags: dict[str, list[Path]] = {"train": [], "held_out": []}
    for kind, group in (("train", plans), ("held_out", held)):
        for recording, name, subject, take in tqdm(group, desc=f"record {kind}", unit="bag",
                                                   disable=not config.progress, dynamic_ncols=True):
            demo = DemoBagConfig(seed=config.seed * 1000 + take + 100 * subject, actions=1,
                                 segment_s=config.segment_s, image_size=config.image_size, classes=(name,),
                                 class_set="novel", subject=subject, faults=())
            bags[kind].append(make_demo_bag(demo, out=Path(config.bags or out / "bags") / recording,
                                            progress=False))
    return bags["train"], bags["held_out"]


def _write_labels(path: Path, *, train: list[Path], test: list[Path]) -> Path:
    """The labels file a person would write for the takes: one row per action segment, from each demo bag's
    own description (seconds from its start); the held-out subject's takes are the test split."""
    from rcmcl_ros.bag.demo import read_sidecar

    rows = ["recording,start_s,end_s,label,split"]
    for split, bags in (("train", train), ("test", test)):
        for bag in bags:
            rows += [f"{bag.name},{start:g},{end:g},{label},{split}"
                     for start, end, label in read_sidecar(bag)["actions"]]
    atomic_write_bytes(path, ("\n".join(rows) + "\n").encode())
    return path


def _clean_decisions(bag: Path, labels: Path, model: Path) -> list[tuple[str, str]]:
    """(truth, decided label) of the held-out bag's windows that lie inside one labelled segment."""
    from rcmcl_core.windowing import window_times
    from rcmcl_ros.bag.evaluate import evaluate_bag
    from rcmcl_ros.bag.evaluate_command import labels_truth
    from rcmcl_ros.bag.files import DEFAULT_TOPICS
    from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig

    pipeline = Pipeline.from_checkpoint(model, config=PipelineConfig(device="cpu", warmup=False))
    truth = labels_truth(labels, bag, classes=pipeline.labels, absolute=False)
    result = evaluate_bag(bag, pipeline=pipeline, topics=DEFAULT_TOPICS, progress=False, truth_source=truth)
    window = pipeline.config.window
    pairs = []
    for decision in result.decisions:
        label, fraction = truth.purity(window_times(decision.stamp_s, frames=window.frames,
                                                    window_s=window.window_s))
        if label is not None and fraction == 1.0:
            pairs.append((label, decision.label))
    return pairs


def _checkpoint_config(checkpoint: Path, out: Path, epochs: int | None) -> Path:
    """The checkpoint's own config as a YAML file, with `epochs` fine-tuning epochs when given: the run (from
    the checkpoint or from scratch) trains exactly its architecture."""
    import yaml

    from rcmcl_core.checkpoint import load_checkpoint

    data = load_checkpoint(checkpoint).config.to_dict()
    if epochs is not None:
        data["optim"]["finetune_epochs"] = int(epochs)
    path = out / "finetune_config.yaml"
    atomic_write_bytes(path, yaml.safe_dump(data, sort_keys=False).encode())
    return path


def _make_shards(argv: list[str], config: TeachDemoConfig) -> int:
    from rcmcl_ros.bag.make_shards_command import make_shards_command

    return make_shards_command(argv + ([] if config.progress else ["--no-progress"]))


def _rcmcl(argv: list[str]) -> int:
    from rcmcl_core.cli import main

    return main(argv)


def _check(code: int, what: str) -> None:
    if code != 0:
        raise RuntimeError(f"{what} failed with status {code} (its error is above)")


def _say(text: str) -> None:
    print(f"[teach-demo] {text}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rcmcl_ros teach-demo",
                                description="Record synthetic takes of the 8 novel actions, label them, make-shards, "
                                            "fine-tune, and score a held-out subject: the README's 'Teach it your "
                                            "actions' end to end, timed by stage.")
    p.add_argument("--out", type=Path, default=Path("cache/teach_demo"), help="working folder (default "
                   "cache/teach_demo); <out>/teach_demo.json holds the figures")
    p.add_argument("--takes", type=int, default=10, help="training takes per action (default 10)")
    p.add_argument("--held-out-takes", type=int, default=2, help="held-out subject's takes per action (default 2)")
    p.add_argument("--segment-s", type=float, default=4.0, help="seconds per take (default 4)")
    p.add_argument("--size", type=int, default=64, help="rendered image size (default 64)")
    p.add_argument("--class", dest="classes", action="append", default=[], metavar="NAME",
                   help="only these novel actions (repeatable; default all 8)")
    p.add_argument("--init", type=Path, default=None, help="checkpoint to start from (default: the bundled one)")
    p.add_argument("--scratch", action="store_true", help="train the same architecture from random weights")
    p.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default: the checkpoint's config's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    return p


def teach_demo_command(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.takes < 1 or args.held_out_takes < 1:
        print("teach-demo: error: --takes and --held-out-takes must be >= 1", file=sys.stderr)
        return 2
    config = TeachDemoConfig(out=args.out, takes=args.takes, held_out_takes=args.held_out_takes,
                             segment_s=args.segment_s, image_size=args.size, classes=tuple(args.classes),
                             init=args.init, scratch=args.scratch, epochs=args.epochs, seed=args.seed,
                             progress=not args.no_progress)
    try:
        result = run_teach_demo(config)
    except (RuntimeError, ValueError, FileNotFoundError) as error:
        print(f"teach-demo: error: {error}", file=sys.stderr)
        return 2
    stages = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in result.stages_s.items())
    print(f"teach-demo: {result.train_clips} training clips; {stages} (total {sum(result.stages_s.values()):.0f} s)")
    print(f"teach-demo: held-out subject, clean windows: {result.accuracy:.1%} of {result.clean_windows}; "
          + ", ".join(f"{name} {value:.0%}" for name, value in result.per_class.items()))
    print(f"teach-demo: checkpoint {result.checkpoint}; figures {Path(args.out) / RESULT}")
    return 0
