"""What a bag says besides sensor data: the ground-truth action over time and the scripted sensor faults.

Both travel as std_msgs/String so any tool can read them: `/rcmcl/ground_truth` holds the class name and is
recorded at bag time; `/rcmcl/fault` holds one JSON object per fault, recorded at its start:

    {"fault": "skeleton_lost", "modality": "skeleton", "start_s": 4.0, "end_s": 7.0}

Fault times are seconds from the bag's first message, so a schedule reads the same in any bag.
"""
from __future__ import annotations

import bisect
import json
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import numpy as np

FAULT_KINDS = {
    "skeleton_lost": "skeleton",     # body tracker loses the person: empty MarkerArray
    "points_sparse": "points",       # cloud keeps a few percent of its points
    "points_dropped": "points",      # no cloud messages at all
    "rgbd_blackout": "rgbd",         # black colour frames, depth with no valid pixel
    "rgbd_dropped": "rgbd",          # no colour or depth messages at all
    "rgbd_frozen": "rgbd",           # colour and depth repeat the frame at the fault's start (sensor_faults)
    "skeleton_jumps": "skeleton",    # a joint or the body teleports 1 m for 2 frames, every other pair (sensor_faults)
}
"""Fault name -> the modality it degrades (rcmcl_core.config.MODALITIES names)."""


@dataclass(frozen=True)
class Fault:
    """A scripted sensor fault over [start_s, end_s), seconds from the bag start."""

    name: str
    start_s: float
    end_s: float

    def __post_init__(self) -> None:
        if self.name not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.name!r}; faults are {', '.join(FAULT_KINDS)}")
        if not 0.0 <= self.start_s < self.end_s:
            raise ValueError(f"fault {self.name} needs 0 <= start < end seconds, got {self.start_s}-{self.end_s}")

    @property
    def modality(self) -> str:
        return FAULT_KINDS[self.name]

    def active(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.end_s

    def to_json(self) -> str:
        return json.dumps({"fault": self.name, "modality": self.modality, "start_s": round(self.start_s, 6),
                           "end_s": round(self.end_s, 6)})

    @classmethod
    def from_json(cls, text: str) -> "Fault":
        """Inverse of to_json; ValueError (one line) for anything else."""
        try:
            data = json.loads(text)
            return cls(name=str(data["fault"]), start_s=float(data["start_s"]), end_s=float(data["end_s"]))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"fault message must be JSON with fault, start_s, end_s; got {text[:80]!r}") from error

    def __str__(self) -> str:
        return f"{self.name}@{self.start_s:g}-{self.end_s:g}"


def parse_fault(text: str) -> Fault:
    """'skeleton_lost@4-7' (seconds from the bag start) -> Fault; ValueError says the expected form."""
    name, sep, span = text.partition("@")
    start, dash, end = span.partition("-")
    try:
        if not (sep and dash):
            raise ValueError
        return Fault(name=name, start_s=float(start), end_s=float(end))
    except ValueError as error:
        if str(error):
            raise
        raise ValueError(f"fault must look like NAME@START-END in seconds, e.g. skeleton_lost@4-7; got {text!r}; "
                         f"names: {', '.join(FAULT_KINDS)}") from None


class GroundTruth:
    """Step function of the performed class over bag time: each /rcmcl/ground_truth message holds from its
    record time until the next one (the last holds to the end)."""

    def __init__(self, samples: Iterable[tuple[float, str]] = ()) -> None:
        ordered = sorted(samples, key=lambda sample: sample[0])
        self.times_s = [t for t, _ in ordered]
        self.labels = [label for _, label in ordered]

    def add(self, t_s: float, label: str) -> None:
        """Append a sample received live; time going backwards (a bag loop) starts the history over."""
        if self.times_s and t_s < self.times_s[-1]:
            self.times_s, self.labels = [], []
        self.times_s.append(float(t_s))
        self.labels.append(str(label))

    def __bool__(self) -> bool:
        return bool(self.times_s)

    def label_at(self, t_s: float) -> str | None:
        """The class performed at t_s (bag seconds), None before the first message."""
        index = bisect.bisect_right(self.times_s, t_s) - 1
        return self.labels[index] if index >= 0 else None

    def majority(self, times_s: np.ndarray) -> str | None:
        """The class performed at most of `times_s` (a window's frame times); None when none is known."""
        labels = [label for label in (self.label_at(float(t)) for t in times_s) if label is not None]
        if not labels:
            return None
        return Counter(labels).most_common(1)[0][0]

    def segments(self, *, end_s: float) -> list[tuple[float, float, str]]:
        """Runs of one class as (start_s, end_s, label), the last one closed at `end_s`."""
        runs: list[tuple[float, float, str]] = []
        for t, label in zip(self.times_s, self.labels):
            if runs and runs[-1][2] == label:
                continue
            if runs:
                runs[-1] = (runs[-1][0], t, runs[-1][2])
            runs.append((t, end_s, label))
        if runs:
            runs[-1] = (runs[-1][0], max(end_s, runs[-1][0]), runs[-1][2])
        return runs
