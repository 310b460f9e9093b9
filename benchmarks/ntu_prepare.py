"""What `rcmcl prepare ntu` costs per clip, and what NTU-60 / NTU-120 would cost at full size (issue 28).

    .venv/bin/python benchmarks/ntu_prepare.py [--samples 24] [--workers 1 2] [--out docs/results/ntu_prepare]

Writes (or reuses) a format-faithful fixture (`rcmcl prepare ntu-fixture`: .skeleton text, 512x424 16-bit
masked depth PNGs, 1920x1080 30 fps videos; --frames per sample, default 90 = 3 s) under cache/, then converts
it with each modality set (skeleton; skeleton + depth; skeleton + depth + rgb) at each worker count, with the
paper preset's clip config at 15 fps (the DATASET.md recipe). Per run: clips/s, clips/s per worker, shard bytes
per clip and the seconds by stage (the converter's own timers). Projects wall time and disk for NTU-60
(56,880 samples) and NTU-120 (114,480) at 2, 16 and 64 workers from the per-worker rate of the widest run and
the fixture's frames per clip scaled to --mean-frames (NTU clips vary; the projection says which it assumed).
Writes results.json, README.md and stages.png into --out. Goal: NTU-120 skeleton + depth <= 12 h on 16 workers.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rcmcl_core.atomic_io import atomic_write_bytes  # noqa: E402
from rcmcl_core.config import preset  # noqa: E402
from rcmcl_core.data.ntu.convert import STAGES  # noqa: E402
from rcmcl_core.data.ntu.fixture import write_fixture  # noqa: E402
from rcmcl_core.data.ntu.prepare import PrepareRequest, prepare_ntu  # noqa: E402

SETS = {"skeleton": ("skeleton",), "skeleton + depth": ("skeleton", "depth"),
        "skeleton + depth + rgb": ("skeleton", "depth", "rgb")}
NTU_SAMPLES = {"NTU-60": 56_880, "NTU-120": 114_480}
PROJECTED_WORKERS = (2, 16, 64)
GOAL_HOURS = 12.0


def run_once(fixture: Path, modalities: tuple[str, ...], workers: int, *, fps: float) -> dict:
    with tempfile.TemporaryDirectory(dir=ROOT / "cache") as out:
        started = time.perf_counter()
        result = prepare_ntu(PrepareRequest(root=fixture, out=Path(out), version=60, config=preset("paper"), fps=fps,
                                            workers=workers, modalities=modalities, clips_per_shard=4,
                                            progress=False))
        wall = time.perf_counter() - started
        extra = result.manifest.extra["prepare"]
        clips = result.manifest.num_clips
        frames = sum(r["frames"] for r in result.records)
    return {"workers": workers, "clips": clips, "wall_s": wall, "clips_per_s": clips / wall,
            "clips_per_s_per_worker": clips / wall / workers, "bytes_per_clip": extra["bytes"] / clips,
            "stored_frames_per_clip": frames / clips, "stages_s_per_clip": {s: v / clips for s, v in
                                                                          extra["stages_s"].items()},
            "convert_s_per_clip": extra["convert_s"] / clips}


def projection(row: dict, *, fixture_frames: int, mean_frames: float) -> dict:
    """Hours and GB for each NTU version and worker count, linear in workers and in frames per clip."""
    scale = mean_frames / fixture_frames
    seconds_per_clip = scale / row["clips_per_s_per_worker"]
    out = {}
    for name, samples in NTU_SAMPLES.items():
        out[name] = {"disk_gb": samples * row["bytes_per_clip"] * scale / 1e9,
                     "hours": {w: samples * seconds_per_clip / w / 3600 for w in PROJECTED_WORKERS}}
    return out


def plot(result: dict) -> bytes:
    from rcmcl_core.plots.results import figure_png, pyplot

    plt = pyplot()

    names = list(SETS)
    fig, axis = plt.subplots(figsize=(8, 3.5))
    left = [0.0] * len(names)
    for stage in STAGES:
        values = [result["runs"][name][0]["stages_s_per_clip"].get(stage, 0.0) for name in names]
        axis.barh(names, values, left=left, label=stage)
        left = [a + b for a, b in zip(left, values)]
    axis.set_xlabel(f"seconds per clip, one worker ({result['fixture']['frames']} frames at 30 fps)")
    axis.legend(fontsize=7, loc="lower right")
    axis.invert_yaxis()
    fig.tight_layout()
    return figure_png(fig, dpi=110)


def markdown(result: dict) -> str:
    lines = ["# NTU prepare cost (benchmarks/ntu_prepare.py)\n",
             f"- machine: {result['machine']}; load average {result['load']} at the start",
             f"- fixture: {result['fixture']['samples']} NTU-format samples of {result['fixture']['frames']} frames "
             f"(1920x1080 video, 512x424 masked depth); paper preset clip config, stored at {result['fps']:g} fps\n",
             "| modalities | workers | clips/s | clips/s per worker | MB per clip | stored frames per clip |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, rows in result["runs"].items():
        for row in rows:
            lines.append(f"| {name} | {row['workers']} | {row['clips_per_s']:.2f} | "
                         f"{row['clips_per_s_per_worker']:.2f} | {row['bytes_per_clip'] / 1e6:.2f} | "
                         f"{row['stored_frames_per_clip']:.0f} |")
    lines += ["", "| modalities (1 worker), s per clip | " + " | ".join(STAGES) + " | total |",
              "|---|" + "---:|" * (len(STAGES) + 1)]
    for name, rows in result["runs"].items():
        stages = rows[0]["stages_s_per_clip"]
        lines.append(f"| {name} | " + " | ".join(f"{stages.get(s, 0.0):.3f}" for s in STAGES)
                     + f" | {rows[0]['convert_s_per_clip']:.3f} |")
    lines += ["", f"Projection (per-worker rate of the {result['projection_workers']}-worker run, linear in workers; "
                  f"frames per clip scaled from {result['fixture']['frames']} to {result['mean_frames']:g}):", "",
              "| modalities | dataset | disk GB | " + " | ".join(f"hours at {w} workers" for w in PROJECTED_WORKERS)
              + " |", "|---|---|---:|" + "---:|" * len(PROJECTED_WORKERS)]
    for name, projected in result["projection"].items():
        for dataset, values in projected.items():
            lines.append(f"| {name} | {dataset} | {values['disk_gb']:.1f} | "
                         + " | ".join(f"{values['hours'][str(w)]:.1f}" for w in PROJECTED_WORKERS) + " |")
    goal = result["goal"]
    lines.append(f"\n- goal: NTU-120 skeleton + depth <= {GOAL_HOURS:g} h on 16 workers: projected "
                 f"{goal['hours']:.1f} h -> {'met' if goal['met'] else 'NOT met'}")
    lines.append("\nWritten by `.venv/bin/python benchmarks/ntu_prepare.py` (results.json holds every figure).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--mean-frames", type=float, default=90.0,
                        help="NTU frames per clip assumed by the projection (default 90: 3 s)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--fixture", type=Path, default=ROOT / "cache" / "ntu_fixture")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "ntu_prepare")
    args = parser.parse_args(argv)
    (ROOT / "cache").mkdir(exist_ok=True)
    stamp = args.fixture / "fixture.json"
    wanted = {"samples": args.samples, "frames": args.frames}
    if not stamp.is_file() or json.loads(stamp.read_text()) != wanted:
        shutil.rmtree(args.fixture, ignore_errors=True)
        write_fixture(args.fixture, version=60, samples=args.samples, frames=args.frames, progress=True)
        atomic_write_bytes(stamp, json.dumps(wanted).encode())
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    runs = {}
    for name, modalities in SETS.items():
        runs[name] = []
        for workers in args.workers:
            row = run_once(args.fixture, modalities, workers, fps=args.fps)
            runs[name].append(row)
            print(f"{name}, {workers} workers: {row['clips_per_s']:.2f} clips/s, "
                  f"{row['bytes_per_clip'] / 1e6:.2f} MB/clip", flush=True)
    widest = max(args.workers)
    projected = {name: projection(next(r for r in rows if r["workers"] == widest), fixture_frames=args.frames,
                                  mean_frames=args.mean_frames) for name, rows in runs.items()}
    hours = projected["skeleton + depth"]["NTU-120"]["hours"][16]
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs", "load": load,
              "fixture": wanted, "fps": args.fps, "mean_frames": args.mean_frames, "runs": runs,
              "projection_workers": widest, "projection": projected,
              "goal": {"hours": hours, "met": hours <= GOAL_HOURS}}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out / "results.json", json.dumps(result, indent=1).encode())
    result = json.loads((args.out / "results.json").read_text())          # worker counts as JSON keys
    atomic_write_bytes(args.out / "stages.png", plot(result))
    text = markdown(result)
    atomic_write_bytes(args.out / "README.md", text.encode())
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
