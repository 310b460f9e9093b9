"""Gate warnings: a present modality whose gate stays below a threshold for long enough is called unreliable.

`GateWatch.update` takes each decision (sensor-time stamp, gates, presence) and says which sensors are
unreliable now and which warnings started or cleared with this decision. A warning starts once the gate
has been below `threshold` in every decision for at least `after_s` seconds, and clears with the first
decision whose gate is back at or above the threshold or whose modality is absent (an absent sensor is
reported as absent by the diagnostics, not as unreliable). A stamp that goes back (a bag loop) restarts
every timer. The node turns warnings into a WARN in /diagnostics and ~/decision, a log line and a
marker colour (rcmcl_ros/node/gate_markers.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from rcmcl_core.config import MODALITIES, SENSOR_NAMES


@dataclass(frozen=True)
class GateWarning:
    modality: str
    gate: float
    duration_s: float

    def text(self) -> str:
        """'points unreliable: gate 0.12 for 3.0 s'."""
        return f"{SENSOR_NAMES[self.modality]} unreliable: gate {self.gate:.2f} for {self.duration_s:.1f} s"


@dataclass
class GateUpdate:
    """active: warnings in force after this decision; started / cleared: modalities that changed."""

    active: list[GateWarning] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)

    def warned(self) -> list[bool]:
        """(3,) in MODALITIES order: True where a warning is active."""
        names = {w.modality for w in self.active}
        return [m in names for m in MODALITIES]


class GateWatch:
    """Per-modality low-gate timers. threshold in [0, 1]; after_s >= 0 seconds (sensor time)."""

    def __init__(self, *, threshold: float, after_s: float) -> None:
        if not 0.0 <= threshold <= 1.0 or after_s < 0.0:
            raise ValueError(f"gate warnings need threshold in [0, 1] and after_s >= 0, got {threshold}, {after_s}")
        self.threshold, self.after_s = threshold, after_s
        self._low_since: dict[str, float] = {}
        self._warned: set[str] = set()
        self._last_s: float | None = None

    def update(self, stamp_s: float, gates: Sequence[float], present: Sequence[bool]) -> GateUpdate:
        if self._last_s is not None and stamp_s < self._last_s:
            self._low_since.clear()
        self._last_s = stamp_s
        update = GateUpdate()
        for modality, gate, here in zip(MODALITIES, gates, present):
            gate = float(gate)
            low = bool(here) and gate < self.threshold     # NaN is not < threshold: never warns
            if not low:
                self._low_since.pop(modality, None)
            else:
                since = self._low_since.setdefault(modality, stamp_s)
                if stamp_s - since >= self.after_s:
                    update.active.append(GateWarning(modality, gate, stamp_s - since))
            if modality in self._warned and not any(w.modality == modality for w in update.active):
                self._warned.discard(modality)
                update.cleared.append(modality)
            elif modality not in self._warned and any(w.modality == modality for w in update.active):
                self._warned.add(modality)
                update.started.append(modality)
        return update
