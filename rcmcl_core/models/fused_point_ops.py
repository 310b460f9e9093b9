"""Farthest point sampling and ball query: fused Triton kernels on CUDA, the torch reference elsewhere.

`farthest_point_sample` and `ball_query` have the signatures and results of point_ops' (the reference):
on a CUDA float32 cloud with triton importable they launch one kernel each (fused_point_kernels.py),
otherwise they call point_ops. The plain torch FPS loop launches ~3 small kernels per sample (53 ms for
16 clouds x 1024 -> 512 eager on an H100, per issue 16); the fused kernel keeps each cloud in registers.
Set RCMCL_FUSED_POINT_OPS=0 to always use the reference.

Tests run the kernels on CPU tensors through triton's interpreter: with TRITON_INTERPRET=1 in the
environment when a kernel is first used in that mode, `fused_farthest_point_sample` / `fused_ball_query`
work on CPU tensors too (slowly; for correctness checks only).
"""
from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any

import torch

from rcmcl_core.geometry import point_ops


MAX_FUSED_POINTS = 8192
"""Largest cloud the FPS kernel holds in registers (one lane per point); bigger clouds use the reference."""
BALL_QUERY_BLOCK = 1024
"""Points a ball-query program reads per loop step."""
DISABLE_ENV = "RCMCL_FUSED_POINT_OPS"


@functools.lru_cache(maxsize=1)
def load_triton() -> Any:
    """The triton module, imported on first need (~0.3 s, which CPU-only processes never pay), or None when it
    is not installed: the reference covers every device, the kernels are an accelerator."""
    try:
        import triton
    except ImportError:
        return None
    return triton


def triton_available() -> bool:
    return load_triton() is not None


def interpreting() -> bool:
    """True when triton runs kernels in its CPU interpreter (TRITON_INTERPRET=1)."""
    triton = load_triton()
    return triton is not None and bool(triton.knobs.runtime.interpret)


def use_fused(xyz: torch.Tensor) -> bool:
    """Whether the dispatchers launch the kernels for this (B, N, 3) cloud: CUDA, float32, N small enough,
    triton importable, and not switched off by RCMCL_FUSED_POINT_OPS=0."""
    return (xyz.is_cuda and xyz.dtype == torch.float32 and xyz.shape[1] <= MAX_FUSED_POINTS
            and triton_available() and os.environ.get(DISABLE_ENV, "1") != "0")


def farthest_point_sample(xyz: torch.Tensor, num_samples: int) -> torch.Tensor:
    """point_ops.farthest_point_sample (same contract), fused on CUDA."""
    if use_fused(xyz):
        return fused_farthest_point_sample(xyz, num_samples)
    return point_ops.farthest_point_sample(xyz, num_samples)


def ball_query(xyz: torch.Tensor, centroids: torch.Tensor, *, radius_m: float, neighbours: int) -> torch.Tensor:
    """point_ops.ball_query (same contract), fused on CUDA."""
    if use_fused(xyz) and centroids.device == xyz.device and centroids.dtype == xyz.dtype:
        return fused_ball_query(xyz, centroids, radius_m=radius_m, neighbours=neighbours)
    return point_ops.ball_query(xyz, centroids, radius_m=radius_m, neighbours=neighbours)


@functools.lru_cache(maxsize=2)
def _kernels(interpret: bool) -> Any:
    """fused_point_kernels, executed afresh for one mode (compiled or interpreted): triton.jit reads
    TRITON_INTERPRET when it wraps a function, so each mode needs its own module object."""
    if interpret != interpreting():
        raise RuntimeError("TRITON_INTERPRET changed while building the kernels")
    spec = importlib.util.find_spec("rcmcl_core.models.fused_point_kernels")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _require_triton(xyz: torch.Tensor) -> Any:
    triton = load_triton()
    if triton is None:
        raise RuntimeError("fused point ops need triton (pip install triton); use point_ops instead")
    if xyz.dtype != torch.float32:
        raise TypeError(f"fused point ops take float32 clouds, got {xyz.dtype}")
    if not xyz.is_cuda and not interpreting():
        raise RuntimeError("fused point ops on CPU tensors need TRITON_INTERPRET=1 (tests only)")
    return triton


def _warps(block: int) -> int:
    return 8 if block >= 2048 else 4


def fused_farthest_point_sample(xyz: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Triton FPS. xyz (B, N, 3) float32 finite -> indices (B, S) int64, equal to the reference's."""
    triton = _require_triton(xyz)
    batch, num_points, _ = xyz.shape
    if not 1 <= num_samples <= num_points:
        raise ValueError(f"farthest_point_sample needs 1 <= num_samples <= N={num_points}, got {num_samples}")
    if num_points > MAX_FUSED_POINTS:
        raise ValueError(f"fused farthest_point_sample holds at most {MAX_FUSED_POINTS} points, got {num_points}")
    out = torch.empty(batch, num_samples, dtype=torch.long, device=xyz.device)
    if batch == 0:
        return out
    block = triton.next_power_of_2(num_points)
    kernel = _kernels(interpreting()).farthest_point_sample_kernel
    kernel[(batch,)](xyz.contiguous(), out, num_points, num_samples, BLOCK_N=block, num_warps=_warps(block),
                     enable_fp_fusion=False)
    return out


def fused_ball_query(xyz: torch.Tensor, centroids: torch.Tensor, *, radius_m: float,
                     neighbours: int) -> torch.Tensor:
    """Triton ball query. xyz (B, N, 3), centroids (B, S, 3) float32 -> (B, S, K) int64, the reference's rule:
    lowest-index points inside `radius_m` (metres), free slots repeat the first, an empty ball gives the
    nearest point. Distances are exact sums of squares; the reference's torch.cdist can round differently,
    so the two may differ for a point within float rounding (~1e-7 relative) of the ball's surface."""
    triton = _require_triton(xyz)
    if neighbours < 1:
        raise ValueError(f"ball_query needs neighbours >= 1, got {neighbours}")
    batch, num_points, _ = xyz.shape
    num_centroids = centroids.shape[1]
    out = torch.empty(batch, num_centroids, neighbours, dtype=torch.long, device=xyz.device)
    if batch == 0 or num_centroids == 0:
        return out
    if num_points == 0:
        raise ValueError("ball_query needs at least one point per cloud")
    block = min(BALL_QUERY_BLOCK, triton.next_power_of_2(num_points))
    # float32(r^2), as the reference's comparison of a float32 tensor with the Python float radius_m ** 2.
    radius_sq = float(torch.tensor(radius_m ** 2, dtype=torch.float32))
    _kernels(interpreting()).ball_query_kernel[(batch, num_centroids)](
        xyz.contiguous(), centroids.to(xyz.dtype).contiguous(), out, num_points, num_centroids, radius_sq,
        neighbours, BLOCK_N=block, BLOCK_K=triton.next_power_of_2(neighbours), num_warps=_warps(block),
        enable_fp_fusion=False)
    return out
