"""Figures of "teach it your actions": bags -> running checkpoint wall time by stage, and a held-out subject's
accuracy, for K takes per action, fine-tuned from the bundled checkpoint and from scratch.

    python benchmarks/teach.py --out docs/results/teach [--work cache/teach] [--takes 10 3] [--seeds 0 1]

Each cell (K, start, seed) is one `teach-demo` run in <work>/k<K>_<start>_s<seed>/ (the takes of one seed
are recorded once in <work>/bags_s<seed>/ and shared: K = 3 uses the first 3 of K = 10's; shards resume),
and its teach_demo.json is copied to <out>/cells/<cell>.json; a cell whose file is there is skipped. Then
<out>/summary.json and <out>/README.md (a markdown table) are rebuilt from every cell file. The 8 novel
actions (docs/DATASET.md 1.2a) are performed by the training subjects; the held-out subject is 2.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rcmcl_core.atomic_io import atomic_write_bytes  # noqa: E402
from rcmcl_ros.bag.teach_demo import RESULT, TeachDemoConfig, run_teach_demo  # noqa: E402

STARTS = ("bundled", "scratch")


def cell_name(takes: int, start: str, seed: int) -> str:
    return f"k{takes:02d}_{start}_s{seed}"


def run_cell(out: Path, work: Path, *, takes: int, start: str, seed: int, epochs: int | None,
             held_out_takes: int, progress: bool) -> None:
    name = cell_name(takes, start, seed)
    target = out / "cells" / f"{name}.json"
    if target.is_file():
        return
    config = TeachDemoConfig(out=work / name, takes=takes, held_out_takes=held_out_takes,
                             scratch=start == "scratch", epochs=epochs, seed=seed, progress=progress,
                             bags=work / f"bags_s{seed}")
    run_teach_demo(config)
    atomic_write_bytes(target, (work / name / RESULT).read_bytes())


def recount_clips(out: Path, work: Path) -> None:
    """Set train_clips / test_clips of every cell file from its shards' sidecars (cells written before
    teach-demo counted the two splits apart held their sum as train_clips)."""
    from rcmcl_ros.bag.teach_demo import split_clips

    for path in sorted((out / "cells").glob("*.json")):
        shards = work / path.stem / "shards"
        data = json.loads(path.read_text())
        if "test_clips" in data or not shards.is_dir():
            continue
        data["train_clips"], data["test_clips"] = split_clips(shards)
        atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())


def summary(out: Path) -> dict:
    """Every finished cell, and per (K, start) the mean and range over seeds."""
    cells = []
    for path in sorted((out / "cells").glob("*.json")):
        name = path.stem
        takes, start, seed = int(name[1:3]), name.split("_")[1], int(name.split("_s")[-1])
        data = json.loads(path.read_text())
        cells.append({"takes": takes, "start": start, "seed": seed, "accuracy": data["accuracy"],
                      "clean_windows": data["clean_windows"], "train_clips": data["train_clips"],
                      "test_clips": data.get("test_clips"),
                      "stages_s": data["stages_s"], "total_s": sum(data["stages_s"].values()),
                      "per_class": data["per_class"]})
    groups = {}
    for cell in cells:
        groups.setdefault((cell["takes"], cell["start"]), []).append(cell)
    table = []
    for (takes, start), members in sorted(groups.items(), key=lambda item: (-item[0][0], item[0][1])):
        accuracy = [m["accuracy"] for m in members]
        table.append({"takes": takes, "start": start, "seeds": [m["seed"] for m in members],
                      "accuracy_mean": statistics.fmean(accuracy), "accuracy_min": min(accuracy),
                      "accuracy_max": max(accuracy),
                      "stages_s": {stage: statistics.fmean(m["stages_s"][stage] for m in members)
                                   for stage in members[0]["stages_s"]},
                      "total_s": statistics.fmean(m["total_s"] for m in members)})
    return {"cells": cells, "table": table}


def markdown(data: dict, command: str) -> str:
    lines = ["# Teach it your actions: figures", "",
             f"Written by `{command}` from `cells/*.json` (summary.json). 2-core CPU, no GPU. Held-out "
             "subject 2, clean windows (every frame inside one take's labelled span); stage times are wall "
             "seconds of one run (bags are reused across runs of one seed, so `record` is near 0 after the "
             "first).", "",
             "| takes per action | start | seeds | held-out accuracy (mean, min-max) | record s | make_shards s "
             "| finetune s | evaluate s | total s |",
             "|---:|---|---|---|---:|---:|---:|---:|---:|"]
    for row in data["table"]:
        stages = row["stages_s"]
        lines.append(f"| {row['takes']} | {row['start']} | {', '.join(map(str, row['seeds']))} | "
                     f"{row['accuracy_mean']:.1%} ({row['accuracy_min']:.1%}-{row['accuracy_max']:.1%}) | "
                     + " | ".join(f"{stages.get(s, float('nan')):.0f}" for s in ("record", "make_shards",
                                                                                  "finetune", "evaluate"))
                     + f" | {row['total_s']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=Path("docs/results/teach"), help="figures (committed)")
    p.add_argument("--work", type=Path, default=Path("cache/teach"), help="bags, shards, runs (not committed)")
    p.add_argument("--takes", type=int, nargs="+", default=[10, 3], help="takes per action (default 10 3)")
    p.add_argument("--starts", nargs="+", default=list(STARTS), choices=STARTS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default: the bundled config's)")
    p.add_argument("--held-out-takes", type=int, default=2)
    p.add_argument("--report-only", action="store_true", help="rebuild summary.json and README.md only")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if not args.report_only:
        for seed in args.seeds:
            for takes in args.takes:
                for start in args.starts:
                    run_cell(args.out, args.work, takes=takes, start=start, seed=seed, epochs=args.epochs,
                             held_out_takes=args.held_out_takes, progress=not args.no_progress)
    recount_clips(args.out, args.work)
    data = summary(args.out)
    command = "python benchmarks/teach.py " + " ".join(argv if argv is not None else sys.argv[1:])
    atomic_write_bytes(args.out / "summary.json", (json.dumps(data, indent=1) + "\n").encode())
    atomic_write_bytes(args.out / "README.md", markdown(data, command.strip()).encode())
    print(markdown(data, command.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
