"""E_S: ST-GCN (Yan et al. 2018) over the NTU-25 graph, with optional AS-GCN-style learned links.

The graph is data from `rcmcl_core.geometry.skeleton_layout` (3-subset spatial partition); the network only
consumes it. With `bone_input` each joint carries its bone vector (joint minus parent) as 3 more channels, the
joint + bone input of 2s-AGCN (Shi et al. 2019). Each block is a spatial graph convolution (one 1x1 conv per
subset, aggregated with A_k, plus a learned zero-initialised residual adjacency when `learned_links`) followed
by a temporal convolution, with a residual connection. Bodies share the network; their pooled features are
averaged over tracked bodies.
"""
from __future__ import annotations

import torch
from torch import nn

from rcmcl_core.config import ClipConfig, SkeletonEncoderConfig
from rcmcl_core.geometry.skeleton_layout import NTU_BONES, NUM_JOINTS, ROOT_JOINT, spatial_partition

COORDS = 3
PARENT = [next((parent for child, parent in NTU_BONES if child == j), j) for j in range(NUM_JOINTS)]
"""Each joint's parent in the NTU-25 tree (the root is its own parent, so its bone is zero)."""


def bone_vectors(centred: torch.Tensor) -> torch.Tensor:
    """(..., 25, 3) joints -> (..., 25, 3) joint minus its parent, metres: a hand tip's or thumb's few
    centimetres stand out here, where in camera coordinates the arm's pose swamps them. Untracked (all-zero)
    bodies stay zero."""
    return centred - centred[..., PARENT, :]


def centre_skeleton(skeleton: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """skeleton (B, T, M, 25, 3) metres, camera frame -> (centred (B, T, M, 25, 3), tracked (B, T, M) bool).

    Subtracts each clip's mean spine_base (ROOT_JOINT) over the frames where body 0 is tracked, so position
    in the room does not matter. A body is tracked in a frame when its joints are finite and not all zero;
    untracked entries come out exactly 0. Also the target frame for skeleton reconstruction (Eq.3).
    """
    finite = torch.isfinite(skeleton).all(dim=-1).all(dim=-1)                       # (B, T, M)
    clean = torch.where(finite[..., None, None], skeleton, torch.zeros_like(skeleton))
    tracked = finite & (clean.abs().sum(dim=(-1, -2)) > 0)
    root_tracked = tracked[:, :, 0, None]                                             # (B, T, 1)
    roots = torch.where(root_tracked, clean[:, :, 0, ROOT_JOINT], torch.zeros_like(clean[:, :, 0, ROOT_JOINT]))
    origin = roots.sum(dim=1) / root_tracked.sum(dim=1).clamp(min=1)                  # (B, 3)
    centred = torch.where(tracked[..., None, None], clean - origin[:, None, None, None], torch.zeros_like(clean))
    return centred, tracked


class GraphConv(nn.Module):
    """Spatial graph convolution: (N, C_in, T, V) -> (N, C_out, T, V), out_i = sum_k sum_j (A_k + L_k)_ij W_k x_j.

    `adjacency` is the (K, V, V) partition; `learned_links` adds a (K, V, V) parameter L, zero at
    start so training begins from the physical graph and learns extra (non-bone) links (AS-GCN).
    """

    def __init__(self, *, in_channels: int, out_channels: int, adjacency: torch.Tensor, learned_links: bool) -> None:
        super().__init__()
        self.subsets = adjacency.shape[0]
        self.register_buffer("adjacency", adjacency.clone())
        self.conv = nn.Conv2d(in_channels, out_channels * self.subsets, kernel_size=1)
        self.learned_links = nn.Parameter(torch.zeros_like(adjacency)) if learned_links else None

    def graph(self) -> torch.Tensor:
        """The (K, V, V) adjacency in use."""
        return self.adjacency if self.learned_links is None else self.adjacency + self.learned_links

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        x = self.conv(x).view(n, self.subsets, -1, t, v)
        return torch.einsum("nkctv,kwv->nctw", x, self.graph())


class STGCNBlock(nn.Module):
    """GraphConv + BN, then BN-ReLU-temporal conv (kernel x 1, stride)-BN-dropout, residual, ReLU.
    (N, C_in, T, V) -> (N, C_out, ceil(T / temporal_stride), V)."""

    def __init__(self, *, in_channels: int, out_channels: int, adjacency: torch.Tensor, temporal_kernel: int,
                 temporal_stride: int, learned_links: bool, dropout: float) -> None:
        super().__init__()
        self.gcn = GraphConv(in_channels=in_channels, out_channels=out_channels, adjacency=adjacency,
                             learned_links=learned_links)
        pad = (temporal_kernel - 1) // 2
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=(temporal_kernel, 1), stride=(temporal_stride, 1),
                      padding=(pad, 0)),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(dropout, inplace=True),
        )
        self.residual: nn.Module = nn.Identity()
        if in_channels != out_channels or temporal_stride != 1:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(temporal_stride, 1)),
                nn.BatchNorm2d(out_channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.tcn(self.gcn(x)) + self.residual(x))


class SkeletonEncoder(nn.Module):
    """E_S: skeleton (B, T, M, 25, 3) metres, camera frame (all-zero body = untracked) -> Z_S (B, feature_dim)."""

    def __init__(self, *, config: SkeletonEncoderConfig, clip: ClipConfig, feature_dim: int) -> None:
        super().__init__()
        config.validate()
        clip.validate()
        adjacency = torch.from_numpy(spatial_partition())
        joints = adjacency.shape[-1]
        self.bone_input = config.bone_input
        self.channels = 2 * COORDS if config.bone_input else COORDS
        # ST-GCN's data_bn: one normalisation per (body, joint, channel) over batch and time.
        self.data_bn = nn.BatchNorm1d(clip.max_bodies * joints * self.channels)
        blocks = []
        in_channels = self.channels
        for out_channels, stride in zip(config.block_channels, config.temporal_strides):
            blocks.append(STGCNBlock(in_channels=in_channels, out_channels=out_channels, adjacency=adjacency,
                                     temporal_kernel=config.temporal_kernel, temporal_stride=stride,
                                     learned_links=config.learned_links, dropout=config.dropout))
            in_channels = out_channels
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(in_channels, feature_dim)

    def forward(self, skeleton: torch.Tensor) -> torch.Tensor:
        centred, tracked = centre_skeleton(skeleton)
        if self.bone_input:
            centred = torch.cat([centred, bone_vectors(centred)], dim=-1)                 # (B, T, M, 25, 6)
        b, t, m, v, c = centred.shape
        x = self.data_bn(centred.permute(0, 2, 3, 4, 1).reshape(b, m * v * c, t))
        x = x.view(b, m, v, c, t).permute(0, 1, 3, 4, 2).reshape(b * m, c, t, v)     # (B*M, C, T, V)
        # Only bodies seen in some frame go through the network (samples with none keep body 0, whose
        # input is zeros): a single person costs one pass, not M.
        body_tracked = tracked.any(dim=1)                                                 # (B, M)
        run = body_tracked.clone()
        run[:, 0] |= ~body_tracked.any(dim=1)
        selected = run.flatten().nonzero().squeeze(1)
        pooled = self.blocks(x.index_select(0, selected)).mean(dim=(2, 3))               # (S, C)
        weights = run.float() / run.sum(dim=1, keepdim=True)                              # mean over bodies run
        per_body = pooled.new_zeros(b * m, pooled.shape[1]).index_copy(0, selected, pooled)
        features = (per_body.view(b, m, -1) * weights[..., None]).sum(dim=1)
        return self.fc(features)
