"""Labelled subsets for low-label training: K clips per class or a fraction F of each class, stratified
and seeded, at least one clip per class; the chosen clip ids go to a file so a run can be rebuilt exactly.

A clip is one dataset item (one camera's view of one performance in the synthetic benchmark).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from torch.utils.data import Dataset

from rcmcl_core.atomic_io import atomic_write_bytes

LABELLED_CLIPS = "labelled_clips.json"
"""The file in a run folder that names the labelled clips it trained on."""


@dataclass(frozen=True)
class LabelRequest:
    """How many labels: `per_class` clips of every class, or `fraction` (0, 1] of each class's clips (rounded,
    at least one); `seed` fixes the draw. Neither set: every clip."""

    per_class: int | None = None
    fraction: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.per_class is not None and self.fraction is not None:
            raise ValueError("give labels per class or a label fraction, not both")
        if self.per_class is not None and self.per_class < 1:
            raise ValueError(f"labels per class must be >= 1, got {self.per_class}")
        if self.fraction is not None and not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"label fraction must be in (0, 1], got {self.fraction}")

    @property
    def everything(self) -> bool:
        return self.per_class is None and (self.fraction is None or self.fraction == 1.0)

    def describe(self) -> str:
        if self.per_class is not None:
            return f"{self.per_class} per class"
        return f"{100 * (self.fraction or 1.0):g} % of each class"


def choose_labelled(labels: Sequence[int], request: LabelRequest, *, num_classes: int) -> np.ndarray:
    """Sorted indices into `labels` (N,) of the labelled clips: per class, a seeded draw without replacement
    of min(K, available) clips, or of max(1, round(F * available)). Every class with clips keeps at least
    one; ValueError if a class of range(num_classes) has none (it could never be learned)."""
    labels = np.asarray(labels, np.int64)
    if request.everything:
        return np.arange(len(labels))
    rng = np.random.default_rng([request.seed, 23])
    chosen = []
    for label in range(num_classes):
        members = np.flatnonzero(labels == label)
        if len(members) == 0:
            raise ValueError(f"class {label} has no clips in this subset, so no label can be drawn for it")
        if request.per_class is not None:
            count = min(request.per_class, len(members))
        else:
            count = max(1, int(math.floor(request.fraction * len(members) + 0.5)))
        chosen.append(rng.choice(members, size=count, replace=False))
    return np.sort(np.concatenate(chosen))


class LabelledSubset(Dataset):
    """The clips `indices` of a ClipDataset-like `base`, with its set_epoch, class names and per-clip labels.
    Items keep the base index in their randomness, so a clip sees the same augmentation as in the full set."""

    def __init__(self, base: Dataset, indices: Sequence[int]) -> None:
        self.base = base
        self.indices = np.asarray(indices, np.int64)
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= len(base)):
            raise ValueError(f"labelled clip indices must be in [0, {len(base)})")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.base[int(self.indices[index])]

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    @property
    def class_names(self) -> list[str]:
        return list(self.base.class_names)

    @property
    def labels(self) -> np.ndarray:
        return self.base.labels[self.indices]

    @property
    def clip_ids(self) -> list[str]:
        ids = self.base.clip_ids
        return [ids[i] for i in self.indices]


def labelled_subset(base: Dataset, request: LabelRequest) -> LabelledSubset:
    """LabelledSubset of `base` (a ClipDataset) drawn by `request`."""
    return LabelledSubset(base, choose_labelled(base.labels, request, num_classes=len(base.class_names)))


def subset_from_ids(base: Dataset, clip_ids: Sequence[str]) -> LabelledSubset:
    """The clips of `base` named in `clip_ids` (a labelled_clips.json); ValueError naming an unknown id."""
    position = {clip_id: i for i, clip_id in enumerate(base.clip_ids)}
    unknown = [c for c in clip_ids if c not in position]
    if unknown:
        raise ValueError(f"{len(unknown)} labelled clip id(s) are not in this dataset subset, e.g. {unknown[0]!r}")
    return LabelledSubset(base, sorted(position[c] for c in clip_ids))


def write_labelled_clips(path: Path, subset: LabelledSubset, request: LabelRequest) -> Path:
    """Write the request and the chosen clip ids (with their labels) to `path` atomically."""
    names = subset.class_names
    counts = np.bincount(subset.labels, minlength=len(names))
    payload = {"request": asdict(request), "clips": len(subset), "per_class": dict(zip(names, counts.tolist())),
               "clip_ids": subset.clip_ids}
    atomic_write_bytes(Path(path), (json.dumps(payload, indent=1) + "\n").encode())
    return Path(path)


def read_labelled_clips(path: Path) -> tuple[LabelRequest, list[str]]:
    """(request, clip ids) of a labelled_clips.json; ValueError when it is not one."""
    try:
        payload = json.loads(Path(path).read_text())
        return LabelRequest(**payload["request"]), [str(c) for c in payload["clip_ids"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a labelled-clips file ({type(err).__name__}: {err})") from err
