"""E_P: PointNet++ SSG set abstraction per frame (Qi et al. 2017), then temporal attention over frames.

Each frame's cloud goes through the set-abstraction levels of `PointEncoderConfig` (farthest point
sampling, ball query, grouping relative to the centroid, shared MLP, max-pool; the last level pools the
whole cloud). The T frame features get a learned positional embedding and `attention_layers`
Transformer encoder layers, are mean-pooled over frames that had points, and projected to D.
"""
from __future__ import annotations

import torch
from torch import nn

from rcmcl_core.config import ClipConfig, PointEncoderConfig, SetAbstractionConfig
from rcmcl_core.models.fused_point_ops import ball_query, farthest_point_sample  # Triton on CUDA, else torch
from rcmcl_core.geometry.point_ops import gather_points, replace_missing_points

COORDS = 3
FEEDFORWARD_RATIO = 2                 # Transformer feed-forward width / model width
POSITION_INIT_STD = 0.02              # std of the learned positional embedding at start (as ViT/BERT)


def centre_points(points: torch.Tensor) -> torch.Tensor:
    """points (B, T, N, 3) metres -> same minus the clip's centroid of valid (finite) points.
    Missing (NaN) rows stay non-finite; a clip without any valid point is returned unchanged."""
    valid = torch.isfinite(points).all(dim=-1, keepdim=True)                         # (B, T, N, 1)
    summed = torch.where(valid, points, torch.zeros_like(points)).sum(dim=(1, 2), keepdim=True)
    count = valid.sum(dim=(1, 2), keepdim=True).clamp(min=1)
    return points - summed / count


class SharedMLP(nn.Sequential):
    """1x1 Conv2d + BN + ReLU per layer: (B, C_in, S, K) -> (B, channels[-1], S, K)."""

    def __init__(self, *, in_channels: int, channels: tuple[int, ...]) -> None:
        layers: list[nn.Module] = []
        for out_channels in channels:
            layers += [nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
                       nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
            in_channels = out_channels
        super().__init__(*layers)


class SetAbstraction(nn.Module):
    """One SSG level: xyz (B, N, 3) metres + features (B, N, C) or None -> (xyz (B, S, 3), features (B, S, C')).

    Grouped offsets are divided by the ball radius so every level sees coordinates of order 1.
    With num_centroids == 0 the level groups the whole cloud around the origin (group-all, S = 1).
    """

    def __init__(self, *, config: SetAbstractionConfig, in_channels: int) -> None:
        super().__init__()
        self.config = config
        self.mlp = SharedMLP(in_channels=in_channels + COORDS, channels=config.mlp_channels)
        self.out_channels = config.mlp_channels[-1]

    def forward(self, xyz: torch.Tensor, features: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        level = self.config
        if level.num_centroids == 0:
            centroids = xyz.new_zeros(xyz.shape[0], 1, COORDS)
            grouped_xyz = xyz[:, None]                                                # (B, 1, N, 3)
            grouped_features = None if features is None else features[:, None]
        else:
            centroids = gather_points(xyz, farthest_point_sample(xyz, min(level.num_centroids, xyz.shape[1])))
            idx = ball_query(xyz, centroids, radius_m=level.radius_m, neighbours=level.neighbours)
            grouped_xyz = gather_points(xyz, idx)                                     # (B, S, K, 3)
            grouped_features = None if features is None else gather_points(features, idx)
        grouped = (grouped_xyz - centroids[:, :, None]) / level.radius_m
        if grouped_features is not None:
            grouped = torch.cat([grouped, grouped_features], dim=-1)
        pooled = self.mlp(grouped.permute(0, 3, 1, 2)).amax(dim=-1)                  # (B, C', S)
        return centroids, pooled.transpose(1, 2)


class PointEncoder(nn.Module):
    """E_P: points (B, T, N, 3) metres, camera frame (NaN rows = padding) -> Z_P (B, feature_dim)."""

    def __init__(self, *, config: PointEncoderConfig, clip: ClipConfig, feature_dim: int) -> None:
        super().__init__()
        config.validate()
        clip.validate()
        levels = []
        channels = 0
        for level in config.set_abstraction:
            levels.append(SetAbstraction(config=level, in_channels=channels))
            channels = levels[-1].out_channels
        self.levels = nn.ModuleList(levels)
        if channels % config.attention_heads:
            raise ValueError(f"points: the last set-abstraction width ({channels}) must be divisible by "
                             f"attention_heads ({config.attention_heads})")
        self.position = nn.Parameter(torch.randn(1, clip.frames, channels) * POSITION_INIT_STD)
        self.temporal = None
        if config.attention_layers > 0:
            layer = nn.TransformerEncoderLayer(d_model=channels, nhead=config.attention_heads,
                                               dim_feedforward=FEEDFORWARD_RATIO * channels, dropout=0.0,
                                               batch_first=True, norm_first=True)
            self.temporal = nn.TransformerEncoder(layer, num_layers=config.attention_layers,
                                                  enable_nested_tensor=False)
        self.norm = nn.LayerNorm(channels)
        self.fc = nn.Linear(channels, feature_dim)

    def frame_features(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """points (B, T, N, 3) centred -> (features (B, T, C), frame_has_points (B, T) bool); empty frames
        give exactly zero features."""
        b, t, n, _ = points.shape
        xyz, has_points = replace_missing_points(points.reshape(b * t, n, COORDS))
        features = None
        for level in self.levels:
            xyz, features = level(xyz, features)
        frame = features.squeeze(1)                                                   # (B*T, C)
        frame = torch.where(has_points[:, None], frame, torch.zeros_like(frame))
        return frame.view(b, t, -1), has_points.view(b, t)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        frames, has_points = self.frame_features(centre_points(points))
        # Empty frames are ignored by attention and pooling; a clip with no points at all attends to
        # every (zero) frame instead, since masking all keys would give NaN.
        keep = has_points | ~has_points.any(dim=1, keepdim=True)                      # (B, T)
        x = frames + self.position[:, : frames.shape[1]]
        if self.temporal is not None:
            x = self.temporal(x, src_key_padding_mask=~keep)
        weights = keep.to(x.dtype) / keep.sum(dim=1, keepdim=True).to(x.dtype)
        pooled = (x * weights[..., None]).sum(dim=1)
        return self.fc(self.norm(pooled))
