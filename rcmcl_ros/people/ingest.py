"""What the per-person path takes from each input, and the SceneAssembler that puts one instant together.

Pipeline.ingest (rcmcl_ros/pipeline/runner.py) hands the per-person path what it has already decoded: the
bodies of a skeleton message by id (conversions.markers_to_bodies, decoded once for both paths), the cloud
as the single-person path converted it ((K, 3) metres, range-filtered, capped at max_cloud_points), and
the (decompressed) colour and depth Image messages, converted here at full resolution (each person is
cropped from the full frame later, people/crop.py), plus the colour camera_info. Conversion errors raise
ConversionError (reason named) like the other conversions; the assembler counts them.
"""
from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from rcmcl_ros.conversions.common import DEFAULT_LIMITS, ConversionError, ConversionLimits
from rcmcl_ros.conversions.image import depth_to_metres, image_to_rgb
from rcmcl_ros.pipeline.depth_cloud import intrinsics_from_camera_info


def full_rgb(msg: Any, *, limits: ConversionLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Image -> (H, W, 3) uint8 RGB at full resolution."""
    return np.asarray(image_to_rgb(msg, limits=limits))


def full_depth(msg: Any, *, limits: ConversionLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Depth Image -> (H, W) float32 metres at full resolution, 0 = invalid."""
    return np.asarray(depth_to_metres(msg, limits=limits), dtype=np.float32)


class SceneAssembler:
    """Inputs (`add`) -> SceneFrames. Each skeleton message (the per-person reference) makes one frame with
    the rgb, depth, camera_info and points nearest its stamp within `slop_s`. Messages of one instant may
    arrive in any order across topics, so a skeleton waits until every stream seen so far has reached its
    stamp, or until a newer skeleton comes (at most `HISTORY` messages are kept per stream). Conversion
    errors are counted in `dropped` by "stream:reason", never raised. Not thread-safe."""

    HISTORY = 8
    STREAMS = ("rgb", "depth", "points", "info")

    def __init__(self, *, slop_s: float = 0.05, limits: ConversionLimits = DEFAULT_LIMITS) -> None:
        self.slop_s, self.limits = float(slop_s), limits
        self.dropped: dict[str, int] = {}
        self._recent: dict[str, deque] = {s: deque(maxlen=self.HISTORY) for s in self.STREAMS}
        self._pending: deque = deque(maxlen=self.HISTORY)        # (stamp, bodies)

    def add(self, stream: str, stamp_s: float, payload: Any) -> list[Any]:
        """One input -> the people.SceneFrames now complete, oldest first. stream: rgb or depth (an Image
        message), info (CameraInfo), points ((K, 3) float32 metres, already converted) or skeleton ({body id:
        (25, 3) NTU joints}, already decoded)."""
        try:
            if stream == "rgb":
                payload = full_rgb(payload, limits=self.limits)
            elif stream == "depth":
                payload = full_depth(payload, limits=self.limits)
            elif stream == "info":
                payload = intrinsics_from_camera_info(payload)
            elif stream == "points":
                payload = np.asarray(payload, np.float32)
            elif stream == "skeleton":
                self._pending.append((stamp_s, payload))
                return self._ready(newer_skeleton=True)
            else:
                raise ValueError(f"unknown stream {stream!r}")
            self._recent[stream].append((stamp_s, payload))
        except ConversionError as error:
            key = f"{stream}:{error.reason}"
            self.dropped[key] = self.dropped.get(key, 0) + 1
        return self._ready(newer_skeleton=False)

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
