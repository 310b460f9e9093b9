"""Training clips from a robot's own recordings: bags + a labels file -> a dataset root (manifest.json +
shards/, rcmcl_core/data/shards.py) that `rcmcl finetune --data-root` reads.

Every clip is one window exactly as the node builds it: the bag goes through the node's Pipeline
(rcmcl_ros/bag/replay.py: conversions, sync, windowing at the checkpoint's clip length and the node's
stride, the sensor-health rules, points_source, the skeleton format), so training sees what the model will
see live (the render-gap lesson, docs/DATASET.md). Stored per clip: the window's T frames at
fps = T / window_s, so the dataset's eval-time window picks exactly those frames; rgb as uint8 (the window
holds uint8 / 255), depth in mm (the window's metres rounded to 1 mm), skeleton, points; a modality the
window lacks is stored absent (zeros, NaN points, listed in manifest.extra rgb_missing / depth_missing).

A window is labelled when at least `min_label_fraction` of its frame times fall in one segment's label;
the rest are dropped and counted ("unlabelled", "mixed"). One recording is one shard and one subject id, so
a split by subject is a split by recording: no recording has windows in both train and test.

Resumable: each recording's shard is written atomically with a sidecar (shards/shard_NNNNN.json) naming
the bag, its size and mtime, its segments and the settings; a rerun skips recordings whose sidecar matches.
manifest.json is written last, so a dataset root without it is unfinished, never half-valid.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm import tqdm

from rcmcl_core.atomic_io import atomic_write_bytes
from rcmcl_core.config import MODALITIES, ClipConfig
from rcmcl_core.data.shards import CLIP_KEY, SHARD_DIR, Manifest, write_shard
from rcmcl_core.geometry.pinhole import Intrinsics
from rcmcl_ros.bag.files import BagError
from rcmcl_ros.bag.labels_file import LabelsError, LabelsFile, recording_name
from rcmcl_ros.bag.replay import DEPTH_CAMERA_INFO_TOPIC, replay_bag
from rcmcl_ros.topics import camera_info_beside

SOURCE = "recordings"
SPLIT = "recordings"
"""The split a made dataset offers (by subject = by recording), and its derived recordings_val."""
SPLIT_MODES = ("file", "auto")
SIDECAR_VERSION = 1


@dataclass
class ShardOptions:
    """How windows become clips. split 'file': the labels file's split column (recordings without one
    train); 'auto': recordings without one are drawn per label, test_fraction of them (at least one of a
    label with two or more recordings) by `seed`."""

    min_label_fraction: float = 1.0
    max_people: int = 3                 # bodies tracked at once where the labels name body ids (at least those)
    split: str = "auto"
    test_fraction: float = 0.2
    seed: int = 0

    def validate(self) -> "ShardOptions":
        if not 0.5 < self.min_label_fraction <= 1.0:
            raise ValueError(f"min_label_fraction must be in (0.5, 1], got {self.min_label_fraction}")
        if self.split not in SPLIT_MODES:
            raise ValueError(f"split must be one of {', '.join(SPLIT_MODES)}, got {self.split!r}")
        if self.max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {self.max_people}")
        if not 0.0 <= self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        return self


@dataclass
class RecordingResult:
    """What one recording gave: kept windows by label, dropped windows and messages by reason."""

    recording: str
    bag: str
    subject: int
    split: str
    windows: int = 0
    kept: dict[str, int] = field(default_factory=dict)
    dropped_windows: dict[str, int] = field(default_factory=dict)    # unlabelled, mixed, body_not_tracked
    dropped_messages: dict[str, int] = field(default_factory=dict)   # the pipeline's drops by reason
    absent: dict[str, int] = field(default_factory=dict)             # kept windows without the modality
    missing_streams: dict[str, str] = field(default_factory=dict)    # stream -> why it was not read
    rgbd_absent: list[int] = field(default_factory=list)             # kept windows (by index) without RGB-D
    shard: str | None = None
    reused: bool = False


@dataclass
class ShardsResult:
    root: Path
    classes: list[str]
    recordings: list[RecordingResult]

    def class_balance(self, split: str) -> dict[str, int]:
        counts = Counter()
        for result in self.recordings:
            if result.split == split:
                counts.update(result.kept)
        return {label: counts.get(label, 0) for label in self.classes}


def batch_clip(batch: dict, present: Sequence[bool], *, row: int, frames: int,
               clip: ClipConfig) -> dict[str, np.ndarray]:
    """Row `row` of model inputs (a pipeline Window's batch, B = 1, or a PeopleRound's, B people;
    rcmcl_ros/pipeline/window.py) -> one clip of the shard format: rgb (T, S, S, 3) uint8, depth_mm (T, S, S)
    uint16, skeleton (T, M, 25, 3) metres, skeleton_valid (T, M), points (T, N, 3) metres. present (3,) in
    MODALITIES order; absent modalities are zeros, NaN points."""
    there = dict(zip(MODALITIES, (bool(p) for p in present)))
    size = clip.image_size
    if there["rgbd"] and batch["rgb"] is not None:
        rgb = np.rint(batch["rgb"][row].permute(0, 2, 3, 1).numpy() * 255.0).astype(np.uint8)
        depth_mm = np.rint(np.clip(batch["depth"][row, :, 0].numpy() * 1000.0, 0, 65535)).astype(np.uint16)
    else:
        rgb = np.zeros((frames, size, size, 3), np.uint8)
        depth_mm = np.zeros((frames, size, size), np.uint16)
    if there["skeleton"] and batch["skeleton"] is not None:
        joints = batch["skeleton"][row].numpy().astype(np.float32)
        valid = (joints != 0).any(axis=(-1, -2))
    else:
        joints = np.zeros((frames, clip.max_bodies, 25, 3), np.float32)
        valid = np.zeros((frames, clip.max_bodies), bool)
    if there["points"] and batch["points"] is not None:
        cloud = batch["points"][row].numpy().astype(np.float32)
    else:
        cloud = np.full((frames, clip.num_points, 3), np.nan, np.float32)
    return {"rgb": rgb, "depth_mm": depth_mm, "skeleton": joints, "skeleton_valid": valid, "points": cloud}


def make_shards(bags: Sequence[Path], labels: LabelsFile, out: Path, *, pipeline_factory: Callable[[], Any],
                clip: ClipConfig, topics: dict[str, str], options: ShardOptions | None = None,
                camera_info_topic: str = DEPTH_CAMERA_INFO_TOPIC, people_info_topic: str | None = None,
                settings: dict[str, Any] | None = None,
                progress: bool = True, warn: Callable[[str], None] | None = None) -> ShardsResult:
    """Write the dataset root `out` from `bags` labelled by `labels` (module docstring).

    pipeline_factory: a fresh Pipeline per recording (the node's, from the checkpoint whose clip config is
    `clip`). settings: what else
    decides the clips (checkpoint, stride, topics, ...), compared on resume. Raises LabelsError for labels
    that do not fit the bags (before any work), BagError for a bag that cannot be read (the shards already
    written stay and a rerun resumes), ValueError for bad options."""
    options = (options or ShardOptions()).validate()
    warn = warn or (lambda text: None)
    named = _bags_by_recording(bags)
    spans = {name: _span(path) for name, path in named.items() if name in labels.recordings}
    unlabelled = sorted(set(named) - set(labels.recordings))
    if unlabelled:
        warn(f"{len(unlabelled)} bags have no rows in the labels file and are skipped: {', '.join(unlabelled)}")
    labels.check_recordings(spans)
    recordings = labels.recordings
    splits = assign_splits(labels, options)
    settings = dict(settings or {})
    settings.update(clip=asdict(clip), min_label_fraction=options.min_label_fraction, max_people=options.max_people,
                    camera_info_topic=camera_info_topic, people_info_topic=people_info_topic,
                    topics=dict(sorted(topics.items())))
    out = Path(out)
    (out / SHARD_DIR).mkdir(parents=True, exist_ok=True)
    results = []
    for subject, recording in enumerate(tqdm(recordings, desc="make shards", unit="bag", disable=not progress,
                                             dynamic_ncols=True)):
        bag = named[recording]
        signature = _signature(bag, labels, recording, settings)
        sidecar = out / SHARD_DIR / f"shard_{subject:05d}.json"
        reused = _read_sidecar(sidecar, signature)
        if reused is not None:
            result = RecordingResult(**reused["result"])
            result.reused, result.split = True, splits[recording]
            results.append(result)
            continue
        result = RecordingResult(recording=recording, bag=str(bag), subject=subject, split=splits[recording])
        clips = _recording_clips(bag, labels, recording, result, pipeline_factory=pipeline_factory, topics=topics,
                                 options=options, camera_info_topic=camera_info_topic,
                                 people_info_topic=people_info_topic or camera_info_beside(topics["rgb"]),
                                 warn=warn, progress=progress, clip=clip)
        if clips is not None:
            result.shard = write_shard(out, subject, clips)
        elif (out / SHARD_DIR / f"shard_{subject:05d}.npz").exists():
            (out / SHARD_DIR / f"shard_{subject:05d}.npz").unlink()       # an older run's, now empty
        atomic_write_bytes(sidecar, json.dumps({"version": SIDECAR_VERSION, "signature": signature,
                                                "result": asdict(result)}, indent=1).encode())
        results.append(result)
    _write_manifest(out, labels, results, settings=settings, clip=clip)
    return ShardsResult(root=out, classes=labels.classes, recordings=results)


def _recording_clips(bag: Path, labels: LabelsFile, recording: str, result: RecordingResult, *,
                     pipeline_factory: Callable[[], Any], topics: dict[str, str], options: ShardOptions,
                     camera_info_topic: str, people_info_topic: str, warn: Callable[[str], None], progress: bool,
                     clip: ClipConfig) -> dict[str, np.ndarray] | None:
    """The labelled windows of one recording stacked as shard fields (None when no window is kept): the
    followed person's windows for rows without a body_id, and with body ids the per-person path's windows
    of those bodies (rcmcl_ros/people/path.py, as the node's ~/decision per person)."""
    from rcmcl_core.windowing import window_times
    from rcmcl_ros.people.path import PeoplePath
    from rcmcl_ros.people.tracker import PeopleConfig

    pipeline = pipeline_factory()
    if pipeline.model_config.clip != clip:
        raise ValueError(f"the pipeline's clip config {pipeline.model_config.clip} is not {clip}")
    segments = labels.of(recording)
    bodies = sorted({s.body_id for s in segments if s.body_id is not None})
    followed = any(s.body_id is None for s in segments)
    people = None
    if bodies:
        count = max(len(bodies), options.max_people)
        people = PeoplePath.for_pipeline(pipeline, PeopleConfig(max_people=count, max_batch=count))
    windows: list = []
    rounds: list = []

    def collect(newest_s: float) -> None:
        windows.extend(pipeline.ready_windows(newest_s))
        if people is not None:
            rounds.extend(people.take_rounds())

    def note(text: str) -> None:
        warn(f"{recording}: {text}")

    replayed = replay_bag(bag, pipeline=pipeline, topics=topics, after_message=collect, note=note,
                          progress=progress, camera_info_topic=camera_info_topic,
                          people_info_topic=people_info_topic if people is not None else None, desc=recording)
    windows += pipeline.flush_windows()
    if people is not None:
        people.flush()
        rounds.extend(people.take_rounds())
    result.missing_streams = dict(replayed.missing)
    result.dropped_messages = {k: int(v) for k, v in pipeline.snapshot(replayed.newest_s)["drops"].items() if v}
    # (person, window end, target times, batch, row, present): the followed person's windows, then each body's
    candidates = [(None, w.target_s, w.batch, 0, np.asarray(w.present).reshape(-1)) for w in windows] \
        if followed else []
    seen = set()
    frames, window_s = clip.frames, clip.window_s
    for people_round in rounds:
        targets = window_times(people_round.end_s, frames=frames, window_s=window_s)
        for row, body in enumerate(people_round.body_ids):
            seen.add(int(body))
            if int(body) in bodies:
                candidates.append((int(body), targets, people_round.batch, row, people_round.present[row]))
    truths = {person: labels.truth(recording, bag_start_s=replayed.start_s, body_id=person)
              for person in ([None] if followed else []) + bodies}
    result.windows = len(candidates)
    kept, kept_labels = [], []
    dropped, absent = Counter(), Counter()
    for person in bodies:
        if person not in seen:
            lost = sum(1 for s in segments if s.body_id == person)
            dropped["body_not_tracked"] += lost
            warn(f"{recording}: body {person} is never reported by the tracker; its {lost} labelled segments "
                 f"give no clips (the tracker's ids: {sorted(seen) or 'none'})")
    for person, targets, batch, row, present in candidates:
        label, fraction = truths[person].purity(targets)
        if label is None:
            dropped["unlabelled"] += 1
            continue
        if fraction < options.min_label_fraction - 1e-9:
            dropped["mixed"] += 1
            continue
        kept.append(batch_clip(batch, present, row=row, frames=len(targets), clip=clip))
        for name, there in zip(MODALITIES, present):
            if not there:
                absent[name] += 1
        if not present[MODALITIES.index("rgbd")]:
            result.rgbd_absent.append(len(kept) - 1)
        kept_labels.append(label)
    result.kept = dict(sorted(Counter(kept_labels).items()))
    result.dropped_windows = dict(dropped)
    result.absent = dict(absent)
    if not kept:
        warn(f"{recording}: no labelled window ({result.windows} windows: {dict(dropped) or 'none built'})")
        return None
    classes = labels.classes
    stacked = {key: np.stack([c[key] for c in kept]) for key in kept[0]}
    count = len(kept)
    stacked.update(
        label=np.array([classes.index(label) for label in kept_labels], np.int64),
        subject=np.full(count, result.subject, np.int64), camera=np.zeros(count, np.int64),
        setup=np.zeros(count, np.int64), clip_id=np.array(clip_ids(result.subject, count), dtype="<U32"))
    return stacked


def clip_id(subject: int, index: int) -> str:
    """Stable id of a recording's index-th kept window (time order): r<subject>_w<index>."""
    return f"r{subject:04d}_w{index:05d}"


def clip_ids(subject: int, count: int) -> list[str]:
    """The ids of a recording's `count` kept windows, in time order."""
    return [clip_id(subject, index) for index in range(count)]


def assign_splits(labels: LabelsFile, options: ShardOptions) -> dict[str, str]:
    """recording -> 'train' | 'test': the split column where given; otherwise 'train' (split 'file') or a
    seeded draw per main label (split 'auto', ShardOptions)."""
    splits = {recording: labels.split_of(recording) for recording in labels.recordings}
    open_ = [r for r, split in splits.items() if split is None]
    if options.split == "file" or options.test_fraction == 0:
        return {r: split or "train" for r, split in splits.items()}
    by_label: dict[str, list[str]] = {}
    for recording in open_:
        spans = Counter()
        for segment in labels.of(recording):
            spans[segment.label] += segment.end_s - segment.start_s
        by_label.setdefault(spans.most_common(1)[0][0], []).append(recording)
    rng = np.random.default_rng(options.seed)
    for label in sorted(by_label):
        group = sorted(by_label[label])
        tests = min(len(group) - 1, max(1, math.floor(options.test_fraction * len(group) + 0.5))) \
            if len(group) >= 2 else 0
        chosen = set(rng.choice(group, size=tests, replace=False).tolist()) if tests else set()
        for recording in group:
            splits[recording] = "test" if recording in chosen else "train"
    return {r: splits[r] for r in labels.recordings}


def _bags_by_recording(bags: Sequence[Path]) -> dict[str, Path]:
    named: dict[str, Path] = {}
    for bag in bags:
        bag = Path(bag)
        if not bag.exists():
            raise BagError(f"bag not found: {bag}")
        name = recording_name(bag)
        if name in named:
            raise BagError(f"two bags are recording {name!r}: {named[name]} and {bag}; rename one (the labels "
                           f"file names recordings by their bag's name)")
        named[name] = bag
    return named


def _span(bag: Path) -> tuple[float, float]:
    """(first, last) record time of a bag, seconds."""
    from rcmcl_ros.bag.files import BagReader

    with BagReader(bag) as reader:
        return reader.start_ns / 1e9, reader.end_ns / 1e9


def _signature(bag: Path, labels: LabelsFile, recording: str, settings: dict[str, Any]) -> str:
    """What a recording's shard depends on: the bag's files (size, mtime), its segments, the settings."""
    files = sorted(bag.rglob("*")) if bag.is_dir() else [bag]
    stats = [(str(f.relative_to(bag) if bag.is_dir() else f.name), f.stat().st_size, f.stat().st_mtime_ns)
             for f in files if f.is_file()]
    segments = [(s.start_s, s.end_s, s.label, s.body_id) for s in labels.of(recording)]
    text = json.dumps({"bag": stats, "segments": segments, "absolute": labels.absolute,
                       "classes": labels.classes, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _read_sidecar(path: Path, signature: str) -> dict | None:
    """A finished recording's sidecar when it matches `signature` and its shard is there, else None."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if data.get("version") != SIDECAR_VERSION or data.get("signature") != signature:
        return None
    shard = data.get("result", {}).get("shard")
    if shard is not None and not (path.parent.parent / shard).is_file():
        return None
    return data


def _write_manifest(out: Path, labels: LabelsFile, results: list[RecordingResult], *, settings: dict[str, Any],
                    clip: ClipConfig) -> None:
    with_shards = [r for r in results if r.shard is not None]
    if not with_shards:
        raise LabelsError(f"no recording gave a labelled window; nothing to train on (see the drops above); "
                          f"{out} has no manifest.json")
    rgb_missing = [clip_id(r.subject, i) for r in with_shards for i in r.rgbd_absent]
    train = sorted(r.subject for r in with_shards if r.split == "train")
    test = sorted(r.subject for r in with_shards if r.split == "test")
    size = clip.image_size
    manifest = Manifest(
        source=SOURCE, classes=labels.classes, fps=clip.frames / clip.window_s,
        intrinsics=Intrinsics(fx=float(size), fy=float(size), cx=(size - 1) / 2, cy=(size - 1) / 2, width=size,
                              height=size),
        shards=[r.shard for r in with_shards], num_clips=sum(sum(r.kept.values()) for r in with_shards),
        splits={SPLIT: {"train": train, "test": test}}, split_fields={SPLIT: "subject"},
        extra={CLIP_KEY: asdict(clip), "rgb_missing": rgb_missing, "depth_missing": rgb_missing,
               "labels_file": str(labels.path),
               "recordings": {str(r.subject): {"name": r.recording, "bag": r.bag, "split": r.split}
                              for r in results},
               "settings": settings, "intrinsics": "nominal: the model's S x S input, not a camera's"})
    manifest.save(out)
