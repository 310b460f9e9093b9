"""Offline bag evaluation speed: windows/s and x real time of `evaluate-bag` over the demo bag.

    .venv/bin/python benchmarks/bag_eval_speed.py [--preset lite] [--threads 1 2] [--checkpoint PATH]

Builds (or reuses) the default demo bag (32 s, 30 Hz, 128 px, Azure topics; cache/demo_bag/), then runs
rcmcl_ros.bag.evaluate.evaluate_bag over it once per torch thread count: reading and decoding with rosbags,
conversions, synchronisation, windows and the model, exactly as `python -m rcmcl_ros evaluate-bag` does.
Random weights unless --checkpoint (speed does not depend on them). Prints the machine, its load, and a
markdown table. Real time at the node's default stride needs 7.5 windows/s.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from rcmcl_core.checkpoint import save_checkpoint  # noqa: E402
from rcmcl_core.config import PRESETS, preset  # noqa: E402
from rcmcl_core.data.synthetic.classes import CLASS_NAMES  # noqa: E402
from rcmcl_core.models.rcmcl import RCMCL  # noqa: E402
from rcmcl_ros.bag.files import DEFAULT_TOPICS  # noqa: E402
from rcmcl_ros.bag.evaluate import evaluate_bag  # noqa: E402
from rcmcl_ros.bag.demo import DemoBagConfig, make_demo_bag  # noqa: E402
from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig  # noqa: E402


def random_checkpoint(preset_name: str, folder: Path) -> Path:
    config = preset(preset_name)
    config.model.num_classes = len(CLASS_NAMES)
    torch.manual_seed(0)
    return save_checkpoint(folder / f"{preset_name}_random.pt", model_state=RCMCL(config=config).state_dict(),
                           config=config, labels=list(CLASS_NAMES))


QUICK_BAG = DemoBagConfig(actions=2)
"""--quick in model_speed.py: an 8 s demo bag instead of 32 s."""
REAL_TIME_GOAL = 20.0                 # issue 16: bag replay on one GPU >= 20x real time


def replay_row(preset_name: str, *, device: str, quick: bool = False) -> None:
    """One markdown row for model_speed.py: windows/s and x real time of evaluate_bag over the demo bag
    (random weights of `preset_name`, torch's current thread count)."""
    bag = make_demo_bag(QUICK_BAG if quick else DemoBagConfig(), progress=False)
    with tempfile.TemporaryDirectory() as folder:
        pipeline = Pipeline.from_checkpoint(random_checkpoint(preset_name, Path(folder)),
                                            config=PipelineConfig(device=device, torch_threads=0))
        result = evaluate_bag(bag, pipeline=pipeline, topics=DEFAULT_TOPICS, progress=False)
    met = "yes" if result.real_time_factor >= REAL_TIME_GOAL else "no"
    print("| bag replay | windows/s | x real time | goal | met | device |\n|---|---:|---:|---|---|---|")
    print(f"| {preset_name}, {len(result.decisions)} windows of {bag.name} | {result.windows_per_s:.1f} | "
          f"{result.real_time_factor:.2f} | >= {REAL_TIME_GOAL:g}x real time | {met} | {pipeline.device} |",
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="lite", choices=sorted(PRESETS))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts to time")
    parser.add_argument("--checkpoint", type=Path, default=None, help="time this checkpoint instead")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args()

    bag = make_demo_bag(DemoBagConfig(), progress=True)
    load = os.getloadavg()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{load[0]:.1f} / {load[1]:.1f}, torch {torch.__version__}, device {args.device}")
    print(f"bag: {bag}\n")
    print("| preset | threads | decisions | wall s | windows/s | x real time | inference ms (median) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = args.checkpoint or random_checkpoint(args.preset, Path(folder))
        for threads in args.threads:
            pipeline = Pipeline.from_checkpoint(checkpoint, config=PipelineConfig(device=args.device,
                                                                                  torch_threads=threads))
            result = evaluate_bag(bag, pipeline=pipeline, topics=DEFAULT_TOPICS, progress=False)
            inference = sorted(d.latency["inference_s"] for d in result.decisions)
            median_ms = 1000 * inference[len(inference) // 2] if inference else float("nan")
            print(f"| {pipeline.model_config.preset} | {threads} | {len(result.decisions)} | {result.wall_s:.1f} | "
                  f"{result.windows_per_s:.1f} | {result.real_time_factor:.2f} | {median_ms:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
