"""The point cloud derived in the node from depth_to_rgb + its camera_info (parameter points_source: depth).

The Azure Kinect's points2 is one point per depth pixel, 11.8 MB a message at NFOV_UNBINNED; the registered
depth image (1.8 MB at 720P) and its camera_info carry the same geometry. `DepthCloudSource` pairs a depth
Image with the latest CameraInfo; `depth_cloud` back-projects it with rcmcl_core.geometry.pinhole's pinhole model
under the topic path's rules: at most `max_points` valid pixels, spread evenly over the image (every s-th
pixel first, as pointcloud2_to_xyz does with a cloud), in the depth image's optical frame, metres. The
caller then applies the same range filter, person crop and sampling as for points2.

A missing camera_info, or one that does not describe the depth image (size, non-positive focal length,
non-finite values), raises CameraInfoError (reason "camera_info"): a counted drop, never a guess.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from rcmcl_core.geometry.pinhole import Intrinsics, backproject_pixels
from rcmcl_ros.conversions import DEFAULT_LIMITS, DEPTH_SCALE_M, ConversionError, ConversionLimits, image_to_numpy

CAMERA_INFO_REASON = "camera_info"
SUBGRID_OVERSAMPLING = 2
"""Pixels looked at first: every s-th one, s = pixels // (2 * max_points), as for points2."""


class CameraInfoError(ConversionError):
    """No camera_info yet, or one inconsistent with the depth image; reason CAMERA_INFO_REASON."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.reason = CAMERA_INFO_REASON


@dataclass
class DepthCloudSource:
    """A depth Image and the CameraInfo it is to be back-projected with (None: none received yet).
    `header` is the depth image's, so the stamp and frame are the depth frame's."""

    depth: Any
    info: Any | None

    @property
    def header(self) -> Any:
        return self.depth.header


def intrinsics_from_camera_info(info: Any, *, width: int | None = None, height: int | None = None) -> Intrinsics:
    """CameraInfo -> Intrinsics of a width x height image (None: the size the info gives, at least 1x1). Raises
    CameraInfoError when info is None, or its size or K do not describe that image (e.g. rgb/camera_info at
    1536P for a 720P depth_to_rgb). The one CameraInfo reader: the depth cloud and the per-person crops."""
    if info is None:
        raise CameraInfoError("no camera_info received yet for the depth image (parameter camera_info_topic); "
                              "points_source 'depth' needs it to back-project")
    try:
        k = [float(v) for v in info.k]
        info_w, info_h = int(info.width), int(info.height)
    except (TypeError, ValueError, AttributeError) as error:
        raise CameraInfoError(f"camera_info is malformed: {error}") from error
    if len(k) != 9 or not all(math.isfinite(v) for v in k):
        raise CameraInfoError(f"camera_info K must be 9 finite values, got {k}")
    fx, fy, cx, cy = k[0], k[4], k[2], k[5]
    if fx <= 0 or fy <= 0:
        raise CameraInfoError(f"camera_info focal lengths must be > 0, got fx {fx}, fy {fy}")
    if width is None or height is None:
        width, height = info_w, info_h
        if width < 1 or height < 1:
            raise CameraInfoError(f"camera_info must give an image size, got {width}x{height}")
    if (info_w, info_h) != (width, height):
        raise CameraInfoError(f"camera_info is for {info_w}x{info_h} but the depth image is {width}x{height}; "
                              f"use the camera_info of the depth image itself (depth_to_rgb/camera_info)")
    return Intrinsics(fx=fx, fy=fy, cx=cx, cy=cy, width=width, height=height)


def depth_cloud(source: DepthCloudSource, *, max_points: int,
                limits: ConversionLimits = DEFAULT_LIMITS) -> np.ndarray:
    """-> (K, 3) float32 points of valid depth pixels (K <= max_points), metres, the depth optical frame.
    Raises ConversionError for a bad depth image, CameraInfoError for a bad or missing camera_info."""
    depth = source.depth
    encoding = str(getattr(depth, "encoding", ""))
    if encoding not in DEPTH_SCALE_M:
        raise ConversionError(f"expected a depth image ({', '.join(DEPTH_SCALE_M)}), got {encoding!r}",
                              reason="encoding")
    pixels = image_to_numpy(depth, limits=limits)                    # (H, W) view of msg.data
    height, width = pixels.shape
    intrinsics = intrinsics_from_camera_info(source.info, width=width, height=height)
    flat = pixels.reshape(-1)
    total = flat.size
    index = None
    if max_points and total >= 2 * SUBGRID_OVERSAMPLING * max_points:
        stride = total // (SUBGRID_OVERSAMPLING * max_points)
        good = np.flatnonzero(_valid(flat[::stride])) * stride
        if len(good) >= max_points:
            index = good[(np.arange(max_points) * len(good)) // max_points]
    if index is None:
        good = np.flatnonzero(_valid(flat))
        index = good if not max_points or len(good) <= max_points else \
            good[(np.arange(max_points) * len(good)) // max_points]
    z = flat[index].astype(np.float32) * np.float32(DEPTH_SCALE_M[encoding])
    v, u = np.divmod(index, width)
    return backproject_pixels(u, v, z, intrinsics=intrinsics)


def _valid(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "f":
        return np.isfinite(values) & (values > 0)
    return values > 0
