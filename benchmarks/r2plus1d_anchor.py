"""The anchor of benchmarks/model_speed.py: a plain R(2+1)D-18 (Tran et al. 2018) written from torch.nn.

It is torchvision's `r2plus1d_18` architecture (3 input channels, 45/64 stem, widths 64-512, two basic
blocks per stage, parameter-matched midplanes, 400 classes: 31.5 M parameters) without importing
torchvision, which the GPU box may lack. It shares no code with rcmcl_core so that it measures what a
plain video network of the same input size costs on the same machine in the same run.
"""
from __future__ import annotations

from torch import nn

STAGE_WIDTHS = (64, 128, 256, 512)
STEM_WIDTHS = (45, 64)                 # spatial 7x7 conv to 45 channels, temporal 3x1x1 to 64
KINETICS_CLASSES = 400


def _midplanes(in_planes: int, out_planes: int) -> int:
    return (in_planes * out_planes * 3 * 3 * 3) // (in_planes * 3 * 3 + 3 * out_planes)


def _conv2plus1d(in_planes: int, out_planes: int, mid: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(in_planes, mid, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
        nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
        nn.Conv3d(mid, out_planes, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False))


class _Block(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        mid = _midplanes(in_planes, planes)           # torchvision uses the first conv's midplanes for both
        self.body = nn.Sequential(_conv2plus1d(in_planes, planes, mid, stride), nn.BatchNorm3d(planes),
                                  nn.ReLU(inplace=True), _conv2plus1d(planes, planes, mid, 1), nn.BatchNorm3d(planes))
        self.shortcut = nn.Identity() if stride == 1 and in_planes == planes else nn.Sequential(
            nn.Conv3d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class R2Plus1D18(nn.Module):
    """clips (B, 3, T, H, W) -> logits (B, num_classes). `width_divisor` > 1 shrinks every width (for
    CPU smoke runs of the benchmark only; the anchor figure uses 1)."""

    def __init__(self, *, num_classes: int = KINETICS_CLASSES, width_divisor: int = 1) -> None:
        super().__init__()
        stem_mid, stem_out = (max(1, w // width_divisor) for w in STEM_WIDTHS)
        self.stem = nn.Sequential(
            nn.Conv3d(3, stem_mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
            nn.BatchNorm3d(stem_mid), nn.ReLU(inplace=True),
            nn.Conv3d(stem_mid, stem_out, (3, 1, 1), padding=(1, 0, 0), bias=False),
            nn.BatchNorm3d(stem_out), nn.ReLU(inplace=True))
        blocks, in_planes = [], stem_out
        for index, width in enumerate(STAGE_WIDTHS):
            planes = max(1, width // width_divisor)
            stride = 1 if index == 0 else 2
            blocks += [_Block(in_planes, planes, stride), _Block(planes, planes, 1)]
            in_planes = planes
        self.stages = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, clips):
        return self.fc(self.pool(self.stages(self.stem(clips))).flatten(1))
