"""Offline evaluation of a bag: the node's Pipeline over the recorded messages, without DDS and as fast as
the model allows (docs/ARCHITECTURE.md, "Bags and replay").

Messages are read in record order, decoded by rosbags and handed to Pipeline.ingest as they are (the
conversions read rosbags and rclpy messages alike); the pipeline's clock is the newest stamp seen. Ground
truth (/rcmcl/ground_truth) and scripted faults (/rcmcl/fault) are collected on the way; a decision's
ground truth is the class performed over most of its window. With a per-person path attached to the
pipeline (rcmcl_ros/people/path.py) its rounds are inferred as they complete (people_decisions): the same
ingest, topics and points source as one person. rcmcl_ros/bag/report.py writes the results; the command is
rcmcl_ros/bag/evaluate_command.py:

    python -m rcmcl_ros evaluate-bag BAG --out DIR [--checkpoint PATH] [--topic rgb:=/cam/color ...]
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from rcmcl_ros.bag.annotations import Fault, GroundTruth
from rcmcl_ros.bag.replay import DEPTH_CAMERA_INFO_TOPIC, replay_bag


@dataclass
class BagEvaluation:
    """Decisions of one pass over a bag, with what is needed to score and plot them. Times are bag seconds
    (start_s = the first message's record time); truth[i] is decisions[i]'s ground truth or None."""

    bag: Path
    checkpoint: Path | None
    labels: list[str]
    decisions: list            # rcmcl_ros.pipeline.runner.Decision, in stamp order
    truth: list[str | None]
    ground_truth: GroundTruth
    faults: list[Fault]
    topics: dict[str, str]     # stream -> topic that was read
    missing: dict[str, str]    # stream -> why it was not read
    start_s: float
    end_s: float
    wall_s: float
    window_s: float
    snapshot: dict
    device: str
    warnings: list[str] = field(default_factory=list)
    health_rule: bool | None = None   # the pipeline's sensor-health rules were on (None: unknown)
    people_decisions: list = field(default_factory=list)   # rcmcl_ros.people.decisions.PersonDecision, by round
    people_rounds: int = 0
    records: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # extra String topics: (record s, data)

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)

    @property
    def windows_per_s(self) -> float:
        return len(self.decisions) / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def real_time_factor(self) -> float:
        """Bag seconds evaluated per wall second (> 1: faster than real time)."""
        return self.duration_s / self.wall_s if self.wall_s > 0 else 0.0


def evaluate_bag(bag_path: str | Path, *, pipeline, topics: dict[str, str], progress: bool = True,
                 warn: Callable[[str], None] | None = None, camera_info_topic: str = DEPTH_CAMERA_INFO_TOPIC,
                 people_info_topic: str | None = None, single_person: bool = True,
                 string_topics: Sequence[str] = (), truth_source: Any = None) -> BagEvaluation:
    """Run `pipeline` (a fresh rcmcl_ros.pipeline.runner.Pipeline) over the bag (replay_bag: which topics are
    read, the depth-derived cloud, camera_info, BagError). With `pipeline.people` attached: `people_info_topic`
    (the colour camera_info) feeds the per-person crops and every round is inferred; single_person False skips
    the single-person forwards (its windows are still built and dropped, as their cost is the pipeline's own).
    string_topics: std_msgs/String topics whose messages are kept in `records` (e.g. per-person ground truth).
    truth_source: a ground truth with GroundTruth's `majority`, `segments` and truth value (e.g. a labels
    file's, rcmcl_ros/bag/labels_file.py) in place of the bag's /rcmcl/ground_truth topic."""
    from rcmcl_core.windowing import window_times

    people = getattr(pipeline, "people", None)
    warnings: list[str] = []

    def note(text: str) -> None:
        warnings.append(text)
        if warn is not None:
            warn(text)

    decisions: list = []
    people_decisions: list = []
    rounds = 0

    def decide(newest_s: float) -> None:
        nonlocal rounds
        windows = pipeline.ready_windows(newest_s)
        if single_person:
            decisions.extend(pipeline.infer(window) for window in windows)
        if people is not None:
            for people_round in people.take_rounds():
                rounds += 1
                people_decisions.extend(_infer_people(pipeline, people_round))

    started = time.perf_counter()
    replayed = replay_bag(bag_path, pipeline=pipeline, topics=topics, after_message=decide, note=note,
                          progress=progress, camera_info_topic=camera_info_topic,
                          people_info_topic=people_info_topic, string_topics=string_topics, desc="evaluate bag")
    flushed = pipeline.flush()
    if single_person:
        decisions += flushed
    if people is not None:
        people.flush()
        decide(replayed.newest_s)
    wall_s = time.perf_counter() - started
    ground_truth = truth_source if truth_source is not None else GroundTruth(replayed.truth_samples)
    window = pipeline.config.window
    truth = [ground_truth.majority(window_times(d.stamp_s, frames=window.frames, window_s=window.window_s))
             if ground_truth else None for d in decisions]
    return BagEvaluation(bag=Path(bag_path), checkpoint=pipeline.checkpoint_path, labels=list(pipeline.labels),
                         decisions=decisions, truth=truth, ground_truth=ground_truth, faults=replayed.faults,
                         topics={s: t for t, s in replayed.stream_of.items()}, missing=replayed.missing,
                         start_s=replayed.start_s, end_s=replayed.end_s, wall_s=wall_s, window_s=window.window_s,
                         snapshot=pipeline.snapshot(replayed.newest_s), device=str(pipeline.device),
                         warnings=warnings,
                         health_rule=getattr(getattr(pipeline.config, "health", None), "enabled", None),
                         people_decisions=people_decisions, people_rounds=rounds, records=replayed.records)


def _infer_people(pipeline: Any, people_round: Any) -> list:
    """One round through the pipeline's InferenceRuntime, as the node's people worker runs it."""
    from rcmcl_ros.people.decisions import infer_round

    return infer_round(pipeline.runtime, people_round, labels=pipeline.labels)
