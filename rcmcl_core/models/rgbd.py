"""E_R: a (2+1)D residual network (R(2+1)D, Tran et al. 2018) on 4-channel RGB-D clips.

One network class composed of small blocks: `Conv2Plus1D` factorises a t x k x k 3D convolution into a
spatial 1 x k x k convolution and a temporal t x 1 x 1 one, with the intermediate width chosen so that
the parameter count matches the full 3D kernel; the stem and `BasicBlock` receive that class as
`conv_builder`, so a variant (e.g. a full 3D conv) differs in one argument. Widths come from
`RGBDEncoderConfig`; the paper preset is R(2+1)D-18.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from rcmcl_core.config import ClipConfig, RGBDEncoderConfig

RGB_MEAN = (0.43216, 0.394666, 0.37645)
"""Kinetics-400 channel means used by R(2+1)D; fixed so the node and training normalise identically."""
RGB_STD = (0.22803, 0.22145, 0.216989)
BLOCK_KERNEL = (3, 3)                 # (temporal, spatial) kernel of the residual blocks (R(2+1)D)
STEM_KERNEL = (3, 7)                  # (temporal, spatial) kernel of the stem (R(2+1)D)
STEM_SPATIAL_STRIDE = 2


class Conv3d(nn.Conv3d):
    """nn.Conv3d that, on CPU without autograd (inference), calls oneDNN directly. PyTorch's CPU heuristic
    sends batch-1 clips with <= 3x3 kernels to its im2col path, ~1.5-2x slower for this encoder's early
    layers (docs/PERFORMANCE.md); results agree to float rounding. Training, CUDA and torch.compile use
    nn.Conv3d as is."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled()
                and self.padding_mode == "zeros" and isinstance(self.padding, tuple) and _onednn_enabled()
                and not torch.compiler.is_compiling()):       # the compiler picks its own kernels
            if not (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last_3d)):
                x = x.contiguous()
            return torch.ops.aten.mkldnn_convolution(x, self.weight, self.bias, self.padding, self.stride,
                                                     self.dilation, self.groups)
        return super().forward(x)


def _onednn_enabled() -> bool:
    return torch.backends.mkldnn.is_available() and bool(torch.backends.mkldnn.enabled)


def parameter_matched_midplanes(in_planes: int, out_planes: int, *, temporal_kernel: int,
                                spatial_kernel: int) -> int:
    """R(2+1)D's M_i = floor(t d^2 N_{i-1} N_i / (d^2 N_{i-1} + t N_i)): the intermediate width at which
    the (2+1)D pair has as many weights as the t x d x d 3D convolution it replaces."""
    t, d2 = temporal_kernel, spatial_kernel ** 2
    return max(1, (t * d2 * in_planes * out_planes) // (d2 * in_planes + t * out_planes))


class Conv2Plus1D(nn.Sequential):
    """Spatial 1 x k x k conv, BN, ReLU, temporal t x 1 x 1 conv. (B, C_in, T, H, W) -> (B, C_out, T', H', W')
    with T' = ceil(T / temporal_stride), H' = ceil(H / spatial_stride)."""

    def __init__(self, *, in_planes: int, out_planes: int, midplanes: int, temporal_stride: int = 1,
                 spatial_stride: int = 1, temporal_kernel: int = BLOCK_KERNEL[0],
                 spatial_kernel: int = BLOCK_KERNEL[1]) -> None:
        super().__init__(
            Conv3d(in_planes, midplanes, kernel_size=(1, spatial_kernel, spatial_kernel),
                   stride=(1, spatial_stride, spatial_stride), padding=(0, spatial_kernel // 2, spatial_kernel // 2),
                   bias=False),
            nn.BatchNorm3d(midplanes),
            nn.ReLU(inplace=True),
            Conv3d(midplanes, out_planes, kernel_size=(temporal_kernel, 1, 1), stride=(temporal_stride, 1, 1),
                   padding=(temporal_kernel // 2, 0, 0), bias=False),
        )

    @classmethod
    def matched(cls, *, in_planes: int, out_planes: int, temporal_stride: int = 1, spatial_stride: int = 1,
                temporal_kernel: int = BLOCK_KERNEL[0], spatial_kernel: int = BLOCK_KERNEL[1]) -> "Conv2Plus1D":
        """Build with the parameter-matched midplanes."""
        midplanes = parameter_matched_midplanes(in_planes, out_planes, temporal_kernel=temporal_kernel,
                                                spatial_kernel=spatial_kernel)
        return cls(in_planes=in_planes, out_planes=out_planes, midplanes=midplanes, temporal_stride=temporal_stride,
                   spatial_stride=spatial_stride, temporal_kernel=temporal_kernel, spatial_kernel=spatial_kernel)


ConvBuilder = Callable[..., nn.Module]
"""Keyword-only factory with Conv2Plus1D.matched's signature."""


class Stem(nn.Sequential):
    """(B, in_channels, T, H, W) -> (B, out_channels, T, H/2, W/2): a 7x7 spatial, 3-frame temporal (2+1)D
    conv with BN and ReLU. `in_channels` is an argument (4 for RGB-D; torchvision hard-codes 3)."""

    def __init__(self, *, in_channels: int, out_channels: int, conv_builder: ConvBuilder = Conv2Plus1D.matched) -> None:
        super().__init__(
            conv_builder(in_planes=in_channels, out_planes=out_channels, spatial_stride=STEM_SPATIAL_STRIDE,
                         temporal_kernel=STEM_KERNEL[0], spatial_kernel=STEM_KERNEL[1]),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
        )


class BasicBlock(nn.Module):
    """Two (2+1)D convs with BN and a residual connection (projected when the shape changes).
    (B, in_planes, T, H, W) -> (B, planes, T/temporal_stride, H/spatial_stride, W/spatial_stride)."""

    def __init__(self, *, in_planes: int, planes: int, conv_builder: ConvBuilder = Conv2Plus1D.matched,
                 temporal_stride: int = 1, spatial_stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            conv_builder(in_planes=in_planes, out_planes=planes, temporal_stride=temporal_stride,
                         spatial_stride=spatial_stride),
            nn.BatchNorm3d(planes), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(conv_builder(in_planes=planes, out_planes=planes), nn.BatchNorm3d(planes))
        self.downsample: nn.Module = nn.Identity()
        if temporal_stride != 1 or spatial_stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                Conv3d(in_planes, planes, kernel_size=1, stride=(temporal_stride, spatial_stride, spatial_stride),
                       bias=False),
                nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.downsample(x))


def normalise_rgbd(rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """rgb (B, T, 3, H, W) in [0, 1] and depth (B, T, 1, H, W) metres (0 = invalid) -> (B, 4, T, H, W).

    RGB is standardised with the fixed Kinetics statistics; depth becomes metres relative to the clip's
    mean valid depth (so the person's distance to the camera does not matter), invalid pixels stay 0.
    """
    mean = rgb.new_tensor(RGB_MEAN).view(1, 1, 3, 1, 1)
    std = rgb.new_tensor(RGB_STD).view(1, 1, 3, 1, 1)
    rgb_n = (rgb - mean) / std
    valid = (depth > 0) & torch.isfinite(depth)
    depth_0 = torch.where(valid, depth, torch.zeros_like(depth))
    count = valid.sum(dim=(1, 2, 3, 4), keepdim=True).clamp(min=1)
    clip_mean = depth_0.sum(dim=(1, 2, 3, 4), keepdim=True) / count
    depth_n = torch.where(valid, depth_0 - clip_mean, torch.zeros_like(depth_0))
    return torch.cat([rgb_n, depth_n], dim=2).transpose(1, 2).contiguous()


class RGBDEncoder(nn.Module):
    """E_R: rgb (B, T, 3, H, W) [0, 1] + depth (B, T, 1, H, W) metres -> Z_R (B, feature_dim).

    Any T, H, W work (global pooling); `clip` is taken for the encoders' common signature.
    """

    def __init__(self, *, config: RGBDEncoderConfig, clip: ClipConfig, feature_dim: int,
                 conv_builder: ConvBuilder = Conv2Plus1D.matched) -> None:
        super().__init__()
        config.validate()
        clip.validate()
        self.stem = Stem(in_channels=config.in_channels, out_channels=config.stem_channels, conv_builder=conv_builder)
        stages = []
        in_planes = config.stem_channels
        for index, (planes, blocks, t_stride) in enumerate(
                zip(config.stage_channels, config.blocks_per_stage, config.temporal_strides)):
            s_stride = 1 if index == 0 else 2
            layers = [BasicBlock(in_planes=in_planes, planes=planes, conv_builder=conv_builder,
                                 temporal_stride=t_stride, spatial_stride=s_stride)]
            layers += [BasicBlock(in_planes=planes, planes=planes, conv_builder=conv_builder)
                       for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            in_planes = planes
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(in_planes, feature_dim)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        x = normalise_rgbd(rgb, depth)
        x = self.stages(self.stem(x))
        return self.fc(self.pool(x).flatten(1))
