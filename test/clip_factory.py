"""Small labelled tri-modal shard datasets for training tests: each class has its own colour, skeleton pose
offset and point-cloud size, so a few steps of training can learn it. Fast (no rendering). Also a random
tiny-preset model batch for model tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rcmcl_core.config import preset
from rcmcl_core.data.shards import Manifest, write_shard
from rcmcl_core.geometry.pinhole import Intrinsics


def make_clip_root(root: Path, *, classes: int, clips_per_class: int, frames: int = 12, size: int = 32,
                   points: int = 64, fps: float = 10.0, seed: int = 0) -> Path:
    """Write manifest + one shard of classes*clips_per_class clips; split 'xsub' by subject parity."""
    rng = np.random.default_rng(seed)
    count = classes * clips_per_class
    label = np.repeat(np.arange(classes), clips_per_class).astype(np.int64)
    subject = np.arange(count, dtype=np.int64) % 4 + 1
    phase = 2 * np.pi * label / classes
    rgb = rng.integers(0, 40, size=(count, frames, size, size, 3)).astype(np.uint8)
    rgb[..., 0] += (100 + 100 * np.cos(phase)).astype(np.uint8)[:, None, None, None]
    rgb[..., 2] += (100 + 100 * np.sin(phase)).astype(np.uint8)[:, None, None, None]
    depth = np.full((count, frames, size, size), 2500, np.uint16)
    depth[:, :, size // 4:3 * size // 4, size // 3:2 * size // 3] = 2000
    time = np.arange(frames) / fps
    skeleton = rng.normal(scale=0.2, size=(count, frames, 2, 25, 3)).astype(np.float32) * 0.1
    skeleton[:, :, 0] += rng.normal(scale=0.3, size=(1, 1, 25, 3)).astype(np.float32)
    wave = np.sin(2 * np.pi * (0.5 + label[:, None] / classes) * time[None])       # class-specific frequency
    skeleton[:, :, 0, 7, 1] += 0.3 * wave.astype(np.float32)
    skeleton[:, :, 0] += np.array([0.0, 0.0, 2.5], np.float32)
    skeleton[:, :, 1] = 0.0
    valid = np.zeros((count, frames, 2), bool)
    valid[:, :, 0] = True
    cloud = rng.normal(size=(count, frames, points, 3)).astype(np.float32)
    cloud *= (0.1 + 0.3 * label / classes)[:, None, None, None].astype(np.float32)
    cloud += np.array([0.0, 0.0, 2.5], np.float32)
    shard = {"rgb": rgb, "depth_mm": depth, "skeleton": skeleton, "skeleton_valid": valid, "points": cloud,
             "label": label, "subject": subject, "camera": np.ones(count, np.int64),
             "setup": np.zeros(count, np.int64), "clip_id": np.array([f"fake_{i:04d}" for i in range(count)])}
    relative = write_shard(root, 0, shard)
    Manifest(source="test", classes=[f"class_{k}" for k in range(classes)], fps=fps,
             intrinsics=Intrinsics(fx=30, fy=30, cx=size / 2, cy=size / 2, width=size, height=size),
             shards=[relative], num_clips=count, splits={"xsub": {"train": [1, 3], "test": [2, 4]}},
             split_fields={"xsub": "subject"}).save(root)
    return root


def tiny_batch(present, seed=0) -> dict:
    """A random tiny-preset model batch (docs/ARCHITECTURE.md, "Tensor contracts"), one sample per entry of
    `present`, a list of (R, S, P) booleans; the second skeleton body is empty."""
    clip = preset("tiny").clip
    g = torch.Generator().manual_seed(seed)
    b, t, s, n = len(present), clip.frames, clip.image_size, clip.num_points
    skeleton = torch.randn(b, t, clip.max_bodies, 25, 3, generator=g) * 0.3 + torch.tensor([0.0, 0.0, 3.0])
    skeleton[:, :, 1] = 0.0
    return {
        "rgb": torch.rand(b, t, 3, s, s, generator=g),
        "depth": 2.0 + torch.rand(b, t, 1, s, s, generator=g),
        "skeleton": skeleton,
        "points": torch.randn(b, t, n, 3, generator=g) * 0.3 + torch.tensor([0.0, 0.0, 3.0]),
        "present": torch.tensor(present, dtype=torch.bool),
    }
