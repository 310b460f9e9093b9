"""Heads on top of the encoders: projection H_M (contrastive space), classifier C, skeleton decoder D_S."""
from __future__ import annotations

import torch
from torch import nn

from rcmcl_core.config import ClipConfig

COORDS = 3


class ProjectionHead(nn.Sequential):
    """H_M: Z_M (B, in_dim) -> h_M (B, out_dim) via Linear-BN-ReLU-Linear (SimCLR / Barlow Twins style)."""

    def __init__(self, *, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__(
            nn.Linear(in_dim, hidden_dim, bias=False),   # BN follows, so a bias would be redundant
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )


class Classifier(nn.Linear):
    """C: fused feature (B, in_dim) -> logits (B, num_classes); one linear layer (the paper's linear probe)."""

    def __init__(self, *, in_dim: int, num_classes: int) -> None:
        super().__init__(in_dim, num_classes)


class SkeletonDecoder(nn.Module):
    """D_S of Eq.3: Z'_S (B, feature_dim) -> skeleton (B, T, M, 25, 3) metres in the encoder's centred frame
    (`rcmcl_core.models.stgcn.centre_skeleton`). A lightweight 2-layer MLP, as the paper asks."""

    def __init__(self, *, feature_dim: int, hidden_dim: int, clip: ClipConfig) -> None:
        super().__init__()
        self.shape = (clip.frames, clip.max_bodies, clip.num_joints, COORDS)
        outputs = clip.frames * clip.max_bodies * clip.num_joints * COORDS
        self.mlp = nn.Sequential(nn.Linear(feature_dim, hidden_dim), nn.ReLU(inplace=True),
                                 nn.Linear(hidden_dim, outputs))

    def forward(self, z_skeleton: torch.Tensor) -> torch.Tensor:
        return self.mlp(z_skeleton).view(z_skeleton.shape[0], *self.shape)
