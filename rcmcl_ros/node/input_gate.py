"""Which incoming messages the node converts: a per-stream stamp grid, read before deserialisation.

The model sees T frames over window_s seconds (lite: 8 over 1 s, ~7 frames/s); a 30 Hz camera sends four
times that, and converting (or even deserialising) an 11.8 MB point cloud that no window will use costs
CPU the node needs for the frames it does use. `InputGate` keeps, per stream, the first usable message of
every slot of sensor time (slots are multiples of the period, so streams stamped alike keep the same
frames and still pair). `serialized_stamp_s` reads the header stamp straight from the CDR bytes a raw
subscription delivers, so a skipped message is never deserialised.

Given the window stride, the slots start at the window ends (window.py: ends are multiples of stride_s):
the period is stride_s / n, n = round(rate_hz * stride_s) and at least 1 (10 Hz with the 0.1333 s stride:
n = 1, 7.5 Hz). So the first frame kept in a slot is the first frame at or after a window end: it both
completes that window and is its nearest frame to the end target, and the window is inferred as soon as it
arrives (a grid not aligned with the ends kept a frame up to one period after the end and completed the
window only then: up to 100 ms of waiting at 10 Hz). The other targets have a kept frame within
stride_s / (2 n) (67 ms at 7.5 Hz, far inside max_gap_s).
"""
from __future__ import annotations

import math
import struct
import threading

CDR_HEADER_BYTES = 4
"""Encapsulation header of a serialised message: representation id (2 bytes) + options (2 bytes)."""


def serialized_stamp_s(data: bytes, *, markers: bool = False) -> float | None:
    """header.stamp (s) of a CDR-serialised message whose first field is std_msgs/Header (Image,
    CompressedImage, PointCloud2, CameraInfo), or, with markers=True, of a MarkerArray's first marker.
    None when it cannot be read (too short, an empty MarkerArray, an unknown encapsulation)."""
    if len(data) < CDR_HEADER_BYTES + 8:
        return None
    representation = data[1]
    if data[0] != 0 or representation not in (0, 1, 2, 3, 6, 7, 8, 9, 10, 11):
        return None
    endian = "<" if representation & 1 else ">"
    offset = CDR_HEADER_BYTES
    if markers:
        if len(data) < offset + 12:
            return None
        (count,) = struct.unpack_from(endian + "I", data, offset)
        if count == 0:
            return None
        offset += 4
        if representation >= 6:          # XCDR2 appendable struct: a DHEADER precedes the element
            offset += 4
            if len(data) < offset + 8:
                return None
    sec, nanosec = struct.unpack_from(endian + "iI", data, offset)
    return sec + nanosec * 1e-9


SLOT_EPS = 1e-6
"""Fraction of a slot by which a stamp may fall short of the slot start (float rounding of k * stride_s)."""


def gate_period_s(rate_hz: float, *, stride_s: float | None = None) -> float:
    """The gate's slot length: 1 / rate_hz, or with stride_s the whole fraction stride_s / n nearest to it
    (n >= 1: one frame per window end at least), so slots start at window ends. 0 when rate_hz <= 0 (off)."""
    if not rate_hz > 0:
        return 0.0
    if stride_s is None or not stride_s > 0:
        return 1.0 / rate_hz
    return stride_s / max(1, round(rate_hz * stride_s))


class InputGate:
    """Thread-safe. rate_hz <= 0 keeps every message. stride_s: the windows' stride, to align the slots with
    the window ends (module docstring); None: a plain 1 / rate_hz grid."""

    def __init__(self, rate_hz: float, *, stride_s: float | None = None) -> None:
        self.period_s = gate_period_s(rate_hz, stride_s=stride_s)
        self._last_slot: dict[str, int] = {}
        self._lock = threading.Lock()

    def keep(self, stream: str, stamp_s: float | None) -> bool:
        """True unless `stream` already used a message of the slot of `stamp_s` (see `used`). Unreadable
        stamps and a gate that is off keep everything, so bad messages are still converted and counted."""
        slot = self._slot(stamp_s)
        if slot is None:
            return True
        with self._lock:
            return self._last_slot.get(stream) != slot

    def used(self, stream: str, stamp_s: float | None) -> None:
        """`stream`'s message stamped `stamp_s` was converted and pushed: later ones of its slot are skipped.
        Only a used message closes a slot, so a malformed message cannot shadow the good frame of its slot;
        a slot before the last used one (a bag loop, a clock reset) simply becomes the last used."""
        slot = self._slot(stamp_s)
        if slot is not None:
            with self._lock:
                self._last_slot[stream] = slot

    def _slot(self, stamp_s: float | None) -> int | None:
        if self.period_s <= 0 or stamp_s is None or not math.isfinite(stamp_s) or stamp_s <= 0:
            return None
        return math.floor(stamp_s / self.period_s + SLOT_EPS)
