"""NTU RGB+D sample names (SsssCcccPpppRrrrAaaa) and the official evaluation splits.

Splits (Shahroudy et al. 2016; Liu et al. 2019): NTU-60 cross-subject (xsub) trains on 20 performers,
cross-view (xview) on cameras 2 and 3; NTU-120 cross-subject trains on 53 performers, cross-setup (xset)
on even setup ids. Everything not listed for training is the test set.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rcmcl_core.data.ntu.classes import SUPPORTED_VERSIONS

NTU60_XSUB_TRAIN_SUBJECTS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
NTU60_XVIEW_TRAIN_CAMERAS = (2, 3)
NTU120_XSUB_TRAIN_SUBJECTS = NTU60_XSUB_TRAIN_SUBJECTS + (
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91,
    92, 93, 94, 95, 97, 98, 100, 103)

NTU_CAMERAS = (1, 2, 3)
NTU_SETUPS = {60: tuple(range(1, 18)), 120: tuple(range(1, 33))}
NTU_PERFORMERS = {60: tuple(range(1, 41)), 120: tuple(range(1, 107))}
NTU_ACTIONS = {60: tuple(range(1, 61)), 120: tuple(range(1, 121))}

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
_LIMITS = {"setup": 32, "camera": 3, "performer": 106, "replication": 2, "action": 120}


class NTUNameError(ValueError):
    """A file or folder name is not an NTU sample name; the message shows the expected pattern."""


@dataclass(frozen=True)
class NTUSample:
    """The identity of one NTU sample; all ids are 1-based as in the file names."""

    setup: int
    camera: int
    performer: int
    replication: int
    action: int

    @property
    def name(self) -> str:
        return (f"S{self.setup:03d}C{self.camera:03d}P{self.performer:03d}"
                f"R{self.replication:03d}A{self.action:03d}")

    @property
    def label(self) -> int:
        """0-based class index (action id - 1)."""
        return self.action - 1

    def in_version(self, version: int) -> bool:
        """Whether the sample belongs to NTU RGB+D `version` (NTU-60: setups 1-17, actions 1-60)."""
        _check_version(version)
        return self.setup in NTU_SETUPS[version] and self.action in NTU_ACTIONS[version]


def parse_sample_name(name: str | Path) -> NTUSample:
    """'S001C002P003R002A013' (also as a path, or with a suffix such as '.skeleton' or '_rgb.avi') ->
    NTUSample(setup=1, camera=2, performer=3, replication=2, action=13)."""
    base = Path(name).name
    match = _NAME.match(base)
    rest = base[match.end():] if match else ""
    if match is None or (rest and rest[0] not in "._"):
        raise NTUNameError(f"{str(name)!r} is not an NTU sample name: expected SsssCcccPpppRrrrAaaa with "
                           f"3-digit ids, e.g. S001C002P003R002A013 (optionally followed by '.' or '_')")
    values = dict(zip(_LIMITS, (int(g) for g in match.groups())))
    for field, value in values.items():
        if not 1 <= value <= _LIMITS[field]:
            raise NTUNameError(f"{str(name)!r}: {field} id must be in 1..{_LIMITS[field]}, got {value}")
    return NTUSample(**values)


def ntu_splits(version: int) -> tuple[dict[str, dict[str, list[int]]], dict[str, str]]:
    """(splits, split_fields) in the Manifest's format for NTU `version`.

    60: 'xsub' over the subject field, 'xview' over the camera field; 120: 'xsub' over subject, 'xset'
    over setup."""
    _check_version(version)
    performers = NTU_PERFORMERS[version]
    if version == 60:
        subjects_train = NTU60_XSUB_TRAIN_SUBJECTS
        second, field, ids, train = "xview", "camera", NTU_CAMERAS, NTU60_XVIEW_TRAIN_CAMERAS
    else:
        subjects_train = NTU120_XSUB_TRAIN_SUBJECTS
        setups = NTU_SETUPS[120]
        second, field, ids, train = "xset", "setup", setups, tuple(s for s in setups if s % 2 == 0)
    splits = {
        "xsub": {"train": list(subjects_train), "test": [p for p in performers if p not in subjects_train]},
        second: {"train": list(train), "test": [i for i in ids if i not in train]},
    }
    return splits, {"xsub": "subject", second: field}


def _check_version(version: int) -> None:
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"NTU version must be one of {SUPPORTED_VERSIONS}, got {version!r}")
