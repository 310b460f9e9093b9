"""ROS messages -> the parts of a people.SceneFrame: bodies by id from body-tracking markers, pinhole
intrinsics from sensor_msgs/CameraInfo, full-resolution RGB and depth (the per-person crop happens later,
people_crop.py). Raises ConversionError (reason named) like the other conversions; callers count drops.
"""
from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from rcmcl_core.geometry.pinhole import Intrinsics
from rcmcl_ros.conversions.common import DEFAULT_LIMITS, ConversionError, ConversionLimits
from rcmcl_ros.conversions.image import depth_to_metres, image_to_rgb
from rcmcl_ros.conversions.body_markers import markers_to_skeleton

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
    """Raw messages -> SceneFrames. Each skeleton message (the per-person reference) makes one frame with
    the rgb, depth, camera_info and points nearest its stamp within `slop_s`. Messages of one instant may
    arrive in any order across topics, so a skeleton waits until every stream seen so far has reached its
    stamp, or until a newer skeleton comes (at most `HISTORY` messages are kept per stream). Conversion
    errors are counted in `dropped` by "stream:reason", never raised. Not thread-safe."""

    HISTORY = 8
    STREAMS = ("rgb", "depth", "points", "info")

    def __init__(self, *, skeleton_format: str = "azure32", slop_s: float = 0.05,
                 limits: ConversionLimits = DEFAULT_LIMITS) -> None:
        self.skeleton_format, self.slop_s, self.limits = skeleton_format, float(slop_s), limits
        self.dropped: dict[str, int] = {}
        self._recent: dict[str, deque] = {s: deque(maxlen=self.HISTORY) for s in self.STREAMS}
        self._pending: deque = deque(maxlen=self.HISTORY)        # (stamp, bodies)

    def add(self, stream: str, stamp_s: float, msg: Any) -> list[Any]:
        """stream in rgb, depth, points, info, skeleton -> the people.SceneFrames now complete, oldest first."""
        from rcmcl_ros.conversions.cloud import pointcloud2_to_xyz

        try:
            if stream == "rgb":
                payload = full_rgb(msg, limits=self.limits)
            elif stream == "depth":
                payload = full_depth(msg, limits=self.limits)
            elif stream == "info":
                payload = intrinsics_from_camera_info(msg)
            elif stream == "points":
                xyz = np.asarray(pointcloud2_to_xyz(msg, limits=self.limits), np.float32)
                payload = xyz[np.isfinite(xyz).all(axis=1)]
            elif stream == "skeleton":
                self._pending.append((stamp_s, bodies_from_markers(msg, layout=self.skeleton_format,
                                                                   limits=self.limits)[0]))
                return self._ready(newer_skeleton=True)
            else:
                raise ValueError(f"unknown stream {stream!r}")
            self._recent[stream].append((stamp_s, payload))
        except ConversionError as error:
            key = f"{stream}:{error.reason}"
            self.dropped[key] = self.dropped.get(key, 0) + 1
        return self._ready(newer_skeleton=False)

    def newest_stamp_s(self) -> float | None:
        """The newest stamp of the image/cloud streams: the time of an unstamped (empty) MarkerArray, which
        the driver publishes when nobody is tracked (the receive time would run ahead of a lagging queue)."""
        stamps = [history[-1][0] for history in self._recent.values() if history]
        return max(stamps) if stamps else None

    def flush(self) -> list[Any]:
        """Every pending skeleton's frame with what has arrived (end of a recording)."""
        frames = [self._frame(*item) for item in self._pending]
        self._pending.clear()
        return frames

    def _ready(self, *, newer_skeleton: bool) -> list[Any]:
        frames = []
        while self._pending:
            stamp_s, bodies = self._pending[0]
            caught_up = all(history[-1][0] >= stamp_s - self.slop_s for history in self._recent.values() if history)
            if not caught_up and not (newer_skeleton and len(self._pending) > 1):
                break
            self._pending.popleft()
            frames.append(self._frame(stamp_s, bodies))
        return frames

    def _frame(self, stamp_s: float, bodies: dict[int, np.ndarray]) -> Any:
        from rcmcl_ros.people.tracker import SceneFrame

        near: dict[str, Any] = {}
        for stream, history in self._recent.items():
            best = min(history, key=lambda item: abs(item[0] - stamp_s), default=None)
            if best is not None and abs(best[0] - stamp_s) <= self.slop_s:
                near[stream] = best[1]
        return SceneFrame(stamp_s=stamp_s, bodies=bodies, rgb=near.get("rgb"), depth=near.get("depth"),
                          intrinsics=near.get("info"), points=near.get("points"))
