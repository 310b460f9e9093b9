"""Offline evaluation of a bag: the node's Pipeline over the recorded messages, without DDS and as fast as
the model allows (docs/ARCHITECTURE.md, "Bags and replay").

Messages are read in record order, decoded by rosbags and handed to Pipeline.ingest as they are (the
conversions read rosbags and rclpy messages alike); the pipeline's clock is the newest stamp seen. Ground
truth (/rcmcl/ground_truth) and scripted faults (/rcmcl/fault) are collected on the way; a decision's
ground truth is the class performed over most of its window. bag_report.py writes the results.

    python -m rcmcl_ros evaluate-bag BAG --out DIR [--checkpoint PATH] [--topic rgb:=/cam/color ...]
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from rcmcl_ros.bag.files import (FAULT_TOPIC, GROUND_TRUTH_TOPIC, STREAM_TYPES, BagError, BagReader,
                           parse_topic_map)
from rcmcl_ros.bag.annotations import Fault, GroundTruth

STRING_TYPE = "std_msgs/msg/String"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
DEPTH_CAMERA_INFO_TOPIC = "/depth_to_rgb/camera_info"
"""The Azure Kinect driver's camera_info of depth_to_rgb (colour intrinsics at colour size)."""
POINTS_SOURCES = ("topic", "depth")


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
                 warn: Callable[[str], None] | None = None, points_source: str = "topic",
                 camera_info_topic: str = DEPTH_CAMERA_INFO_TOPIC) -> BagEvaluation:
    """Run `pipeline` (a fresh rcmcl_ros.pipeline.runner.Pipeline) over the bag. Streams whose topic is missing or
    of the wrong type are evaluated as absent (with a warning); raises BagError when none is usable or the
    bag cannot be opened. points_source "depth": the cloud is back-projected from each depth image with the
    latest `camera_info_topic` message (depth_cloud.py), as the node does, and the points topic is not read."""
    from rcmcl_core.windowing import window_times
    from rcmcl_ros.pipeline.depth_cloud import DepthCloudSource
    from rcmcl_ros.pipeline.runner import message_stamp_s

    if points_source not in POINTS_SOURCES:
        raise ValueError(f"points_source must be one of {POINTS_SOURCES}, got {points_source!r}")
    from_depth = points_source == "depth"
    if from_depth:
        topics = {stream: topic for stream, topic in topics.items() if stream != "points"}
    camera_info = None

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
        annotations = [t for t in (GROUND_TRUTH_TOPIC, FAULT_TOPIC)
                       if getattr(present.get(t), "msgtype", "") == STRING_TYPE]
        if from_depth:
            if getattr(present.get(camera_info_topic), "msgtype", "") == CAMERA_INFO_TYPE:
                annotations.append(camera_info_topic)
            else:
                note(f"points from depth: {camera_info_topic} ({CAMERA_INFO_TYPE}) is not in the bag; every "
                     f"cloud is dropped (reason camera_info)")
        wanted = [*stream_of, *annotations]
        truth_samples: list[tuple[float, str]] = []
        faults: list[Fault] = []
        decisions = []
        newest_s = -np.inf
        bad_messages = 0
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
            if from_depth and message.topic == camera_info_topic:
                camera_info = msg
            elif message.topic == GROUND_TRUTH_TOPIC:
                truth_samples.append((message.record_s, str(msg.data)))
            elif message.topic == FAULT_TOPIC:
                try:
                    faults.append(Fault.from_json(str(msg.data)))
                except ValueError as error:
                    note(f"ignoring a {FAULT_TOPIC} message: {error}")
            else:
                stamp_s = message_stamp_s(msg, fallback_s=message.record_s)
                pipeline.ingest(stream_of[message.topic], stamp_s, msg)
                if from_depth and stream_of[message.topic] == "depth":
                    pipeline.ingest("points", stamp_s, DepthCloudSource(depth=msg, info=camera_info))
                newest_s = max(newest_s, stamp_s)
                decisions += pipeline.step(newest_s)
        decisions += pipeline.flush()
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
                         health_rule=getattr(getattr(pipeline.config, "health", None), "enabled", None))


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rcmcl_ros evaluate-bag",
                                description="Run the node's pipeline over a bag offline (no ROS graph) and write "
                                            "decisions.csv, report.md, gates.png and confusion.png to --out.")
    p.add_argument("bag", type=Path, help="rosbag2 folder, .mcap or .db3 file")
    p.add_argument("--out", type=Path, required=True, help="folder for the results (created if missing)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="rcmcl checkpoint (default: the bundled rcmcl_core/assets/rcmcl_compact.pt)")
    p.add_argument("--topic", action="append", default=[], metavar="STREAM:=TOPIC",
                   help="read STREAM (rgb, depth, points, skeleton) from TOPIC (repeatable; default: the Azure "
                        "Kinect driver's topics)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="inference device")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--stride-s", type=float, default=None, help="seconds between decisions (default: the node's)")
    p.add_argument("--skeleton-format", default=None, choices=("azure32", "ntu25"),
                   help="joint layout of the skeleton markers (default azure32)")
    p.add_argument("--points-source", default="topic", choices=POINTS_SOURCES,
                   help="topic: read the points topic; depth: back-project the depth images with their camera_info "
                        "(as the node's points_source parameter)")
    p.add_argument("--camera-info-topic", default=DEPTH_CAMERA_INFO_TOPIC,
                   help=f"camera_info of the depth images, for --points-source depth (default {DEPTH_CAMERA_INFO_TOPIC})")
    p.add_argument("--no-health-rule", action="store_true",
                   help="turn the node's sensor-health rules off (parameter sensor_health: false): the learned "
                        "gates alone, as before the rules existed")
    p.add_argument("--health-max-rejected-fraction", type=float, default=None, metavar="F",
                   help="the node's health_max_rejected_fraction (default: its default)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--max-people", type=int, default=1,
                   help="N >= 2: per-person evaluation of up to N tracked bodies (people.json, people.csv)")
    p.add_argument("--people-second-body", action=argparse.BooleanOptionalAction, default=True,
                   help="with --max-people: the nearest other person fills skeleton body 2 (default: on, as the "
                        "node's people_second_body)")
    return p


def evaluate_command(argv: list[str]) -> int:
    """`python -m rcmcl_ros evaluate-bag`: 0 on success, 2 on a bad bag, checkpoint or argument."""
    args = build_parser().parse_args(argv)
    try:
        topics = parse_topic_map(args.topic)
    except ValueError as error:
        return _fail(str(error))
    if not args.bag.exists():   # before loading torch: the commonest mistake answers at once
        return _fail(f"bag not found: {args.bag}")
    import dataclasses

    from rcmcl_core.checkpoint import CheckpointError
    from rcmcl_ros.bag.report import write_report
    from rcmcl_ros.node.params import resolve_checkpoint
    from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig, PipelineConfigError

    checkpoint = resolve_checkpoint(str(args.checkpoint or ""))
    if not checkpoint.is_file():
        which = "the bundled checkpoint" if args.checkpoint is None else "--checkpoint"
        return _fail(f"checkpoint not found: {checkpoint} ({which}; pass --checkpoint PATH to an rcmcl .pt file)")
    if args.max_people > 1:
        from rcmcl_ros.bag.people_eval import people_evaluate

        try:
            return people_evaluate(args, checkpoint=checkpoint)
        except (BagError, CheckpointError, ValueError) as error:
            return _fail(str(error))
    try:
        config = PipelineConfig(device=args.device, torch_threads=args.threads, health=health_from_args(args))
        if args.stride_s is not None:
            config.window = dataclasses.replace(config.window, stride_s=args.stride_s)
        if args.skeleton_format is not None:
            config.preprocess = dataclasses.replace(config.preprocess, skeleton_format=args.skeleton_format)
        pipeline = Pipeline.from_checkpoint(checkpoint, config=config)
        result = evaluate_bag(args.bag, pipeline=pipeline, topics=topics, progress=not args.no_progress,
                              warn=lambda text: print(f"evaluate-bag: warning: {text}", file=sys.stderr),
                              points_source=args.points_source, camera_info_topic=args.camera_info_topic)
    except (BagError, CheckpointError, PipelineConfigError, ValueError) as error:
        return _fail(str(error))
    paths = write_report(result, out_dir=args.out)
    print(f"evaluate-bag: {len(result.decisions)} decisions in {result.wall_s:.1f} s "
          f"({result.windows_per_s:.1f} windows/s, {result.real_time_factor:.1f}x real time)")
    for name in ("report", "gates", "decisions", "confusion"):
        if name in paths:
            print(f"{name}: {paths[name]}")
    return 0


def health_from_args(args: argparse.Namespace):
    """The sensor-health rules that --no-health-rule and --health-max-rejected-fraction ask for (one person
    or per person)."""
    from rcmcl_core.sensor_health import HealthConfig

    health = HealthConfig(enabled=not args.no_health_rule)
    if args.health_max_rejected_fraction is not None:
        health.max_rejected_fraction = args.health_max_rejected_fraction
    return health


def _fail(text: str) -> int:
    print(f"evaluate-bag: error: {text}", file=sys.stderr)
    return 2
