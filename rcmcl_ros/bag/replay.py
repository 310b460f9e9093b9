"""Feed a bag's messages to the node's Pipeline in record order, without DDS: the one reading loop of the
offline evaluation (evaluate.py) and of make-shards (make_shards.py).

Sensor messages are decoded by rosbags and handed to Pipeline.ingest as they are (the conversions read
rosbags and rclpy messages alike); the pipeline's clock is the newest stamp seen. camera_info goes to the
depth-derived cloud and the per-person crops; /rcmcl/ground_truth, /rcmcl/fault and any extra String topics
are collected on the way. The caller polls the pipeline after each message (`after_message`) and flushes it
at the end.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm import tqdm

from rcmcl_ros.bag.annotations import Fault
from rcmcl_ros.bag.files import FAULT_TOPIC, GROUND_TRUTH_TOPIC, STREAM_TYPES, BagError, BagReader
from rcmcl_ros.topics import camera_info_roles

STRING_TYPE = "std_msgs/msg/String"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
DEPTH_CAMERA_INFO_TOPIC = "/depth_to_rgb/camera_info"
"""The Azure Kinect driver's camera_info of depth_to_rgb (colour intrinsics at colour size)."""
BAD_MESSAGES_NAMED = 3
"""Undecodable messages named one by one; the rest are counted."""


@dataclass
class Replayed:
    """What one pass over a bag read besides what went into the pipeline. Times are bag seconds (record
    times; start_s = the first message's)."""

    stream_of: dict[str, str]                      # topic -> the stream it was read as
    missing: dict[str, str]                        # stream -> why it was not read
    start_s: float
    end_s: float
    newest_s: float                                # newest sensor stamp ingested (-inf: none)
    truth_samples: list[tuple[float, str]] = field(default_factory=list)   # /rcmcl/ground_truth (record s, class)
    faults: list[Fault] = field(default_factory=list)
    records: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # extra String topics
    bad_messages: int = 0


def replay_bag(bag_path: str | Path, *, pipeline: Any, topics: dict[str, str],
               after_message: Callable[[float], None], note: Callable[[str], None], progress: bool = True,
               camera_info_topic: str = DEPTH_CAMERA_INFO_TOPIC, people_info_topic: str | None = None,
               string_topics: Sequence[str] = (), desc: str = "read bag") -> Replayed:
    """Ingest every sensor message of the bag into `pipeline`, calling after_message(newest stamp) after each.

    Streams whose topic is missing or of the wrong type are left out (note says why: that modality is then
    absent); raises BagError when none is usable or the bag cannot be opened. points_source "depth": the
    points topic is not read; each depth image makes the cloud with the latest `camera_info_topic` message.
    With `pipeline.people` attached, `people_info_topic` (the colour camera_info) feeds the per-person crops.
    A damaged bag is read up to its damage (note says where); undecodable messages are counted and skipped."""
    from rcmcl_ros.pipeline.runner import message_stamp_s

    from_depth = pipeline.config.points_source == "depth"
    if from_depth:
        topics = {stream: topic for stream, topic in topics.items() if stream != "points"}
    people = getattr(pipeline, "people", None)
    with BagReader(Path(bag_path)) as bag:
        present = bag.topics
        stream_of, missing = usable_topics(topics, present)
        for stream, why in missing.items():
            note(f"{stream}: {why}; reading the bag without it")
        if not stream_of:
            listing = ", ".join(f"{t} ({i.msgtype})" for t, i in sorted(present.items())) or "no topics"
            raise BagError(f"none of the mapped topics ({', '.join(topics.values())}) is usable in {bag_path}; it "
                           f"has {listing}; map them with --topic STREAM:=/topic")
        replayed = Replayed(stream_of=stream_of, missing=missing, start_s=bag.start_ns / 1e9,
                            end_s=bag.end_ns / 1e9, newest_s=-np.inf, records={t: [] for t in string_topics})
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
        bar = tqdm(total=sum(present[t].count for t in wanted), desc=desc, unit="msg", disable=not progress,
                   dynamic_ncols=True, leave=False)
        for message in bag.messages(wanted, on_damage=note):
            bar.update(1)
            try:
                msg = bag.deserialize(message)
            except BagError as error:
                replayed.bad_messages += 1
                if replayed.bad_messages <= BAD_MESSAGES_NAMED:
                    note(str(error))
                continue
            if message.topic in info_roles:
                roles = info_roles[message.topic]
                pipeline.camera_info(msg, cloud="cloud" in roles, people="people" in roles)
            elif message.topic == GROUND_TRUTH_TOPIC:
                replayed.truth_samples.append((message.record_s, str(msg.data)))
            elif message.topic == FAULT_TOPIC:
                try:
                    replayed.faults.append(Fault.from_json(str(msg.data)))
                except ValueError as error:
                    note(f"ignoring a {FAULT_TOPIC} message: {error}")
            elif message.topic in replayed.records:
                replayed.records[message.topic].append((message.record_s, str(msg.data)))
            else:
                stamp_s = message_stamp_s(msg, fallback_s=message.record_s)
                pipeline.ingest(stream_of[message.topic], stamp_s, msg)
                replayed.newest_s = max(replayed.newest_s, stamp_s)
                after_message(replayed.newest_s)
        bar.close()
    if replayed.bad_messages > BAD_MESSAGES_NAMED:
        note(f"{replayed.bad_messages} messages in all could not be decoded")
    return replayed


def usable_topics(topics: dict[str, str], present: dict) -> tuple[dict[str, str], dict[str, str]]:
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
