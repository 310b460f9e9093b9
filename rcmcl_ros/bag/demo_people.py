"""A demo bag with 2-3 people in view (`make-demo-bag --people N`), each doing their own action sequence.

Same topics, rig, fault schedule and caching as the single-person demo bag (demo.py), rendered by
rcmcl_core.data.synthetic.scene (mutual occlusion, one skeleton tracker per person). Person k carries body
id k + 1 on /body_tracking_data (k4abt numbers bodies from 1) until a skeleton_lost fault: like the body
tracker after losing everyone, each fault that has ended adds RENUMBER_STEP to every id. Ground truth:
- /rcmcl/ground_truth (std_msgs/String) keeps the single-person format: the class of the main actor, the
  person nearest the camera (the one the node's single-person topics follow);
- /rcmcl/ground_truth_people (std_msgs/String) is JSON {"<body id>": "<class>"} per frame for everyone;
- the sidecar (rcmcl_demo.json) lists "people": [{"body_id", "subject", "actions": [[start, end, class]]}].
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm import tqdm

from rcmcl_core.atomic_io import atomic_write_bytes
from rcmcl_core.data.synthetic.generate import SYNTHETIC_PRESETS
from rcmcl_core.data.synthetic.body import make_subject
from rcmcl_core.data.synthetic.classes import class_set
from rcmcl_core.data.synthetic.scene import MAX_SCENE_PEOPLE, SCENE_SLOTS, make_scene_clip
from rcmcl_core.geometry.pinhole import pixel_rays
from rcmcl_ros.bag.files import DEFAULT_TOPICS, FAULT_TOPIC, NS_PER_S, BagWriter
from rcmcl_ros.bag.demo import (CAMERA_INFO_TOPICS, DEFAULT_CACHE, FRAMES, HELD_OUT_SUBJECTS, SIDECAR, START_NS,
                                DemoBagConfig, camera_info_message, declare_topics, frame_messages, string_message,
                                tf_static_message, bag_is_cached, plan)

RENUMBER_STEP = 10
"""Body ids grow by this after each skeleton_lost fault (the tracker re-numbers people it lost)."""
GROUND_TRUTH_PEOPLE_TOPIC = "/rcmcl/ground_truth_people"
"""std_msgs/String: JSON {"<body id>": "<class>"} of every person, per frame."""


def main_actor_index(people: int) -> int:
    """Index of the person nearest the camera in SCENE_SLOTS[people] (largest z toward camera 1)."""
    return int(np.argmax([z for _, z in SCENE_SLOTS[people]]))


def people_plan(config: DemoBagConfig, people: int) -> list[dict[str, Any]]:
    """Per person: body id, held-out subject (distinct), and an action per segment drawn by the seed."""
    if not 2 <= people <= MAX_SCENE_PEOPLE:
        raise ValueError(f"a people demo bag holds 2 to {MAX_SCENE_PEOPLE} people, got {people}")
    base = plan(config)
    pool = list(config.classes) or list(class_set(config.class_set).names)
    out = []
    for k in range(people):
        rng = np.random.default_rng([config.seed, 7, k])
        order: list[str] = []
        while len(order) < config.actions:
            order += [pool[i] for i in rng.permutation(len(pool))]
        subject = HELD_OUT_SUBJECTS[(HELD_OUT_SUBJECTS.index(base.subject) + k) % len(HELD_OUT_SUBJECTS)] \
            if base.subject in HELD_OUT_SUBJECTS else base.subject + 2 * k
        out.append({"body_id": k + 1, "subject": subject,
                    "actions": [[s, e, order[i]] for i, (s, e, _) in enumerate(base.actions)]})
    return out


def people_config_dict(config: DemoBagConfig, people: int) -> dict[str, Any]:
    return {**config.to_dict(), "people": people}


def make_people_demo_bag(config: DemoBagConfig, *, people: int, out: Path | None = None, force: bool = False,
                         progress: bool = True) -> Path:
    """Write (or reuse) the multi-person demo bag; same contract as demo_bag.make_demo_bag."""
    config.validate()
    key_dict = people_config_dict(config, people)
    key = hashlib.sha1(json.dumps(key_dict, sort_keys=True).encode()).hexdigest()[:10]
    out = Path(out) if out is not None else DEFAULT_CACHE / f"demo_{key}"
    if bag_is_cached(out, key_dict, force=force):
        return out
    base, cast = plan(config), people_plan(config, people)
    main = main_actor_index(people)
    sidecar = {"config": key_dict, "subject": cast[main]["subject"], "duration_s": config.duration_s,
               "start_ns": START_NS, "actions": cast[main]["actions"], "main_body_id": cast[main]["body_id"],
               "people": cast, "faults": [json.loads(f.to_json()) for f in base.faults], "topics": DEFAULT_TOPICS,
               "frames": FRAMES}
    with BagWriter(out, storage=config.storage, compress=config.compress) as bag:
        declare_topics(bag)
        bag.add_topic(GROUND_TRUTH_PEOPLE_TOPIC, "std_msgs/msg/String")
        bag.set_custom_data("rcmcl_demo", json.dumps(sidecar))
        bag.write("/tf_static", START_NS, tf_static_message(START_NS))
        for fault in base.faults:
            bag.write(FAULT_TOPIC, START_NS + int(round(fault.start_s * NS_PER_S)), string_message(fault.to_json()))
        for stamp_ns, topic, msg in _frames(config, base, cast, main=main, progress=progress):
            bag.write(topic, stamp_ns, msg)
    atomic_write_bytes(out / SIDECAR, (json.dumps(sidecar, indent=1) + "\n").encode())
    return out


def _frames(config: DemoBagConfig, base: Any, cast: list[dict[str, Any]], *, main: int,
            progress: bool) -> Iterator[tuple[int, str, Any]]:
    frames_per_action = int(round(config.segment_s * config.fps))
    subjects = [make_subject(p["subject"], seed=0) for p in cast]
    rays = pixel_rays(intrinsics=base.intrinsics).reshape(config.image_size, config.image_size, 3)
    stride = config.cloud_stride
    rays = rays[::stride, ::stride].reshape(-1, 3).astype(np.float32)
    sparse_rng = np.random.default_rng([config.seed, 11])
    infos = {stream: camera_info_message(base.intrinsics, frame_id=FRAMES[stream]) for stream in CAMERA_INFO_TOPICS}
    bar = tqdm(total=config.actions * frames_per_action, desc=f"demo bag x{len(cast)}", unit="frame",
               disable=not progress)
    try:
        for index, (start_s, _, _) in enumerate(base.actions):
            names = [p["actions"][index][2] for p in cast]
            table = class_set(config.class_set)
            clip = make_scene_clip([table.index(n) for n in names], subjects, camera=config.camera,
                                   seed=[config.seed, 1000 + index], intrinsics=base.intrinsics, fps=config.fps,
                                   frames=frames_per_action, synthetic=SYNTHETIC_PRESETS["lite"],
                                   class_set=config.class_set)
            for k in range(frames_per_action):
                t_s = start_s + k / config.fps
                stamp_ns = START_NS + int(round(t_s * NS_PER_S))
                ids = body_ids(cast, base.faults, t_s)
                truth = json.dumps({str(i): n for i, n in zip(ids.tolist(), names)})
                active = {fault.name for fault in base.faults if fault.active(t_s)}
                depth_mm = clip["depth_mm"][k]
                cloud = rays * (depth_mm[::stride, ::stride].reshape(-1, 1).astype(np.float32) / 1000.0)
                cloud[depth_mm[::stride, ::stride].reshape(-1) == 0] = np.nan
                valid = clip["skeleton_valid"][k]
                yield from frame_messages(stamp_ns, rgb=clip["rgb"][k], depth_mm=depth_mm, cloud=cloud,
                                           joints=clip["skeleton"][k][valid], label=names[main], active=active,
                                           infos=infos, sparse_rng=sparse_rng, body_ids=tuple(ids[valid].tolist()))
                yield stamp_ns, GROUND_TRUTH_PEOPLE_TOPIC, string_message(truth)
                bar.update(1)
    finally:
        bar.close()


def body_ids(cast: list[dict[str, Any]], faults: Any, t_s: float) -> np.ndarray:
    """(P,) body ids at t_s: the cast's ids, + RENUMBER_STEP per skeleton_lost fault ended by t_s."""
    lost = sum(1 for f in faults if f.name == "skeleton_lost" and f.end_s <= t_s)
    return np.array([p["body_id"] + RENUMBER_STEP * lost for p in cast])


def read_people_truth(text: str) -> dict[int, str]:
    """/rcmcl/ground_truth_people payload -> {body id: class}; ValueError on anything else."""
    data = json.loads(text)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"ground_truth_people must be a JSON object of class names, got {text[:80]!r}")
    return {int(k): v for k, v in data.items()}
