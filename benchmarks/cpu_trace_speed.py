"""Batch-1 CPU forward of the bundled model: eager vs the TorchScript trace the node runs (cpu_trace, issue 15).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/cpu_trace_speed.py [--runs 40] [--checkpoint PATH]

One torch thread (the node's default), an all-present synthetic window of the checkpoint's shapes. Timed
alone, and while a second Python thread spins (as the node's subscription callbacks do while the inference
thread runs: every Python step of the eager forward then waits for the interpreter lock), with Python's
default switch interval (5 ms) and the node's (1 ms). Prints p50 / p95 ms; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rcmcl_core.checkpoint import load_checkpoint  # noqa: E402
from rcmcl_core.inference_runtime import example_batch  # noqa: E402
from rcmcl_core.models.rcmcl import RCMCL  # noqa: E402
from rcmcl_core.traced_forward import TracedForward  # noqa: E402

BUNDLED = ROOT / "rcmcl_core" / "assets" / "rcmcl_compact.pt"


def timed_ms(call, runs: int) -> list[str]:
    times = []
    with torch.inference_mode():
        for _ in range(runs + 3):                       # 3 warm-up calls (the trace's profiling runs)
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
    times = 1e3 * np.array(times[3:])
    return [f"{np.percentile(times, q):.1f}" for q in (50, 95)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=BUNDLED)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    checkpoint = load_checkpoint(args.checkpoint)
    model = RCMCL(config=checkpoint.config)
    model.load_state_dict(checkpoint.model_state)
    model.eval()
    batch = example_batch(model.config, device=torch.device("cpu"))
    traced = TracedForward(model, example=batch)
    calls = {"eager forward()": lambda: model(batch), "traced (cpu_trace)": lambda: traced(batch)}
    print(f"\n{args.checkpoint.name} ({checkpoint.config.preset}), 1 torch thread, load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} (shared CPU)\n")
    print("| forward | alone p50 / p95 ms | beside a spinning Python thread, switch interval 5 ms (Python's "
          "default) | the same, 1 ms (the node's gil_switch_interval_s) |")
    print("|---|---|---|---|")
    alone = {name: timed_ms(call, args.runs) for name, call in calls.items()}
    busy = {}
    default_interval = sys.getswitchinterval()
    try:
        for interval in (0.005, 0.001):
            sys.setswitchinterval(interval)
            busy[interval] = beside_spinner(calls, args.runs)
    finally:
        sys.setswitchinterval(default_interval)
    for name in calls:
        print(f"| {name} | {' / '.join(alone[name])} | {' / '.join(busy[0.005][name])} | "
              f"{' / '.join(busy[0.001][name])} |")


def beside_spinner(calls: dict, runs: int) -> dict[str, list[str]]:
    """timed_ms of each call while another Python thread spins (holding the interpreter lock when it can)."""
    stop = threading.Event()

    def spin() -> None:
        count = 0
        while not stop.is_set():
            for i in range(1000):
                count += i

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        return {name: timed_ms(call, runs) for name, call in calls.items()}
    finally:
        stop.set()
        spinner.join()


if __name__ == "__main__":
    main()
