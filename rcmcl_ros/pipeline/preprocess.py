"""Per-frame preprocessing: a ROS message -> the model-ready per-frame array at the checkpoint's sizes.

| stream   | payload                                   | units                                      |
|----------|-------------------------------------------|--------------------------------------------|
| rgb      | (S, S, 3) uint8                           | RGB order                                  |
| depth    | (S, S) float32                            | metres, 0 = invalid (NaN / inf included)   |
| points   | (K, 3) float32, then (N, 3) after `crop`  | metres, points frame; NaN rows = no point  |
| skeleton | ((M, 25, 3) float32, (M,) bool valid)     | metres, skeleton frame, NTU-25 order       |

Messages are converted in the subscription callback (`convert`); the cloud is cropped to the person and
sampled to N later (`crop_points`), once the synchroniser has paired it with a skeleton. The skeleton is
mapped into the points frame for cropping only (by `extrinsic`, from tf2 or the `camera_extrinsic`
parameter); the model gets it in its own camera frame, as in training. Bad messages raise ConversionError
whose `.reason` the caller counts. rgb may also be a CompressedImage (jpeg/png, compressed_image.py; reason
"decode" when corrupt) and points a DepthCloudSource (depth image + camera_info, depth_cloud.py; reason
"camera_info" when that is missing or does not fit); both then follow the same rules as Image / PointCloud2.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rcmcl_core.config import ClipConfig
from rcmcl_core.geometry.pinhole import PERSON_CROP_MARGIN_M, PERSON_FLOOR_CLEARANCE_M, crop_to_person, sample_points
from rcmcl_core.geometry.rotation import rigid_transform, rotation_from_rpy
from rcmcl_core.geometry.skeleton_layout import NUM_JOINTS, ROOT_JOINT
from rcmcl_ros.conversions.compressed_image import decode_compressed, is_compressed
from rcmcl_ros.pipeline.depth_cloud import DepthCloudSource, depth_cloud
from rcmcl_ros.conversions import (DEFAULT_LIMITS, ConversionError, ConversionLimits, SkeletonStats,
                                   centre_square_roi, depth_to_metres, image_to_rgb, markers_to_bodies,
                                   markers_to_skeleton, pointcloud2_to_xyz)

STREAMS = ("rgb", "depth", "points", "skeleton")
"""Input streams, in the synchroniser's order."""
SKELETON_FORMATS = ("azure32", "ntu25")
POINT_SAMPLING = ("random", "fps")
IMAGE_FITS = ("square", "stretch")
IDENTITY_EXTRINSIC = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
"""x y z roll pitch yaw of the identity transform (the skeleton and points frames coincide)."""


PREPROCESS_REASONS = ("joints_out_of_range", "no_points_in_range")
"""Reasons of FrameRejected, besides conversions.REASONS."""


class FrameRejected(ConversionError):
    """A message converted fine but its content is unusable; `reason` is one of PREPROCESS_REASONS."""

    def __init__(self, message: str, *, reason: str) -> None:
        if reason not in PREPROCESS_REASONS:
            raise ValueError(f"FrameRejected reason must be one of {PREPROCESS_REASONS}, got {reason!r}")
        ValueError.__init__(self, message)
        self.reason = reason


class PreprocessConfigError(ValueError):
    """A PreprocessConfig value is impossible; the message names it."""


@dataclass
class PreprocessConfig:
    """Sizes default to ClipConfig's; the Pipeline overrides them from the checkpoint."""

    image_size: int = ClipConfig.image_size     # S, pixels
    num_points: int = ClipConfig.num_points     # N after sampling
    max_bodies: int = ClipConfig.max_bodies     # M
    skeleton_format: str = "azure32"            # "azure32" (k4abt MarkerArray) or "ntu25" (Kinect v2 style)
    image_fit: str = "square"                   # "square": centre square crop (keeps aspect); "stretch"
    max_cloud_points: int = 20000               # random cap on a converted cloud before cropping (CPU bound)
    min_range_m: float = 0.2                    # points closer to the sensor than this are dropped
    max_range_m: float = 8.0                    # ... and farther than this (Azure NFOV reaches ~5.5 m)
    max_joint_range_m: float = 10.0             # a tracked joint farther than this is a tracker glitch
    crop_margin_m: float = PERSON_CROP_MARGIN_M  # around the skeleton's box: the training data's crop
    crop_floor_clearance_m: float = PERSON_FLOOR_CLEARANCE_M  # below the lowest joint = floor; < 0: keep it
    crop_skeleton_max_age_s: float = 0.5        # crop with the latest skeleton this recent if the set has none
    point_sampling: str = "random"              # "random" or "fps" (farthest point sampling)
    camera_extrinsic: tuple[float, ...] = IDENTITY_EXTRINSIC  # skeleton -> points frame: 6 (xyz rpy) or 16 (4x4)
    seed: int = 0                               # point sampling RNG
    max_image_pixels: int = DEFAULT_LIMITS.max_pixels        # larger images are dropped ("limits") unread
    max_input_points: int = DEFAULT_LIMITS.max_cloud_points  # larger clouds (width * height) likewise
    max_markers: int = DEFAULT_LIMITS.max_markers            # larger MarkerArrays likewise

    def limits(self) -> ConversionLimits:
        """The conversion limits these settings ask for (ValueError naming a non-positive one)."""
        return ConversionLimits(max_pixels=self.max_image_pixels, max_cloud_points=self.max_input_points,
                                max_point_step=DEFAULT_LIMITS.max_point_step, max_markers=self.max_markers)

    def validate(self) -> "PreprocessConfig":
        checks = (
            (self.image_size >= 8, f"preprocess.image_size must be >= 8, got {self.image_size}"),
            (self.num_points >= 1, f"preprocess.num_points must be >= 1, got {self.num_points}"),
            (self.max_bodies >= 1, f"preprocess.max_bodies must be >= 1, got {self.max_bodies}"),
            (self.skeleton_format in SKELETON_FORMATS,
             f"skeleton_format must be one of {SKELETON_FORMATS}, got {self.skeleton_format!r}"),
            (self.image_fit in IMAGE_FITS, f"image_fit must be one of {IMAGE_FITS}, got {self.image_fit!r}"),
            (self.max_cloud_points >= self.num_points,
             f"max_cloud_points must be >= num_points ({self.num_points}), got {self.max_cloud_points}"),
            (0 <= self.min_range_m < self.max_range_m,
             f"need 0 <= min_range_m < max_range_m, got {self.min_range_m} and {self.max_range_m}"),
            (self.max_joint_range_m > 0, f"max_joint_range_m must be > 0, got {self.max_joint_range_m}"),
            (self.crop_margin_m >= 0, f"crop_margin_m must be >= 0, got {self.crop_margin_m}"),
            (self.crop_skeleton_max_age_s >= 0,
             f"crop_skeleton_max_age_s must be >= 0, got {self.crop_skeleton_max_age_s}"),
            (self.point_sampling in POINT_SAMPLING,
             f"point_sampling must be one of {POINT_SAMPLING}, got {self.point_sampling!r}"),
        )
        for ok, message in checks:
            if not ok:
                raise PreprocessConfigError(message)
        try:
            self.limits()
        except ValueError as error:
            raise PreprocessConfigError(str(error)) from error
        extrinsic_matrix(self.camera_extrinsic)
        return self


def nearest_body(bodies: dict[int, np.ndarray]) -> int | None:
    """The id of the body whose pelvis (spine_base) is nearest the camera, ties to the lowest id; None when
    there is none. The main actor: the single-person topics follow this person."""
    return min(bodies, key=lambda i: (float(np.linalg.norm(bodies[i][ROOT_JOINT])), i), default=None)


def extrinsic_matrix(values: Any) -> np.ndarray:
    """(4, 4) float64 from 16 row-major values or 6 values x y z (m) roll pitch yaw (rad, fixed-axis XYZ,
    as tf2's static_transform_publisher); the last row must be 0 0 0 1."""
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    if flat.size == 6:
        x, y, z, roll, pitch, yaw = flat
        return rigid_transform(rotation_from_rpy(roll, pitch, yaw), (x, y, z))
    if flat.size != 16 or not np.all(np.isfinite(flat)):
        raise PreprocessConfigError(f"camera_extrinsic must be 16 finite values (4x4 row-major) or 6 "
                                    f"(x y z roll pitch yaw), got {flat.size} values: {flat.tolist()}")
    matrix = flat.reshape(4, 4)
    if not np.allclose(matrix[3], (0.0, 0.0, 0.0, 1.0)):
        raise PreprocessConfigError(f"camera_extrinsic's last row must be 0 0 0 1, got {matrix[3].tolist()}")
    return matrix


@dataclass
class Preprocessor:
    """Stateless conversions plus the point-sampling RNG. `convert` is safe to call from callbacks."""

    config: PreprocessConfig
    _rng: np.random.Generator = field(init=False, repr=False)
    _extrinsic: np.ndarray = field(init=False, repr=False)
    _limits: ConversionLimits = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.config.validate()
        self._rng = np.random.default_rng(self.config.seed)
        self._extrinsic = extrinsic_matrix(self.config.camera_extrinsic)
        self._limits = self.config.limits()

    @property
    def default_extrinsic(self) -> np.ndarray:
        """(4, 4) skeleton frame -> points frame from the `camera_extrinsic` parameter."""
        return self._extrinsic

    def convert(self, stream: str, msg: Any) -> Any:
        """One message -> the per-frame payload of `stream` (table above). Raises ConversionError."""
        if stream == "rgb":
            msg = self.decompressed(msg)
            return image_to_rgb(msg, size=self.config.image_size, roi=self._roi(msg), limits=self._limits)
        if stream == "depth":
            return self.depth(msg)
        if stream == "points":
            return self.points(msg)
        if stream == "skeleton":
            return self.skeleton(msg)
        raise ValueError(f"unknown stream {stream!r}; expected one of {STREAMS}")

    def decompressed(self, msg: Any) -> Any:
        """A CompressedImage (jpeg / png, compressed_image.py) decoded to an Image; DecodeError when corrupt.
        Any other message as it is."""
        return decode_compressed(msg, limits=self._limits) if is_compressed(msg) else msg

    def _roi(self, msg: Any) -> tuple[int, int, int, int] | None:
        """Centre square of the image (registered rgb and depth share it), or None to stretch."""
        if self.config.image_fit == "stretch":
            return None
        width, height = getattr(msg, "width", 0), getattr(msg, "height", 0)
        if not (isinstance(width, int) and isinstance(height, int)) or min(width, height) < 1 or width == height:
            return None   # nothing to crop, or a broken header that the conversion will reject by name
        return centre_square_roi(width=width, height=height)

    def depth(self, msg: Any) -> np.ndarray:
        """(S, S) float32 metres; NaN, inf and negative depths become 0 (invalid)."""
        depth = np.asarray(depth_to_metres(msg, size=self.config.image_size, roi=self._roi(msg),
                                           limits=self._limits), dtype=np.float32)
        bad = ~np.isfinite(depth) | (depth < 0)
        if bad.any():
            depth = np.where(bad, np.float32(0.0), depth)
        return depth

    def points(self, msg: Any) -> np.ndarray:
        """(K, 3) float32 metres, 0 < K <= max_cloud_points, within [min_range_m, max_range_m] of the sensor."""
        cfg = self.config
        if isinstance(msg, DepthCloudSource):    # points_source: depth (depth_cloud.py), same rules from here on
            xyz = depth_cloud(msg, max_points=cfg.max_cloud_points, limits=self._limits)
        else:
            xyz = np.asarray(pointcloud2_to_xyz(msg, max_points=cfg.max_cloud_points, limits=self._limits),
                             dtype=np.float32)
        total = len(xyz)
        with np.errstate(over="ignore"):        # |p| of ~1e20 m overflows float32 to inf: out of range anyway
            distance = np.linalg.norm(xyz, axis=1)
        xyz = xyz[np.isfinite(distance) & (distance >= cfg.min_range_m) & (distance <= cfg.max_range_m)]
        if len(xyz) == 0:
            raise FrameRejected(f"point cloud has no point within {cfg.min_range_m}-{cfg.max_range_m} m of the "
                                f"sensor ({total} finite points before the range filter)", reason="no_points_in_range")
        return xyz

    def skeleton(self, msg: Any) -> tuple[np.ndarray, np.ndarray]:
        """((M, 25, 3) float32 metres NTU order, (M,) bool valid); untracked bodies are zeros. A tracked body
        with a non-finite joint or one beyond max_joint_range_m rejects the message (FrameRejected)."""
        joints, valid, stats = markers_to_skeleton(msg, layout=self.config.skeleton_format,
                                                   max_bodies=self.config.max_bodies, limits=self._limits)
        return self._checked_skeleton(np.asarray(joints, dtype=np.float32), np.asarray(valid, dtype=bool), stats)

    def bodies(self, msg: Any) -> tuple[dict[int, np.ndarray], SkeletonStats]:
        """Every tracked body of a MarkerArray by id ({id: (25, 3) float32 metres}, stats): the one decode of a
        skeleton message when the per-person path runs beside the single-person one."""
        return markers_to_bodies(msg, layout=self.config.skeleton_format, limits=self._limits)

    def actor_skeleton(self, bodies: dict[int, np.ndarray], actor: int | None, stats: SkeletonStats,
                       ) -> tuple[np.ndarray, np.ndarray]:
        """The `skeleton` payload of one body of decoded `bodies` alone (body 1, the others zero; None: nobody),
        with the same checks as `skeleton` (FrameRejected). The single-person window follows the main actor
        (nearest_body) this way when the per-person path runs beside it."""
        joints = np.zeros((self.config.max_bodies, NUM_JOINTS, 3), np.float32)
        valid = np.zeros(self.config.max_bodies, bool)
        if actor is not None:
            joints[0], valid[0] = bodies[actor], True
        return self._checked_skeleton(joints, valid, stats)

    def _checked_skeleton(self, joints: np.ndarray, valid: np.ndarray, stats: SkeletonStats,
                          ) -> tuple[np.ndarray, np.ndarray]:
        if stats.nan_bodies and not valid.any():
            raise FrameRejected(f"skeleton joints must be finite, got {stats.nan_bodies} body(ies) with "
                                f"non-finite joints and no usable body", reason="joints_out_of_range")
        tracked = joints[valid]
        if tracked.size:
            finite = np.isfinite(tracked).all()
            reach = float(np.abs(np.where(np.isfinite(tracked), tracked, 0.0)).max())
            if not finite or reach > self.config.max_joint_range_m:
                raise FrameRejected(f"skeleton joints must be finite and within {self.config.max_joint_range_m} m "
                                    f"of the camera, got {'non-finite values' if not finite else f'{reach:.1f} m'}",
                                    reason="joints_out_of_range")
        return np.where(valid[:, None, None], joints, np.float32(0.0)).astype(np.float32), valid

    def crop_points(self, points: np.ndarray, *, skeleton: tuple[np.ndarray, np.ndarray] | None,
                    extrinsic: np.ndarray | None = None) -> np.ndarray:
        """(K, 3) points frame -> (N, 3): cropped around the tracked bodies (mapped by `extrinsic`, default
        the parameter) when there are any, then sampled to N (NaN rows when nothing is left)."""
        bodies = None
        if skeleton is not None and np.any(skeleton[1]):
            tracked = skeleton[0][skeleton[1]].astype(np.float64)                     # (M', 25, 3)
            matrix = self._extrinsic if extrinsic is None else extrinsic
            bodies = (tracked @ matrix[:3, :3].T + matrix[:3, 3]).astype(np.float32)
        clearance = self.config.crop_floor_clearance_m
        cropped = crop_to_person(points, skeleton=bodies, margin_m=self.config.crop_margin_m,
                                 floor_clearance_m=clearance if clearance >= 0 else None)
        return sample_points(cropped, self.config.num_points, rng=self._rng,
                             method=self.config.point_sampling).astype(np.float32)
