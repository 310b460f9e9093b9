"""Two or more labelled datasets trained as one label space: the classes of each part follow those of the
parts before it (e.g. a checkpoint's old classes, then the new ones of a robot's recordings), so a fine-tune
that keeps the old classes sees both."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset


class ClassUnion(Dataset):
    """Parts with ClipDataset's class_names, labels, clip_ids (and set_epoch): item i of part p keeps its
    arrays (its clip_id becomes '<p>/<clip_id>') and gets label + the class count of the parts before p.
    Class names must not repeat across parts (ValueError names them): the same name in two parts would be two
    classes."""

    def __init__(self, parts: Sequence[Dataset]) -> None:
        if not parts:
            raise ValueError("a class union needs at least one dataset")
        self.parts = list(parts)
        names = [name for part in self.parts for name in part.class_names]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"class names repeat across the datasets: {', '.join(repeated)}")
        self._offsets = np.cumsum([0] + [len(part.class_names) for part in self.parts])[:-1]
        self._starts = np.cumsum([0] + [len(part) for part in self.parts])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"item {index} out of range for {len(self)} clips")
        part = int(np.searchsorted(self._starts, index, side="right") - 1)
        item = dict(self.parts[part][index - int(self._starts[part])])
        item["clip_id"] = f"{part}/{item['clip_id']}"
        item["label"] = item["label"] + torch.tensor(int(self._offsets[part]), dtype=item["label"].dtype)
        return item

    def set_epoch(self, epoch: int) -> None:
        for part in self.parts:
            if hasattr(part, "set_epoch"):
                part.set_epoch(epoch)

    @property
    def class_names(self) -> list[str]:
        return [name for part in self.parts for name in part.class_names]

    @property
    def labels(self) -> np.ndarray:
        return np.concatenate([np.asarray(part.labels) + offset for part, offset in zip(self.parts, self._offsets)])

    @property
    def clip_ids(self) -> list[str]:
        """'<part>/<the part's clip id>': unique even when two parts name their clips alike (two make-shards
        roots both start at r0000_w00000)."""
        return [f"{index}/{clip_id}" for index, part in enumerate(self.parts) for clip_id in part.clip_ids]
