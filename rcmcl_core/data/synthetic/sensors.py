"""Sensor models of the synthetic benchmark: depth noise/holes/range, RGB exposure and noise, a skeleton
tracker with jitter and lost frames, and the person point cloud derived from the depth image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rcmcl_core.geometry.pinhole import Intrinsics
from rcmcl_core.geometry.pinhole import (KINECT_V2_DEPTH, KINECT_V2_RANGE_M, PERSON_CROP_MARGIN_M,
                                         PERSON_FLOOR_CLEARANCE_M, backproject, crop_to_person, sample_points)


@dataclass(frozen=True)
class SensorModel:
    """Sensor imperfections. Depth noise sigma(z) = a + b (z - 0.4 m)^2 (the quadratic form of Nguyen,
    Izadi & Lovell, 3DIMPVT 2012) with a few-millimetre scale like a time-of-flight Kinect v2. RGB noise
    is 0 by default: noise-free RGB compresses ~25x better, and training adds photometric jitter anyway."""

    depth_noise_a_m: float = 0.0015
    depth_noise_b: float = 0.0005
    depth_range_m: tuple[float, float] = KINECT_V2_RANGE_M
    depth_dropout: float = 0.01          # fraction of random missing pixels
    edge_jump_m: float = 0.1             # depth second difference that makes a pixel an edge ...
    edge_dropout: float = 0.5            # ... invalidated with this probability at native resolution
    native_fx: float = KINECT_V2_DEPTH.fx  # flying pixels are ~1 native pixel wide: at a coarser image
                                         # (smaller fx) edge dropout scales by fx / native_fx
    rgb_noise: float = 0.0               # Gaussian sigma, in [0, 1] units
    rgb_exposure: float = 0.08           # per-clip brightness factor uniform in 1 +- this
    joint_jitter_m: float = 0.012        # tracker jitter sigma per joint and axis
    frame_loss: float = 0.02             # per-frame probability that the tracker loses the body
    burst_probability: float = 0.3       # per-clip probability of one longer loss ...
    burst_max_frames: int = 6            # ... of 2 .. this many frames
    crop_margin_m: float = PERSON_CROP_MARGIN_M              # person crop margin around the skeleton ...
    crop_floor_clearance_m: float = PERSON_FLOOR_CLEARANCE_M  # ... except below the lowest joint (floor)
    point_sampling: str = "random"       # geometry.sample_points method


def depth_sensor(depth_m: np.ndarray, *, intrinsics: Intrinsics, model: SensorModel,
                 rng: np.random.Generator) -> np.ndarray:
    """(F, H, W) true depth (0 = no surface) -> (F, H, W) uint16 millimetres as a Kinect reports it: noisy,
    holes at depth edges and at random, 0 outside the range."""
    noisy = depth_m + rng.standard_normal(depth_m.shape, dtype=np.float32) * (model.depth_noise_a_m
                                                            + model.depth_noise_b * (depth_m - 0.4) ** 2)
    near, far = model.depth_range_m
    valid = (depth_m >= near) & (depth_m <= far)
    # A pixel is an edge (flying pixel) where depth bends sharply: the second difference along rows or
    # columns exceeds edge_jump_m. Smooth ramps (a floor seen at a grazing angle) are not edges.
    padded = np.pad(depth_m, ((0, 0), (1, 1), (1, 1)), mode="edge")
    centre = padded[:, 1:-1, 1:-1]
    bend = np.maximum(np.abs(padded[:, 1:-1, 2:] - 2 * centre + padded[:, 1:-1, :-2]),
                      np.abs(padded[:, 2:, 1:-1] - 2 * centre + padded[:, :-2, 1:-1]))
    jump = bend > model.edge_jump_m
    edge_dropout = model.edge_dropout * min(1.0, intrinsics.fx / model.native_fx)
    valid &= ~(jump & (rng.random(depth_m.shape) < edge_dropout))
    valid &= rng.random(depth_m.shape) >= model.depth_dropout
    return np.where(valid, np.round(noisy * 1000.0), 0).astype(np.uint16)


def rgb_sensor(rgb: np.ndarray, *, model: SensorModel, rng: np.random.Generator) -> np.ndarray:
    """(F, H, W, 3) float [0, 1] -> uint8 with a per-clip exposure and Gaussian noise."""
    exposure = 1 + rng.uniform(-model.rgb_exposure, model.rgb_exposure)
    noisy = rgb * np.float32(exposure)
    if model.rgb_noise > 0:
        noisy += rng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(model.rgb_noise)
    return np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8)


def skeleton_tracker(joints_cam: np.ndarray, *, max_bodies: int, model: SensorModel,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(F, 25, 3) true camera-frame joints -> (skeleton (F, M, 25, 3) float32, valid (F, M) bool): jitter,
    random lost frames and one loss burst per clip with some probability (lost: valid False, joints 0).
    Body 0 is the performer; bodies 1.. are never tracked."""
    frames = len(joints_cam)
    tracked = rng.random(frames) >= model.frame_loss
    if rng.random() < model.burst_probability:
        length = int(rng.integers(2, model.burst_max_frames + 1))
        start = int(rng.integers(0, max(1, frames - length + 1)))
        tracked[start:start + length] = False
    skeleton = np.zeros((frames, max_bodies, 25, 3), np.float32)
    jitter = rng.standard_normal(joints_cam.shape) * model.joint_jitter_m
    skeleton[:, 0] = np.where(tracked[:, None, None], joints_cam + jitter, 0.0)
    valid = np.zeros((frames, max_bodies), dtype=bool)
    valid[:, 0] = tracked
    return skeleton, valid


def person_points(depth_mm: np.ndarray, skeleton: np.ndarray, valid: np.ndarray, *, intrinsics: Intrinsics,
                  num_points: int, model: SensorModel, rng: np.random.Generator) -> np.ndarray:
    """(F, H, W) uint16 depth + tracked skeleton -> (F, N, 3) float32 person points, camera frame: back-
    projected, cropped around the tracked bodies (depth foreground when none is tracked), sampled to N."""
    out = np.empty((len(depth_mm), num_points, 3), np.float32)
    for f in range(len(depth_mm)):
        cloud = backproject(depth_mm[f].astype(np.float32) / 1000.0, intrinsics=intrinsics)
        bodies = skeleton[f][valid[f]]
        cloud = crop_to_person(cloud, skeleton=bodies if len(bodies) else None, margin_m=model.crop_margin_m,
                               floor_clearance_m=model.crop_floor_clearance_m)
        out[f] = sample_points(cloud, num_points, rng=rng, method=model.point_sampling)
    return out
