"""Per-person crops of one frame: the RGB-D square around a person's projected skeleton and the points in
that person's skeleton box (docs/ARCHITECTURE.md, "Sensors and ROS conventions").

Crop rule, matching how training frames are framed: a synthetic training frame is a square image of a
performer standing `camera_distance_m` in front of the camera, so it spans TRAINING_SPAN_M metres at
the performer's depth. A person's crop is the square that spans the same metres at *their* depth,
centred on their projected pelvis (spine_base, which training frames keep near the image centre), and
resampled to S x S. Parts outside the image read 0 (black RGB, invalid depth). Points are cropped with
rcmcl_core.geometry.pinhole.crop_to_person, the rule the training clouds use, on this one person's joints.
"""
from __future__ import annotations

import numpy as np

from rcmcl_core.data.synthetic.generate import SYNTHETIC_PRESETS, synthetic_intrinsics
from rcmcl_core.geometry.pinhole import (PERSON_CROP_MARGIN_M, PERSON_FLOOR_CLEARANCE_M, Intrinsics, crop_to_person,
                                 project_points)
from rcmcl_core.geometry.skeleton_layout import JOINT_INDEX


def training_span_m() -> float:
    """Metres a training frame spans at its performer's depth: distance x image width / fx (any size)."""
    intrinsics = synthetic_intrinsics(width=128, height=128)
    return SYNTHETIC_PRESETS["lite"].camera_distance_m * intrinsics.width / intrinsics.fx


TRAINING_SPAN_M = training_span_m()
PELVIS = JOINT_INDEX["spine_base"]


def person_square(joints: np.ndarray, *, intrinsics: Intrinsics, span_m: float = TRAINING_SPAN_M,
                  ) -> tuple[float, float, float] | None:
    """(25, 3) joints in the image's camera frame, metres -> (u centre, v centre, side) in pixels of the
    crop square, or None when the pelvis is not in front of the camera."""
    pelvis = np.asarray(joints, dtype=np.float64)[PELVIS]
    if not np.isfinite(pelvis).all() or pelvis[2] <= 0.05:
        return None
    u, v = project_points(pelvis, intrinsics=intrinsics)
    return float(u), float(v), float(intrinsics.fx * span_m / pelvis[2])


def crop_square(image: np.ndarray, square: tuple[float, float, float], *, size: int) -> np.ndarray:
    """(H, W[, C]) image -> (size, size[, C]) same dtype: nearest pixel of each output pixel's centre in
    the square (u, v, side); outside the image 0."""
    u, v, side = square
    steps = (np.arange(size) + 0.5) / size - 0.5
    cols = np.floor(u + 0.5 + steps * side).astype(np.int64)
    rows = np.floor(v + 0.5 + steps * side).astype(np.int64)
    height, width = image.shape[:2]
    inside = (rows[:, None] >= 0) & (rows[:, None] < height) & (cols[None] >= 0) & (cols[None] < width)
    out = image[np.clip(rows, 0, height - 1)[:, None], np.clip(cols, 0, width - 1)[None]]
    mask = inside if out.ndim == 2 else inside[..., None]
    return np.where(mask, out, np.zeros((), out.dtype))


def person_rgbd(rgb: np.ndarray, depth_m: np.ndarray, joints: np.ndarray, *, intrinsics: Intrinsics,
                size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """rgb (H, W, 3) uint8 and registered depth (H, W) metres + the person's (25, 3) joints in their
    camera frame -> (rgb (S, S, 3) uint8, depth (S, S) float32), or None when the person is behind."""
    square = person_square(joints, intrinsics=intrinsics)
    if square is None:
        return None
    return crop_square(rgb, square, size=size), crop_square(np.asarray(depth_m, np.float32), square, size=size)


def person_points(points: np.ndarray, joints: np.ndarray, *, margin_m: float = PERSON_CROP_MARGIN_M,
                  floor_clearance_m: float | None = PERSON_FLOOR_CLEARANCE_M) -> np.ndarray:
    """(K, 3) cloud + one person's (25, 3) joints, same frame -> (K', 3): that person's box only."""
    return crop_to_person(points, skeleton=np.asarray(joints, np.float32)[None], margin_m=margin_m,
                          floor_clearance_m=floor_clearance_m)


def people_region(points: np.ndarray, joints: np.ndarray, *, margin_m: float = PERSON_CROP_MARGIN_M,
                  floor_clearance_m: float | None = PERSON_FLOOR_CLEARANCE_M) -> np.ndarray:
    """(K, 3) cloud + everyone's (P, 25, 3) joints -> the points in the union of their boxes: one pass over
    the full cloud per frame; `person_points` on it then gives each person exactly what it would give on
    the full cloud (each person's box lies inside the union box)."""
    return crop_to_person(points, skeleton=np.asarray(joints, np.float32), margin_m=margin_m,
                          floor_clearance_m=floor_clearance_m)
