"""torch Dataset over clip shards (synthetic or NTU) and the batch collate.

Each item is one window: clip.frames (T) frames spread over clip.window_s seconds of the clip, stored at
manifest.fps. Frame k of a window sits at the centre of the k-th of T equal parts of the window
[offset, offset + window_s); the offset is random while training and centred for evaluation, the same
rule the ROS node uses to resample live streams (docs/ARCHITECTURE.md, "Sync and windowing"). A clip shorter
than the window repeats its first/last frame (nearest frame), as the node fills gaps.

Item (docs/ARCHITECTURE.md "Tensor contracts" without the batch axis):
    rgb (T, 3, S, S) float32 [0, 1]; depth (T, 1, S, S) float32 metres, 0 = invalid;
    skeleton (T, M, 25, 3) float32 metres, untracked bodies 0; points (T, N, 3) float32 metres;
    present (3,) bool in MODALITIES order; label () int64; clip_id str; frame_indices (T,) int64.
"""
from __future__ import annotations

import dataclasses
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import Dataset

from rcmcl_core.config import RCMCLConfig
from rcmcl_core.windowing import nearest_frame_indices, window_times
from rcmcl_core.data.shards import CLIP_KEY, Manifest, ShardError, read_shard
from rcmcl_core.data.splits import resolve_split

SHARD_CACHE_MB = 2048.0
"""Default memory budget (MB) of decoded shards kept per process (each DataLoader worker has its own cache).
A training epoch visits clips in random order, so a cache smaller than the dataset decodes a shard for
almost every item (the lite benchmark's 15 shards of 48 clips: ~50 MB inflated per item); the whole
synthetic lite benchmark (720 clips, ~0.8 GB decoded) fits, NTU does not and falls back to LRU."""
NUM_FRAMES_FIELD = "num_frames"
"""Optional shard field (S,) int64: true clip lengths when clips of a shard are padded (NTU)."""
SUBSETS = ("train", "test", "all")
_INDEX_FIELDS = ("label", "subject", "camera", "setup", "clip_id")


def window_indices(*, num_frames: int, fps: float, frames: int, window_s: float, offset_s: float) -> np.ndarray:
    """(frames,) int64 indices of stored frames for a window starting `offset_s` seconds into a clip of
    `num_frames` frames at `fps`: the frames nearest the times rcmcl_core.windowing.window_times lays over
    [offset_s, offset_s + window_s], the same rule the ROS node's windower uses."""
    times = window_times(offset_s + window_s, frames=frames, window_s=window_s)
    return nearest_frame_indices(times, fps=fps, num_frames=num_frames)


def window_offset_range(*, num_frames: int, fps: float, window_s: float) -> tuple[float, float]:
    """(lowest, highest) offset in seconds that keeps the window inside the clip, or, for a clip shorter
    than the window, that keeps the clip inside the window. The centre of the range is the eval offset."""
    slack = (num_frames - 1) / fps - window_s               # the last stored frame is at (n - 1) / fps
    return min(0.0, slack), max(0.0, slack)


class ClipDataset(Dataset):
    """Clips of one split subset under a dataset root (manifest.json + shards/)."""

    def __init__(self, root: Path, *, split: str, subset: str, config: RCMCLConfig, train: bool, seed: int = 0,
                 transform: Callable[[dict], dict] | None = None, shard_cache_mb: float = SHARD_CACHE_MB) -> None:
        self.root = Path(root)
        self.shard_cache_mb = float(shard_cache_mb)
        self.manifest = Manifest.load(self.root)
        self.clip = config.clip
        self.train = train
        self.seed = seed
        self.transform = transform
        if subset not in SUBSETS:
            raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
        self._split_ids = resolve_split(self.manifest, split, root=self.root) if subset != "all" else None
        self.split, self.subset = split, subset
        extra = self.manifest.extra
        _check_cut_for(self.manifest, config, root=self.root)
        self._rgb_missing = frozenset(extra.get("rgb_missing", ()))
        self._depth_missing = frozenset(extra.get("depth_missing", ()))
        self._build_index()
        self._cache: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self.epoch = 0

    # -- index ------------------------------------------------------------------------------------------
    def _build_index(self) -> None:
        wanted = None
        if self._split_ids is not None:
            field, ids = self._split_ids
            wanted = (field, set(ids[self.subset]))
        shard_of, row_of, labels, clip_ids, lengths = [], [], [], [], []
        for shard_index, relative in enumerate(self.manifest.shards):
            fields = _read_index_fields(self.root / relative)
            keep = np.ones(len(fields["label"]), bool)
            if wanted is not None:
                keep = np.isin(fields[wanted[0]], list(wanted[1]))
            for row in np.flatnonzero(keep):
                shard_of.append(shard_index)
                row_of.append(int(row))
                labels.append(int(fields["label"][row]))
                clip_ids.append(str(fields["clip_id"][row]))
                lengths.append(int(fields["num_frames"][row]))
        self._shard_of = np.asarray(shard_of, np.int64)
        self._row_of = np.asarray(row_of, np.int64)
        self._labels = np.asarray(labels, np.int64)
        self._clip_ids = clip_ids
        self._lengths = np.asarray(lengths, np.int64)

    @property
    def class_names(self) -> list[str]:
        """Class names in label order (manifest.classes)."""
        return list(self.manifest.classes)

    @property
    def labels(self) -> np.ndarray:
        """(len(self),) int64 class index of every clip of this subset, in item order."""
        return self._labels.copy()

    @property
    def clip_ids(self) -> list[str]:
        return list(self._clip_ids)

    def __len__(self) -> int:
        return len(self._labels)

    # -- per-process state (DataLoader workers each get their own) -------------------------------------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()
        return state

    def set_epoch(self, epoch: int) -> None:
        """Train-time randomness of every item is a function of (seed, epoch, index) alone, so any worker
        layout, and a run resumed mid-epoch, sees exactly the same clips."""
        self.epoch = int(epoch)

    def _generator(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def _shard(self, shard_index: int) -> dict[str, np.ndarray]:
        if shard_index in self._cache:
            self._cache.move_to_end(shard_index)
            return self._cache[shard_index]
        clips = read_shard(self.root / self.manifest.shards[shard_index])
        self._cache[shard_index] = clips
        budget = self.shard_cache_mb * 1e6
        while len(self._cache) > 1 and sum(_nbytes(c) for c in self._cache.values()) > budget:
            self._cache.popitem(last=False)                                # least recently used first
        if budget <= 0:
            self._cache.clear()
        return clips

    # -- items --------------------------------------------------------------------------------------------
    def frame_indices(self, index: int) -> np.ndarray:
        """(T,) stored-frame indices for item `index`: centred window when not training (deterministic),
        a uniformly random offset when training."""
        num_frames, fps = int(self._lengths[index]), self.manifest.fps
        low, high = window_offset_range(num_frames=num_frames, fps=fps, window_s=self.clip.window_s)
        offset = self._generator(index).uniform(low, high) if self.train and high > low else 0.5 * (low + high)
        return window_indices(num_frames=num_frames, fps=fps, frames=self.clip.frames,
                              window_s=self.clip.window_s, offset_s=offset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"item {index} out of range for {len(self)} clips")
        clips = self._shard(int(self._shard_of[index]))
        row, clip_id = int(self._row_of[index]), self._clip_ids[index]
        frames = self.frame_indices(index)
        rgb = clips["rgb"][row, frames]                                    # (T, H, W, 3) uint8
        depth_mm = clips["depth_mm"][row, frames]                          # (T, H, W) uint16
        skeleton, skeleton_valid = self._skeleton(clips["skeleton"][row, frames], clips["skeleton_valid"][row, frames])
        points, points_present = self._points(clips["points"][row, frames])
        has_rgb = clip_id not in self._rgb_missing and bool(rgb.any())
        has_depth = clip_id not in self._depth_missing and bool(depth_mm.any())
        sample = {
            "rgb": self._resize(torch.from_numpy(rgb).permute(0, 3, 1, 2).float().div_(255.0), depth=False),
            "depth": self._resize(torch.from_numpy(depth_mm.astype(np.float32) / 1000.0)[:, None], depth=True),
            "skeleton": torch.from_numpy(skeleton),
            "points": torch.from_numpy(points),
            "present": torch.tensor([has_rgb or has_depth, skeleton_valid, points_present]),
            "label": torch.tensor(int(self._labels[index]), dtype=torch.long),
            "clip_id": clip_id,
            "frame_indices": torch.from_numpy(frames),
        }
        return self.transform(sample) if self.transform is not None else sample

    def _resize(self, images: torch.Tensor, *, depth: bool) -> torch.Tensor:
        """(T, C, H, W) -> (T, C, S, S): nearest for depth (never blend across edges), area when
        shrinking rgb, bilinear when enlarging it."""
        size = self.clip.image_size
        if images.shape[-2:] == (size, size):
            return images.contiguous()
        if depth:
            return F.interpolate(images, size=(size, size), mode="nearest-exact")
        shrinking = images.shape[-2] >= size and images.shape[-1] >= size
        if shrinking:
            return F.interpolate(images, size=(size, size), mode="area")
        return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp_(0.0, 1.0)

    def _skeleton(self, skeleton: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, bool]:
        """(T, Ms, 25, 3), (T, Ms) -> (T, M, 25, 3) float32 with untracked bodies 0, and 'any tracked'."""
        bodies = self.clip.max_bodies
        out = np.zeros((len(skeleton), bodies, 25, 3), np.float32)
        used = min(bodies, skeleton.shape[1])
        tracked = valid[:, :used] & np.isfinite(skeleton[:, :used]).all(axis=(-1, -2))
        out[:, :used] = np.where(tracked[..., None, None], skeleton[:, :used], 0.0)
        return out, bool(tracked.any())

    def _points(self, points: np.ndarray) -> tuple[np.ndarray, bool]:
        """(T, Ns, 3) with NaN pad rows -> (T, N, 3) float32 and 'any frame has points'. NaN rows are
        refilled by cycling the frame's valid points; a frame without points takes the nearest frame
        that has some; a clip without any stays 0."""
        count = self.clip.num_points
        out = np.zeros((len(points), count, 3), np.float32)
        valid = np.isfinite(points).all(axis=-1)                           # (T, Ns)
        having = np.flatnonzero(valid.any(axis=1))
        if len(having) == 0:
            return out, False
        for t in range(len(points)):
            source = having[np.argmin(np.abs(having - t))]
            kept = points[source][valid[source]]
            if len(kept) >= count:                                         # spread the subset over the set
                out[t] = kept[(np.arange(count) * len(kept)) // count]
            else:
                out[t] = kept[np.arange(count) % len(kept)]
        return out, True


def _check_cut_for(manifest: Manifest, config: RCMCLConfig, *, root: Path) -> None:
    """Clips cut as model windows for one clip config (manifest.extra[CLIP_KEY]) are read only with that one."""
    cut_for = manifest.extra.get(CLIP_KEY)
    if cut_for is None:
        return
    wanted = dataclasses.asdict(config.clip)
    differing = [f"{key} {cut_for.get(key)} there, {value} here" for key, value in wanted.items()
                 if cut_for.get(key) != value]
    if differing:
        raise ShardError(f"{root}: its clips were cut for another clip config ({'; '.join(differing)}); cut them "
                         f"again for this checkpoint (make-shards --checkpoint)")


def draw_clips(count: int, max_clips: int, *, seed: int) -> np.ndarray:
    """Sorted indices of at most `max_clips` of `count` clips, drawn without replacement by `seed`; all of them
    when max_clips is 0 or not below count. The same arguments give the same clips (calibrations compared across
    checkpoints rely on it)."""
    if not max_clips or max_clips >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, max_clips, replace=False))


def _nbytes(clips: dict[str, np.ndarray]) -> int:
    return sum(array.nbytes for array in clips.values())


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """List of items -> batch: tensors stacked on a new axis 0 ('label' -> (B,)), other values as lists."""
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    batch = {}
    for key in samples[0]:
        values = [sample[key] for sample in samples]
        batch[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else list(values)
    return batch


def _read_index_fields(path: Path) -> dict[str, np.ndarray]:
    """The small per-clip fields of a shard, without decoding its images (npz members load lazily)."""
    if not path.is_file():
        raise ShardError(f"shard not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in _INDEX_FIELDS if key not in data.files]
            if missing:
                raise ShardError(f"{path}: missing fields {missing}")
            fields = {key: data[key] for key in _INDEX_FIELDS}
            if NUM_FRAMES_FIELD in data.files:
                fields["num_frames"] = data[NUM_FRAMES_FIELD].astype(np.int64)
            else:                                                          # unpadded shards: all clips F long
                fields["num_frames"] = np.full(len(fields["label"]), data["skeleton_valid"].shape[1], np.int64)
    except ShardError:
        raise
    except Exception as err:
        raise ShardError(f"{path}: unreadable shard ({type(err).__name__}: {err})") from err
    return fields
