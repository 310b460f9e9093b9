"""Pinhole geometry for depth cameras: back-projection depth -> points, person cropping, point sampling.

Frames are REP-103 optical: x right, y down, z forward, metres. Pixel (u, v) is column u, row v; its centre
sits at integer coordinates, so resizing an image by s maps cx to (cx + 0.5) * s - 0.5.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass
class Intrinsics:
    """Pinhole intrinsics of the stored rgb/depth images, pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int


KINECT_V2_DEPTH = Intrinsics(fx=365.5, fy=365.5, cx=255.5, cy=211.5, width=512, height=424)
"""Kinect v2 depth camera, typical factory values (devices differ by a few pixels)."""
KINECT_V2_RANGE_M = (0.5, 4.5)
"""Kinect v2 operating range; depth outside it reads 0 (invalid)."""

SAMPLING_METHODS = ("random", "fps")
PLANE_INLIER_M = 0.06
"""Skeleton-free crop: points this close to a fitted plane belong to it (~2 sigma of depth noise at 4 m)."""
PLANE_MIN_FRACTION = 0.15
PLANE_MIN_EXTENT_M = 1.0
"""A plane is background (wall, floor) when it holds this fraction of the points and spans this much along
both of its in-plane principal axes (a person is narrower than that in one direction)."""
MAX_BACKGROUND_PLANES = 2
PLANE_RANSAC_ITERATIONS = 64
PLANE_RANSAC_POINTS = 4096
"""RANSAC hypotheses per plane, scored on at most this many points (fixed seed: deterministic)."""
PERSON_RADIUS_M = 0.8
"""Skeleton-free crop keeps remaining points within this horizontal (x, z) distance of their median."""


def scale_intrinsics(intrinsics: Intrinsics, *, width: int, height: int) -> Intrinsics:
    """Intrinsics of the same camera after resizing its image to width x height (pixel-centre convention)."""
    sx, sy = width / intrinsics.width, height / intrinsics.height
    return Intrinsics(fx=intrinsics.fx * sx, fy=intrinsics.fy * sy, cx=(intrinsics.cx + 0.5) * sx - 0.5,
                      cy=(intrinsics.cy + 0.5) * sy - 0.5, width=int(width), height=int(height))


def centre_crop_intrinsics(intrinsics: Intrinsics, *, width: int, height: int) -> Intrinsics:
    """Crop the largest centred region of aspect width:height, then resize it to width x height.
    Keeps pixels square (fx == fy stays so), e.g. Kinect v2 512x424 -> 64x64 uses the central 424x424."""
    aspect = width / height
    crop_w = min(intrinsics.width, intrinsics.height * aspect)
    crop_h = crop_w / aspect
    cropped = replace(intrinsics, cx=intrinsics.cx - (intrinsics.width - crop_w) / 2,
                      cy=intrinsics.cy - (intrinsics.height - crop_h) / 2)
    cropped = replace(cropped, width=crop_w, height=crop_h)
    return scale_intrinsics(cropped, width=width, height=height)


def _intrinsics_for(shape: tuple[int, int], intrinsics: Intrinsics) -> Intrinsics:
    height, width = shape
    if (width, height) == (intrinsics.width, intrinsics.height):
        return intrinsics
    return scale_intrinsics(intrinsics, width=width, height=height)


def pixel_rays(*, intrinsics: Intrinsics) -> np.ndarray:
    """(H*W, 3) float64 ray directions with z = 1 for every pixel, row-major; depth z times a ray is the
    pixel's 3D point."""
    u = (np.arange(intrinsics.width) - intrinsics.cx) / intrinsics.fx
    v = (np.arange(intrinsics.height) - intrinsics.cy) / intrinsics.fy
    uu, vv = np.meshgrid(u, v)
    return np.stack([uu.ravel(), vv.ravel(), np.ones(uu.size)], axis=1)


def project_points(points: np.ndarray, *, intrinsics: Intrinsics) -> np.ndarray:
    """(..., 3) camera-frame metres -> (..., 2) pixel (u, v); NaN where z <= 0."""
    points = np.asarray(points, dtype=np.float64)
    z = points[..., 2]
    safe = np.where(z > 0, z, np.nan)
    return np.stack([intrinsics.fx * points[..., 0] / safe + intrinsics.cx,
                     intrinsics.fy * points[..., 1] / safe + intrinsics.cy], axis=-1)


def backproject(depth_m: np.ndarray, *, intrinsics: Intrinsics) -> np.ndarray:
    """(H, W) depth in metres (0 or NaN = invalid) -> (K, 3) float32 camera-frame points of the valid
    pixels, row-major order. Intrinsics are rescaled when the image is not intrinsics.width x height."""
    depth_m = np.asarray(depth_m)
    if depth_m.ndim != 2:
        raise ValueError(f"depth needs shape (H, W), got {depth_m.shape}")
    rays = pixel_rays(intrinsics=_intrinsics_for(depth_m.shape, intrinsics))
    z = depth_m.astype(np.float64).ravel()
    valid = np.isfinite(z) & (z > 0)
    return (rays[valid] * z[valid, None]).astype(np.float32)


def backproject_pixels(u: np.ndarray, v: np.ndarray, z: np.ndarray, *, intrinsics: Intrinsics) -> np.ndarray:
    """Pixels (u column, v row; (K,) each) at depths z (K,) metres -> (K, 3) float32 camera-frame points,
    the pinhole model of `backproject` for a chosen subset of pixels (no full-image ray table)."""
    z = np.asarray(z, dtype=np.float64)
    x = (np.asarray(u, dtype=np.float64) - intrinsics.cx) / intrinsics.fx * z
    y = (np.asarray(v, dtype=np.float64) - intrinsics.cy) / intrinsics.fy * z
    return np.stack([x, y, z], axis=-1).astype(np.float32)


def backproject_torch(depth_m, *, intrinsics: Intrinsics):
    """(B, H, W) tensor of metres -> (B, H*W, 3) points on the same device/dtype; invalid pixels
    (0 or NaN) are NaN rows, so shapes stay fixed for batching on a GPU."""
    import torch  # geometry stays importable without torch

    if depth_m.dim() != 3:
        raise ValueError(f"depth needs shape (B, H, W), got {tuple(depth_m.shape)}")
    rays = pixel_rays(intrinsics=_intrinsics_for(tuple(depth_m.shape[1:]), intrinsics))
    rays = torch.as_tensor(rays, dtype=depth_m.dtype, device=depth_m.device)
    z = depth_m.reshape(depth_m.shape[0], -1, 1)
    points = rays[None] * z
    invalid = ~(torch.isfinite(z) & (z > 0))
    return torch.where(invalid, torch.full_like(points, float("nan")), points)


# -- person cropping ---------------------------------------------------------------------------------
PERSON_CROP_MARGIN_M = 0.2
"""Margin (m) around the tracked joints' box when cropping a cloud to the person: holds hand-held objects
and a few cm of depth/skeleton misalignment. Training data and the node crop alike (the model learns
the crop's look)."""
PERSON_FLOOR_CLEARANCE_M = 0.03
"""Points more than this (m) below the lowest joint (camera y down) are floor, not person."""


def person_mask(points: np.ndarray, *, skeleton: np.ndarray | None, margin_m: float,
                floor_clearance_m: float | None = None) -> np.ndarray:
    """(K,) bool: points of the person. With a skeleton ((25, 3) or (M, 25, 3) metres, all-zero bodies =
    untracked) the points inside the tracked joints' axis-aligned box padded by margin_m on every side
    (the margin absorbs a few cm of depth/skeleton misalignment and holds hand-held objects). Without one
    (or with no tracked body) see `foreground_mask`. `floor_clearance_m` (optional) also drops points more
    than that below the lowest tracked joint along the camera's down axis (y): the floor under the feet,
    for a roughly level camera."""
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points need shape (K, 3), got {points.shape}")
    bodies = None if skeleton is None else np.asarray(skeleton, dtype=np.float64).reshape(-1, 25, 3)
    if bodies is not None:
        bodies = bodies[np.abs(bodies).sum(axis=(1, 2)) > 0]
    if bodies is None or len(bodies) == 0:
        return foreground_mask(points)
    joints = bodies.reshape(-1, 3)
    low, high = joints.min(axis=0) - margin_m, joints.max(axis=0) + margin_m
    if floor_clearance_m is not None:
        high[1] = min(high[1], joints[:, 1].max() + floor_clearance_m)
    return np.all((points >= low) & (points <= high), axis=1)


def foreground_mask(points: np.ndarray) -> np.ndarray:
    """(K,) bool: the person when no skeleton is tracked. Removes up to MAX_BACKGROUND_PLANES large planes
    (wall, floor: RANSAC, see PLANE_* constants), then keeps the remaining points within PERSON_RADIUS_M
    of their median in x and z. A heuristic for a person in front of a room: clutter near the person
    stays in, and a person spread wide (a T-pose filling the view) could be taken for a wall."""
    points = np.asarray(points, dtype=np.float64)
    keep = np.isfinite(points).all(axis=1)
    total = keep.sum()
    rng = np.random.default_rng(0)
    for _ in range(MAX_BACKGROUND_PLANES):
        inliers = _background_plane(points, keep, total=total, rng=rng)
        if inliers is None:
            break
        keep &= ~inliers
    if not keep.any():
        return keep
    centre = np.median(points[keep], axis=0)
    return keep & (np.hypot(points[:, 0] - centre[0], points[:, 2] - centre[2]) <= PERSON_RADIUS_M)


def _background_plane(points: np.ndarray, candidates: np.ndarray, *, total: int,
                      rng: np.random.Generator) -> np.ndarray | None:
    """(K,) inlier mask of the best RANSAC plane among `candidates`, or None when it is no background."""
    index = np.flatnonzero(candidates)
    if len(index) < max(3, PLANE_MIN_FRACTION * total):
        return None
    scored = points[rng.choice(index, size=min(len(index), PLANE_RANSAC_POINTS), replace=False)]
    triples = scored[rng.integers(0, len(scored), size=(PLANE_RANSAC_ITERATIONS, 3))]
    normals = np.cross(triples[:, 1] - triples[:, 0], triples[:, 2] - triples[:, 0])
    length = np.linalg.norm(normals, axis=1)
    normals, triples = normals[length > 1e-9] / length[length > 1e-9, None], triples[length > 1e-9]
    if len(normals) == 0:
        return None
    offsets = np.sum(normals * triples[:, 0], axis=1)
    counts = (np.abs(scored @ normals.T - offsets) < PLANE_INLIER_M).sum(axis=0)
    best = int(np.argmax(counts))
    inliers = candidates & (np.abs(points @ normals[best] - offsets[best]) < PLANE_INLIER_M)
    if inliers.sum() < PLANE_MIN_FRACTION * total:
        return None
    on_plane = points[inliers] - points[inliers].mean(axis=0)
    axes = np.linalg.svd(on_plane[:: max(1, len(on_plane) // 2048)], full_matrices=False)[2][:2]
    spread = np.percentile(on_plane @ axes.T, 95, axis=0) - np.percentile(on_plane @ axes.T, 5, axis=0)
    return inliers if spread.min() >= PLANE_MIN_EXTENT_M else None


def crop_to_person(points: np.ndarray, *, skeleton: np.ndarray | None, margin_m: float,
                   floor_clearance_m: float | None = None) -> np.ndarray:
    """(K, 3) -> (K', 3): the points `person_mask` keeps (same dtype)."""
    mask = person_mask(points, skeleton=skeleton, margin_m=margin_m, floor_clearance_m=floor_clearance_m)
    return np.asarray(points)[mask]


# -- sampling -------------------------------------------------------------------------------------------
def farthest_point_sample(points: np.ndarray, count: int, *, start_index: int = 0) -> np.ndarray:
    """(count,) int64 indices of greedy farthest-point sampling of (K, 3) points from points[start_index]
    (Euclidean, float64). A numpy entry point to the one implementation in geometry/point_ops.py."""
    import torch  # the data side imports torch only when it samples by FPS

    from rcmcl_core.geometry.point_ops import farthest_point_sample as torch_farthest_point_sample

    points = np.asarray(points, dtype=np.float64)
    _check_count(points, count)
    chosen = torch_farthest_point_sample(torch.from_numpy(points)[None], count, start_index=start_index)
    return chosen[0].numpy()


def _check_count(points: np.ndarray, count: int) -> None:
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points need shape (K, 3), got {points.shape}")
    if not 1 <= count <= len(points):
        raise ValueError(f"farthest-point sampling needs 1 <= count <= {len(points)} points, got count={count}")


def sample_points(points: np.ndarray, count: int, *, rng: np.random.Generator, method: str = "random") -> np.ndarray:
    """(K, 3) -> (count, 3) float32. K >= count: a subset (uniform random without replacement, or
    farthest-point from a random start); 0 < K < count: all points plus random repeats; K == 0: all NaN,
    meaning "no points" (callers mark the modality absent)."""
    if method not in SAMPLING_METHODS:
        raise ValueError(f"sampling method must be one of {SAMPLING_METHODS}, got {method!r}")
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if len(points) == 0:
        return np.full((count, 3), np.nan, dtype=np.float32)
    if len(points) < count:
        extra = rng.integers(0, len(points), size=count - len(points))
        return np.concatenate([points, points[extra]], axis=0)
    if method == "fps":
        return points[farthest_point_sample(points, count, start_index=int(rng.integers(len(points))))]
    return points[np.sort(rng.choice(len(points), size=count, replace=False))]


def normalise_points(points: np.ndarray, *, centre: np.ndarray | None = None) -> np.ndarray:
    """(..., K, 3) -> points minus `centre` (default: the nan-mean over K, per leading index)."""
    points = np.asarray(points)
    if centre is None:
        centre = np.nanmean(points, axis=-2, keepdims=True)
    return points - centre
