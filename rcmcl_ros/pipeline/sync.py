"""Robust approximate-time synchroniser over (stamp_s, payload) pairs (docs/ARCHITECTURE.md, "Sync and windowing").

message_filters' ApproximateTimeSynchronizer emits nothing when one input stops, exactly when RCMCL
matters. This one keeps a bounded, stamp-sorted buffer per stream and, for each message of a reference
stream, emits a set holding the nearest message of every other stream within `slop_s`, or None for a
stream that had nothing close enough once `max_wait_s` passed the reference stamp, or that is dead (no
data for `stale_after_s`). The reference is `config.reference` while it is alive, else the first alive
stream, so sets keep coming when the camera dies. Pure Python, no ROS import, no wall clock: the output
depends only on the calls, so it is deterministic and testable with synthetic stamps.

A set is emitted early once every other alive stream has sent a message at or after its stamp (streams
are assumed in order; messages reordered before that are handled). A stream that has sent nothing yet is
not waited for, so the very first set after start-up may miss a stream whose first message is in flight.

Clock: `now_s` and stamps are on the same clock. The node passes ROS time (choose max_wait_s above the
driver's stamp-to-arrival latency); a bag evaluator passes the newest message stamp.

Late streams: when push() is given the arrival time, the synchroniser learns each stream's arrival delay
(arrival - stamp; the DELAY_QUANTILE of its last DELAY_HISTORY messages) and a set waits for a stream that
has not reached its stamp for max(max_wait_s, that delay + DELAY_MARGIN_S), capped at max_stream_delay_s.
So a skeleton stream that body tracking publishes 250 ms after its images still joins its sets, while the
other streams keep max_wait_s. Without arrival times (bag evaluation) nothing is learned.

Time going back (a bag loop, a clock reset) resets everything: when `now_s` goes back by more than
`reset_backwards_s`, or when `confirm_backwards` messages in a row of one stream do. A message that goes
back alone is held and, once its stream carries on forward, counted as late: one forged or stale stamp
must not wipe the windows of a live node (with a 2 s window that would cost ~2 s of decisions).
"""
from __future__ import annotations

import bisect
import math
import threading
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from rcmcl_core.windowing import went_back

STAMP_TOLERANCE_S = 1e-9
DELAY_HISTORY = 32
"""Arrival delays remembered per stream (about 1 s at 30 Hz, 6 s at 5 Hz)."""
DELAY_QUANTILE = 0.9
DELAY_MARGIN_S = 0.02
"""Added to the learned delay: a set waits this long past the usual arrival of the late stream."""
"""Float slack when comparing |dt| with slop_s, so a stamp exactly slop_s away counts as within."""

Frame = tuple[float, Any]


@dataclass
class SyncConfig:
    """Synchroniser settings; seconds on the stamps' clock."""

    streams: tuple[str, ...] = ("rgb", "depth", "points", "skeleton")
    reference: str = "rgb"           # preferred reference stream; falls back to the first alive stream
    slop_s: float = 0.05             # max |stamp - reference stamp| for a message to join a set
    max_wait_s: float = 0.1          # how long past the reference stamp to wait for a late stream
    stale_after_s: float = 0.5       # a stream with no message this long is dead (absent, not waited for);
                                     # short enough that a dead camera stalls decisions for <= 0.5 s, long
                                     # enough for a 5 fps driver (0.2 s between frames) to stay alive
    buffer_size: int = 64            # messages kept per stream (oldest dropped first)
    reset_backwards_s: float = 1.0   # stamps or now going back more than this reset everything
    confirm_backwards: int = 3       # ... once this many messages in a row of one stream went back (or now
                                     # did): one late or forged message is dropped, not taken for a bag loop
    max_stream_delay_s: float = 0.5  # a stream that steadily arrives late (CPU body tracking: 100-300 ms
                                     # after its images) is waited for up to its learned delay, at most this
                                     # long; 0 = every stream gets max_wait_s only

    def __post_init__(self) -> None:
        if isinstance(self.streams, str) or not isinstance(self.streams, (tuple, list)):
            raise ValueError(f"SyncConfig.streams must be a sequence of names, got {self.streams!r}")
        self.streams = tuple(self.streams)
        if not self.streams or not all(isinstance(s, str) and s for s in self.streams):
            raise ValueError(f"SyncConfig.streams must be non-empty names, got {self.streams!r}")
        if len(set(self.streams)) != len(self.streams):
            raise ValueError(f"SyncConfig.streams must be unique, got {self.streams!r}")
        if self.reference not in self.streams:
            raise ValueError(f"SyncConfig.reference must be one of streams {self.streams}, "
                             f"got {self.reference!r}")
        for name in ("slop_s", "max_wait_s", "max_stream_delay_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"SyncConfig.{name} must be a finite number >= 0, got {value!r}")
        for name in ("stale_after_s", "reset_backwards_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"SyncConfig.{name} must be a finite number > 0, got {value!r}")
        if isinstance(self.buffer_size, bool) or not isinstance(self.buffer_size, int) or self.buffer_size < 2:
            raise ValueError(f"SyncConfig.buffer_size must be an integer >= 2, got {self.buffer_size!r}")
        if isinstance(self.confirm_backwards, bool) or not isinstance(self.confirm_backwards, int) \
                or not 1 <= self.confirm_backwards <= self.buffer_size:
            raise ValueError(f"SyncConfig.confirm_backwards must be an integer in [1, buffer_size], "
                             f"got {self.confirm_backwards!r}")


@dataclass(frozen=True)
class SyncedSet:
    """One synchronised set: frames[stream] is (stamp_s, payload), or None when absent."""

    stamp_s: float
    frames: dict[str, Frame | None]
    reference: str

    @property
    def present(self) -> dict[str, bool]:
        return {stream: frame is not None for stream, frame in self.frames.items()}


@dataclass
class StreamStats:
    """Counters of one stream since construction (resets do not clear them)."""

    received: int = 0        # push() calls
    used: int = 0            # messages that went into at least one set
    dropped_late: int = 0    # arrived too old to join any future set
    duplicates: int = 0      # same stamp as a recent message of the stream
    overflow: int = 0        # pushed out of the full buffer before use
    alive: bool = False      # as of the last poll()
    last_stamp_s: float | None = None


@dataclass
class SyncStats:
    """Snapshot of the synchroniser's counters."""

    streams: dict[str, StreamStats] = field(default_factory=dict)
    sets: int = 0
    resets: int = 0
    reference: str | None = None            # reference used by the last poll()
    reference_switches: int = 0

    @property
    def alive(self) -> dict[str, bool]:
        return {name: stats.alive for name, stats in self.streams.items()}


class _Message:
    __slots__ = ("stamp", "payload", "used")

    def __init__(self, stamp: float, payload: Any) -> None:
        self.stamp, self.payload, self.used = stamp, payload, False


class Synchroniser:
    """Thread-safe: push() from subscription callbacks, poll() from a timer or worker; both hold one lock
    for O(buffer_size) work at most."""

    def __init__(self, *, config: SyncConfig | None = None) -> None:
        self.config = config if config is not None else SyncConfig()
        self._lock = threading.Lock()
        self._stats = {name: StreamStats() for name in self.config.streams}
        self._sets = self._resets = self._switches = 0
        self._reference: str | None = None
        self._clear()

    # -- input -----------------------------------------------------------------------------------
    def push(self, stream: str, stamp_s: float, payload: Any, *, arrival_s: float | None = None) -> None:
        """Add one message. arrival_s: when it arrived, on the stamps' clock (learns the stream's delay; see
        the module docstring). Unknown stream or non-finite stamp -> ValueError."""
        if stream not in self._stats:
            raise ValueError(f"unknown stream {stream!r}; expected one of {self.config.streams}")
        stamp_s = float(stamp_s)
        if not math.isfinite(stamp_s):
            raise ValueError(f"stamp of stream {stream!r} must be finite, got {stamp_s!r}")
        with self._lock:
            self._stats[stream].received += 1
            if arrival_s is not None and math.isfinite(arrival_s) and self.config.max_stream_delay_s > 0:
                self._delays[stream].append(max(0.0, float(arrival_s) - stamp_s))
            held = self._held[stream]
            if went_back(stamp_s, self._max_stamp, by_more_than_s=self.config.reset_backwards_s):
                held.append((stamp_s, payload))               # a bag loop / clock reset, or one late message
                if len(held) >= self.config.confirm_backwards:
                    self._restart_locked()
                return
            if held:                                          # the stream went on forward: those were late
                self._stats[stream].dropped_late += len(held)
                held.clear()
            self._push_locked(stream, stamp_s, payload)

    def _push_locked(self, stream: str, stamp_s: float, payload: Any) -> None:
        """Buffer one message on the current timeline (lock held): duplicates and late ones are counted."""
        stats = self._stats[stream]
        key = round(stamp_s * 1e9)
        seen = self._seen_keys[stream]
        if key in seen:
            stats.duplicates += 1
            return
        if len(self._seen_order[stream]) == self._seen_order[stream].maxlen:
            seen.discard(self._seen_order[stream][0])
        self._seen_order[stream].append(key)
        seen.add(key)
        if self._last_emitted is not None and stamp_s < self._last_emitted - self.config.slop_s:
            stats.dropped_late += 1
            self._note_latest(stream, stamp_s)   # late, but alive: later sets wait for it (learned delay)
            return
        buffer = self._buffers[stream]
        message = _Message(stamp_s, payload)
        if not buffer or stamp_s >= buffer[-1].stamp:
            buffer.append(message)
        else:
            buffer.insert(bisect.bisect_right(buffer, stamp_s, key=_stamp), message)
        if len(buffer) > self.config.buffer_size:
            stats.overflow += int(not buffer.pop(0).used)
        self._note_latest(stream, stamp_s)

    def _note_latest(self, stream: str, stamp_s: float) -> None:
        latest = self._latest[stream]
        self._latest[stream] = stamp_s if latest is None else max(latest, stamp_s)
        self._max_stamp = stamp_s if self._max_stamp is None else max(self._max_stamp, stamp_s)
        self._stats[stream].last_stamp_s = self._latest[stream]

    # -- output ----------------------------------------------------------------------------------
    def poll(self, now_s: float) -> list[SyncedSet]:
        """Sets ready at time now_s, in stamp order (each reference message yields at most one set)."""
        now_s = float(now_s)
        if not math.isfinite(now_s):
            raise ValueError(f"now_s must be finite, got {now_s!r}")
        with self._lock:
            if went_back(now_s, self._last_now, by_more_than_s=self.config.reset_backwards_s):
                self._restart_locked()
            self._last_now = now_s
            return self._emit_locked(now_s, force=False)

    def flush(self) -> list[SyncedSet]:
        """Emit every pending reference message now, without waiting (end of a bag). Liveness is judged
        at the last poll() time."""
        with self._lock:
            if self._last_now is None and self._max_stamp is None:
                return []
            now_s = self._last_now if self._last_now is not None else self._max_stamp
            return self._emit_locked(now_s, force=True)

    def reset(self) -> None:
        """Drop all buffered messages and timing state (counted in stats.resets)."""
        with self._lock:
            self._reset_locked()

    @property
    def stats(self) -> SyncStats:
        with self._lock:
            return SyncStats(streams={name: replace(s) for name, s in self._stats.items()}, sets=self._sets,
                             resets=self._resets, reference=self._reference,
                             reference_switches=self._switches)

    # -- internals (lock held) -------------------------------------------------------------------
    def _clear(self) -> None:
        names = self.config.streams
        self._buffers: dict[str, list[_Message]] = {name: [] for name in names}
        self._latest: dict[str, float | None] = {name: None for name in names}
        self._seen_keys: dict[str, set[int]] = {name: set() for name in names}
        self._seen_order: dict[str, deque[int]] = {name: deque(maxlen=self.config.buffer_size) for name in names}
        self._held: dict[str, list[Frame]] = {name: [] for name in names}   # went back; see push()
        self._delays: dict[str, deque[float]] = {name: deque(maxlen=DELAY_HISTORY) for name in names}
        self._last_emitted: float | None = None
        self._max_stamp: float | None = None
        self._last_now: float | None = None
        for stats in self._stats.values():
            stats.alive, stats.last_stamp_s = False, None

    def _reset_locked(self) -> None:
        self._resets += 1
        self._clear()

    def _restart_locked(self) -> None:
        """The clock went back: reset, then push the messages held as the first ones of the new timeline."""
        held = sorted(((stamp, stream, payload) for stream, frames in self._held.items()
                       for stamp, payload in frames), key=lambda item: (item[0], item[1]))
        self._reset_locked()
        for stamp, stream, payload in held:
            self._push_locked(stream, stamp, payload)

    def _alive(self, now_s: float) -> dict[str, bool]:
        return {name: latest is not None and now_s - latest <= self.config.stale_after_s
                for name, latest in self._latest.items()}

    def _choose_reference(self, alive: dict[str, bool]) -> str | None:
        if alive[self.config.reference]:
            return self.config.reference
        return next((name for name in self.config.streams if alive[name]), None)

    def _emit_locked(self, now_s: float, *, force: bool) -> list[SyncedSet]:
        alive = self._alive(now_s)
        for name, is_alive in alive.items():
            self._stats[name].alive = is_alive
        reference = self._choose_reference(alive)
        if reference != self._reference and self._reference is not None and reference is not None:
            self._switches += 1
        if reference is not None:
            self._reference = reference
        if reference is None:
            return []
        out = []
        for message in list(self._buffers[reference]):
            stamp = message.stamp
            if self._last_emitted is not None and stamp <= self._last_emitted:
                continue
            if not force and not self._ready(stamp, reference, alive, now_s):
                break                                   # later references cannot be ready before this one
            frames: dict[str, Frame | None] = {}
            for name in self.config.streams:
                match = message if name == reference else self._nearest(name, stamp)
                if match is not None and not match.used:
                    match.used = True
                    self._stats[name].used += 1
                frames[name] = None if match is None else (match.stamp, match.payload)
            out.append(SyncedSet(stamp_s=stamp, frames=frames, reference=reference))
            self._last_emitted = stamp
        if out:
            self._sets += len(out)
            self._prune(self._last_emitted - self.config.slop_s)
        return out

    def _ready(self, stamp: float, reference: str, alive: dict[str, bool], now_s: float) -> bool:
        """A set is ready once max_wait passed, or when every other alive stream has reached the reference
        stamp (with per-stream order, nothing nearer can still come). A fallback reference always waits
        max_wait, so the preferred one can take over first (e.g. at start-up, when depth comes first)."""
        if reference != self.config.reference:
            return now_s >= stamp + self.config.max_wait_s
        waiting_for = [name for name in self.config.streams
                       if name != reference and alive[name] and self._latest[name] < stamp]
        return not waiting_for or now_s >= stamp + max(self.wait_s(name) for name in waiting_for)

    def wait_s(self, stream: str) -> float:
        """How long past a reference stamp a set waits for `stream`: max_wait_s, or its learned arrival delay
        + DELAY_MARGIN_S when that is longer, capped at max_stream_delay_s."""
        delays = self._delays[stream]
        if not delays or self.config.max_stream_delay_s <= 0:
            return self.config.max_wait_s
        ordered = sorted(delays)
        learned = ordered[min(len(ordered) - 1, int(DELAY_QUANTILE * len(ordered)))] + DELAY_MARGIN_S
        return max(self.config.max_wait_s, min(learned, self.config.max_stream_delay_s))

    def _nearest(self, stream: str, stamp: float) -> _Message | None:
        buffer = self._buffers[stream]
        index = bisect.bisect_left(buffer, stamp, key=_stamp)
        best = None
        for candidate in buffer[max(index - 1, 0):index + 1]:   # earlier one first: ties go to it
            if best is None or abs(candidate.stamp - stamp) < abs(best.stamp - stamp):
                best = candidate
        if best is None or abs(best.stamp - stamp) > self.config.slop_s + STAMP_TOLERANCE_S:
            return None
        return best

    def _prune(self, oldest_useful: float) -> None:
        """Forget messages too old to be within slop of any future reference."""
        for buffer in self._buffers.values():
            cut = bisect.bisect_left(buffer, oldest_useful - STAMP_TOLERANCE_S, key=_stamp)
            if cut:
                del buffer[:cut]


def _stamp(message: _Message) -> float:
    return message.stamp
