"""ClassUnion: the parts' classes follow one another; labels, ids and items agree."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rcmcl_core.data.class_union import ClassUnion


class Part:
    def __init__(self, names, labels, prefix):
        self.class_names, self._labels, self.prefix, self.epochs = list(names), list(labels), prefix, []

    def __len__(self):
        return len(self._labels)

    def __getitem__(self, index):
        return {"label": torch.tensor(self._labels[index]), "clip_id": f"{self.prefix}{index}",
                "x": torch.full((2,), float(index))}

    @property
    def labels(self):
        return np.array(self._labels)

    @property
    def clip_ids(self):
        return [f"{self.prefix}{i}" for i in range(len(self))]

    def set_epoch(self, epoch):
        self.epochs.append(epoch)


def test_the_second_part_s_labels_follow_the_first_part_s_classes():
    old, new = Part(["a", "b", "c"], [0, 2, 1], "c"), Part(["x", "y"], [1, 0], "c")
    union = ClassUnion([old, new])
    assert union.class_names == ["a", "b", "c", "x", "y"] and len(union) == 5
    assert union.labels.tolist() == [0, 2, 1, 4, 3]
    assert [int(union[i]["label"]) for i in range(5)] == union.labels.tolist()
    assert union.clip_ids == ["0/c0", "0/c1", "0/c2", "1/c0", "1/c1"]                 # same ids made unique
    assert [union[i]["clip_id"] for i in range(5)] == union.clip_ids
    assert torch.equal(union[4]["x"], torch.full((2,), 1.0))
    union.set_epoch(3)
    assert old.epochs == new.epochs == [3]
    with pytest.raises(IndexError):
        union[5]


def test_a_class_name_in_two_parts_is_refused():
    with pytest.raises(ValueError, match="class names repeat across the datasets: b"):
        ClassUnion([Part(["a", "b"], [0], "o"), Part(["b"], [0], "n")])
