"""ROS messages -> the parts of a people.SceneFrame: bodies by id from body-tracking markers, pinhole
intrinsics from sensor_msgs/CameraInfo, full-resolution RGB and depth (the per-person crop happens later,
people_crop.py). Raises ConversionError (reason named) like the other conversions; callers count drops.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from rcmcl_core.geometry import Intrinsics
from rcmcl_ros.conversions_common import DEFAULT_LIMITS, ConversionError, ConversionLimits
from rcmcl_ros.conversions_image import depth_to_metres, image_to_rgb
from rcmcl_ros.conversions_markers import markers_to_skeleton

MAX_MARKER_BODIES = 64
"""Bodies read from one MarkerArray at most (k4abt tracks far fewer); more are counted as extra_bodies."""


def bodies_from_markers(msg: Any, *, layout: str = "azure32", limits: ConversionLimits = DEFAULT_LIMITS,
                        ) -> tuple[dict[int, np.ndarray], Any]:
    """MarkerArray -> ({body id: (25, 3) float32 NTU joints, metres}, SkeletonStats). Ids come from
    marker.id // 100; a joint given twice keeps the last (counted in stats.duplicate_joints); incomplete
    or non-finite bodies are dropped and counted by markers_to_skeleton."""
    joints, valid, stats = markers_to_skeleton(msg, layout=layout, max_bodies=MAX_MARKER_BODIES, limits=limits)
    bodies = {int(body_id): joints[i] for i, body_id in enumerate(stats.body_ids) if valid[i]}
    return bodies, stats


def intrinsics_from_camera_info(msg: Any) -> Intrinsics:
    """CameraInfo (K row-major, width, height) -> Intrinsics; rejects a zero focal length or image size."""
    k = [float(v) for v in msg.k]
    width, height = int(msg.width), int(msg.height)
    if len(k) != 9 or not (k[0] > 0 and k[4] > 0) or width < 1 or height < 1 or not np.isfinite(k).all():
        raise ConversionError(f"camera_info needs fx, fy > 0 and a size, got K={k} {width}x{height}",
                              reason="camera_info")
    return Intrinsics(fx=k[0], fy=k[4], cx=k[2], cy=k[5], width=width, height=height)


def full_rgb(msg: Any, *, limits: ConversionLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Image -> (H, W, 3) uint8 RGB at full resolution."""
    return np.asarray(image_to_rgb(msg, limits=limits))


def full_depth(msg: Any, *, limits: ConversionLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Depth Image -> (H, W) float32 metres at full resolution, 0 = invalid."""
    return np.asarray(depth_to_metres(msg, limits=limits), dtype=np.float32)



class SceneAssembler:
    """Raw messages -> SceneFrames: each skeleton message (the per-person reference) makes one frame with
    the newest rgb, depth, camera_info and points whose stamps lie within `slop_s` of it. Conversion
    errors are counted in `dropped` by "stream:reason", never raised. Not thread-safe."""

    def __init__(self, *, skeleton_format: str = "azure32", slop_s: float = 0.05,
                 limits: ConversionLimits = DEFAULT_LIMITS) -> None:
        self.skeleton_format, self.slop_s, self.limits = skeleton_format, float(slop_s), limits
        self.dropped: dict[str, int] = {}
        self._latest: dict[str, tuple[float, Any]] = {}

    def add(self, stream: str, stamp_s: float, msg: Any) -> Any:
        """stream in rgb, depth, points, info, skeleton; returns a people.SceneFrame for a skeleton message,
        else None."""
        from rcmcl_ros.conversions_cloud import pointcloud2_to_xyz
        from rcmcl_ros.people import SceneFrame

        try:
            if stream == "rgb":
                self._latest["rgb"] = (stamp_s, full_rgb(msg, limits=self.limits))
            elif stream == "depth":
                self._latest["depth"] = (stamp_s, full_depth(msg, limits=self.limits))
            elif stream == "info":
                self._latest["info"] = (stamp_s, intrinsics_from_camera_info(msg))
            elif stream == "points":
                xyz = np.asarray(pointcloud2_to_xyz(msg, limits=self.limits), np.float32)
                self._latest["points"] = (stamp_s, xyz[np.isfinite(xyz).all(axis=1)])
            elif stream == "skeleton":
                bodies, _ = bodies_from_markers(msg, layout=self.skeleton_format, limits=self.limits)
                near = {k: v for k, (t, v) in self._latest.items() if abs(t - stamp_s) <= self.slop_s}
                return SceneFrame(stamp_s=stamp_s, bodies=bodies, rgb=near.get("rgb"), depth=near.get("depth"),
                                  intrinsics=near.get("info"), points=near.get("points"))
            else:
                raise ValueError(f"unknown stream {stream!r}")
        except ConversionError as error:
            key = f"{stream}:{error.reason}"
            self.dropped[key] = self.dropped.get(key, 0) + 1
        return None
