"""PointNet++ sampling and grouping in plain, vectorised torch (CPU or CUDA; no custom kernels).

All functions work on a flat batch of clouds: `xyz` is (B, N, 3) metres, indices are int64.
Only farthest point sampling loops, over its S iterations; nothing loops over points or batch items.
"""
from __future__ import annotations

import torch


def replace_missing_points(xyz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Fill NaN/inf rows with a valid point of the same cloud, so sampling never picks garbage.

    xyz (B, N, 3) -> (filled (B, N, 3), cloud_has_points (B,) bool). Missing rows take the cloud's first
    valid point (a duplicate adds nothing to a max-pooled feature); clouds with no valid point become
    all zeros and are flagged False so the caller can zero their features.
    """
    valid = torch.isfinite(xyz).all(dim=-1)                                   # (B, N)
    has_points = valid.any(dim=-1)                                            # (B,)
    first_valid = valid.to(torch.uint8).argmax(dim=-1)                        # (B,), 0 when none valid
    anchor = torch.gather(xyz, 1, first_valid[:, None, None].expand(-1, 1, 3))  # (B, 1, 3)
    anchor = torch.where(has_points[:, None, None], anchor, torch.zeros_like(anchor))
    filled = torch.where(valid[..., None], xyz, anchor)
    return filled, has_points


def farthest_point_sample(xyz: torch.Tensor, num_samples: int, *, start_index: int = 0) -> torch.Tensor:
    """Greedy farthest point sampling: the one implementation (the data side's numpy entry point,
    rcmcl_core.geometry.pinhole.farthest_point_sample, calls it). xyz (B, N, 3) finite -> indices (B, S) int64.

    Starts at point `start_index` (0 by default: deterministic, so train and inference see the same
    centroids), then repeatedly takes the point farthest from all chosen ones; ties go to the lowest index.
    """
    batch, num_points, _ = xyz.shape
    if not 1 <= num_samples <= num_points:
        raise ValueError(f"farthest_point_sample needs 1 <= num_samples <= N={num_points}, got {num_samples}")
    if not 0 <= start_index < num_points:
        raise ValueError(f"farthest_point_sample needs 0 <= start_index < N={num_points}, got {start_index}")
    chosen = torch.zeros(batch, num_samples, dtype=torch.long, device=xyz.device)
    nearest_sq = torch.full((batch, num_points), float("inf"), dtype=xyz.dtype, device=xyz.device)
    rows = torch.arange(batch, device=xyz.device)
    current = torch.full((batch,), start_index, dtype=torch.long, device=xyz.device)
    for i in range(num_samples):
        chosen[:, i] = current
        centre = xyz[rows, current]                                           # (B, 3)
        nearest_sq = torch.minimum(nearest_sq, ((xyz - centre[:, None]) ** 2).sum(dim=-1))
        current = nearest_sq.argmax(dim=-1)
    return chosen


def ball_query(xyz: torch.Tensor, centroids: torch.Tensor, *, radius_m: float, neighbours: int) -> torch.Tensor:
    """Indices of up to `neighbours` points within `radius_m` of each centroid (PointNet++ query_ball).

    xyz (B, N, 3), centroids (B, S, 3) -> (B, S, K) int64. Takes the lowest-index points inside the
    ball; when fewer than K are inside, the slots repeat the first one found. A centroid that is itself
    one of the points always finds at least itself. If a ball is empty (a centroid not from the cloud),
    it falls back to the nearest point so no index is ever out of range.
    """
    num_points = xyz.shape[1]
    dist_sq = torch.cdist(centroids, xyz).pow(2)                              # (B, S, N)
    inside = dist_sq <= radius_m ** 2
    order = torch.arange(num_points, device=xyz.device).expand_as(inside)
    # Out-of-ball points get index N so they sort last; topk is cheaper than a full sort when K << N.
    candidate = torch.where(inside, order, torch.full_like(order, num_points))
    k = min(neighbours, num_points)
    idx = candidate.topk(k, dim=-1, largest=False, sorted=True).values        # (B, S, k) ascending
    first = idx[..., :1]
    nearest = dist_sq.argmin(dim=-1, keepdim=True)
    first = torch.where(first == num_points, nearest, first)
    idx = torch.where(idx == num_points, first, idx)
    if k < neighbours:  # fewer points than requested: repeat the first neighbour to fill the group
        idx = torch.cat([idx, first.expand(-1, -1, neighbours - k)], dim=-1)
    return idx


def gather_points(values: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """values (B, N, C), idx (B, ...) -> (B, ..., C): values[b, idx[b, ...]]."""
    batch, _, channels = values.shape
    flat = idx.reshape(batch, -1)
    out = torch.gather(values, 1, flat[..., None].expand(-1, -1, channels))
    return out.reshape(*idx.shape, channels)
