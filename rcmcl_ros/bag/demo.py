"""A demo rosbag2 from the synthetic benchmark's held-out split, as an Azure Kinect driver would record it.

A held-out subject (even id: the cross-subject test split) performs a sequence of actions in front of
camera 1 (the cross-view test camera); each action is one clip rendered directly by
rcmcl_core.data.synthetic.generate.make_clip (no dataset needed). The bag holds, at `fps` (default 30 Hz):

| topic                       | type                              | notes                                      |
|-----------------------------|-----------------------------------|--------------------------------------------|
| /rgb/image_raw              | sensor_msgs/Image bgra8           | rgb_camera_link                            |
| /rgb/camera_info            | sensor_msgs/CameraInfo            |                                            |
| /depth_to_rgb/image_raw     | sensor_msgs/Image 16UC1 (mm)      | registered to rgb (same pinhole)           |
| /depth_to_rgb/camera_info   | sensor_msgs/CameraInfo            |                                            |
| /points2                    | sensor_msgs/PointCloud2           | Azure layout, NaN = invalid, rgb_camera_link |
| /body_tracking_data         | visualization_msgs/MarkerArray    | 32 k4abt joints, id = body*100 + joint     |
| /rcmcl/ground_truth         | std_msgs/String                   | class name per frame                       |
| /rcmcl/fault                | std_msgs/String                   | JSON per fault (annotations.Fault)         |
| /tf_static                  | tf2_msgs/TFMessage                | camera_base -> rgb/depth_camera_link       |

Scripted faults (annotations.FAULT_KINDS) degrade single topics at known times, so gates visibly move;
the schedule is in the bag (/rcmcl/fault, metadata custom_data) and in `rcmcl_demo.json` inside the bag
folder. Everything is a function of DemoBagConfig: a bag with the same config is reused, not rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from tqdm import tqdm

from rcmcl_core.atomic_io import atomic_write_bytes
from rcmcl_core.geometry.pinhole import Intrinsics
from rcmcl_core.data.synthetic.generate import SYNTHETIC_PRESETS, make_clip, synthetic_intrinsics
from rcmcl_core.data.synthetic.body import make_subject
from rcmcl_core.data.synthetic.classes import DEFAULT_CLASS_SET, class_set
from rcmcl_core.geometry.pinhole import pixel_rays
from rcmcl_core.geometry.skeleton_layout import AZURE_TO_NTU, JOINT_INDEX, NUM_AZURE_JOINTS
from rcmcl_ros.bag.files import DEFAULT_TOPICS, FAULT_TOPIC, GROUND_TRUTH_TOPIC, NS_PER_S, BagError, BagWriter
from rcmcl_ros.bag.annotations import Fault

DEFAULT_CACHE = Path("cache") / "demo_bag"
"""Demo bags land here (relative to the working directory; /cache/ is git-ignored)."""
SIDECAR = "rcmcl_demo.json"
"""The demo's config, actions and faults, inside the bag folder."""
START_NS = 1_700_000_000 * NS_PER_S
"""Bag time of the first frame (a fixed epoch keeps bags identical run to run)."""
HELD_OUT_SUBJECTS = (2, 4, 6, 8, 10)
"""Cross-subject test subjects of the lite benchmark (even ids; rcmcl_core.data.synthetic.generate._manifest)."""
DEFAULT_FAULTS = (("skeleton_lost", 0.125, 0.22), ("points_sparse", 0.31, 0.41), ("rgbd_blackout", 0.48, 0.58),
                  ("rgbd_dropped", 0.66, 0.76), ("points_dropped", 0.84, 0.94))
"""(fault, start, end) as fractions of the bag duration, used when no schedule is given."""
SPARSE_KEEP = 0.03
"""Fraction of valid points a points_sparse fault keeps."""
FRAMES = {"rgb": "rgb_camera_link", "depth": "rgb_camera_link", "points": "rgb_camera_link",
          "skeleton": "depth_camera_link", "base": "camera_base"}
"""Frame ids as the Azure driver uses them (depth_to_rgb and points2 in the colour camera's frame)."""
CAMERA_INFO_TOPICS = {"rgb": "/rgb/camera_info", "depth": "/depth_to_rgb/camera_info"}
OPTICAL_ROTATION_XYZW = (-0.5, 0.5, -0.5, 0.5)
"""camera_base (x forward, z up) -> optical frame (z forward, y down): roll -90, yaw -90 degrees."""


@dataclass(frozen=True)
class DemoBagConfig:
    """Everything a demo bag depends on. faults None = DEFAULT_FAULTS scaled to the duration."""

    seed: int = 0
    actions: int = 8                    # clips in the sequence
    segment_s: float = 4.0              # seconds per action
    fps: float = 30.0
    image_size: int = 128               # rendered S x S; the node resizes to the checkpoint's size
    cloud_stride: int = 2               # the cloud samples every stride-th depth pixel per axis
    classes: tuple[str, ...] = ()       # class names to draw actions from; () = all classes of class_set
    class_set: str = DEFAULT_CLASS_SET  # bundled (the 24 classes) or novel (classes.NOVEL_CLASSES)
    subject: int = 0                    # performer id; 0 = a held-out subject chosen by the seed
    camera: int = 1                     # rig camera id (1 = front, the cross-view test camera)
    faults: tuple[Fault, ...] | None = None
    storage: str = "mcap"
    compress: bool = True

    def validate(self) -> "DemoBagConfig":
        checks = ((self.actions >= 1, f"actions must be >= 1, got {self.actions}"),
                  (self.segment_s >= 0.5, f"segment_s must be >= 0.5 s, got {self.segment_s}"),
                  (self.fps > 0, f"fps must be > 0, got {self.fps}"),
                  (self.image_size >= 16, f"image_size must be >= 16 pixels, got {self.image_size}"),
                  (1 <= self.cloud_stride <= self.image_size // 4,
                   f"cloud_stride must be in [1, image_size / 4], got {self.cloud_stride}"),
                  (self.subject >= 0, f"subject must be >= 0 (0 = held out by seed), got {self.subject}"))
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        names = class_set(self.class_set).names
        unknown = [name for name in self.classes if name not in names]
        if unknown:
            raise ValueError(f"unknown class {unknown[0]!r} in class set {self.class_set!r}; classes are "
                             f"{', '.join(names)}")
        return self

    @property
    def duration_s(self) -> float:
        return self.actions * self.segment_s

    def schedule(self) -> tuple[Fault, ...]:
        if self.faults is not None:
            return tuple(self.faults)
        d = self.duration_s
        faults = []
        for name, a, b in DEFAULT_FAULTS:   # on a half-second grid, at least half a second long
            start = round(a * d * 2) / 2
            faults.append(Fault(name=name, start_s=start, end_s=max(start + 0.5, round(b * d * 2) / 2)))
        return tuple(faults)

    def key(self) -> str:
        """Short hash of the config: the cache folder name."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["faults"] = [str(f) for f in self.schedule()]
        data["classes"] = list(self.classes)
        if self.class_set == DEFAULT_CLASS_SET:
            del data["class_set"]                     # bags made before class sets keep their cache key
        return data


@dataclass
class DemoPlan:
    """What the bag will show: per action (start_s, end_s, class name), the faults, the subject."""

    subject: int
    actions: list[tuple[float, float, str]]
    faults: tuple[Fault, ...]
    intrinsics: Intrinsics
    extra: dict[str, Any] = field(default_factory=dict)


def plan(config: DemoBagConfig) -> DemoPlan:
    """Actions drawn by the seed (distinct while there are enough classes), subject held out by default."""
    rng = np.random.default_rng([config.seed, 7])
    pool = list(config.classes) or list(class_set(config.class_set).names)
    order: list[str] = []
    while len(order) < config.actions:
        order += [pool[i] for i in rng.permutation(len(pool))]
    subject = config.subject or HELD_OUT_SUBJECTS[config.seed % len(HELD_OUT_SUBJECTS)]
    actions = [(i * config.segment_s, (i + 1) * config.segment_s, name)
               for i, name in enumerate(order[:config.actions])]
    intrinsics = synthetic_intrinsics(width=config.image_size, height=config.image_size)
    return DemoPlan(subject=subject, actions=actions, faults=config.schedule(), intrinsics=intrinsics)


def bag_is_cached(out: Path, config_dict: dict, *, force: bool) -> bool:
    """True when `out` already holds a demo bag written with `config_dict` (reuse it). Otherwise clear the
    way for a new one: BagError when `out` holds something else, or another demo bag without `force`."""
    existing = read_sidecar(out)
    if existing is not None and existing.get("config") == config_dict:
        return True
    if out.exists():
        if existing is None:
            raise BagError(f"cannot write the demo bag to {out}: it exists and is not a demo bag")
        if not force:
            raise BagError(f"{out} holds a demo bag of other parameters; pass --force to rebuild it")
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return False


def make_demo_bag(config: DemoBagConfig, *, out: Path | None = None, force: bool = False,
                  progress: bool = True) -> Path:
    """Write the demo bag (a rosbag2 folder) and return its path; reuse it when `out` already holds a demo
    bag of the same config. out None = DEFAULT_CACHE/demo_<config key>. Raises BagError when `out` holds
    something else (or another demo bag without `force`)."""
    config.validate()
    out = Path(out) if out is not None else DEFAULT_CACHE / f"demo_{config.key()}"
    if bag_is_cached(out, config.to_dict(), force=force):
        return out
    demo = plan(config)
    sidecar = {"config": config.to_dict(), "subject": demo.subject, "duration_s": config.duration_s,
               "start_ns": START_NS, "actions": [list(a) for a in demo.actions],
               "faults": [json.loads(f.to_json()) for f in demo.faults], "topics": DEFAULT_TOPICS,
               "frames": FRAMES}
    with BagWriter(out, storage=config.storage, compress=config.compress) as bag:
        declare_topics(bag)
        bag.set_custom_data("rcmcl_demo", json.dumps(sidecar))
        bag.write("/tf_static", START_NS, tf_static_message(START_NS))
        for fault in demo.faults:
            bag.write(FAULT_TOPIC, START_NS + int(round(fault.start_s * NS_PER_S)), string_message(fault.to_json()))
        for stamp_ns, topic, msg in _frames(config, demo, progress=progress):
            bag.write(topic, stamp_ns, msg)
    atomic_write_bytes(out / SIDECAR, (json.dumps(sidecar, indent=1) + "\n").encode())
    return out


def read_sidecar(bag: Path) -> dict[str, Any] | None:
    """The demo description stored in a demo bag folder, None when there is none (or it is unreadable)."""
    try:
        return json.loads((Path(bag) / SIDECAR).read_text())
    except (OSError, ValueError):
        return None


def declare_topics(bag: BagWriter) -> None:
    """The demo bag's topics (the Azure Kinect driver's, camera_info, tf, ground truth, faults) in `bag`."""
    image, info = "sensor_msgs/msg/Image", "sensor_msgs/msg/CameraInfo"
    for topic, msgtype in ((DEFAULT_TOPICS["rgb"], image), (CAMERA_INFO_TOPICS["rgb"], info),
                           (DEFAULT_TOPICS["depth"], image), (CAMERA_INFO_TOPICS["depth"], info),
                           (DEFAULT_TOPICS["points"], "sensor_msgs/msg/PointCloud2"),
                           (DEFAULT_TOPICS["skeleton"], "visualization_msgs/msg/MarkerArray"),
                           (GROUND_TRUTH_TOPIC, "std_msgs/msg/String"), (FAULT_TOPIC, "std_msgs/msg/String")):
        bag.add_topic(topic, msgtype)
    bag.add_topic("/tf_static", "tf2_msgs/msg/TFMessage", latched=True)


def _frames(config: DemoBagConfig, demo: DemoPlan, *, progress: bool) -> Iterator[tuple[int, str, Any]]:
    """(stamp_ns, topic, rclpy message) in record order, frame by frame."""
    frames_per_action = int(round(config.segment_s * config.fps))
    subject = make_subject(demo.subject, seed=0)       # the benchmark's subjects are made with seed 0
    rays = pixel_rays(intrinsics=demo.intrinsics).reshape(config.image_size, config.image_size, 3)
    rays = rays[::config.cloud_stride, ::config.cloud_stride].reshape(-1, 3).astype(np.float32)
    stride = config.cloud_stride
    sparse_rng = np.random.default_rng([config.seed, 11])
    held: dict[str, tuple[np.ndarray, np.ndarray]] = {}     # rgbd_frozen: the frame at the fault's start
    infos = {stream: camera_info_message(demo.intrinsics, frame_id=FRAMES[stream]) for stream in CAMERA_INFO_TOPICS}
    bar = tqdm(total=config.actions * frames_per_action, desc="demo bag", unit="frame", disable=not progress)
    try:
        for index, (start_s, _, name) in enumerate(demo.actions):
            clip = make_clip(class_set(config.class_set).index(name), subject, config.camera,
                             [config.seed, 1000 + index], intrinsics=demo.intrinsics, fps=config.fps,
                             frames=frames_per_action, num_points=16, max_bodies=1,
                             synthetic=SYNTHETIC_PRESETS["lite"], class_set=config.class_set)
            for k in range(frames_per_action):
                t_s = start_s + k / config.fps
                stamp_ns = START_NS + int(round(t_s * NS_PER_S))
                active = {fault.name for fault in demo.faults if fault.active(t_s)}
                rgb, depth_mm = clip["rgb"][k], clip["depth_mm"][k]
                joints = clip["skeleton"][k][clip["skeleton_valid"][k]]
                if "rgbd_frozen" in active:
                    rgb, depth_mm = held.setdefault("rgbd_frozen", (rgb, depth_mm))
                else:
                    held.pop("rgbd_frozen", None)
                jump = next((f for f in demo.faults if f.name == "skeleton_jumps" and f.active(t_s)), None)
                if jump is not None:
                    joints = jumped_joints(joints, frame=int(round((t_s - jump.start_s) * config.fps)),
                                           seed=config.seed)
                cloud = rays * (depth_mm[::stride, ::stride].reshape(-1, 1).astype(np.float32) / 1000.0)
                cloud[depth_mm[::stride, ::stride].reshape(-1) == 0] = np.nan
                yield from frame_messages(stamp_ns, rgb=rgb, depth_mm=depth_mm, cloud=cloud,
                                           joints=joints, label=name,
                                           active=active, infos=infos, sparse_rng=sparse_rng)
                bar.update(1)
    finally:
        bar.close()


def frame_messages(stamp_ns: int, *, rgb: np.ndarray, depth_mm: np.ndarray, cloud: np.ndarray,
                   joints: np.ndarray, label: str, active: set[str], infos: dict[str, Any],
                   sparse_rng: np.random.Generator, body_ids: tuple[int, ...] | None = None,
                   ) -> Iterator[tuple[int, str, Any]]:
    """One frame's messages with the active faults applied. rgb (S, S, 3) uint8, depth_mm (S, S) uint16,
    cloud (K, 3) metres with NaN rows, joints (B, 25, 3) metres of the tracked bodies, body_ids their ids
    (default 1..B)."""
    from rcmcl_ros.conversions import numpy_to_image, skeleton_to_markers, xyz_to_pointcloud2

    stamp = _time(stamp_ns)
    if "rgbd_dropped" not in active:
        if "rgbd_blackout" in active:
            rgb, depth_mm = np.zeros_like(rgb), np.zeros_like(depth_mm)
        bgra = np.concatenate([rgb[..., ::-1], np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)
        yield stamp_ns, DEFAULT_TOPICS["rgb"], numpy_to_image(bgra, encoding="bgra8", stamp=stamp,
                                                              frame_id=FRAMES["rgb"])
        yield stamp_ns, CAMERA_INFO_TOPICS["rgb"], _stamped(infos["rgb"], stamp)
        yield stamp_ns, DEFAULT_TOPICS["depth"], numpy_to_image(depth_mm, encoding="16UC1", stamp=stamp,
                                                                frame_id=FRAMES["depth"])
        yield stamp_ns, CAMERA_INFO_TOPICS["depth"], _stamped(infos["depth"], stamp)
    if "points_dropped" not in active:
        if "points_sparse" in active:
            cloud = np.where((sparse_rng.random(len(cloud)) < SPARSE_KEEP)[:, None], cloud, np.nan)
        yield stamp_ns, DEFAULT_TOPICS["points"], xyz_to_pointcloud2(cloud, stamp=stamp, frame_id=FRAMES["points"],
                                                                     layout="azure")
    lost = "skeleton_lost" in active
    bodies = np.zeros((0, 32, 3)) if lost else azure32_from_ntu25(joints)
    yield stamp_ns, DEFAULT_TOPICS["skeleton"], skeleton_to_markers(
        bodies, layout="azure32", stamp=stamp, frame_id=FRAMES["skeleton"],
        body_ids=None if body_ids is None or lost else tuple(body_ids))
    yield stamp_ns, GROUND_TRUTH_TOPIC, string_message(label)


def jumped_joints(joints: np.ndarray, *, frame: int, seed: int) -> np.ndarray:
    """skeleton_jumps on the bag: frames are taken in pairs (sensor_faults.JUMP_FRAMES); in every other pair a
    joint or the whole body (drawn per pair) teleports by sensor_faults' distance at severity 1 (1.0 m).
    joints (B, 25, 3) metres of the tracked bodies -> same shape."""
    import torch

    from rcmcl_core.augment.sensor_faults import JUMP_FRAMES, jump_distance_m, jump_joints
    pair = frame // JUMP_FRAMES
    if pair % 2 == 1 or len(joints) == 0:
        return joints
    skeleton = torch.from_numpy(np.ascontiguousarray(joints, dtype=np.float32))[None, None]   # (1, 1, B, 25, 3)
    generator = torch.Generator().manual_seed(int(seed) * 100003 + pair)
    moved = jump_joints(skeleton, torch.ones(1, dtype=torch.long), jump_distance_m(torch.ones(1)),
                        generator=generator)
    return moved[0, 0].numpy().astype(joints.dtype)


def azure32_from_ntu25(joints: np.ndarray) -> np.ndarray:
    """(B, 25, 3) NTU-order joints -> (B, 32, 3) in k4abt order, metres. The 25 mapped joints are copied;
    the 7 k4abt joints NTU lacks (clavicles, nose, eyes, ears) are placed roughly (the node ignores them),
    so each body has the driver's full set of 32 markers."""
    joints = np.asarray(joints, dtype=np.float64).reshape(-1, 25, 3)
    out = np.zeros((len(joints), NUM_AZURE_JOINTS, 3))
    out[:, AZURE_TO_NTU] = joints
    j = JOINT_INDEX
    chest, head, neck = joints[:, j["spine_shoulder"]], joints[:, j["head"]], joints[:, j["neck"]]
    left, right = joints[:, j["left_shoulder"]], joints[:, j["right_shoulder"]]
    across = (left - right) / np.maximum(np.linalg.norm(left - right, axis=-1, keepdims=True), 1e-6)
    up = (head - neck) / np.maximum(np.linalg.norm(head - neck, axis=-1, keepdims=True), 1e-6)
    front = np.cross(up, across)                                     # out of the face (left-handed sign aside)
    out[:, 4], out[:, 11] = (chest + left) / 2, (chest + right) / 2  # clavicle_left, clavicle_right
    out[:, 27] = head + 0.09 * front                                 # nose
    out[:, 28], out[:, 30] = head + 0.07 * front + 0.03 * across, head + 0.07 * front - 0.03 * across  # eyes
    out[:, 29], out[:, 31] = head + 0.08 * across, head - 0.08 * across                                # ears
    return out.astype(np.float32)


def _time(stamp_ns: int) -> Any:
    from builtin_interfaces.msg import Time

    return Time(sec=stamp_ns // NS_PER_S, nanosec=stamp_ns % NS_PER_S)


def string_message(text: str) -> Any:
    """std_msgs/String (ground truth, faults)."""
    from std_msgs.msg import String

    return String(data=text)


def camera_info_message(intrinsics: Intrinsics, *, frame_id: str) -> Any:
    """sensor_msgs/CameraInfo of a pinhole (plumb_bob, no distortion)."""
    from sensor_msgs.msg import CameraInfo

    fx, fy, cx, cy = intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy
    info = CameraInfo(width=intrinsics.width, height=intrinsics.height, distortion_model="plumb_bob",
                      d=[0.0] * 5, k=[fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      p=[fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0])
    info.header.frame_id = frame_id
    return info


def _stamped(msg: Any, stamp: Any) -> Any:
    msg.header.stamp = stamp
    return msg


def tf_static_message(stamp_ns: int) -> Any:
    """tf2_msgs/TFMessage built with rosbags' typestore (the tf2_msgs Python package may be missing):
    camera_base -> rgb_camera_link and -> depth_camera_link, one pinhole for both (the synthetic camera)."""
    from rcmcl_ros.bag.files import typestore

    types = typestore().types
    time = types["builtin_interfaces/msg/Time"](sec=stamp_ns // NS_PER_S, nanosec=stamp_ns % NS_PER_S)
    qx, qy, qz, qw = OPTICAL_ROTATION_XYZW
    transforms = [types["geometry_msgs/msg/TransformStamped"](
        header=types["std_msgs/msg/Header"](stamp=time, frame_id=FRAMES["base"]), child_frame_id=child,
        transform=types["geometry_msgs/msg/Transform"](
            translation=types["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0),
            rotation=types["geometry_msgs/msg/Quaternion"](x=qx, y=qy, z=qz, w=qw)))
        for child in (FRAMES["rgb"], FRAMES["skeleton"])]
    return types["tf2_msgs/msg/TFMessage"](transforms=transforms)
