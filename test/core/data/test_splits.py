"""The validation split derived from a cross-subject split: disjoint from its test subjects, never stored."""
import pytest

from clip_factory import make_clip_root
from rcmcl_core.config import preset
from rcmcl_core.data.dataset import ClipDataset
from rcmcl_core.data.shards import Manifest, ShardError
from rcmcl_core.data.splits import resolve_split, split_names, validation_ids


def test_validation_takes_every_fifth_train_subject_from_the_highest():
    assert validation_ids([1, 3, 5, 7, 9]) == [9]
    ntu60_train = [1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38]
    assert validation_ids(ntu60_train) == [8, 16, 27, 38]     # 38, then every 5th below it
    with pytest.raises(ShardError, match="at least 2 train subjects"):
        validation_ids([3])


def test_the_synthetic_validation_split_never_touches_the_test_subjects(tmp_path):
    from rcmcl_core.cli import main
    assert main(["generate", "--preset", "tiny", "--out", str(tmp_path), "--subjects", "10",
                 "--clips-per-class-per-view", "1", "--quiet"]) == 0
    manifest = Manifest.load(tmp_path)
    assert "xsub_val" in split_names(manifest) and "xview_val" not in split_names(manifest)
    field, ids = resolve_split(manifest, "xsub_val")
    assert field == "subject" and ids == {"train": [1, 3, 5, 7], "test": [9]}
    assert not set(ids["train"] + ids["test"]) & set(manifest.splits["xsub"]["test"])
    config = preset("tiny")
    train = ClipDataset(tmp_path, split="xsub_val", subset="train", config=config, train=True)
    val = ClipDataset(tmp_path, split="xsub_val", subset="test", config=config, train=False)
    full = ClipDataset(tmp_path, split="xsub", subset="train", config=config, train=True)
    assert len(train) + len(val) == len(full) and not set(train.clip_ids) & set(val.clip_ids)
    assert all("P009" in clip for clip in val.clip_ids)


def test_an_unknown_split_names_the_ones_there_are(tmp_path):
    root = make_clip_root(tmp_path, classes=2, clips_per_class=4)
    with pytest.raises(ValueError, match="unknown split 'xset'.*xsub, xsub_val"):
        ClipDataset(root, split="xset", subset="train", config=preset("tiny"), train=True)
