"""Clip shard format: round trip, validation, atomic manifest."""
import numpy as np
import pytest

from rcmcl_core.data.shards import Manifest, ShardError, read_shard, write_shard
from rcmcl_core.geometry.pinhole import Intrinsics


def _clips(s=2, f=3, h=4, w=5, m=2, n=6):
    return {
        "rgb": np.zeros((s, f, h, w, 3), np.uint8), "depth_mm": np.full((s, f, h, w), 1500, np.uint16),
        "skeleton": np.zeros((s, f, m, 25, 3), np.float32), "skeleton_valid": np.ones((s, f, m), bool),
        "points": np.zeros((s, f, n, 3), np.float32), "label": np.arange(s, dtype=np.int64),
        "subject": np.ones(s, np.int64), "camera": np.ones(s, np.int64), "setup": np.zeros(s, np.int64),
        "clip_id": np.array([f"c{i}" for i in range(s)]),
    }


def test_shard_round_trip_is_exact(tmp_path):
    clips = _clips()
    relative = write_shard(tmp_path, 3, clips)
    assert relative == "shards/shard_00003.npz"
    back = read_shard(tmp_path / relative)
    for key, value in clips.items():
        np.testing.assert_array_equal(back[key], value)
    assert not list((tmp_path / "shards").glob("*.tmp")), "no temp files left behind"


def test_wrong_dtype_or_missing_field_names_the_field(tmp_path):
    clips = _clips()
    clips["depth_mm"] = clips["depth_mm"].astype(np.float32)
    with pytest.raises(ShardError, match="depth_mm needs dtype uint16"):
        write_shard(tmp_path, 0, clips)
    clips = _clips()
    del clips["points"]
    with pytest.raises(ShardError, match="missing fields \\['points'\\]"):
        write_shard(tmp_path, 0, clips)


def test_truncated_shard_is_reported_with_its_path(tmp_path):
    path = tmp_path / write_shard(tmp_path, 0, _clips())
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ShardError, match="unreadable shard"):
        read_shard(path)
    with pytest.raises(ShardError, match="shard not found"):
        read_shard(tmp_path / "nope.npz")


def test_manifest_round_trip_and_version_check(tmp_path):
    manifest = Manifest(source="synthetic", classes=["a", "b"], fps=15.0,
                        intrinsics=Intrinsics(fx=50, fy=50, cx=32, cy=32, width=64, height=64),
                        splits={"xsub": {"train": [1], "test": [2]}}, split_fields={"xsub": "subject"})
    manifest.save(tmp_path)
    assert Manifest.load(tmp_path) == manifest
    (tmp_path / "manifest.json").write_text('{"format_version": 99}')
    with pytest.raises(ShardError, match="format_version 99"):
        Manifest.load(tmp_path)
    with pytest.raises(ShardError, match="not a dataset root"):
        Manifest.load(tmp_path / "missing")
