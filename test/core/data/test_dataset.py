"""ClipDataset over hand-written shards: split filtering, window sampling, contract tensors, DataLoader."""
import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from rcmcl_core.config import preset
from rcmcl_core.data.dataset import ClipDataset, collate, window_indices
from rcmcl_core.data.shards import Manifest, write_shard
from rcmcl_core.geometry.pinhole import Intrinsics

FPS, STORED, NS = 10.0, 16, 20
CLASSES = ["wave", "kick", "sit"]


def _clips(ids, subjects, frames, *, labels):
    s = len(ids)
    f = np.arange(frames)
    rgb = np.broadcast_to(f[None, :, None, None, None], (s, frames, STORED, STORED, 3)).astype(np.uint8)
    depth = np.broadcast_to(1000 + f[None, :, None, None], (s, frames, STORED, STORED)).astype(np.uint16)
    skeleton = (np.ones((s, frames, 2, 25, 3)) * (1 + f[None, :, None, None, None])).astype(np.float32)
    valid = np.zeros((s, frames, 2), bool)
    valid[:, :, 0] = True                                   # body 1 holds garbage but is untracked
    rng = np.random.default_rng(0)
    points = rng.normal(size=(s, frames, NS, 3)).astype(np.float32)
    points[:, :, 15:] = np.nan                              # pad rows
    return {"rgb": rgb, "depth_mm": depth, "skeleton": skeleton, "skeleton_valid": valid, "points": points,
            "label": np.array(labels, np.int64), "subject": np.array(subjects, np.int64),
            "camera": np.ones(s, np.int64), "setup": np.zeros(s, np.int64), "clip_id": np.array(ids)}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    first = _clips(["a", "b", "c"], [1, 2, 3], 40, labels=[0, 1, 2])
    first["points"][1, 5] = np.nan                          # clip b: frame 5 has no points at all
    second = _clips(["d", "e"], [4, 5], 12, labels=[1, 0])
    second["skeleton_valid"][1] = False                     # clip e: skeleton never tracked
    second["points"][1] = np.nan                            # ... and no points
    second["rgb"][1] = 0
    second["depth_mm"][1] = 0                               # ... and no rgb-d
    second["num_frames"] = np.array([12, 8], np.int64)      # clip e padded (as the NTU writer does)
    shards = [write_shard(root, 0, first), write_shard(root, 1, second)]
    Manifest(source="test", classes=CLASSES, fps=FPS,
             intrinsics=Intrinsics(fx=20, fy=20, cx=8, cy=8, width=STORED, height=STORED), shards=shards,
             num_clips=5, splits={"xsub": {"train": [1, 2, 4], "test": [3, 5]}},
             split_fields={"xsub": "subject"}).save(root)
    return root


@pytest.fixture(scope="module")
def config():
    config = preset("tiny")                                 # T=8, 32x32, N=64, M=2
    return dataclasses.replace(config, clip=dataclasses.replace(config.clip, window_s=2.0))


def _dataset(root, config, subset="all", train=False, **kwargs):
    return ClipDataset(root, split="xsub", subset=subset, config=config, train=train, **kwargs)


def _item(dataset, clip_id):
    return dataset[dataset.clip_ids.index(clip_id)]


def test_split_filtering_keeps_only_the_subset_ids(root, config):
    assert _dataset(root, config, "train").clip_ids == ["a", "b", "d"]
    assert _dataset(root, config, "test").clip_ids == ["c", "e"]
    assert len(_dataset(root, config, "all")) == 5
    with pytest.raises(ValueError, match="unknown split 'xview'"):
        ClipDataset(root, split="xview", subset="train", config=config, train=False)


def test_labels_and_class_names_follow_the_manifest(root, config):
    dataset = _dataset(root, config, "train")
    assert dataset.class_names == CLASSES
    assert dataset.labels.tolist() == [0, 1, 1]


def test_eval_window_is_centred_and_spans_window_s_at_the_stored_fps(root, config):
    item = _item(_dataset(root, config), "a")
    # 40 frames at 10 fps span 0..3.9 s; the 2 s window is centred on [0.95, 2.95] and its 8 times,
    # both ends included, pick the nearest frames
    expected = [10, 12, 15, 18, 21, 24, 27, 30]
    assert item["frame_indices"].tolist() == expected
    assert (item["rgb"][:, 0, 0, 0] * 255).round().long().tolist() == expected
    np.testing.assert_allclose(item["depth"][:, 0, 0, 0].numpy(), (1000 + np.array(expected)) / 1000, rtol=1e-6)


def test_eval_sampling_is_deterministic(root, config):
    dataset = _dataset(root, config)
    first, second = dataset[0], dataset[0]
    for key in ("rgb", "depth", "skeleton", "points", "frame_indices"):
        assert torch.equal(first[key], second[key])


def test_train_sampling_varies_by_epoch_and_always_spans_the_window(root, config):
    dataset = _dataset(root, config, train=True, seed=3)
    windows = []
    for epoch in range(20):
        dataset.set_epoch(epoch)
        windows.append(tuple(dataset[0]["frame_indices"].tolist()))
    assert len(set(windows)) > 5
    for window in windows:
        assert 0 <= window[0] and window[-1] <= 39
        assert window[-1] - window[0] in (19, 20, 21)      # both ends of the 2 s window at 10 fps, nearest frames


def test_clip_shorter_than_the_window_repeats_its_edge_frames(root, config):
    item = _item(_dataset(root, config), "d")              # 12 frames span 1.1 s < 2 s
    assert item["frame_indices"].tolist() == [0, 0, 1, 4, 7, 10, 11, 11]


def test_padded_clip_is_sampled_within_its_true_length(root, config):
    assert _item(_dataset(root, config), "e")["frame_indices"].max() <= 7
    assert window_indices(num_frames=8, fps=FPS, frames=4, window_s=0.8, offset_s=0.0).tolist() == [0, 3, 5, 7]


def test_item_tensors_follow_the_contract_shapes_dtypes_and_units(root, config):
    item = _item(_dataset(root, config), "a")
    assert item["rgb"].shape == (8, 3, 32, 32) and item["rgb"].dtype == torch.float32
    assert 0.0 <= float(item["rgb"].min()) and float(item["rgb"].max()) <= 1.0
    assert item["depth"].shape == (8, 1, 32, 32) and item["depth"].dtype == torch.float32
    assert item["skeleton"].shape == (8, 2, 25, 3) and item["skeleton"].dtype == torch.float32
    assert torch.equal(item["skeleton"][:, 0, 0, 0], item["frame_indices"].float() + 1)
    assert not item["skeleton"][:, 1].any(), "untracked body is zero even though the shard holds values"
    assert item["points"].shape == (8, 64, 3) and bool(torch.isfinite(item["points"]).all())
    assert item["present"].dtype == torch.bool and item["present"].tolist() == [True, True, True]
    assert item["label"].dtype == torch.long and int(item["label"]) == 0 and item["clip_id"] == "a"


def test_nan_point_rows_are_refilled_with_the_frames_valid_points(root, config):
    dataset = _dataset(root, config)
    item = _item(dataset, "b")
    stored = dataset._shard(0)["points"][1]
    for t, frame in enumerate(item["frame_indices"].tolist()):
        source = frame if frame != 5 else 4                 # frame 5 has no points: nearest frame's
        rows = {tuple(p) for p in item["points"][t].tolist()}
        assert rows == {tuple(p) for p in stored[source, :15].tolist()}


def test_missing_skeleton_points_and_rgbd_make_present_false(root, config):
    item = _item(_dataset(root, config), "e")
    assert item["present"].tolist() == [False, False, False]
    assert not item["skeleton"].any() and not item["points"].any()


def test_works_inside_a_dataloader_with_two_workers(root, config):
    dataset = _dataset(root, config, train=True)
    loader = DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=collate, shuffle=False)
    batches = list(loader)
    assert [len(b["clip_id"]) for b in batches] == [2, 2, 1]
    batch = batches[0]
    assert batch["rgb"].shape == (2, 8, 3, 32, 32) and batch["skeleton"].shape == (2, 8, 2, 25, 3)
    assert batch["points"].shape == (2, 8, 64, 3) and batch["present"].shape == (2, 3)
    assert batch["label"].tolist() == [0, 1] and batch["clip_id"] == ["a", "b"]


def test_train_sampling_depends_only_on_seed_epoch_and_index(root, config):
    """What makes a resumed run see the same clips as an uninterrupted one."""
    first, second = _dataset(root, config, train=True, seed=3), _dataset(root, config, train=True, seed=3)
    first.set_epoch(4)
    second.set_epoch(4)
    _ = second[1]                                            # other items drawn first change nothing
    assert torch.equal(first[0]["frame_indices"], second[0]["frame_indices"])
    second.set_epoch(5)
    assert any(not torch.equal(first[i]["frame_indices"], second[i]["frame_indices"]) for i in range(len(first)))
