"""Where a decision's node-added latency goes: timestamps per stage inside the node (issue 15).

The node-added latency of a decision is its publish time minus the arrival (callback entry) of the newest
input its window uses. `StageClock` remembers, per message stamp, when the last message with that stamp
entered a callback and when the last one was converted and pushed. With the window's newest frame stamp, the
stamp of the set that completed the window (`Window.closed_by_s`) and the moments the window was built,
inferred and published, `stages` splits that latency into consecutive parts (seconds, time.perf_counter):

| stage                 | from                                   | to                                          |
|-----------------------|----------------------------------------|---------------------------------------------|
| wait_completing_s     | arrival of the newest input used       | arrival of the completing set's last message |
| convert_completing_s  | that arrival                           | that message deserialised, converted, pushed |
| sync_s                | the completing set pushed              | the window built (see below)                |
| queue_s               | the window built                       | inference starts (behind the previous one)   |
| inference_s           | inference starts                       | inference ends                              |
| publish_s             | inference ends                         | every output published                      |
| node_adds_s           | arrival of the newest input used       | every output published (the sum of the above) |

sync_s covers the synchroniser's wait for the set's other streams (a frame lost upstream is waited for up to
max_wait_s, or until that stream's next frame), the poll and the window build. wait_completing_s is 0 when
the newest input used completes the window. A stamp no longer remembered (more than `keep` stamps ago) gives
NaN for the stages that need it.
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict

STAGES = ("wait_completing_s", "convert_completing_s", "sync_s", "queue_s", "inference_s", "publish_s",
          "node_adds_s")
STAMPS_KEPT = 1024
"""Stamps remembered (about 8 s of four 30 Hz streams stamped alike)."""


def stamp_key(stamp_s: float) -> int:
    """Stamps that are equal to a microsecond share a key (streams of one capture carry the same stamp)."""
    return round(stamp_s * 1e6)


class StageClock:
    """Thread-safe: `arrived` / `pushed` from callbacks, `stages` from the inference worker."""

    def __init__(self, *, keep: int = STAMPS_KEPT) -> None:
        self._keep = int(keep)
        self._arrived: OrderedDict[int, float] = OrderedDict()
        self._pushed: OrderedDict[int, float] = OrderedDict()
        self._lock = threading.Lock()

    def arrived(self, stamp_s: float, at: float) -> None:
        """A message stamped stamp_s entered its callback at perf_counter time `at`."""
        self._note(self._arrived, stamp_s, at)

    def pushed(self, stamp_s: float, at: float) -> None:
        """A message stamped stamp_s was converted and pushed into the synchroniser at `at`."""
        self._note(self._pushed, stamp_s, at)

    def _note(self, table: OrderedDict[int, float], stamp_s: float, at: float) -> None:
        if not math.isfinite(stamp_s):
            return
        key = stamp_key(stamp_s)
        with self._lock:
            table[key] = at
            table.move_to_end(key)
            while len(table) > self._keep:
                table.popitem(last=False)

    def stages(self, *, newest_s: float, completed_by_s: float, built: float, queue_s: float,
               inference_s: float, published: float) -> dict[str, float]:
        """STAGES in seconds for one decision (see the module table); NaN where a stamp is not remembered."""
        with self._lock:
            newest = self._arrived.get(stamp_key(newest_s), math.nan) if math.isfinite(newest_s) else math.nan
            closing_in = (self._arrived.get(stamp_key(completed_by_s), math.nan)
                          if math.isfinite(completed_by_s) else math.nan)
            closing_done = (self._pushed.get(stamp_key(completed_by_s), math.nan)
                            if math.isfinite(completed_by_s) else math.nan)
        closing_in = max(closing_in, newest) if math.isfinite(newest) else closing_in
        inference_end = built + queue_s + inference_s
        return {"wait_completing_s": closing_in - newest, "convert_completing_s": closing_done - closing_in,
                "sync_s": built - closing_done, "queue_s": queue_s, "inference_s": inference_s,
                "publish_s": published - inference_end, "node_adds_s": published - newest}
