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

import numpy as np
from tqdm import tqdm

from rcmcl_ros.bag.files import FAULT_TOPIC, GROUND_TRUTH_TOPIC, STREAM_TYPES, BagError, BagReader
from rcmcl_ros.bag.annotations import Fault, GroundTruth
from rcmcl_ros.topics import camera_info_roles

STRING_TYPE = "std_msgs/msg/String"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
DEPTH_CAMERA_INFO_TOPIC = "/depth_to_rgb/camera_info"
"""The Azure Kinect driver's camera_info of depth_to_rgb (colour intrinsics at colour size)."""


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
                 string_topics: Sequence[str] = ()) -> BagEvaluation:
    """Run `pipeline` (a fresh rcmcl_ros.pipeline.runner.Pipeline) over the bag. Streams whose topic is missing or
    of the wrong type are evaluated as absent (with a warning); raises BagError when none is usable or the
    bag cannot be opened. The pipeline's points_source "depth": the cloud is back-projected from each depth
    image with the latest `camera_info_topic` message (depth_cloud.py), as the node does, and the points
    topic is not read. With `pipeline.people` attached: `people_info_topic` (the colour camera_info) feeds
    the per-person crops and every round is inferred; single_person False skips the single-person forwards
    (its windows are still built and dropped, as their cost is the pipeline's own). string_topics: std_msgs/
    String topics whose messages are kept in `records` (e.g. per-person ground truth)."""
    from rcmcl_core.windowing import window_times
    from rcmcl_ros.pipeline.runner import message_stamp_s

    from_depth = pipeline.config.points_source == "depth"
    if from_depth:
        topics = {stream: topic for stream, topic in topics.items() if stream != "points"}
    people = getattr(pipeline, "people", None)
    warnings: list[str] = []

    def note(text: str) -> None:
        warnings.append(text)
        if warn is not None:
            warn(text)

    bag_path = Path(bag_path)
    started = time.perf_counter()
    with BagReader(bag_path) as bag:
        present = bag.topics
        stream_of, missing = _usable_topics(topics, present)
        for stream, why in missing.items():
            note(f"{stream}: {why}; evaluating without it")
        if not stream_of:
            listing = ", ".join(f"{t} ({i.msgtype})" for t, i in sorted(present.items())) or "no topics"
            raise BagError(f"none of the mapped topics ({', '.join(topics.values())}) is usable in {bag_path}; it "
                           f"has {listing}; map them with --topic STREAM:=/topic")
        records: dict[str, list[tuple[float, str]]] = {t: [] for t in string_topics}
        annotations = [t for t in (GROUND_TRUTH_TOPIC, FAULT_TOPIC, *string_topics)
                       if getattr(present.get(t), "msgtype", "") == STRING_TYPE]
        info_roles = camera_info_roles(cloud=camera_info_topic if from_depth else None,
                                       people=people_info_topic if people is not None else None)
        for topic in [t for t in info_roles if getattr(present.get(t), "msgtype", "") != CAMERA_INFO_TYPE]:
            if "cloud" in info_roles[topic]:
                note(f"points from depth: {topic} ({CAMERA_INFO_TYPE}) is not in the bag; every "
                     f"cloud is dropped (reason camera_info)")
            if "people" in info_roles[topic]:
                note(f"per person: {topic} ({CAMERA_INFO_TYPE}) is not in the bag; no RGB-D crop can be made")
            del info_roles[topic]
        wanted = [*stream_of, *annotations, *info_roles]
        truth_samples: list[tuple[float, str]] = []
        faults: list[Fault] = []
        decisions: list = []
        people_decisions: list = []
        rounds = 0
        newest_s = -np.inf
        bad_messages = 0

        def decide() -> None:
            nonlocal decisions, people_decisions, rounds
            windows = pipeline.ready_windows(newest_s)
            if single_person:
                decisions += [pipeline.infer(window) for window in windows]
            if people is not None:
                for people_round in people.take_rounds():
                    rounds += 1
                    people_decisions += _infer_people(pipeline, people_round)

        bar = tqdm(total=sum(present[t].count for t in wanted), desc="evaluate bag", unit="msg",
                   disable=not progress, dynamic_ncols=True)
        for message in bag.messages(wanted, on_damage=note):
            bar.update(1)
            try:
                msg = bag.deserialize(message)
            except BagError as error:
                bad_messages += 1
                if bad_messages <= 3:
                    note(str(error))
                continue
            if message.topic in info_roles:
                roles = info_roles[message.topic]
                pipeline.camera_info(msg, cloud="cloud" in roles, people="people" in roles)
            elif message.topic == GROUND_TRUTH_TOPIC:
                truth_samples.append((message.record_s, str(msg.data)))
            elif message.topic == FAULT_TOPIC:
                try:
                    faults.append(Fault.from_json(str(msg.data)))
                except ValueError as error:
                    note(f"ignoring a {FAULT_TOPIC} message: {error}")
            elif message.topic in records:
                records[message.topic].append((message.record_s, str(msg.data)))
            else:
                stamp_s = message_stamp_s(msg, fallback_s=message.record_s)
                pipeline.ingest(stream_of[message.topic], stamp_s, msg)
                newest_s = max(newest_s, stamp_s)
                decide()
        flushed = pipeline.flush()
        if single_person:
            decisions += flushed
        if people is not None:
            people.flush()
            decide()
        bar.close()
        start_s, end_s = bag.start_ns / 1e9, bag.end_ns / 1e9
    if bad_messages > 3:
        note(f"{bad_messages} messages in all could not be decoded")
    wall_s = time.perf_counter() - started
    ground_truth = GroundTruth(truth_samples)
    window = pipeline.config.window
    truth = [ground_truth.majority(window_times(d.stamp_s, frames=window.frames, window_s=window.window_s))
             if ground_truth else None for d in decisions]
    return BagEvaluation(bag=bag_path, checkpoint=pipeline.checkpoint_path, labels=list(pipeline.labels),
                         decisions=decisions, truth=truth, ground_truth=ground_truth, faults=faults,
                         topics={s: t for t, s in stream_of.items()}, missing=missing, start_s=start_s, end_s=end_s,
                         wall_s=wall_s, window_s=window.window_s, snapshot=pipeline.snapshot(newest_s),
                         device=str(pipeline.device), warnings=warnings,
                         health_rule=getattr(getattr(pipeline.config, "health", None), "enabled", None),
                         people_decisions=people_decisions, people_rounds=rounds, records=records)


def _infer_people(pipeline: Any, people_round: Any) -> list:
    """One round through the pipeline's InferenceRuntime, as the node's people worker runs it."""
    from rcmcl_ros.people.decisions import infer_round

    return infer_round(pipeline.runtime, people_round, labels=pipeline.labels)


def _usable_topics(topics: dict[str, str], present: dict) -> tuple[dict[str, str], dict[str, str]]:
    """({topic: stream} to read, {stream: why not} for the rest)."""
    stream_of, missing = {}, {}
    for stream, topic in topics.items():
        info = present.get(topic)
        if info is None:
            missing[stream] = f"topic {topic} is not in the bag"
        elif info.msgtype != STREAM_TYPES[stream]:
            missing[stream] = f"topic {topic} holds {info.msgtype}, expected {STREAM_TYPES[stream]}"
        elif topic in stream_of:
            missing[stream] = f"topic {topic} is already read as {stream_of[topic]}"
        else:
            stream_of[topic] = stream
    return stream_of, missing
