"""Which torch device a run or the node uses: the one rule for `auto | cpu | cuda | cuda:N`."""
from __future__ import annotations

import re

import torch

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
"""Accepted device names: auto (CUDA when torch sees a GPU, else CPU), cpu, cuda, cuda:N."""


class DeviceError(ValueError):
    """A device name that is malformed or names hardware torch cannot see; the message says which."""


def check_device_name(name: str) -> str:
    """`name` if it is well formed (DEVICE_PATTERN), else DeviceError. Does not look at the hardware."""
    if not isinstance(name, str) or not DEVICE_PATTERN.fullmatch(name):
        raise DeviceError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}")
    return name


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available else cpu; 'cuda[:N]' without that GPU is a DeviceError that says so."""
    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} was asked for but torch sees no CUDA device "
                              f"(torch {torch.__version__}); use device 'auto' or 'cpu'")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} was asked for but torch sees {torch.cuda.device_count()} "
                              f"CUDA device(s) (0..{torch.cuda.device_count() - 1})")
    return torch.device(name)
