"""The per-person path, fed by the single-person pipeline's ingest (Pipeline.people).

`PeoplePath.add` takes what Pipeline.ingest has decoded (people/ingest.py says what, per stream), so every
input parameter of the node applies to both paths alike: one subscription per topic with its QoS and
input gate, compressed colour, the depth-derived cloud, raw subscriptions. Each skeleton completes a
SceneFrame (SceneAssembler); the PeopleWindower turns frames into PeopleRounds on the node's stride grid.
Rounds wait in a short outbox (`take_rounds`) for whoever infers them: the node's people worker takes
the newest and counts the rest as replaced, the offline evaluation infers every one. Thread-safe: `add`
runs in the callback thread, `take_rounds` and `fit_budget` in others.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any

from rcmcl_core.config import ClipConfig
from rcmcl_core.sensor_health import HealthConfig
from rcmcl_ros.conversions.common import DEFAULT_LIMITS, ConversionLimits
from rcmcl_ros.people.ingest import SceneAssembler
from rcmcl_ros.people.tracker import PeopleConfig, PeopleRound, batch_for_budget, people_windower
from rcmcl_ros.pipeline.window import WindowConfig

MAX_PENDING_ROUNDS = 16
"""Rounds kept for `take_rounds` at most; older ones are dropped (counted in rounds_dropped)."""
COST_SMOOTHING = 0.3
"""Weight of the newest forward in the smoothed cost per person (an exponential average)."""


class PeoplePath:
    """Per-person windows of one camera (module docstring). clip: the checkpoint's clip sizes; window: the
    pipeline's WindowConfig (stride, presence, gaps); health: its sensor-health rules."""

    def __init__(self, *, config: PeopleConfig, clip: ClipConfig, window: WindowConfig,
                 health: HealthConfig | None = None, limits: ConversionLimits = DEFAULT_LIMITS) -> None:
        self.config = config.validate()
        self.windower = people_windower(clip, people=self.config, stride_s=window.stride_s,
                                        min_presence=window.min_presence, max_gap_s=window.max_gap_s, health=health)
        self.assembler = SceneAssembler(limits=limits)
        self.rounds_dropped = 0
        self._rounds: deque[PeopleRound] = deque()
        self._cost_s: float | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_pipeline(cls, pipeline: Any, config: PeopleConfig) -> "PeoplePath":
        """A path with the pipeline's clip, window and health settings, attached as `pipeline.people`."""
        path = cls(config=config, clip=pipeline.model_config.clip, window=pipeline.config.window,
                   health=pipeline.config.health, limits=pipeline.config.preprocess.limits())
        pipeline.people = path
        return path

    def add(self, stream: str, stamp_s: float, payload: Any) -> None:
        """One decoded input (people/ingest.py, SceneAssembler.add); rounds it completes go to the outbox."""
        with self._lock:
            for frame in self.assembler.add(stream, stamp_s, payload):
                self._keep(self.windower.push(frame))

    def flush(self) -> None:
        """End of a recording: every pending skeleton's frame with what has arrived."""
        with self._lock:
            for frame in self.assembler.flush():
                self._keep(self.windower.push(frame))

    def take_rounds(self) -> list[PeopleRound]:
        """The rounds completed since the last call, oldest first."""
        with self._lock:
            rounds = list(self._rounds)
            self._rounds.clear()
        return rounds

    def reset(self) -> None:
        """Forget every track and pending round (the recording looped); counters are kept."""
        with self._lock:
            self.windower.reset()
            self._rounds.clear()

    def _keep(self, rounds: list[PeopleRound]) -> None:
        self._rounds.extend(rounds)
        while len(self._rounds) > MAX_PENDING_ROUNDS:
            self._rounds.popleft()
            self.rounds_dropped += 1

    def fit_budget(self, seconds_per_person: float) -> str | None:
        """Degradation rule: the batch that fits forward_budget x stride_s at the smoothed forward cost per
        person (batch_for_budget). Returns a line for the log when the batch changes, else None."""
        if self.config.forward_budget <= 0:
            return None
        with self._lock:
            self._cost_s = seconds_per_person if self._cost_s is None else \
                (1 - COST_SMOOTHING) * self._cost_s + COST_SMOOTHING * seconds_per_person
            stride_s = self.windower.window.stride_s
            limit = batch_for_budget(seconds_per_person=self._cost_s, max_batch=self.config.max_batch,
                                     budget_s=self.config.forward_budget * stride_s)
            if limit == self.windower.batch_limit:
                return None
            self.windower.batch_limit = limit
            return (f"people: {1000 * self._cost_s:.0f} ms per person per forward; {limit} people per round "
                    f"(each decided every {stride_s:g} s x ceil(people / {limit}))")

    def diagnostic_values(self) -> dict[str, str]:
        """Per-person counters for /diagnostics: sensor-health rejections (people_health_rejected_<modality>/
        <reason>), inputs the path could not convert (people_dropped_<stream>:<reason>) and rounds dropped."""
        with self._lock:
            rejected = dict(self.windower.stats.rejected)
            dropped = dict(self.assembler.dropped)
            values = {f"people_health_rejected_{key}": str(n) for key, n in sorted(rejected.items())}
            values.update({f"people_dropped_{key}": str(n) for key, n in sorted(dropped.items())})
            if self.rounds_dropped:
                values["people_rounds_dropped"] = str(self.rounds_dropped)
        return values
