"""A labels file: which action each recording shows when, written by hand or exported from an annotation
tool. It is the truth for `evaluate-bag --labels` and `make-shards`.

CSV with a header row naming the columns (any order); blank lines and lines starting with `#` are ignored:

    recording,start_s,end_s,label,body_id,split
    alice_wave_01,0.5,4.0,wave,,train
    alice_handover_02,1.0,6.5,hand_over,1,train
    bob_fall_03,1.2,3.4,fall,,test

| column    | required | meaning                                                                             |
|-----------|----------|-------------------------------------------------------------------------------------|
| recording | yes      | the bag's name: its folder name, or its file name without .mcap / .db3               |
| start_s   | yes      | seconds from the bag's first message (absolute: the sensor stamps' seconds)          |
| end_s     | yes      | > start_s, same clock                                                               |
| label     | yes      | the class name                                                                      |
| body_id   | no       | the body tracker's id of the person (empty: the person the node follows, the nearest) |
| split     | no       | train or test; every row of a recording has the same (empty: `--split auto`)         |

Every problem is reported with its line number, all of them at once (LabelsError): a missing column, a
field that is not a number, end <= start, a negative time, an empty label, two segments of one person that
overlap, a recording with two splits; against the bags (check_recordings): a recording no bag is given for
and times outside the bag.
"""
from __future__ import annotations

import bisect
import csv
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

REQUIRED = ("recording", "start_s", "end_s", "label")
OPTIONAL = ("body_id", "split")
SPLITS = ("train", "test")
BAG_SUFFIXES = (".mcap", ".db3")
TIME_SLACK_S = 0.5
"""A segment may end this far past the bag's last message (annotation tools round; the last message is
not the end of the recording's time)."""
MAX_LISTED = 20
"""At most this many problems are listed in one error."""


class LabelsError(ValueError):
    """A labels file that cannot be used; the message lists each problem as `path:line: what`."""


@dataclass(frozen=True)
class Segment:
    """One labelled span of one recording: [start_s, end_s) on the file's clock."""

    line: int
    recording: str
    start_s: float
    end_s: float
    label: str
    body_id: int | None = None
    split: str | None = None


def recording_name(bag: str | Path) -> str:
    """The name a labels file uses for a bag: its folder name, or its file name without .mcap / .db3."""
    path = Path(bag)
    return path.name[: -len(path.suffix)] if path.suffix in BAG_SUFFIXES else path.name


@dataclass
class LabelsFile:
    """A validated labels file. `absolute`: its times are sensor stamps, not seconds from the bag start."""

    path: Path
    segments: list[Segment]
    absolute: bool = False

    @property
    def recordings(self) -> list[str]:
        return sorted({s.recording for s in self.segments})

    @property
    def classes(self) -> list[str]:
        """Every label in the file, sorted (the class order of shards made from it)."""
        return sorted({s.label for s in self.segments})

    @property
    def has_body_ids(self) -> bool:
        return any(s.body_id is not None for s in self.segments)

    def of(self, recording: str) -> list[Segment]:
        return [s for s in self.segments if s.recording == recording]

    def split_of(self, recording: str) -> str | None:
        """The recording's split column (None when empty)."""
        return next((s.split for s in self.of(recording) if s.split), None)

    def check_recordings(self, spans: dict[str, tuple[float, float]]) -> None:
        """Raise LabelsError for a recording without a bag and for times outside its bag. spans: recording ->
        (first, last) message record time of its bag, seconds."""
        problems = [f"{self.path}:{s.line}: recording {s.recording!r} is not among the bags given "
                    f"({_names(spans)})" for s in self.segments if s.recording not in spans]
        for s in self.segments:
            if s.recording not in spans:
                continue
            first, last = spans[s.recording]
            low, high = (first, last) if self.absolute else (0.0, last - first)
            if s.start_s < low - TIME_SLACK_S or s.end_s > high + TIME_SLACK_S:
                clock = "stamps" if self.absolute else "seconds from its start"
                problems.append(f"{self.path}:{s.line}: {s.start_s:g}-{s.end_s:g} s is outside the bag of "
                                f"{s.recording!r}, which spans {low:.3f}-{high:.3f} ({clock})")
        _raise(problems)

    def check_known(self, classes: Sequence[str], *, what: str) -> None:
        """Raise LabelsError for a label not in `classes` (e.g. the checkpoint's, named by `what`)."""
        known = set(classes)
        _raise([f"{self.path}:{s.line}: label {s.label!r} is not a class of {what} ({', '.join(classes)})"
                for s in self.segments if s.label not in known])

    def truth(self, recording: str, *, bag_start_s: float, body_id: int | None = None) -> "SegmentTruth":
        """The truth of one person of one recording on the sensor clock (bag seconds): body_id None is the
        person the node follows (rows with an empty body_id)."""
        offset = 0.0 if self.absolute else bag_start_s
        return SegmentTruth([(s.start_s + offset, s.end_s + offset, s.label) for s in self.of(recording)
                             if s.body_id == body_id])


class SegmentTruth:
    """Ground truth from labelled segments, with GroundTruth's interface (rcmcl_ros/bag/annotations.py):
    times outside every segment are unlabelled (None)."""

    def __init__(self, segments: Iterable[tuple[float, float, str]]) -> None:
        self._segments = sorted(segments)
        self._starts = [start for start, _, _ in self._segments]

    def __bool__(self) -> bool:
        return bool(self._segments)

    def label_at(self, t_s: float) -> str | None:
        index = bisect.bisect_right(self._starts, t_s) - 1
        if index >= 0 and t_s < self._segments[index][1]:
            return self._segments[index][2]
        return None

    def majority(self, times_s: np.ndarray) -> str | None:
        """The label at most of `times_s` (a window's frame times); None when none is labelled."""
        label, _ = self.purity(times_s)
        return label

    def purity(self, times_s: np.ndarray) -> tuple[str | None, float]:
        """(the label at most of `times_s`, the fraction of all `times_s` that carry it); (None, 0) when none
        is labelled."""
        labels = [label for label in (self.label_at(float(t)) for t in times_s) if label is not None]
        if not labels:
            return None, 0.0
        label, count = Counter(labels).most_common(1)[0]
        return label, count / len(times_s)

    def segments(self, *, end_s: float) -> list[tuple[float, float, str]]:
        """The labelled spans as (start_s, end_s, label), in time order (`end_s` is not needed: each span
        has its own end)."""
        del end_s
        return list(self._segments)


def read_labels(path: str | Path, *, absolute: bool = False) -> LabelsFile:
    """Read and validate a labels file (module docstring); raises LabelsError listing every problem."""
    path = Path(path)
    if not path.is_file():
        raise LabelsError(f"labels file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")          # an exported CSV may start with a BOM
    except (OSError, UnicodeDecodeError) as error:
        raise LabelsError(f"{path}: unreadable ({error})") from None
    rows = [(number, row) for number, row in enumerate(csv.reader(text.splitlines()), start=1)
            if row and any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")]
    if not rows:
        raise LabelsError(f"{path}: no header row; the first line must name the columns, e.g. "
                          f"{','.join(REQUIRED + OPTIONAL)}")
    header_line, header = rows[0]
    columns = [cell.strip().lower() for cell in header]
    problems = []
    missing = [name for name in REQUIRED if name not in columns]
    unknown = [name for name in columns if name not in REQUIRED + OPTIONAL]
    if missing or unknown or len(set(columns)) != len(columns):
        raise LabelsError(f"{path}:{header_line}: the header must name the columns {', '.join(REQUIRED)} "
                          f"(and optionally {', '.join(OPTIONAL)}), each once; got {','.join(columns)}"
                          + (f" (missing {', '.join(missing)})" if missing else "")
                          + (f" (unknown {', '.join(unknown)})" if unknown else ""))
    segments = []
    for number, row in rows[1:]:
        if len(row) != len(columns):
            problems.append(f"{path}:{number}: {len(row)} fields, the header has {len(columns)}")
            continue
        segment, errors = _segment(number, dict(zip(columns, (cell.strip() for cell in row))), absolute=absolute)
        problems += [f"{path}:{number}: {error}" for error in errors]
        if segment is not None:
            segments.append(segment)
    problems += _overlaps(path, segments) + _split_conflicts(path, segments)
    if not segments and not problems:
        problems.append(f"{path}: no segments after the header")
    _raise(problems)
    return LabelsFile(path=path, segments=segments, absolute=absolute)


def _segment(line: int, fields: dict[str, str], *, absolute: bool) -> tuple[Segment | None, list[str]]:
    errors = []
    times = {}
    for name in ("start_s", "end_s"):
        try:
            times[name] = float(fields[name])
            if not math.isfinite(times[name]):
                raise ValueError
        except ValueError:
            errors.append(f"{name} must be a number of seconds, got {fields[name]!r}")
    if len(times) == 2:
        if times["end_s"] <= times["start_s"]:
            errors.append(f"end_s {times['end_s']:g} must be > start_s {times['start_s']:g}")
        if not absolute and times["start_s"] < 0:
            errors.append(f"start_s {times['start_s']:g} is negative (times count from the bag's first message)")
    if not fields["recording"]:
        errors.append("empty recording")
    label = fields["label"]
    if not label:
        errors.append("empty label")
    elif not label.isprintable():
        errors.append(f"label {label!r} has control characters")
    body_id = None
    if fields.get("body_id"):
        try:
            body_id = int(fields["body_id"])
            if body_id < 0:
                raise ValueError
        except ValueError:
            errors.append(f"body_id must be a whole number >= 0 or empty, got {fields['body_id']!r}")
    split = fields.get("split") or None
    if split is not None and split.lower() not in SPLITS:
        errors.append(f"split must be {' or '.join(SPLITS)} or empty, got {split!r}")
    if errors:
        return None, errors
    return Segment(line=line, recording=fields["recording"], start_s=times["start_s"], end_s=times["end_s"],
                   label=label, body_id=body_id, split=split.lower() if split else None), []


def _overlaps(path: Path, segments: list[Segment]) -> list[str]:
    """Two segments of one person of one recording may touch but not overlap."""
    problems = []
    by_person: dict[tuple[str, int | None], list[Segment]] = {}
    for segment in segments:
        by_person.setdefault((segment.recording, segment.body_id), []).append(segment)
    for (recording, body_id), spans in by_person.items():
        spans.sort(key=lambda s: (s.start_s, s.end_s))
        for before, after in zip(spans, spans[1:]):
            if after.start_s < before.end_s:
                who = f"body {body_id}" if body_id is not None else "the followed person"
                problems.append(f"{path}:{after.line}: {after.start_s:g}-{after.end_s:g} s overlaps line "
                                f"{before.line} ({before.start_s:g}-{before.end_s:g} s) for {who} of {recording!r}")
    return problems


def _split_conflicts(path: Path, segments: list[Segment]) -> list[str]:
    """No recording may have windows in both train and test."""
    problems = []
    first: dict[str, Segment] = {}
    for segment in segments:
        if segment.split is None:
            continue
        seen = first.setdefault(segment.recording, segment)
        if seen.split != segment.split:
            problems.append(f"{path}:{segment.line}: recording {segment.recording!r} is {segment.split} here but "
                            f"{seen.split} on line {seen.line}; a recording belongs to one split")
    return problems


def _names(spans: dict[str, object]) -> str:
    names = sorted(spans)
    shown = ", ".join(names[:MAX_LISTED])
    return (shown + (f", and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")) or "none"


def _raise(problems: list[str]) -> None:
    if not problems:
        return
    shown = problems[:MAX_LISTED]
    more = f"\n... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    raise LabelsError(f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in the labels:\n"
                      + "\n".join(shown) + more)
