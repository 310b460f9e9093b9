"""The procedural tri-modal action benchmark (docs/ARCHITECTURE.md, "The synthetic benchmark"; classes and
design in docs/DATASET.md).

Each performance (class, subject, repetition) is rendered by three cameras around the performer, like
NTU RGB+D: camera 1 in front, cameras 2 and 3 at -45 and +45 degrees. Per clip and frame: RGB, depth
(uint16 mm, registered to RGB: same pinhole), a tracked skeleton (jitter, lost frames) and a person
point cloud from the depth. Everything is a pure function of (seed, class, subject, repetition, camera),
so the output does not depend on the number of workers. Sizes per preset live in SYNTHETIC_PRESETS.
"""
from __future__ import annotations

import json
import multiprocessing
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from rcmcl_core.config import RCMCLConfig
from rcmcl_core.data.shards import SHARD_DIR, Manifest, write_shard
from rcmcl_core.geometry.pinhole import Intrinsics
from rcmcl_core.data.synthetic.body import Subject, make_subject
from rcmcl_core.data.synthetic.classes import DEFAULT_CLASS_SET, class_set as named_class_set, modality_pairs
from rcmcl_core.data.synthetic.motion import Performance, perform
from rcmcl_core.data.synthetic.render import CameraPose, Room, render
from rcmcl_core.data.synthetic.sensors import (SensorModel, depth_sensor, person_points, rgb_sensor,
                                               skeleton_tracker)
from rcmcl_core.geometry.pinhole import KINECT_V2_DEPTH, centre_crop_intrinsics


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and rig of a generated benchmark. A clip lasts window_s + extra_s seconds (window_s from the
    RCMCL config), so training windows start at a random offset within extra_s."""

    subjects: int = 10
    clips_per_class_per_view: int = 10    # performances per class, each seen by every camera
    fps: float = 15.0
    extra_s: float = 1.0
    shard_size: int = 48                  # clips per shard file
    supersample: int = 1                  # render at this many times the clip's image size, then shrink (below)
    camera_azimuths_deg: tuple[float, ...] = (0.0, -45.0, 45.0)   # camera ids 1, 2, 3
    xview_test_cameras: tuple[int, ...] = (1,)                    # NTU: train on cameras 2, 3, test on 1
    camera_distance_m: float = 2.5
    camera_height_m: float = 1.1
    camera_target_height_m: float = 1.0
    sensors: SensorModel = field(default_factory=SensorModel)
    room: Room = field(default_factory=Room)

    def validate(self) -> "SyntheticConfig":
        if self.subjects < 2:
            raise ValueError(f"synthetic subjects must be >= 2 (cross-subject split), got {self.subjects}")
        if self.clips_per_class_per_view < 1:
            raise ValueError(f"clips_per_class_per_view must be >= 1, got {self.clips_per_class_per_view}")
        if self.supersample < 1:
            raise ValueError(f"supersample must be >= 1, got {self.supersample}")
        if self.fps <= 0 or self.extra_s < 0 or self.shard_size < 1:
            raise ValueError(f"need fps > 0, extra_s >= 0, shard_size >= 1; got {self.fps}, {self.extra_s}, "
                             f"{self.shard_size}")
        if not set(self.xview_test_cameras) < set(self.camera_ids):
            raise ValueError(f"xview_test_cameras {self.xview_test_cameras} must be a proper subset of "
                             f"camera ids {self.camera_ids}")
        return self

    @property
    def camera_ids(self) -> tuple[int, ...]:
        return tuple(range(1, len(self.camera_azimuths_deg) + 1))

    def camera(self, camera_id: int) -> CameraPose:
        if camera_id not in self.camera_ids:
            raise ValueError(f"camera id must be one of {self.camera_ids}, got {camera_id}")
        return CameraPose.on_circle(azimuth_deg=self.camera_azimuths_deg[camera_id - 1],
                                    distance_m=self.camera_distance_m, height_m=self.camera_height_m,
                                    target_height_m=self.camera_target_height_m)


SYNTHETIC_PRESETS = {
    "tiny": SyntheticConfig(subjects=4, clips_per_class_per_view=2, fps=10.0, extra_s=0.5, shard_size=96),
    "lite": SyntheticConfig(),
    "paper": SyntheticConfig(subjects=20, clips_per_class_per_view=20, shard_size=32),
    "compact": SyntheticConfig(clips_per_class_per_view=45, supersample=4),
}
"""Benchmark size per RCMCL preset (configs with another preset name use 'lite'). `compact` (the bundled
checkpoint's data) renders 128x128 and shrinks to 32x32 the way the node shrinks a camera image: a model
trained on images rendered directly at 32x32 (point-sampled, aliased) lost 24 of 128 windows with the
skeleton missing on a demo bag's actions rendered at 128x128 and shrunk (docs/RESULTS.md)."""


def synthetic_config(preset_name: str) -> SyntheticConfig:
    return SYNTHETIC_PRESETS.get(preset_name, SYNTHETIC_PRESETS["lite"])


def synthetic_intrinsics(*, width: int, height: int) -> Intrinsics:
    """Kinect v2 depth intrinsics, centre-cropped to the aspect and resized to width x height."""
    return centre_crop_intrinsics(KINECT_V2_DEPTH, width=width, height=height)


@dataclass(frozen=True)
class ClipSpec:
    class_index: int
    subject: int
    repetition: int
    camera: int
    class_set: str = DEFAULT_CLASS_SET

    @property
    def clip_id(self) -> str:
        kind = "A" if self.class_set == DEFAULT_CLASS_SET else "N"      # N: the novel class set
        return f"synthC{self.camera:03d}P{self.subject:03d}R{self.repetition:03d}{kind}{self.class_index + 1:03d}"


def clip_specs(*, subjects: int, clips_per_class_per_view: int, cameras: Sequence[int],
               classes: Sequence[int] | None = None, class_set: str = DEFAULT_CLASS_SET) -> list[ClipSpec]:
    """Performance j of class c is by subject (j + c) mod subjects + 1 (so few performances still spread
    over all subjects), repetition j // subjects + 1; each is listed once per camera. Order:
    repetition-major, so any prefix holds every class."""
    classes = range(len(named_class_set(class_set).classes)) if classes is None else classes
    return [ClipSpec(c, (j + c) % subjects + 1, j // subjects + 1, cam, class_set)
            for j in range(clips_per_class_per_view) for c in classes for cam in cameras]


def render_clip(performance: Performance, *, camera: CameraPose, intrinsics: Intrinsics, num_points: int,
                max_bodies: int, sensors: SensorModel, room: Room, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Sensor streams of one performance seen by one camera: rgb (F, H, W, 3) uint8, depth_mm (F, H, W)
    uint16, skeleton (F, M, 25, 3) float32 metres camera frame, skeleton_valid (F, M) bool,
    points (F, N, 3) float32 metres camera frame. H, W from intrinsics."""
    rgb, depth_m = render(performance.primitives, camera=camera, intrinsics=intrinsics, room=room)
    depth_mm = depth_sensor(depth_m, intrinsics=intrinsics, model=sensors, rng=rng)
    skeleton, valid = skeleton_tracker(camera.to_camera(performance.joints), max_bodies=max_bodies,
                                       model=sensors, rng=rng)
    points = person_points(depth_mm, skeleton, valid, intrinsics=intrinsics, num_points=num_points,
                           model=sensors, rng=rng)
    return {"rgb": rgb_sensor(rgb, model=sensors, rng=rng), "depth_mm": depth_mm, "skeleton": skeleton,
            "skeleton_valid": valid, "points": points}


def make_clip(class_index: int, subject: Subject | int, camera: int | CameraPose, seed: int | Sequence[int], *,
              intrinsics: Intrinsics, fps: float, frames: int, num_points: int, max_bodies: int = 2,
              synthetic: SyntheticConfig = SYNTHETIC_PRESETS["lite"], start_s: float = 0.0,
              class_set: str = DEFAULT_CLASS_SET) -> dict[str, np.ndarray]:
    """One clip (render_clip's arrays) of class `class_index` of `class_set` by `subject` (a Subject, or an id
    made with make_subject(id, seed=0)) seen by `camera` (an id of `synthetic`'s rig or any pose). The motion
    depends on (seed, class, subject) only, so all cameras see the same performance; sensor noise also on the
    camera. Frames sit at start_s + k / fps; the action's event is centred on the clip's middle."""
    table = named_class_set(class_set)
    if not 0 <= class_index < len(table.classes):
        raise ValueError(f"class_index must be in [0, {len(table.classes)}) for class set {class_set!r}, "
                         f"got {class_index}")
    class_key = table.seed_base + class_index
    subject = subject if isinstance(subject, Subject) else make_subject(int(subject))
    seed = [int(seed)] if np.isscalar(seed) else [int(s) for s in seed]
    pose = camera if isinstance(camera, CameraPose) else synthetic.camera(int(camera))
    camera_key = int(camera) if not isinstance(camera, CameraPose) else 0
    times = start_s + np.arange(frames) / fps
    motion_rng = np.random.default_rng(np.random.SeedSequence([*seed, 1, class_key, subject.subject_id]))
    sensor_rng = np.random.default_rng(np.random.SeedSequence([*seed, 2, class_key, subject.subject_id, camera_key]))
    performance = perform(table.classes[class_index], subject, times_s=times, centre_s=start_s + frames / fps / 2,
                          rng=motion_rng)
    return render_clip(performance, camera=pose, intrinsics=intrinsics, num_points=num_points,
                       max_bodies=max_bodies, sensors=synthetic.sensors, room=synthetic.room, rng=sensor_rng)


def render_specs(specs: Sequence[ClipSpec], *, config: RCMCLConfig, synthetic: SyntheticConfig,
                 seed: int) -> dict[str, np.ndarray]:
    """Clips for `specs`, stacked in the shard format of rcmcl_core.data.shards."""
    size, clip = config.clip.image_size, config.clip
    factor = synthetic.supersample
    intrinsics = synthetic_intrinsics(width=size * factor, height=size * factor)
    frames = clip_frames(config=config, synthetic=synthetic)
    subjects: dict[int, Subject] = {}
    fields: dict[str, list] = {}
    for spec in specs:
        subject = subjects.setdefault(spec.subject, make_subject(spec.subject, seed=seed))
        arrays = make_clip(spec.class_index, subject, spec.camera, [seed, spec.repetition], intrinsics=intrinsics,
                           fps=synthetic.fps, frames=frames, num_points=clip.num_points, max_bodies=clip.max_bodies,
                           synthetic=synthetic, class_set=spec.class_set)
        arrays.update(shrink_images(arrays["rgb"], arrays["depth_mm"], factor=factor))
        arrays.update(label=spec.class_index, subject=spec.subject, camera=spec.camera, setup=0, clip_id=spec.clip_id)
        for key, value in arrays.items():
            fields.setdefault(key, []).append(value)
    stacked = {key: np.stack(values) for key, values in fields.items()}
    for key in ("label", "subject", "camera", "setup"):
        stacked[key] = stacked[key].astype(np.int64)
    return stacked


def shrink_images(rgb: np.ndarray, depth_mm: np.ndarray, *, factor: int) -> dict[str, np.ndarray]:
    """Supersampled frames -> clip size, as the node shrinks a camera image (rcmcl_ros.conversions.image):
    rgb (F, H, W, 3) uint8 -> the mean of each factor x factor block; depth_mm (F, H, W) uint16 -> the
    pixel at each block's centre (depth is never averaged across an edge). H, W divisible by factor."""
    if factor == 1:
        return {"rgb": rgb, "depth_mm": depth_mm}
    frames, height, width = depth_mm.shape
    if height % factor or width % factor:
        raise ValueError(f"image {width}x{height} is not divisible by the supersampling factor {factor}")
    blocks = rgb.reshape(frames, height // factor, factor, width // factor, factor, 3).astype(np.float64)
    shrunk = np.floor(blocks.mean(axis=(2, 4)) + 0.5).astype(np.uint8)
    centre = factor // 2
    return {"rgb": shrunk, "depth_mm": np.ascontiguousarray(depth_mm[:, centre::factor, centre::factor])}


def clip_frames(*, config: RCMCLConfig, synthetic: SyntheticConfig) -> int:
    """Frames per stored clip: (window_s + extra_s) * fps, rounded."""
    return int(round((config.clip.window_s + synthetic.extra_s) * synthetic.fps))


def _shard_job(job: tuple) -> tuple[int, str, int]:
    root, index, specs, config_dict, synthetic, seed = job
    clips = render_specs(specs, config=RCMCLConfig.from_dict(config_dict), synthetic=synthetic, seed=seed)
    return index, write_shard(root, index, clips), len(specs)


def generate(*, out: Path, config: RCMCLConfig, clips_per_class_per_view: int | None = None,
             subjects: int | None = None, seed: int = 0, workers: int = 1, progress: bool = True,
             synthetic: SyntheticConfig | None = None, class_set: str = DEFAULT_CLASS_SET) -> Manifest:
    """Write the benchmark of `class_set` (bundled: the 24 classes; novel: classes.NOVEL_CLASSES) under `out`
    (manifest.json + shards/) and return its Manifest. Sizes come from `synthetic` (default:
    SYNTHETIC_PRESETS[config.preset]); the two counts override it."""
    named_class_set(class_set)                                         # an unknown name fails before any work
    synthetic = synthetic or synthetic_config(config.preset)
    synthetic = replace(synthetic, subjects=subjects or synthetic.subjects,
                        clips_per_class_per_view=clips_per_class_per_view or synthetic.clips_per_class_per_view)
    synthetic.validate()
    out = Path(out)
    specs = clip_specs(subjects=synthetic.subjects, clips_per_class_per_view=synthetic.clips_per_class_per_view,
                       cameras=synthetic.camera_ids, class_set=class_set)
    chunks = [specs[i:i + synthetic.shard_size] for i in range(0, len(specs), synthetic.shard_size)]
    jobs = [(str(out), i, chunk, config.to_dict(), synthetic, seed) for i, chunk in enumerate(chunks)]
    shards = [""] * len(jobs)
    bar = tqdm(total=len(specs), desc=f"synthetic {config.preset}", unit="clip", disable=not progress)
    if workers <= 1:
        results = map(_shard_job, jobs)
        pool = None
    else:
        pool = multiprocessing.get_context("spawn").Pool(min(workers, len(jobs)))
        results = pool.imap_unordered(_shard_job, jobs)
    try:
        for index, relative, count in results:
            shards[index] = relative
            bar.update(count)
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
    _remove_stale_shards(out, keep=set(shards))
    manifest = _manifest(synthetic, config=config, shards=shards, num_clips=len(specs), seed=seed,
                         class_set=class_set)
    manifest.save(out)
    return manifest


def _remove_stale_shards(out: Path, *, keep: set[str]) -> None:
    """Delete shard files of an earlier, larger generation in the same folder (our names only)."""
    for path in (out / SHARD_DIR).glob("shard_*.npz"):
        if re.fullmatch(r"shard_\d{5}\.npz", path.name) and f"{SHARD_DIR}/{path.name}" not in keep:
            path.unlink()


def _manifest(synthetic: SyntheticConfig, *, config: RCMCLConfig, shards: list[str], num_clips: int,
              seed: int, class_set: str) -> Manifest:
    table = named_class_set(class_set)
    ids = list(range(1, synthetic.subjects + 1))
    test_cams = sorted(synthetic.xview_test_cameras)
    size = config.clip.image_size
    return Manifest(
        source="synthetic", classes=list(table.names), fps=synthetic.fps,
        intrinsics=synthetic_intrinsics(width=size, height=size), shards=shards, num_clips=num_clips,
        splits={"xsub": {"train": [i for i in ids if i % 2 == 1], "test": [i for i in ids if i % 2 == 0]},
                "xview": {"train": [c for c in synthetic.camera_ids if c not in test_cams], "test": test_cams}},
        split_fields={"xsub": "subject", "xview": "camera"},
        extra={"generator": "rcmcl_core.data.synthetic.generate", "seed": seed, "preset": config.preset,
               "class_set": class_set,
               "frames_per_clip": clip_frames(config=config, synthetic=synthetic),
               "modality_pairs": {k: [list(p) for p in v] for k, v in modality_pairs(table).items()},
               "class_kinds": [c.kind for c in table.classes],
               "synthetic": json.loads(json.dumps(asdict(synthetic)))})   # JSON-native: equal after a reload
