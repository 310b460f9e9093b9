"""Labelled subsets: stratified, seeded, at least one clip per class, rebuilt exactly from their file."""
import json

import numpy as np
import pytest

from clip_factory import make_clip_root
from rcmcl_core.config import preset
from rcmcl_core.data.dataset import ClipDataset
from rcmcl_core.data.label_subset import (LabelRequest, choose_labelled, labelled_subset, read_labelled_clips,
                                          subset_from_ids, write_labelled_clips)

LABELS = np.repeat(np.arange(4), [10, 20, 3, 1])       # unbalanced: class 3 has a single clip


def test_k_per_class_takes_k_of_every_class_or_all_it_has():
    chosen = choose_labelled(LABELS, LabelRequest(per_class=5, seed=0), num_classes=4)
    assert np.bincount(LABELS[chosen], minlength=4).tolist() == [5, 5, 3, 1]
    assert len(set(chosen.tolist())) == len(chosen) and (np.diff(chosen) > 0).all()


def test_a_fraction_is_stratified_rounded_and_keeps_one_clip_of_every_class():
    chosen = choose_labelled(LABELS, LabelRequest(fraction=0.1, seed=0), num_classes=4)
    assert np.bincount(LABELS[chosen], minlength=4).tolist() == [1, 2, 1, 1]
    everything = choose_labelled(LABELS, LabelRequest(fraction=1.0), num_classes=4)
    assert everything.tolist() == list(range(len(LABELS)))


def test_the_seed_fixes_the_draw_and_another_seed_draws_other_clips():
    a = choose_labelled(LABELS, LabelRequest(per_class=2, seed=1), num_classes=4)
    assert a.tolist() == choose_labelled(LABELS, LabelRequest(per_class=2, seed=1), num_classes=4).tolist()
    others = [choose_labelled(LABELS, LabelRequest(per_class=2, seed=s), num_classes=4).tolist() for s in range(2, 6)]
    assert any(o != a.tolist() for o in others)


@pytest.mark.parametrize("kwargs, message", [({"per_class": 0}, "per class must be >= 1"),
                                             ({"fraction": 0.0}, "fraction must be in"),
                                             ({"fraction": 1.5}, "fraction must be in"),
                                             ({"per_class": 2, "fraction": 0.5}, "not both")])
def test_impossible_requests_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LabelRequest(**kwargs)


def test_a_class_without_clips_cannot_be_labelled():
    with pytest.raises(ValueError, match="class 4 has no clips"):
        choose_labelled(LABELS, LabelRequest(per_class=1), num_classes=5)


def test_the_labelled_clips_file_rebuilds_the_same_subset(tmp_path):
    root = make_clip_root(tmp_path / "clips", classes=4, clips_per_class=4)
    dataset = ClipDataset(root, split="xsub", subset="train", config=preset("tiny"), train=True)
    request = LabelRequest(per_class=1, seed=3)
    subset = labelled_subset(dataset, request)
    assert len(subset) == 4 and sorted(subset.labels.tolist()) == [0, 1, 2, 3]
    path = write_labelled_clips(tmp_path / "labelled_clips.json", subset, request)
    payload = json.loads(path.read_text())
    assert payload["clips"] == 4 and set(payload["per_class"].values()) == {1}
    read_request, ids = read_labelled_clips(path)
    rebuilt = subset_from_ids(dataset, ids)
    assert read_request == request and rebuilt.clip_ids == subset.clip_ids
    first = subset[0]
    assert first["clip_id"] == subset.clip_ids[0] and int(first["label"]) == int(subset.labels[0])
    with pytest.raises(ValueError, match="not in this dataset subset"):
        subset_from_ids(dataset, ["nobody"])
