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

