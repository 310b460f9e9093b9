"""Sampling + grouping of the paper preset's first set-abstraction level: fused Triton kernels vs plain torch.

    python benchmarks/point_ops_speed.py --device cuda            # 16 clouds x 1024 -> 512, r 0.1 m, K 32
    python benchmarks/point_ops_speed.py --device cpu --quick     # torch only, small clouds (the code path)

One row per implementation: farthest point sampling, ball query and both, p50 ms. The torch reference
(rcmcl_core/geometry/point_ops.py) runs eagerly and, on CUDA, replayed from a CUDA graph; the fused kernels
(rcmcl_core/models/fused_point_ops.py) need CUDA and triton, and their indices are checked against the
reference in the same run. Goal (issue 16): fused sampling at 16 x 1024 -> 512 well under 1 ms.
Imports only torch, numpy and rcmcl_core. Prints, asserts nothing. model_speed.py prints the same rows.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from rcmcl_core.config import preset  # noqa: E402
from rcmcl_core.geometry import point_ops  # noqa: E402
from rcmcl_core.models import fused_point_ops  # noqa: E402

CLOUDS = 16                           # one paper window: T = 16 frames at batch 1
QUICK_SIZES = {"clouds": 4, "points": 256, "samples": 64}


def _p50_ms(call: Callable[[], Any], *, iters: int, device: torch.device) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(2):
        call()
    times = []
    for _ in range(iters):
        sync()
        start = time.perf_counter()
        call()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def cuda_graph(call: Callable[[], Any], *, warmup: int = 2) -> Callable[[], Any]:
    """Capture `call` (static inputs, no host syncs) in a CUDA graph after `warmup` calls on a side stream
    (allocator and lazy inits stay off the graph); returns the replay function."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            call()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        call()
    return graph.replay


def fused_unavailable_reason(device: torch.device) -> str | None:
    if device.type != "cuda":
        return (f"needs CUDA (this run: {device.type}); "
                "the kernels' CPU check is test/core/models/test_fused_point_ops.py")
    if not fused_point_ops.triton_available():
        return "triton is not importable (pip install triton==3.9.0)"
    return None


def point_ops_rows(*, device: torch.device, quick: bool, iters: int) -> None:
    """Print the sampling + grouping rows (markdown) for the paper preset's first level."""
    level = preset("paper").points.set_abstraction[0]
    points = QUICK_SIZES["points"] if quick else preset("paper").clip.num_points
    clouds, samples = (QUICK_SIZES["clouds"], QUICK_SIZES["samples"]) if quick else (CLOUDS, level.num_centroids)
    g = torch.Generator().manual_seed(0)
    xyz = (torch.randn(clouds, points, 3, generator=g) * 0.3).to(device)
    radius, neighbours = level.radius_m, level.neighbours
    print(f"\nsampling + grouping: {clouds} clouds x {points} -> {samples} centroids, ball r {radius} m, "
          f"K {neighbours}; p50 of {iters} ms")
    print("| implementation | FPS ms | ball query ms | both ms | same indices as torch |")
    print("|---|---:|---:|---:|---|")
    impls: list[tuple[str, Callable, Callable, bool]] = [
        ("torch (point_ops), eager", point_ops.farthest_point_sample, point_ops.ball_query, False)]
    if device.type == "cuda":
        impls.append(("torch (point_ops), CUDA graph", point_ops.farthest_point_sample,
                      point_ops.ball_query, True))
    reason = fused_unavailable_reason(device)
    if reason is None:
        impls.append(("fused Triton (fused_point_ops)", fused_point_ops.fused_farthest_point_sample,
                      fused_point_ops.fused_ball_query, False))
    reference_idx = point_ops.farthest_point_sample(xyz, samples)
    centroids = point_ops.gather_points(xyz, reference_idx)
    reference_groups = point_ops.ball_query(xyz, centroids, radius_m=radius, neighbours=neighbours)
    for name, fps, query, graphed in impls:
        calls = {"fps": lambda fps=fps: fps(xyz, samples),
                 "query": lambda query=query: query(xyz, centroids, radius_m=radius, neighbours=neighbours),
                 "both": lambda fps=fps, query=query: query(xyz, point_ops.gather_points(xyz, fps(xyz, samples)),
                                                            radius_m=radius, neighbours=neighbours)}
        times = {k: _p50_ms(cuda_graph(c) if graphed else c, iters=iters, device=device) for k, c in calls.items()}
        same = torch.equal(fps(xyz, samples), reference_idx) and torch.equal(calls["query"](), reference_groups)
        print(f"| {name} | {times['fps']:.3f} | {times['query']:.3f} | {times['both']:.3f} | "
              f"{'yes' if same else 'NO'} |", flush=True)
    if reason is not None:
        print(f"| fused Triton (fused_point_ops) | not run: {reason} | | | |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--quick", action="store_true", help=f"small clouds {QUICK_SIZES} (CPU in seconds)")
    parser.add_argument("--iters", type=int, default=0, help="timed calls (default 50 on CUDA, 3 on CPU)")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {device} ({name}), torch {torch.__version__}, triton "
          f"{getattr(fused_point_ops.load_triton(), '__version__', 'not importable')}")
    point_ops_rows(device=device, quick=args.quick, iters=args.iters or (50 if device.type == "cuda" else 3))


if __name__ == "__main__":
    main()
