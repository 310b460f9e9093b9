"""Inference backends side by side in one run (issue 27): torch (eager), torchscript (the CPU trace) and
onnxruntime, each as the node runs it (InferenceRuntime.forward), on the bundled checkpoint.

    .venv/bin/python benchmarks/backend_speed.py [--runs 50] [--repeats 3] [--threads 1 2]
        [--out docs/results/backend_speed] [--no-bag]

Cells: batch 1 with every presence pattern (all present and each absent pattern), and the 3-person batch
(all present; and mixed: all, RGB-D absent, skeleton only), at each torch / onnxruntime thread count. The
trace covers only all-present batch-1 windows; elsewhere the torchscript backend runs eagerly, as in the node.
Each repeat times every cell with the backends in rotating order (drift on a shared CPU hits all alike);
a cell's figure is the median over repeats of the per-repeat median. Then bag replay (evaluate_bag over the
8 s demo bag) with each backend: windows/s. Writes results.json, README.md (markdown tables) and
speed.png into --out; the goal is onnxruntime >= 1.15x the trace (batch 1, all present, 1 thread).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rcmcl_core.atomic_io import atomic_write_bytes  # noqa: E402
from rcmcl_core.bundled import BUNDLED_CHECKPOINT  # noqa: E402
from rcmcl_core.checkpoint import load_model  # noqa: E402
from rcmcl_core.inference_runtime import InferenceRuntime, OnnxSettings  # noqa: E402
from rcmcl_core.onnx_export import ABSENT_PATTERNS, export_onnx, random_windows  # noqa: E402

BACKENDS = ("torch", "torchscript", "onnxruntime")
GOAL_ORT_OVER_TRACE = 1.15
MIXED_PEOPLE = ((True, True, True), (False, True, True), (False, True, False))


def pattern_name(pattern) -> str:
    names = [m for m, on in zip(("rgbd", "skeleton", "points"), pattern) if on]
    return "all present" if len(names) == 3 else " + ".join(names) + " only"


def cells() -> list[tuple[str, np.ndarray]]:
    """(name, present (B, 3)) of every timed cell."""
    out = [(f"batch 1, {pattern_name(p)}", np.array([p])) for p in ABSENT_PATTERNS]
    out.append(("batch 3, all present", np.ones((3, 3), bool)))
    out.append(("batch 3, mixed (all / rgbd absent / skeleton only)", np.array(MIXED_PEOPLE)))
    return out


def timed_ms(runtime: InferenceRuntime, batch: dict, *, runs: int) -> float:
    all_present = bool(batch["present"].all())
    device_batch = runtime.to_device(batch)
    for _ in range(3):
        runtime.forward(device_batch, all_present=all_present)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        runtime.forward(runtime.to_device(batch), all_present=all_present)
        times.append(time.perf_counter() - started)
    return 1e3 * float(np.median(times))


def runtimes(model, labels: list[str], onnx: Path) -> dict[str, InferenceRuntime]:
    """One runtime per backend at torch's current thread count (onnxruntime takes the same)."""
    settings = OnnxSettings(path=onnx, labels=labels)
    made = {b: InferenceRuntime(model, device=torch.device("cpu"), warmup=False, cpu_trace=True, backend=b,
                                onnx=settings) for b in BACKENDS}
    assert made["onnxruntime"].onnx is not None and made["torchscript"].traced is not None
    return made


def bag_replay(checkpoint: Path, onnx: Path, *, threads: int) -> dict[str, dict]:
    """windows/s of evaluate_bag over the 8 s demo bag with each backend."""
    from rcmcl_ros.bag.demo import DemoBagConfig, make_demo_bag
    from rcmcl_ros.bag.evaluate import evaluate_bag
    from rcmcl_ros.bag.files import DEFAULT_TOPICS
    from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig

    bag = make_demo_bag(DemoBagConfig(actions=2), progress=False)
    rows = {}
    for backend in BACKENDS:
        pipeline = Pipeline.from_checkpoint(checkpoint, config=PipelineConfig(
            device="cpu", torch_threads=threads, backend=backend, onnx_model=str(onnx), warmup=False))
        result = evaluate_bag(bag, pipeline=pipeline, topics=DEFAULT_TOPICS, progress=False)
        inference = [d.latency["inference_s"] for d in result.decisions]
        rows[backend] = {"decisions": len(result.decisions), "windows_per_s": result.windows_per_s,
                         "real_time_factor": result.real_time_factor,
                         "inference_ms_p50": 1e3 * float(np.median(inference)),
                         "labels": [d.label for d in result.decisions]}
    reference = rows["torch"]["labels"]
    for row in rows.values():
        row["same_labels_as_torch"] = row.pop("labels") == reference
    return rows


def plot(summary: list[dict], path_png: Path, threads: list[int]) -> bytes:
    from rcmcl_core.plots.results import figure_png, pyplot

    plt = pyplot()

    names = [c for c, _ in cells()]
    fig, axes = plt.subplots(1, len(threads), figsize=(6 * len(threads), 5), sharey=True, squeeze=False)
    for axis, n in zip(axes[0], threads):
        y = np.arange(len(names))
        for k, backend in enumerate(BACKENDS):
            values = [next(r["median_ms"] for r in summary if r["cell"] == c and r["threads"] == n
                           and r["backend"] == backend) for c in names]
            axis.barh(y + (k - 1) * 0.27, values, height=0.27, label=backend)
        axis.set_yticks(y, names, fontsize=8)
        axis.invert_yaxis()
        axis.set_xlabel("ms per forward (median)")
        axis.set_title(f"{n} thread{'s' if n > 1 else ''}")
    axes[0][0].legend(loc="lower right")
    fig.suptitle("bundled compact model on the CPU: InferenceRuntime.forward per backend", fontsize=10)
    fig.tight_layout()
    return figure_png(fig, dpi=110)


def markdown(result: dict) -> str:
    lines = ["# Backend speed (benchmarks/backend_speed.py)\n",
             f"- machine: {result['machine']}; load average at the start {result['load_start']}, "
             f"at the end {result['load_end']} (shared CPU)",
             f"- torch {result['torch']}, onnxruntime {result['onnxruntime']}; {result['runs']} runs per cell and "
             f"repeat, {result['repeats']} repeats (figure: median of the per-repeat medians)\n",
             "| cell | threads | torch ms | torchscript ms | onnxruntime ms | ORT vs trace | ORT vs eager |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for cell, _ in cells():
        for n in result["threads"]:
            ms = {r["backend"]: r["median_ms"] for r in result["summary"] if r["cell"] == cell and r["threads"] == n}
            lines.append(f"| {cell} | {n} | {ms['torch']:.2f} | {ms['torchscript']:.2f} | {ms['onnxruntime']:.2f} | "
                         f"{ms['torchscript'] / ms['onnxruntime']:.2f}x | {ms['torch'] / ms['onnxruntime']:.2f}x |")
    goal = result["goal"]
    lines.append(f"\n- goal: onnxruntime >= {GOAL_ORT_OVER_TRACE}x the trace (batch 1, all present, 1 thread): "
                 f"{goal['ratio']:.2f}x per repeat {', '.join(f'{r:.2f}' for r in goal['per_repeat'])} -> "
                 f"{'met' if goal['met'] else 'NOT met'}")
    if result.get("bag"):
        lines += ["\n| bag replay (8 s demo bag, evaluate_bag) | decisions | windows/s | x real time | "
                  "inference ms p50 | labels as torch |", "|---|---:|---:|---:|---:|---|"]
        for backend, row in result["bag"].items():
            lines.append(f"| {backend} | {row['decisions']} | {row['windows_per_s']:.1f} | "
                         f"{row['real_time_factor']:.1f} | {row['inference_ms_p50']:.2f} | "
                         f"{'yes' if row['same_labels_as_torch'] else 'NO'} |")
    lines.append("\nWritten by `.venv/bin/python benchmarks/backend_speed.py` (results.json has every repeat).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--checkpoint", type=Path, default=BUNDLED_CHECKPOINT)
    parser.add_argument("--onnx", type=Path, default=None, help="default: beside the checkpoint (exported "
                                                                  "to a temporary folder when missing)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results" / "backend_speed")
    parser.add_argument("--no-bag", action="store_true", help="skip the bag replay")
    args = parser.parse_args(argv)
    import onnxruntime
    from tqdm import tqdm

    model, checkpoint = load_model(args.checkpoint)
    temporary = tempfile.TemporaryDirectory()
    onnx = args.onnx or args.checkpoint.with_suffix(".onnx")
    if not onnx.is_file():
        onnx = Path(temporary.name) / "model.onnx"
        export_onnx(model, labels=checkpoint.labels, path=onnx)
    batches = {name: random_windows(model.config, present, seed=i) for i, (name, present) in enumerate(cells())}
    load_start = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    rows = []
    total = args.repeats * len(args.threads) * len(batches) * len(BACKENDS)
    with tqdm(total=total, desc="backend_speed", unit="cell") as bar:
        for repeat in range(args.repeats):
            for n in args.threads:
                torch.set_num_threads(n)
                made = runtimes(model, checkpoint.labels, onnx)
                for index, (name, batch) in enumerate(batches.items()):
                    order = BACKENDS[index % 3:] + BACKENDS[:index % 3]
                    for backend in order:
                        rows.append({"repeat": repeat, "threads": n, "cell": name, "backend": backend,
                                     "median_ms": timed_ms(made[backend], batch, runs=args.runs)})
                        bar.update()
    summary = []
    for n in args.threads:
        for name in batches:
            for backend in BACKENDS:
                values = [r["median_ms"] for r in rows if (r["threads"], r["cell"], r["backend"]) == (n, name, backend)]
                summary.append({"threads": n, "cell": name, "backend": backend, "median_ms": float(np.median(values))})
    headline = "batch 1, all present"

    def ms(backend, repeat=None):
        picked = [r["median_ms"] for r in rows if (r["threads"], r["cell"], r["backend"]) == (1, headline, backend)
                  and (repeat is None or r["repeat"] == repeat)]
        return float(np.median(picked))

    per_repeat = [ms("torchscript", k) / ms("onnxruntime", k) for k in range(args.repeats)]
    ratio = ms("torchscript") / ms("onnxruntime")
    result = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
              "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "runs": args.runs,
              "repeats": args.repeats, "threads": args.threads, "checkpoint": str(args.checkpoint.name),
              "load_start": load_start, "rows": rows, "summary": summary,
              "goal": {"ratio": ratio, "per_repeat": per_repeat, "met": ratio >= GOAL_ORT_OVER_TRACE}}
    if not args.no_bag:
        result["bag"] = bag_replay(args.checkpoint, onnx, threads=1)
    result["load_end"] = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out / "results.json", json.dumps(result, indent=1).encode())
    atomic_write_bytes(args.out / "speed.png", plot(summary, args.out / "speed.png", args.threads))
    text = markdown(result)
    atomic_write_bytes(args.out / "README.md", text.encode())
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
