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

import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rcmcl_core.config import RCMCLConfig
import rcmcl_core.data.ntu.media as media
from rcmcl_core.data.dataset import NUM_FRAMES_FIELD
from rcmcl_core.data.ntu.classes import ntu_class_names
from rcmcl_core.data.ntu.missing import missing_skeletons
from rcmcl_core.data.ntu.skeleton_file import NTUFormatError, read_skeleton
from rcmcl_core.data.ntu.splits import NTUNameError, NTUSample, ntu_splits, parse_sample_name
from rcmcl_core.data.shards import Manifest, write_shard
from rcmcl_core.geometry.pinhole import Intrinsics
from rcmcl_core.geometry.pinhole import backproject, crop_to_person, sample_points, scale_intrinsics

log = logging.getLogger(__name__)

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


def build_ntu_shards(*, ntu_root: Path, out: Path, version: int, config: RCMCLConfig, fps: float = media.NTU_FPS,
                     limit: int | None = None, seed: int = 0) -> Manifest:
    """Convert the available NTU-`version` samples under `ntu_root` into shards + manifest under `out`.

    `fps` (<= 30) is the stored frame rate (frames are subsampled from NTU's 30 fps); `limit` caps the
    number of written clips. Samples on the published missing-skeleton lists, files that parse to no
    bodies and unreadable files are skipped, never fatal: manifest.extra['skipped'] maps name -> reason
    and 'skipped_counts' counts reasons."""
    if version not in (60, 120):
        raise ValueError(f"NTU version must be 60 or 120, got {version!r}")
    if not 0 < fps <= media.NTU_FPS:
        raise ValueError(f"fps must be in (0, {media.NTU_FPS}] (NTU is captured at 30 fps), got {fps}")
    sources = find_ntu_files(ntu_root)
    if sources.rgb:
        media.opencv()                      # fail now, not after hours, when videos exist but cv2 does not
    missing = set(missing_skeletons(version))
    for path in sources.missing_lists:
        missing.update(_NAME_IN_TEXT.findall(path.read_text(errors="replace")))
    rng = np.random.default_rng(seed)
    writer = _ShardWriter(Path(out))
    skipped: dict[str, str] = {}
    counts: Counter[str] = Counter()
    rgb_missing, depth_missing = [], []

    def skip(name: str, kind: str, reason: str) -> None:
        skipped[name], counts[kind] = reason, counts[kind] + 1
        log.info("skipping %s: %s", name, reason)

    for name in tqdm(sorted(sources.skeletons), desc=f"NTU-{version} -> shards", unit="clip"):
        if limit is not None and writer.count >= limit:
            break
        try:
            sample = parse_sample_name(name)
        except NTUNameError as err:
            skip(name, "bad name", str(err))
            continue
        if not sample.in_version(version):
            continue
        if name in missing:
            skip(name, "listed missing", "on the published list of samples with missing skeletons")
            continue
        try:
            clip = _convert(sample, sources, config=config, fps=fps, rng=rng)
        except (NTUFormatError, media.NTUMediaError) as err:
            skip(name, "unreadable", str(err))
            continue
        if clip is None:
            skip(name, "no bodies", "the skeleton file has no tracked body in any frame")
            continue
        if name not in sources.rgb:
            rgb_missing.append(name)
        if name not in sources.depth:
            depth_missing.append(name)
        writer.add(clip)
    writer.flush()
    if skipped:
        log.warning("NTU-%d: skipped %d samples (%s)", version, len(skipped),
                    ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    splits, split_fields = ntu_splits(version)
    size = config.clip.image_size
    # One manifest entry for all clips: the published Kinect v2 values (clips differ by a pixel or two).
    unmirrored = media.unmirrored_intrinsics(media.NTU_DEPTH_INTRINSICS, mirrored=media.NTU_IMAGES_MIRRORED)
    intrinsics = scale_intrinsics(unmirrored, width=size, height=size)
    manifest = Manifest(
        source=f"ntu{version}", classes=ntu_class_names(version), fps=float(fps), intrinsics=intrinsics,
        shards=writer.shards, num_clips=writer.count, splits=splits, split_fields=split_fields,
        extra={"ntu_version": version, "num_frames_field": NUM_FRAMES_FIELD, "rgb_missing": rgb_missing,
               "depth_missing": depth_missing, "skipped": skipped, "skipped_counts": dict(counts)})
    manifest.save(out)
    return manifest


def _convert(sample: NTUSample, sources: NTUSources, *, config: RCMCLConfig, fps: float,
             rng: np.random.Generator) -> dict[str, np.ndarray] | None:
    """One sample -> per-clip arrays in the shard layout (without the leading S axis); None if no body."""
    sequence = read_skeleton(sources.skeletons[sample.name])
    if not sequence.bodies or sequence.num_frames == 0:
        return None
    joints, valid, depth_xy, color_xy = sequence.to_arrays(max_bodies=config.clip.max_bodies)
    mirrored = media.images_are_mirrored(joints, depth_xy, valid)
    keep = resample_indices(num_frames=sequence.num_frames, fps=fps)
    skeleton = media.kinect_to_optical(joints)[keep]
    size, count = config.clip.image_size, config.clip.num_points
    depth_mm = np.zeros((len(keep), size, size), np.uint16)
    points = np.full((len(keep), count, 3), np.nan, np.float32)
    if sample.name in sources.depth:
        intrinsics = media.fit_depth_intrinsics(joints, depth_xy, valid)
        _read_depth(sources.depth[sample.name], keep, skeleton, valid[keep], intrinsics=intrinsics,
                    mirrored=mirrored, rng=rng, depth_out=depth_mm, points_out=points)
    rgb = np.zeros((len(keep), size, size, 3), np.uint8)
    if sample.name in sources.rgb:
        affine = media.fit_depth_to_color(depth_xy, color_xy, valid)
        _read_rgb(sources.rgb[sample.name], keep, affine, mirrored=mirrored, rgb_out=rgb)
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
                points_out: np.ndarray) -> None:
    """Fill depth_out (T, S, S) mm and points_out (T, N, 3) m from a masked depth folder. Frame counts of
    depth and skeleton differ in a few NTU samples: the nearest existing depth frame is used."""
    frames = media.masked_depth_frames(folder)
    full = media.NTU_DEPTH_INTRINSICS
    intrinsics = media.unmirrored_intrinsics(intrinsics, mirrored=mirrored)
    size = depth_out.shape[-1]
    for out_index, frame_index in enumerate(keep):
        path = frames[min(int(frame_index), len(frames) - 1)]
        depth = media.read_depth_png(path)
        if depth.shape != (full.height, full.width):
            raise media.NTUMediaError(f"{path}: masked depth must be {full.width}x{full.height}, "
                                      f"got {depth.shape[1]}x{depth.shape[0]}")
        if mirrored:
            depth = depth[:, ::-1]
        depth_out[out_index] = media.resize_nearest(depth, size=size)
        bodies = skeleton[out_index][valid[out_index]]
        cloud = backproject(depth.astype(np.float32) / 1000.0, intrinsics=intrinsics)
        cloud = crop_to_person(cloud, skeleton=bodies if len(bodies) else None, margin_m=NTU_CROP_MARGIN_M)
        points_out[out_index] = sample_points(cloud, points_out.shape[1], rng=rng, method=NTU_POINT_SAMPLING)


def _read_rgb(path: Path, keep: np.ndarray, affine: np.ndarray, *, mirrored: bool, rgb_out: np.ndarray) -> None:
    """Fill rgb_out (T, S, S, 3) with the kept video frames registered onto the depth grid; frames past
    the end of a short video repeat its last frame."""
    wanted: dict[int, list[int]] = {}
    for out_index, frame_index in enumerate(keep):
        wanted.setdefault(int(frame_index), []).append(out_index)
    last, filled = None, np.zeros(len(keep), bool)
    for frame_index, frame in enumerate(media.iter_rgb_frames(path)):
        if frame_index > keep.max():
            break
        if frame_index in wanted:
            last = media.register_rgb(frame, affine, size=rgb_out.shape[1], mirrored=mirrored)
            rgb_out[wanted[frame_index]] = last
            filled[wanted[frame_index]] = True
    if last is None:
        raise media.NTUMediaError(f"{path}: the video has no decodable frames")
    rgb_out[~filled] = last


class _ShardWriter:
    """Buffers clips and writes a shard every NTU_CLIPS_PER_SHARD clips, padding frames to the longest."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.buffer: list[dict[str, np.ndarray]] = []
        self.shards: list[str] = []
        self.count = 0

    def add(self, clip: dict[str, np.ndarray]) -> None:
        self.buffer.append(clip)
        self.count += 1
        if len(self.buffer) >= NTU_CLIPS_PER_SHARD:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        length = max(len(clip["skeleton"]) for clip in self.buffer)
        pad_values = {"rgb": 0, "depth_mm": 0, "skeleton": 0.0, "skeleton_valid": False, "points": np.nan}
        stacked = {}
        for key, fill in pad_values.items():
            stacked[key] = np.stack([_pad(clip[key], length, fill) for clip in self.buffer])
        for key in ("label", "subject", "camera", "setup"):
            stacked[key] = np.array([clip[key] for clip in self.buffer], np.int64)
        stacked["clip_id"] = np.array([clip["clip_id"] for clip in self.buffer], dtype="<U32")
        stacked[NUM_FRAMES_FIELD] = np.array([len(clip["skeleton"]) for clip in self.buffer], np.int64)
        self.shards.append(write_shard(self.out, len(self.shards), stacked))
        self.buffer = []


def _pad(array: np.ndarray, length: int, fill) -> np.ndarray:
    if len(array) == length:
        return array
    padding = np.full((length - len(array),) + array.shape[1:], fill, dtype=array.dtype)
    return np.concatenate([array, padding])
