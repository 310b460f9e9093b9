"""Malformed and hostile sensor messages for the live-node fuzz test and benchmarks/fuzz_node.py.

`hostile_message(rng, stream, t_s)` draws one message for `stream` that a well-behaved driver would never
send: lying sizes, unknown encodings, huge dimensions, NaN/inf content, broken PointCloud2 field lists,
impossible marker ids, too many bodies, and stamps that are unset, far off or going backwards. Every kind
is a real rclpy message (what DDS can deliver), seeded by `rng`, so runs repeat.

Each draw comes with the drop reason the node must count for it, or None when the message is hostile but
usable (e.g. a stamp 2 s back, a duplicate stamp, a 3-body skeleton): those must neither crash nor stop
decisions, and the synchroniser's own counters (late, duplicates) account for them.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from sensor_msgs.msg import PointField
from visualization_msgs.msg import Marker, MarkerArray

from rcmcl_ros.conversions import numpy_to_image, seconds_to_stamp, skeleton_to_markers, xyz_to_pointcloud2

STREAMS = ("rgb", "depth", "points", "skeleton")
HUGE = 2**32 - 1
"""Largest uint32 header value."""
STAMP_REASONS = ("stamp_unset", "stamp_future", "stamp_past")

Draw = tuple[Any, "str | None"]      # (message, expected drop reason or None)


# -- images ------------------------------------------------------------------------------------------
def _colour(rng: np.random.Generator, t: float, size: tuple[int, int] = (6, 8)) -> Any:
    return numpy_to_image(rng.integers(0, 256, (*size, 4), dtype=np.uint8), encoding="bgra8", stamp=t)


def _depth_mm(rng: np.random.Generator, t: float, size: tuple[int, int] = (6, 8)) -> Any:
    return numpy_to_image(rng.integers(500, 4000, size, dtype=np.uint16), encoding="16UC1", stamp=t)


def _image_kinds(native: Callable[[np.random.Generator, float], Any], wrong_kind: Callable) -> list[Callable]:
    def unknown_encoding(rng, t):
        msg = native(rng, t)
        msg.encoding = str(rng.choice(["yuv422", "bayer_rggb8", "8UC3", "16SC1", "", "bgra16", "jpeg", "\x00"]))
        return msg, "encoding"

    def other_kind(rng, t):
        return wrong_kind(rng, t), "encoding"

    def short_data(rng, t):
        msg = native(rng, t)
        msg.data = msg.data[: int(rng.integers(0, len(msg.data)))]
        return msg, "size"

    def long_data(rng, t):
        msg = native(rng, t)
        msg.data = bytes(msg.data) + bytes(int(rng.integers(1, 64)))
        return msg, "size"

    def step_too_small(rng, t):
        msg = native(rng, t)
        msg.step = int(rng.integers(0, msg.step))
        return msg, "size"

    def huge_dimensions(rng, t):
        msg = native(rng, t)
        msg.width, msg.height = int(rng.integers(1 << 16, HUGE)), int(rng.integers(1 << 16, HUGE))
        msg.step = msg.width * 4
        return msg, "limits"

    def zero_size(rng, t):
        msg = native(rng, t)
        msg.width, msg.height, msg.step, msg.data = 0, 0, 0, b""
        return msg, "size"

    return [unknown_encoding, other_kind, short_data, long_data, step_too_small, huge_dimensions, zero_size]


def _depth_content_kinds() -> list[Callable]:
    def all_nan(rng, t):
        value = rng.choice([np.nan, np.inf, -np.inf, -1.0])
        return numpy_to_image(np.full((6, 8), value, np.float32), encoding="32FC1", stamp=t), "nan"

    def all_zero(rng, t):
        return numpy_to_image(np.zeros((6, 8), np.uint16), encoding="16UC1", stamp=t), "nan"

    return [all_nan, all_zero]


# -- point clouds ------------------------------------------------------------------------------------
def _cloud(rng: np.random.Generator, t: float, count: int = 50) -> Any:
    points = rng.uniform((-1.0, -1.0, 1.0), (1.0, 1.0, 4.0), (count, 3)).astype(np.float32)
    return xyz_to_pointcloud2(points, stamp=t, layout="azure")


def _field(name: str, offset: int, datatype: int = PointField.FLOAT32) -> PointField:
    return PointField(name=name, offset=offset, datatype=datatype, count=1)


def _cloud_kinds() -> list[Callable]:
    def missing_field(rng, t):
        msg = _cloud(rng, t)
        keep = [f for f in msg.fields if f.name != str(rng.choice(["x", "y", "z"]))]
        msg.fields = keep
        return msg, "fields"

    def duplicated_field(rng, t):
        msg = _cloud(rng, t)
        msg.fields = list(msg.fields) + [_field(str(rng.choice(["x", "y", "z"])), 12)]
        return msg, "fields"

    def wrong_datatype(rng, t):
        msg = _cloud(rng, t)
        msg.fields = [_field("x", 0, int(rng.choice([1, 2, 3, 4, 5, 6, 8]))), _field("y", 4), _field("z", 8)]
        return msg, "encoding"

    def offset_outside_point(rng, t):
        msg = _cloud(rng, t)
        msg.fields = [_field("x", 0), _field("y", 4), _field("z", int(rng.integers(13, 1 << 20)))]
        return msg, "fields"

    def lying_length(rng, t):
        msg = _cloud(rng, t)
        msg.data = bytes(msg.data)[: int(rng.integers(0, len(msg.data)))]
        return msg, "size"

    def row_step_too_small(rng, t):
        msg = _cloud(rng, t)
        msg.row_step = int(rng.integers(0, msg.row_step))
        return msg, "size"

    def huge_dimensions(rng, t):
        msg = _cloud(rng, t)
        msg.width, msg.height = int(rng.integers(1 << 16, HUGE)), int(rng.integers(1 << 12, HUGE))
        return msg, "limits"

    def huge_point_step(rng, t):
        msg = _cloud(rng, t, count=1)
        msg.point_step = msg.row_step = int(rng.integers(1 << 13, 1 << 20))
        return msg, "limits"

    def empty(rng, t):
        return xyz_to_pointcloud2(np.zeros((0, 3), np.float32), stamp=t), "no_points_in_range"

    def all_nan(rng, t):
        return xyz_to_pointcloud2(np.full((20, 3), np.nan, np.float32), stamp=t), "no_points_in_range"

    def out_of_range(rng, t):
        value = float(rng.choice([1e30, 1e6, 0.0, np.inf]))
        return xyz_to_pointcloud2(np.full((20, 3), value, np.float32), stamp=t), "no_points_in_range"

    def single_point(rng, t):
        return xyz_to_pointcloud2(np.array([[0.1, 0.2, 2.0]], np.float32), stamp=t), None

    return [missing_field, duplicated_field, wrong_datatype, offset_outside_point, lying_length,
            row_step_too_small, huge_dimensions, huge_point_step, empty, all_nan, out_of_range, single_point]


# -- skeletons ---------------------------------------------------------------------------------------
def _bodies(rng: np.random.Generator, count: int) -> np.ndarray:
    joints = np.zeros((count, 32, 3))
    joints[..., 1] = np.linspace(-0.8, 0.8, 32)
    joints[..., 2] = 2.0 + rng.uniform(0, 1, (count, 1))
    return joints


def _skeleton_kinds() -> list[Callable]:
    def far_joints(rng, t):
        joints = _bodies(rng, 1)
        joints[0, int(rng.integers(0, 32))] = float(rng.choice([50.0, 1e6, -1e30]))
        return skeleton_to_markers(joints, stamp=t), "joints_out_of_range"

    def nan_joints(rng, t):
        joints = _bodies(rng, 1)
        joints[0, 26] = rng.choice([np.nan, np.inf])      # the head, which NTU-25 needs
        return skeleton_to_markers(joints, stamp=t), "joints_out_of_range"

    def unknown_ids(rng, t):
        msg = skeleton_to_markers(_bodies(rng, 1), stamp=t)
        for marker in msg.markers:
            marker.id = int(rng.choice([-1, -2**31, 2**31 - 1, 99, 132, 150]))
        return msg, None                                   # no usable body: an untracked frame

    def many_bodies(rng, t):
        return skeleton_to_markers(_bodies(rng, int(rng.integers(3, 7))), stamp=t), None

    def incomplete_body(rng, t):
        msg = skeleton_to_markers(_bodies(rng, 1), stamp=t)
        msg.markers = msg.markers[: int(rng.integers(0, 31))]
        return msg, None

    def delete_all(rng, t):
        marker = Marker(action=Marker.DELETEALL)
        marker.header.stamp = seconds_to_stamp(t)
        return MarkerArray(markers=[marker]), None

    return [far_joints, nan_joints, unknown_ids, many_bodies, incomplete_body, delete_all]


# -- stamps on well-formed content -------------------------------------------------------------------
def _wellformed(stream: str, rng: np.random.Generator, t: float) -> Any:
    if stream == "rgb":
        return _colour(rng, t)
    if stream == "depth":
        return _depth_mm(rng, t)
    if stream == "points":
        return _cloud(rng, t)
    return skeleton_to_markers(_bodies(rng, 1), stamp=t)


def _stamp_kinds(stream: str) -> list[Callable]:
    def unset(rng, t):
        return _wellformed(stream, rng, 0.0), "stamp_unset"

    def far_future(rng, t):
        return _wellformed(stream, rng, t + float(rng.uniform(60.0, 1e6))), "stamp_future"

    def far_past(rng, t):
        return _wellformed(stream, rng, max(1e-3, t - float(rng.uniform(60.0, 1e3)))), "stamp_past"

    def backwards(rng, t):
        return _wellformed(stream, rng, t - float(rng.uniform(1.5, 4.0))), None

    def near_future(rng, t):                               # within max_future_s: accepted, must not stall sets
        return _wellformed(stream, rng, t + float(rng.uniform(0.2, 0.9))), None

    def duplicate(rng, t):
        return _wellformed(stream, rng, t), None

    return [unset, far_future, far_past, backwards, near_future, duplicate]


KINDS: dict[str, list[Callable]] = {
    "rgb": _image_kinds(_colour, _depth_mm) + _stamp_kinds("rgb"),
    "depth": _image_kinds(_depth_mm, _colour) + _depth_content_kinds() + _stamp_kinds("depth"),
    "points": _cloud_kinds() + _stamp_kinds("points"),
    "skeleton": _skeleton_kinds() + _stamp_kinds("skeleton"),
}
"""stream -> message makers (rng, t_s) -> (msg, expected drop reason or None)."""


def hostile_message(rng: np.random.Generator, stream: str, t_s: float) -> Draw:
    """One malformed or hostile message for `stream`, stamped relative to `t_s` (sensor seconds)."""
    kinds = KINDS[stream]
    return kinds[int(rng.integers(len(kinds)))](rng, float(t_s))

