"""A one-slot queue between a callback thread and a worker: the newest item wins."""
from __future__ import annotations

import threading
from typing import Any


class LatestSlot:
    """`put` replaces what is there (the newest window or round wins), `take` waits for an item. The node's
    single-person and per-person workers each read one."""

    def __init__(self) -> None:
        self._item: Any = None
        self._ready = threading.Condition()

    def put(self, item: Any) -> bool:
        """Store item; True when it replaced one that was never taken."""
        with self._ready:
            replaced = self._item is not None
            self._item = item
            self._ready.notify()
        return replaced

    def take(self, *, timeout_s: float) -> Any:
        """The item, or None after timeout_s seconds without one."""
        with self._ready:
            if self._item is None:
                self._ready.wait(timeout_s)
            item, self._item = self._item, None
        return item
