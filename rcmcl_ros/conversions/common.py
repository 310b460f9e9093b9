"""What every message <-> numpy conversion shares: the error type, size limits, byte views of
`data` fields and header stamps.

Messages are read by attribute (duck typing), so rclpy messages and rosbags-deserialised ones both work.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

REASONS = ("encoding", "size", "limits", "fields", "data", "nan")
"""Machine-readable values of ConversionError.reason, so a node can count drops by kind:
encoding = unknown or wrong pixel/field type; size = header and data length disagree; limits = a header
asks for more than ConversionLimits allows; fields = PointCloud2 field list unusable; data = the data
field is not a byte buffer; nan = nothing valid left (e.g. a depth frame with no valid pixel)."""


class ConversionError(ValueError):
    """A message cannot be converted. `reason` is one of REASONS; the text says what was expected."""

    def __init__(self, message: str, *, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"ConversionError reason must be one of {REASONS}, got {reason!r}")
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ConversionLimits:
    """Caps that keep a lying header from triggering a giant allocation or a long Python loop."""

    max_pixels: int = 4096 * 4096            # width * height of one image
    max_cloud_points: int = 4096 * 4096      # width * height of one PointCloud2
    max_point_step: int = 4096               # bytes per point
    max_markers: int = 10_000                # markers in one MarkerArray
    min_valid_depth_fraction: float = 0.0    # depth frames with valid fraction <= this are rejected ("nan")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "min_valid_depth_fraction":
                if not 0.0 <= value < 1.0:
                    raise ValueError(f"ConversionLimits.{f.name} must be in [0, 1), got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ConversionLimits.{f.name} must be a positive integer, got {value!r}")


DEFAULT_LIMITS = ConversionLimits()


def byte_view(data: Any, *, what: str) -> np.ndarray:
    """(L,) uint8 view of a message `data` field (array.array, bytes, memoryview, numpy) without copying;
    a list of ints is copied. Raises ConversionError(reason="data") for anything else."""
    if isinstance(data, np.ndarray):
        if data.ndim != 1 or not data.flags.c_contiguous:
            data = np.ascontiguousarray(data).reshape(-1)
        return data.view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:
        pass
    try:
        return np.asarray(data, dtype=np.uint8).reshape(-1)
    except (TypeError, ValueError, OverflowError) as error:
        raise ConversionError(f"{what} data must be a byte buffer, got {type(data).__name__}",
                              reason="data") from error


def header_int(value: Any, *, name: str, what: str, reason: str = "size") -> int:
    """A non-negative integer header field, or ConversionError(reason=reason)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConversionError(f"{what} {name} must be a non-negative integer, got {value!r}", reason=reason)
    return int(value)


def stamp_to_seconds(stamp: Any) -> float:
    """builtin_interfaces/Time (sec, nanosec), a Header, or float seconds -> float seconds."""
    if hasattr(stamp, "stamp"):
        stamp = stamp.stamp
    if hasattr(stamp, "sec"):
        return float(stamp.sec) + float(stamp.nanosec) * 1e-9
    return float(stamp)


def seconds_to_stamp(stamp: Any) -> Any:
    """float seconds (>= 0) or a Time-like object -> builtin_interfaces.msg.Time."""
    from builtin_interfaces.msg import Time

    if hasattr(stamp, "sec") and hasattr(stamp, "nanosec"):
        return Time(sec=int(stamp.sec), nanosec=int(stamp.nanosec))
    seconds = float(stamp)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"stamp must be finite seconds >= 0, got {stamp!r}")
    sec = int(math.floor(seconds))
    nanosec = int(round((seconds - sec) * 1e9))
    if nanosec >= 1_000_000_000:        # rounding carried into the next second
        sec, nanosec = sec + 1, nanosec - 1_000_000_000
    return Time(sec=sec, nanosec=nanosec)


def make_header(stamp: Any, frame_id: str) -> Any:
    """std_msgs/Header from float seconds (or a Time) and a frame id."""
    from std_msgs.msg import Header

    return Header(stamp=seconds_to_stamp(stamp), frame_id=str(frame_id))


def to_byte_array(array: np.ndarray) -> Any:
    """Contiguous numpy array -> array.array('B') for a message `data` field (one copy; rclpy accepts an
    array.array without its per-element check)."""
    import array as _array

    out = _array.array("B")
    out.frombytes(memoryview(np.ascontiguousarray(array).reshape(-1).view(np.uint8)))
    return out
