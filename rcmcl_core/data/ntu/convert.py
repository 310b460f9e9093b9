"""NTU RGB+D 60 / 120 (the official release, downloaded by the user) -> clip shards.

Expected layout under `ntu_root` (folder names as unpacked from the official archives; any folder whose
name contains 'skeleton', 'depth_masked' or 'rgb' is searched):
    nturgb+d_skeletons/S001C001P001R001A001.skeleton
    nturgb+d_depth_masked/S001C001P001R001A001/MDepth-00000001.png     (optional)
    nturgb+d_rgb/S001C001P001R001A001_rgb.avi                          (optional; needs OpenCV)
    NTU_RGBD_samples_with_missing_skeletons.txt                        (optional; merged with ours)

Every written clip holds: skeleton (the two most moving bodies) in metres in the REP-103 optical frame of
the un-mirrored depth camera; depth_mm from the masked depth, resized (nearest) to clip.image_size; rgb
mapped onto the depth grid with a per-clip affine fitted to the joints' depth/colour pixel pairs (zeros
and listed in manifest.extra['rgb_missing'] when there is no video); points back-projected from the
full-resolution masked depth, cropped around the skeleton and sampled to clip.num_points (NaN rows when
there is no depth). Clips of a shard are padded to the longest; the extra shard field `num_frames` (S,)
gives each clip's true length.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rcmcl_core.config import RCMCLConfig
import rcmcl_core.data.ntu.media as media
from rcmcl_core.data.dataset import NUM_FRAMES_FIELD
from rcmcl_core.data.ntu.skeleton_file import read_skeleton
from rcmcl_core.data.ntu.splits import NTUSample
from rcmcl_core.geometry.pinhole import Intrinsics
from rcmcl_core.geometry.pinhole import backproject, crop_to_person, sample_points

NTU_CLIPS_PER_SHARD = 16          # NTU clips run to 300 frames; 16 keeps a paper-size shard < ~0.5 GB in RAM
NTU_CROP_MARGIN_M = 0.3           # masked depth already isolates people; the crop only drops stray pixels
NTU_POINT_SAMPLING = "random"     # farthest-point sampling of ~10^4 points per frame is too slow here
OFFICIAL_MISSING_LISTS = ("NTU_RGBD_samples_with_missing_skeletons.txt",
                          "NTU_RGBD120_samples_with_missing_skeletons.txt")
_NAME_IN_TEXT = re.compile(r"S\d{3}C\d{3}P\d{3}R\d{3}A\d{3}")


@dataclass
class NTUSources:
    """Files found under an NTU root, keyed by sample name."""

    skeletons: dict[str, Path]
    depth: dict[str, Path]        # folder of MDepth-*.png
    rgb: dict[str, Path]          # _rgb.avi
    missing_lists: list[Path]


def find_ntu_files(ntu_root: Path) -> NTUSources:
    """Index the official folders under `ntu_root` (see the module docstring)."""
    root = Path(ntu_root)
    if not root.is_dir():
        raise FileNotFoundError(f"NTU root {root} is not a folder")
    folders = [p for p in root.iterdir() if p.is_dir()]
    skeletons = {p.name[:20]: p for p in root.glob("*.skeleton")}
    depth, rgb = {}, {}
    for folder in folders:
        name = folder.name.lower()
        if "skeleton" in name:
            skeletons.update({p.name[:20]: p for p in folder.glob("*.skeleton")})
        elif "depth_masked" in name:
            depth.update({p.name: p for p in folder.iterdir() if p.is_dir()})
        elif "rgb" in name:
            rgb.update({p.name[:20]: p for p in folder.glob("*_rgb.avi")})
    if not skeletons:
        raise FileNotFoundError(f"no .skeleton files in {root} or its skeleton folders (expected e.g. "
                                f"{root}/nturgb+d_skeletons/S001C001P001R001A001.skeleton)")
    lists = [root / name for name in OFFICIAL_MISSING_LISTS if (root / name).is_file()]
    return NTUSources(skeletons=skeletons, depth=depth, rgb=rgb, missing_lists=lists)


MIN_SAMPLE_FRAMES = 8
"""A skeleton file with fewer frames (0.27 s at 30 fps) is skipped as 'too few frames'."""
MAX_MISSING_DEPTH_FRACTION = 0.1
"""A sample whose masked depth lacks more of the kept frames (by MDepth number) is skipped as 'depth frames
missing'; fewer gaps take the nearest numbered frame (NTU has a few samples a frame or two short)."""
STAGES = ("skeleton parse", "depth png decode", "back-projection + crop", "point sampling", "rgb decode",
          "rgb registration")
"""The stages whose seconds convert_sample adds to `timer` (benchmarks/ntu_prepare.py prints them)."""


class NTUSkip(ValueError):
    """A sample that is skipped, with the reason's kind ('too few frames', 'depth frames missing', ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Timer:
    def __init__(self, totals: dict[str, float] | None) -> None:
        self.totals = totals

    def add(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        if self.totals is not None:
            self.totals[stage] = self.totals.get(stage, 0.0) + now - started
        return now


def convert_sample(sample: NTUSample, sources: NTUSources, *, config: RCMCLConfig, fps: float,
                   rng: np.random.Generator, modalities: tuple[str, ...] = ("skeleton", "depth", "rgb"),
                   timer: dict[str, float] | None = None) -> dict[str, np.ndarray] | None:
    """One sample -> per-clip arrays in the shard layout (without the leading S axis); None if no body.
    Depth and rgb are read only when in `modalities` and present (zeros / NaN points otherwise: absent).
    Raises NTUSkip, NTUFormatError or NTUMediaError for a sample to skip; `timer` collects STAGES seconds."""
    clock = _Timer(timer)
    started = time.perf_counter()
    sequence = read_skeleton(sources.skeletons[sample.name])
    started = clock.add("skeleton parse", started)
    if not sequence.bodies or sequence.num_frames == 0:
        return None
    if sequence.num_frames < MIN_SAMPLE_FRAMES:
        raise NTUSkip("too few frames", f"{sequence.num_frames} frames (< {MIN_SAMPLE_FRAMES})")
    joints, valid, depth_xy, color_xy = sequence.to_arrays(max_bodies=config.clip.max_bodies)
    mirrored = media.images_are_mirrored(joints, depth_xy, valid)
    keep = resample_indices(num_frames=sequence.num_frames, fps=fps)
    skeleton = media.kinect_to_optical(joints)[keep]
    size, count = config.clip.image_size, config.clip.num_points
    depth_mm = np.zeros((len(keep), size, size), np.uint16)
    points = np.full((len(keep), count, 3), np.nan, np.float32)
    if "depth" in modalities and sample.name in sources.depth:
        intrinsics = media.fit_depth_intrinsics(joints, depth_xy, valid)
        _read_depth(sources.depth[sample.name], keep, skeleton, valid[keep], intrinsics=intrinsics,
                    mirrored=mirrored, rng=rng, depth_out=depth_mm, points_out=points, clock=clock)
    rgb = np.zeros((len(keep), size, size, 3), np.uint8)
    if "rgb" in modalities and sample.name in sources.rgb:
        affine = media.fit_depth_to_color(depth_xy, color_xy, valid)
        _read_rgb(sources.rgb[sample.name], keep, affine, mirrored=mirrored, rgb_out=rgb, clock=clock)
    return {"rgb": rgb, "depth_mm": depth_mm, "skeleton": skeleton, "skeleton_valid": valid[keep],
            "points": points, "label": np.int64(sample.label), "subject": np.int64(sample.performer),
            "camera": np.int64(sample.camera), "setup": np.int64(sample.setup), "clip_id": sample.name}


def resample_indices(*, num_frames: int, fps: float) -> np.ndarray:
    """Indices of NTU's 30 fps frames kept when storing at `fps`: nearest frame to k / fps seconds."""
    count = max(1, int(round(num_frames * fps / media.NTU_FPS)))
    times = np.arange(count) / fps
    return np.minimum(np.floor(times * media.NTU_FPS + 0.5).astype(np.int64), num_frames - 1)


def _read_depth(folder: Path, keep: np.ndarray, skeleton: np.ndarray, valid: np.ndarray, *,
                intrinsics: Intrinsics, mirrored: bool, rng: np.random.Generator, depth_out: np.ndarray,
                points_out: np.ndarray, clock: _Timer) -> None:
    """Fill depth_out (T, S, S) mm and points_out (T, N, 3) m from a masked depth folder. Frame k (0-based)
    is MDepth number k + 1; a missing number takes the nearest present one, unless more than
    MAX_MISSING_DEPTH_FRACTION of the kept frames are missing (NTUSkip)."""
    frames = media.numbered_depth_frames(folder)
    numbers = np.array(sorted(frames))
    wanted = keep + 1
    missing = int((~np.isin(wanted, numbers)).sum())
    if missing > MAX_MISSING_DEPTH_FRACTION * len(wanted):
        raise NTUSkip("depth frames missing", f"{folder}: {missing} of the {len(wanted)} kept frames have no "
                                              f"MDepth png (the folder has {len(numbers)})")
    nearest = numbers[np.abs(numbers[None, :] - wanted[:, None]).argmin(axis=1)]
    full = media.NTU_DEPTH_INTRINSICS
    intrinsics = media.unmirrored_intrinsics(intrinsics, mirrored=mirrored)
    size = depth_out.shape[-1]
    for out_index, number in enumerate(nearest):
        path = frames[int(number)]
        started = time.perf_counter()
        depth = media.read_depth_png(path)
        started = clock.add("depth png decode", started)
        if depth.shape != (full.height, full.width):
            raise media.NTUMediaError(f"{path}: masked depth must be {full.width}x{full.height}, "
                                      f"got {depth.shape[1]}x{depth.shape[0]}")
        if mirrored:
            depth = depth[:, ::-1]
        depth_out[out_index] = media.resize_nearest(depth, size=size)
        bodies = skeleton[out_index][valid[out_index]]
        cloud = backproject(depth.astype(np.float32) / 1000.0, intrinsics=intrinsics)
        cloud = crop_to_person(cloud, skeleton=bodies if len(bodies) else None, margin_m=NTU_CROP_MARGIN_M)
        started = clock.add("back-projection + crop", started)
        points_out[out_index] = sample_points(cloud, points_out.shape[1], rng=rng, method=NTU_POINT_SAMPLING)
        clock.add("point sampling", started)


def _read_rgb(path: Path, keep: np.ndarray, affine: np.ndarray, *, mirrored: bool, rgb_out: np.ndarray,
              clock: _Timer) -> None:
    """Fill rgb_out (T, S, S, 3) with the kept video frames registered onto the depth grid; frames past
    the end of a short video repeat its last frame."""
    wanted: dict[int, list[int]] = {}
    for out_index, frame_index in enumerate(keep):
        wanted.setdefault(int(frame_index), []).append(out_index)
    last, filled = None, np.zeros(len(keep), bool)
    started = time.perf_counter()
    for frame_index, frame in enumerate(media.iter_rgb_frames(path)):
        started = clock.add("rgb decode", started)
        if frame_index > keep.max():
            break
        if frame_index in wanted:
            last = media.register_rgb(frame, affine, size=rgb_out.shape[1], mirrored=mirrored)
            rgb_out[wanted[frame_index]] = last
            filled[wanted[frame_index]] = True
            started = clock.add("rgb registration", started)
    if last is None:
        raise media.NTUMediaError(f"{path}: the video has no decodable frames")
    rgb_out[~filled] = last


def stack_clips(clips: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Clips of convert_sample -> one shard's arrays, frames padded to the longest, `num_frames` (S,) added."""
    length = max(len(clip["skeleton"]) for clip in clips)
    pad_values = {"rgb": 0, "depth_mm": 0, "skeleton": 0.0, "skeleton_valid": False, "points": np.nan}
    stacked = {key: np.stack([_pad(clip[key], length, fill) for clip in clips]) for key, fill in pad_values.items()}
    for key in ("label", "subject", "camera", "setup"):
        stacked[key] = np.array([clip[key] for clip in clips], np.int64)
    stacked["clip_id"] = np.array([clip["clip_id"] for clip in clips], dtype="<U32")
    stacked[NUM_FRAMES_FIELD] = np.array([len(clip["skeleton"]) for clip in clips], np.int64)
    return stacked


def _pad(array: np.ndarray, length: int, fill) -> np.ndarray:
    if len(array) == length:
        return array
    padding = np.full((length - len(array),) + array.shape[1:], fill, dtype=array.dtype)
    return np.concatenate([array, padding])
