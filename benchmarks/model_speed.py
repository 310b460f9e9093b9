"""Forward speed of the RCMCL model alone (no preprocessing), per preset, on CPU or CUDA.

    python benchmarks/model_speed.py [--presets tiny,lite,paper] [--device auto|cpu|cuda] [--iters N]
                                     [--amp] [--threads N]

Prints the machine, then per preset: latency p50/p95 (ms) at batch 1 and windows/s at batch 1 and 8.
Eval mode, torch.inference_mode, all three modalities present, CUDA synchronised around every forward,
bf16 autocast with --amp on CUDA. Imports only torch, numpy and rcmcl_core (runs on a bare GPU box).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from rcmcl_core.config import MODALITIES, RCMCLConfig, preset  # noqa: E402
from rcmcl_core.models import RCMCL  # noqa: E402

DEFAULT_ITERS = {"cpu": {"tiny": 30, "lite": 30, "paper": 3}, "cuda": {"tiny": 50, "lite": 50, "paper": 50}}
"""Timed forwards at batch 1 when --iters is not given (paper on CPU takes seconds per forward)."""
BATCHES = (1, 8)
WARMUP = 2
NAN_PADDING = 0.1                     # fraction of point rows that are NaN padding, as after cropping


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


def time_forwards(model: RCMCL, batch: dict[str, torch.Tensor], *, iters: int, amp: bool) -> np.ndarray:
    """Seconds per forward: `iters` values after a few untimed ones."""
    device = batch["present"].device
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if amp and device.type == "cuda" else nullcontext()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    warmup = min(WARMUP, max(1, iters // 2))  # paper on CPU: one untimed forward is enough
    times = []
    with torch.inference_mode(), autocast:
        for i in range(warmup + iters):
            sync()
            start = time.perf_counter()
            model(batch)
            sync()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return np.array(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="tiny,lite,paper")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--iters", type=int, default=0, help="timed forwards at batch 1 (0: per-preset default)")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch.cuda.is_available() is False")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    if args.threads:
        torch.set_num_threads(args.threads)

    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    print(f"machine: {cpu_model()} | torch {torch.__version__} | torch threads {torch.get_num_threads()} | "
          f"GPU {gpu} | device {device} | amp {'bf16' if args.amp and device.type == 'cuda' else 'off'}")
    print(f"{'preset':<7} {'params M':>8} {'p50 ms':>8} {'p95 ms':>8} "
          + " ".join(f"{f'win/s @{b}':>10}" for b in BATCHES))
    for name in [p.strip() for p in args.presets.split(",") if p.strip()]:
        config = preset(name)
        torch.manual_seed(0)
        model = RCMCL(config=config).to(device).eval()
        params = sum(p.numel() for p in model.parameters()) / 1e6
        iters = args.iters or DEFAULT_ITERS[device.type][name]
        rates, latency = [], None
        for batch_size in BATCHES:
            batch = make_batch(config, batch_size=batch_size, device=device)
            times = time_forwards(model, batch, iters=max(1, iters // batch_size), amp=args.amp)
            if batch_size == 1:
                latency = times
            rates.append(batch_size / float(np.median(times)))
        p50, p95 = np.percentile(latency * 1e3, [50, 95])
        print(f"{name:<7} {params:>8.2f} {p50:>8.1f} {p95:>8.1f} " + " ".join(f"{r:>10.1f}" for r in rates),
              flush=True)


if __name__ == "__main__":
    main()
