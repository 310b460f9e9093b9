"""Augmentations and degradations on batch dicts (docs/ARCHITECTURE.md, "Tensor contracts"), one import for callers.

Views for L_IM (Eq.2) live in `augment_views`, sensor failures / corruptions and the L_deg skeleton
masking (Eq.3) in `degrade`. All functions are batched torch ops, take their randomness from an explicit
torch.Generator, and return new dicts without modifying their input.
"""
from __future__ import annotations

import torch

from rcmcl_core.augment.views import make_view, points_view, rgbd_view, skeleton_view
from rcmcl_core.config import AugmentConfig
from rcmcl_core.augment.degrade import (drop_frames, drop_modalities, mask_skeleton, occlude, random_modality_dropout,
                                        skeleton_joint_noise, sparsify_points)

__all__ = ["make_views", "make_view", "rgbd_view", "skeleton_view", "points_view", "drop_modalities",
           "random_modality_dropout", "skeleton_joint_noise", "sparsify_points", "drop_frames", "occlude",
           "mask_skeleton"]


def make_views(batch: dict, *, config: AugmentConfig, generator: torch.Generator) -> tuple[dict, dict]:
    """Two independently augmented views of `batch` for the intra-modal loss L_IM (Eq.2)."""
    return (make_view(batch, config=config, generator=generator),
            make_view(batch, config=config, generator=generator))
