"""On-disk clip shards: the one format that the synthetic generator and the NTU reader write and the
torch Dataset reads.

A dataset root holds `manifest.json` and `shards/shard_00000.npz`, ... Each shard is a compressed npz
of S clips stacked on axis 0 (all clips of a shard share F, H, W, N). Per clip, F frames at `fps`:

| key             | shape            | dtype   | units / notes                                        |
|-----------------|------------------|---------|------------------------------------------------------|
| rgb             | (S, F, H, W, 3)  | uint8   | RGB order                                            |
| depth_mm        | (S, F, H, W)     | uint16  | millimetres, 0 = invalid; registered to rgb          |
| skeleton        | (S, F, M, 25, 3) | float32 | metres, camera frame (REP-103 optical), NTU-25 order |
| skeleton_valid  | (S, F, M)        | bool    | body tracked in that frame                           |
| points          | (S, F, N, 3)     | float32 | metres, camera frame, person-cropped; NaN rows = pad |
| label           | (S,)             | int64   | class index into manifest.classes                    |
| subject         | (S,)             | int64   | performer id (cross-subject split)                   |
| camera          | (S,)             | int64   | camera / view id (cross-view split)                  |
| setup           | (S,)             | int64   | setup id (NTU-120 cross-setup split); 0 if unused    |
| clip_id         | (S,)             | <U32    | stable name, e.g. S001C002P003R001A004 or synth_000123 |
| num_frames      | (S,)             | int64   | optional: true length of clips padded to F (NTU)      |

Writes are atomic (temp file + rename) so an interrupted generator never leaves a half shard.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rcmcl_core.atomic_io import atomic_file, atomic_write_bytes
from rcmcl_core.geometry.pinhole import Intrinsics

FORMAT_VERSION = 1
SHARD_DIR = "shards"
MANIFEST = "manifest.json"

CLIP_KEY = "clip"
"""manifest.extra[CLIP_KEY]: the clip config (ClipConfig fields) the clips were cut for, when they are model
windows already (make-shards): a dataset read with another clip config would be resampled silently."""

FIELD_DTYPES = {
    "rgb": np.uint8, "depth_mm": np.uint16, "skeleton": np.float32, "skeleton_valid": np.bool_,
    "points": np.float32, "label": np.int64, "subject": np.int64, "camera": np.int64, "setup": np.int64,
}
FIELD_NDIM = {"rgb": 5, "depth_mm": 4, "skeleton": 5, "skeleton_valid": 3, "points": 4, "label": 1,
              "subject": 1, "camera": 1, "setup": 1, "clip_id": 1}


class ShardError(ValueError):
    """A shard or manifest is missing, malformed or of another format version; the message says which."""


@dataclass
class Manifest:
    """What a dataset root holds. `splits` maps a split name (e.g. 'xsub') to {'train': [...ids],
    'test': [...ids]} of the field named in `split_fields[name]` (e.g. subject ids)."""

    source: str                                   # "synthetic", "ntu60", "ntu120"
    classes: list[str]
    fps: float
    intrinsics: Intrinsics
    shards: list[str] = field(default_factory=list)
    num_clips: int = 0
    splits: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    split_fields: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def save(self, root: str | Path) -> Path:
        path = Path(root) / MANIFEST
        atomic_write_bytes(path, json.dumps(asdict(self), indent=1).encode())
        return path

    @classmethod
    def load(cls, root: str | Path) -> "Manifest":
        path = Path(root) / MANIFEST
        if not path.is_file():
            raise ShardError(f"no {MANIFEST} in {root}: not a dataset root (make one with `rcmcl generate`)")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ShardError(f"{path}: not valid JSON ({err})") from err
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ShardError(f"{path}: format_version {version!r}, this rcmcl reads {FORMAT_VERSION}")
        data["intrinsics"] = Intrinsics(**data["intrinsics"])
        return cls(**data)


def write_shard(root: str | Path, index: int, clips: dict[str, np.ndarray]) -> str:
    """Validate and atomically write shard `index` under root; returns its path relative to root."""
    check_shard(clips, where=f"shard {index}")
    relative = f"{SHARD_DIR}/shard_{index:05d}.npz"
    with atomic_file(Path(root) / relative) as handle:
        np.savez_compressed(handle, **clips)
    return relative


def read_shard(path: str | Path) -> dict[str, np.ndarray]:
    """Load every array of one shard into memory, validated."""
    path = Path(path)
    if not path.is_file():
        raise ShardError(f"shard not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            clips = {key: data[key] for key in data.files}
    except Exception as err:  # zipfile/np errors: report the file, not a zip traceback
        raise ShardError(f"{path}: unreadable shard ({type(err).__name__}: {err})") from err
    check_shard(clips, where=str(path))
    return clips


def check_shard(clips: dict[str, np.ndarray], *, where: str) -> None:
    """Raise ShardError naming the key when a field is missing or of the wrong dtype/rank/length."""
    missing = sorted(set(FIELD_NDIM) - set(clips))
    if missing:
        raise ShardError(f"{where}: missing fields {missing}")
    count = len(clips["label"])
    for key, ndim in FIELD_NDIM.items():
        array = clips[key]
        if array.ndim != ndim or len(array) != count:
            raise ShardError(f"{where}: {key} needs {ndim} dims and {count} clips, got shape {array.shape}")
        if key in FIELD_DTYPES and array.dtype != FIELD_DTYPES[key]:
            raise ShardError(f"{where}: {key} needs dtype {np.dtype(FIELD_DTYPES[key])}, got {array.dtype}")
    if "num_frames" in clips and (clips["num_frames"].shape != (count,) or clips["num_frames"].dtype != np.int64):
        raise ShardError(f"{where}: optional num_frames needs shape ({count},) int64, got "
                         f"{clips['num_frames'].shape} {clips['num_frames'].dtype}")
    s, f, h, w, _ = clips["rgb"].shape
    if clips["depth_mm"].shape != (s, f, h, w):
        raise ShardError(f"{where}: depth_mm shape {clips['depth_mm'].shape} does not match rgb {(s, f, h, w)}")
    if clips["skeleton"].shape[:2] != (s, f) or clips["skeleton"].shape[-2:] != (25, 3):
        raise ShardError(f"{where}: skeleton needs (S, F, M, 25, 3), got {clips['skeleton'].shape}")
    if clips["points"].shape[:2] != (s, f) or clips["points"].shape[-1] != 3:
        raise ShardError(f"{where}: points needs (S, F, N, 3), got {clips['points'].shape}")
