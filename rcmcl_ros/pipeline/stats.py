"""Counters of a Pipeline: messages and drops by reason per stream, input rates, sets, windows, replaced
windows, decisions and latency percentiles. Thread-safe (callbacks, timer and worker all count)."""
from __future__ import annotations

import math
import threading
from collections import Counter, deque
from typing import Any, Iterable

import numpy as np

LATENCY_PERCENTILES = (50, 95)


class PipelineStats:
    """rates_hz over the last `rate_window_s` of sensor time; latency over the last `latency_history`."""

    def __init__(self, *, streams: Iterable[str], latency_history: int, rate_window_s: float) -> None:
        self.streams = tuple(streams)
        self.rate_window_s = float(rate_window_s)
        self._latency_history = int(latency_history)
        self._lock = threading.Lock()
        self.received: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.drops: Counter[str] = Counter()          # "stream/reason" -> count
        self.skipped: Counter[str] = Counter()        # received, not converted: no window would use it
        self.rejected: Counter[str] = Counter()       # "modality/reason": accepted frames the health rules reject
        self.sets = 0
        self.windows = 0
        self.replaced = 0
        self.decisions = 0
        self._stamps: dict[str, deque] = {s: deque() for s in self.streams}
        self._first: dict[str, float] = {}
        self._latency: dict[str, deque] = {}

    def count_message(self, stream: str, *, stamp_s: float, drop: str | None) -> None:
        with self._lock:
            self.received[stream] += 1
            if drop is not None:
                self.drops[f"{stream}/{drop}"] += 1
                return
            self.accepted[stream] += 1
            self._note_rate(stream, stamp_s)

    def count_rejected(self, modality: str, reason: str) -> None:
        """A converted frame the sensor-health rules reject ('rgbd/repeated', 'skeleton/jump'). Its message was
        counted received and accepted at ingest, so it is kept apart from the message drops (which, with the
        accepted and skipped, add up to the received)."""
        with self._lock:
            self.rejected[f"{modality}/{reason}"] += 1

    def _note_rate(self, stream: str, stamp_s: float) -> None:
        """Under self._lock: one more message stamped stamp_s for rates_hz."""
        stamps = self._stamps.setdefault(stream, deque())
        stamps.append(stamp_s)
        self._first.setdefault(stream, stamp_s)
        while stamps and stamps[0] < stamp_s - self.rate_window_s:
            stamps.popleft()
        if stamps and stamp_s < stamps[0]:   # time went backwards: restart the estimate
            stamps.clear()
            stamps.append(stamp_s)
            self._first[stream] = stamp_s

    def count_skipped(self, stream: str, *, stamp_s: float | None) -> None:
        """A message received but not converted (the node's input gate: more frames than windows use). It
        counts towards the input rate (the camera's health), not towards `accepted`."""
        with self._lock:
            self.received[stream] += 1
            self.skipped[stream] += 1
            if stamp_s is not None and math.isfinite(stamp_s):
                self._note_rate(stream, stamp_s)

    def count_sets(self, sets: int, *, windows: int) -> None:
        with self._lock:
            self.sets += sets
            self.windows += windows

    def count_replaced(self, windows: int = 1) -> None:
        """Windows that were never inferred because a newer one took their place in the queue."""
        with self._lock:
            self.replaced += windows

    def count_decision(self, latency: dict[str, float]) -> None:
        with self._lock:
            self.decisions += 1
            for name, seconds in latency.items():
                self._record(name, seconds)

    def record_latency(self, name: str, seconds: float) -> None:
        with self._lock:
            self._record(name, seconds)

    def _record(self, name: str, seconds: float) -> None:
        self._latency.setdefault(name, deque(maxlen=self._latency_history)).append(float(seconds))

    def rates_hz(self, now_s: float) -> dict[str, float]:
        """Accepted messages per second of sensor time, per stream (0 for a silent stream)."""
        out = {}
        with self._lock:
            for stream in self.streams:
                stamps = [s for s in self._stamps.get(stream, ()) if now_s - self.rate_window_s < s <= now_s + 1.0]
                span = min(self.rate_window_s, now_s - self._first.get(stream, now_s))
                out[stream] = len(stamps) / span if stamps and span > 0 else 0.0
        return out

    def latency(self) -> dict[str, dict[str, float]]:
        """{part: {"p50": s, "p95": s, "count": n}} over the recent decisions."""
        with self._lock:
            parts = {name: np.array(values) for name, values in self._latency.items() if values}
        return {name: {**{f"p{q}": float(np.percentile(values, q)) for q in LATENCY_PERCENTILES},
                       "count": float(len(values))} for name, values in parts.items()}

    def snapshot(self, now_s: float) -> dict[str, Any]:
        rates = self.rates_hz(now_s)
        latency = self.latency()
        with self._lock:
            return {"received": dict(self.received), "accepted": dict(self.accepted), "drops": dict(self.drops),
                    "skipped": dict(self.skipped), "rejected": dict(self.rejected),
                    "drops_total": sum(self.drops.values()), "rates_hz": rates, "sets": self.sets,
                    "windows": self.windows, "replaced": self.replaced, "decisions": self.decisions,
                    "latency": latency}
