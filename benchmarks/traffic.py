"""Sensor traffic for the live-node benchmarks, published from a process of its own.

`publish_traffic(spec, results)` (a multiprocessing "spawn" target) publishes the four Azure Kinect driver
topics at `spec.rate_hz` on an absolute tick schedule, at the sizes the Azure Kinect driver sends with
colour 720P and depth NFOV_UNBINNED: 1280x720 bgra8 colour (3.7 MB), depth_to_rgb 1280x720 16UC1 (1.8 MB),
a 368,640-point points2 (640x576 depth pixels, the driver's padded xyz + rgb layout, 32 B a point, 11.8 MB,
NaN holes) and a 32-joint body MarkerArray,
all stamped with the tick's time. `spec.segments` switch streams off and on, change a stream's rate
(publish every k-th tick) and jump the clock (sim time, as a bag loop does); `hostile_per_tick` mixes in
malformed messages from test/hostile.py. `probe_transport` is a plain subscriber in another process that
measures now - header.stamp per message: the transport baseline the node is compared with.

Light imports only (no torch): spawned children start fast.
"""
from __future__ import annotations

import math
import os
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STREAMS = ("rgb", "depth", "points", "skeleton")
TOPICS = {"rgb": "rgb/image_raw", "depth": "depth_to_rgb/image_raw", "points": "points2",
          "skeleton": "body_tracking_data"}
CAMERA_INFO_TOPIC = "depth_to_rgb/camera_info"


@dataclass(frozen=True)
class FrameSizes:
    """colour (H, W), depth (H, W), cloud points, joints per body."""

    rgb: tuple[int, int]
    depth: tuple[int, int]
    points: int
    joints: int = 32


SIZES = {"azure": FrameSizes(rgb=(720, 1280), depth=(720, 1280), points=640 * 576),
         "small": FrameSizes(rgb=(72, 128), depth=(58, 64), points=2_000)}
"""azure: what the Azure Kinect driver publishes with color_resolution 720P, depth_mode NFOV_UNBINNED
(depth_to_rgb is registered to colour, so it has colour's size; points2 has one point per depth pixel);
small: for logic-only runs."""


@dataclass
class Segment:
    """`seconds` of traffic with `streams` on; `every[stream] = k` publishes it every k-th tick (30 Hz / k);
    `clock_jump_s` moves the clock at the segment start (sim time only; negative = back, as a bag loop)."""

    seconds: float
    streams: tuple[str, ...] = STREAMS
    every: dict[str, int] = field(default_factory=dict)
    clock_jump_s: float = 0.0
    name: str = ""


@dataclass
class TrafficSpec:
    domain_id: int
    segments: list[Segment]
    start_wall: float                  # time.time() of tick 0 (the parent picks it, so both sides know)
    rate_hz: float = 30.0
    sizes: str = "azure"
    sim_time: bool = False             # publish /clock; stamps follow it (origin sim_origin_s)
    sim_origin_s: float = 1000.0
    hostile_per_tick: float = 0.0      # mean malformed messages per tick (Poisson), any stream
    seed: int = 0
    serialized: bool = True            # publish pre-serialised CDR bytes (a C++ driver's cost, not rclpy's)
    people: int = 1                    # persons in the scene (bodies in the skeleton, bands in the images)
    enclave: str | None = None         # SROS2 enclave of the publisher (benchmarks/secured.py); None: unsecured
    probe_enclave: str | None = None   # the transport probe's


def sensor_qos() -> Any:
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def message_types() -> dict[str, type]:
    from sensor_msgs.msg import Image, PointCloud2
    from visualization_msgs.msg import MarkerArray

    return {"rgb": Image, "depth": Image, "points": PointCloud2, "skeleton": MarkerArray}


class SensorFrames:
    """One scene per stream: `people` persons standing 2 m in front of the camera, 1 m apart. Built once,
    then restamped per tick (building 17 MB of messages per tick would measure the publisher, not the node).
    A live camera never repeats a frame bit for bit, and the node's sensor-health rule rejects colour + depth
    that do (a frozen camera, rcmcl_core/sensor_health.py), so colour and depth come in `VARIANTS` versions
    with their own pixel noise, published in turn, and every valid depth pixel of tick k is `k % DEPTH_STEPS`
    millimetres farther: any two frames less than DEPTH_STEPS ticks apart differ (whichever ones the node's
    input gate keeps), as a real sensor's do. The cloud and the skeleton stay the same (people standing
    still; no rule rejects that)."""

    VARIANTS = 3
    DEPTH_STEPS = 32

    def __init__(self, sizes: FrameSizes, *, seed: int = 0, people: int = 1) -> None:
        from rcmcl_ros.conversions import numpy_to_image, skeleton_to_markers, xyz_to_pointcloud2

        if people < 1:
            raise ValueError(f"people must be >= 1, got {people}")
        rng = np.random.default_rng(seed)
        height, width = sizes.rgb
        depth_h, depth_w = sizes.depth
        offsets_m = [1.0 * (i - (people - 1) / 2) for i in range(people)]
        joints = np.zeros((people, sizes.joints, 3))
        for i, offset in enumerate(offsets_m):
            joints[i, :, 0] = offset + rng.normal(0.0, 0.1, sizes.joints)
            joints[i, :, 1] = np.linspace(-0.8, 0.8, sizes.joints)
            joints[i, :, 2] = 2.0
        colour_base = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
        depth_base = np.full((depth_h, depth_w), 4000, np.uint16)
        for offset in offsets_m:                    # a band 0.5 m wide per person at 2 m (605 px focal length)
            centre = width / 2 + 605.0 * offset / 2.0 * width / 1280
            half = 605.0 * 0.25 / 2.0 * width / 1280
            left, right = max(0, int(centre - half)), min(width, int(centre + half))
            colour_base[:, left:right, :3] = (40, 160, 220)
            d_left, d_right = (int(v * depth_w / width) for v in (left, right))
            depth_base[:, d_left:d_right] = 2000
        holes = rng.random(depth_base.shape) < 0.05
        self.variants: dict[str, list] = {"rgb": [], "depth": []}
        for _ in range(self.VARIANTS):
            noise = rng.integers(-2, 3, colour_base.shape, dtype=np.int16)
            colour = np.clip(colour_base.astype(np.int16) + noise, 0, 255).astype(np.uint8)
            depth = (depth_base.astype(np.int32) + rng.integers(-3, 4, depth_base.shape)).astype(np.uint16)
            depth[holes] = 0
            self.variants["rgb"].append(numpy_to_image(colour, encoding="bgra8", frame_id="rgb_camera_link"))
            self.variants["depth"].append(numpy_to_image(depth, encoding="16UC1", frame_id="rgb_camera_link"))
        near = sizes.points // 4
        body = rng.integers(0, people, near)
        person = joints[body, rng.integers(0, sizes.joints, near)] + rng.normal(0, 0.05, (near, 3))
        background = rng.uniform((-3, -2, 4), (3, 2, 6), (sizes.points - len(person), 3))
        cloud = np.concatenate([person, background]).astype(np.float32)
        cloud[rng.random(len(cloud)) < 0.02] = np.nan
        self.messages = {
            "rgb": self.variants["rgb"][0],
            "depth": self.variants["depth"][0],
            "points": xyz_to_pointcloud2(cloud, frame_id="rgb_camera_link", layout="azure",
                                         rgb=rng.integers(0, 256, (len(cloud), 3), dtype=np.uint8)),
            "skeleton": skeleton_to_markers(joints, layout="azure32", frame_id="depth_camera_link"),
        }
        self._serialized: dict[tuple[str, int], bytearray] = {}

    def _depth_base(self, tick: int) -> np.ndarray:
        """The noisy depth pixels of tick's variant, before the per-tick offset (uint16 mm, flat)."""
        if not hasattr(self, "_depth_bases"):
            self._depth_bases = [np.frombuffer(bytes(m.data), dtype=np.uint16).copy() for m in self.variants["depth"]]
        return self._depth_bases[tick % len(self._depth_bases)]

    def _message(self, stream: str, variant: int) -> Any:
        versions = self.variants.get(stream)
        return versions[variant % len(versions)] if versions else self.messages[stream]

    def stamped(self, stream: str, t_s: float, *, tick: int = 0) -> Any:
        """The message of `tick` stamped t_s (a shared object: restamped, and for depth refilled, in place)."""
        from rcmcl_ros.conversions import seconds_to_stamp

        msg, stamp = self._message(stream, tick), seconds_to_stamp(t_s)
        if stream == "depth":
            base = self._depth_base(tick)
            msg.data = (base + np.uint16(tick % self.DEPTH_STEPS) * (base > 0)).astype(np.uint16).tobytes()
        for header in ([m.header for m in msg.markers] if stream == "skeleton" else [msg.header]):
            header.stamp = stamp
        return msg

    def serialized(self, stream: str, t_s: float, *, tick: int = 0) -> bytes:
        """The message stamped t_s as CDR bytes, for Publisher.publish (as a C++ driver publishes: no Python
        message -> C conversion of 4-12 MB per frame). Big messages are serialised once per variant and
        restamped in place (header.stamp is the first field: bytes 4-11 after the encapsulation header)."""
        if stream == "skeleton":
            from rclpy.serialization import serialize_message

            return serialize_message(self.stamped(stream, t_s))
        key = (stream, tick % len(self.variants.get(stream, [None])))
        if key not in self._serialized:
            from rclpy.serialization import serialize_message

            data = bytearray(serialize_message(self._message(stream, key[1])))
            if data[1] & 1 == 0:
                raise ValueError("expected little-endian CDR")
            if stream == "depth" and bytes(data[-self._depth_base(tick).nbytes:]) != self._depth_base(tick).tobytes():
                raise ValueError("expected the depth pixels at the end of the CDR")
            self._serialized[key] = data
        data = self._serialized[key]
        if stream == "depth":          # the pixels are the last bytes of the CDR (Image.data is its last field)
            base = self._depth_base(tick)
            pixels = np.frombuffer(memoryview(data)[len(data) - base.nbytes:], dtype=np.uint16)
            np.add(base, np.uint16(tick % self.DEPTH_STEPS) * (base > 0), out=pixels, casting="unsafe")
        sec = math.floor(t_s)
        struct.pack_into("<iI", data, 4, sec, min(999_999_999, round((t_s - sec) * 1e9)))
        return bytes(data)

    def camera_info(self, t_s: float) -> Any:
        """depth_to_rgb's CameraInfo (a 605 px focal length at 1280x720, the Azure's 720P colour camera)."""
        from sensor_msgs.msg import CameraInfo

        from rcmcl_ros.conversions import seconds_to_stamp

        depth = self.messages["depth"]
        info = CameraInfo(width=depth.width, height=depth.height)
        info.k = [605.0, 0.0, depth.width / 2 - 0.5, 0.0, 605.0, depth.height / 2 - 0.5, 0.0, 0.0, 1.0]
        info.header.frame_id = depth.header.frame_id
        info.header.stamp = seconds_to_stamp(t_s)
        return info

    def nbytes(self, stream: str) -> int:
        msg = self.messages[stream]
        return len(msg.data) if hasattr(msg, "data") else 0


def _segment_at(segments: list[Segment], elapsed_s: float) -> tuple[int, Segment] | None:
    start = 0.0
    for index, segment in enumerate(segments):
        if elapsed_s < start + segment.seconds:
            return index, segment
        start += segment.seconds
    return None


def publish_traffic(spec: TrafficSpec, results: Any) -> None:
    """Spawn target: publish until the segments run out, then put a summary dict on `results`:
    published {stream: n}, hostile {expected reason: n}, hostile_total, ticks, late_ticks (> 1 tick late)."""
    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node
    from rosgraph_msgs.msg import Clock

    from rcmcl_ros.conversions import seconds_to_stamp

    hostile = None
    if spec.hostile_per_tick > 0:
        from hostile import hostile_message as hostile   # test/hostile.py, on sys.path via the parent
    context = Context()
    rclpy.init(args=ros_init_args(spec.enclave), context=context, domain_id=spec.domain_id)
    node = Node("traffic", context=context)
    types = message_types()
    publishers = {s: node.create_publisher(types[s], TOPICS[s], sensor_qos()) for s in STREAMS}
    from sensor_msgs.msg import CameraInfo

    info_pub = node.create_publisher(CameraInfo, CAMERA_INFO_TOPIC, sensor_qos())
    clock_pub = node.create_publisher(Clock, "/clock", 10)
    frames = SensorFrames(SIZES[spec.sizes], seed=spec.seed, people=spec.people)
    rng = np.random.default_rng(spec.seed)
    published, hostile_counts = Counter(), Counter()
    tick, late, jump, current = 0, 0, 0.0, -1
    period = 1.0 / spec.rate_hz
    try:
        while True:
            due = spec.start_wall + tick * period
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            elif wait < -period:
                late += 1
            elapsed = tick * period
            found = _segment_at(spec.segments, elapsed)
            if found is None:
                break
            index, segment = found
            if index != current:
                current, jump = index, jump + segment.clock_jump_s
            t = (spec.sim_origin_s + elapsed + jump) if spec.sim_time else time.time()
            if spec.sim_time:
                clock_pub.publish(Clock(clock=seconds_to_stamp(t)))
            for stream in segment.streams:
                if tick % segment.every.get(stream, 1) == 0:
                    if stream == "depth":               # for points_source: depth (depth_to_rgb/camera_info)
                        info_pub.publish(frames.camera_info(t))
                    publishers[stream].publish(frames.serialized(stream, t, tick=tick) if spec.serialized
                                               else frames.stamped(stream, t, tick=tick))
                    published[stream] += 1
            if hostile is not None:
                for _ in range(rng.poisson(spec.hostile_per_tick)):
                    stream = STREAMS[int(rng.integers(len(STREAMS)))]
                    msg, reason = hostile(rng, stream, t)
                    publishers[stream].publish(msg)
                    hostile_counts[f"{stream}/{reason or 'accepted'}"] += 1
            tick += 1
    finally:
        results.put({"published": dict(published), "hostile": dict(hostile_counts), "cpu_s": time.process_time(),
                     "hostile_total": sum(hostile_counts.values()), "ticks": tick, "late_ticks": late,
                     "pid": os.getpid()})
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def ros_init_args(enclave: str | None) -> list[str]:
    """rclpy.init arguments: the enclave when secured, else none (not the parent's sys.argv)."""
    return ["rcmcl_bench", "--ros-args", "--enclave", enclave] if enclave else ["rcmcl_bench"]


def probe_transport(domain_id: int, until_wall: float, since_s: float, results: Any,
                    enclave: str | None = None) -> None:
    """Spawn target: a plain subscriber (the node's sensor QoS) measuring time.time() - header.stamp per
    message stamped >= since_s, until time.time() reaches until_wall. Puts {stream: latencies (s)}."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    context = Context()
    rclpy.init(args=ros_init_args(enclave), context=context, domain_id=domain_id)
    node = Node("transport_probe", context=context)
    latency: dict[str, list[float]] = {s: [] for s in STREAMS}

    def record(stream: str, msg: Any) -> None:
        now = time.time()
        header = msg.markers[0].header if stream == "skeleton" else msg.header
        stamp = header.stamp.sec + header.stamp.nanosec * 1e-9
        if stamp >= since_s:
            latency[stream].append(now - stamp)

    types = message_types()
    for stream in STREAMS:
        node.create_subscription(types[stream], TOPICS[stream], lambda m, s=stream: record(s, m), sensor_qos())
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        while time.time() < until_wall:
            executor.spin_once(timeout_sec=0.1)
    finally:
        results.put({s: np.array(v) for s, v in latency.items()})
        node.destroy_node()
        rclpy.try_shutdown(context=context)


class TrafficRun:
    """Parent side: `publish_traffic` (and, with probe=True, `probe_transport`) in spawned processes.

    The publisher's tick 0 is `spec.start_wall`; pick it a few seconds ahead so the children have started and
    discovered the node. `wait()` shows progress until the last segment ends; `results()` collects."""

    def __init__(self, spec: TrafficSpec, *, probe: bool = False, probe_since_s: float = 0.0) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.spec = spec
        self.end_wall = spec.start_wall + sum(segment.seconds for segment in spec.segments)
        self._publisher_results, self._probe_results = context.Queue(), context.Queue()
        self.publisher = context.Process(target=publish_traffic, args=(spec, self._publisher_results),
                                         name="traffic", daemon=True)
        self.probe = None
        if probe:
            self.probe = context.Process(target=probe_transport, name="transport_probe", daemon=True,
                                         args=(spec.domain_id, self.end_wall + 0.5, probe_since_s,
                                               self._probe_results, spec.probe_enclave))
            self.probe.start()
        self.publisher.start()

    def wait(self, *, desc: str, on_second: Any = None) -> None:
        """Block until the traffic ends, with a tqdm bar in seconds; on_second(elapsed_s) once a second."""
        from tqdm import tqdm

        total = self.end_wall - time.time()
        with tqdm(total=round(total), desc=desc, unit="s", dynamic_ncols=True) as bar:
            started = time.time()
            while time.time() < self.end_wall and self.publisher.is_alive():
                time.sleep(min(1.0, max(0.0, self.end_wall - time.time())))
                bar.n = min(round(time.time() - started), bar.total)
                bar.refresh()
                if on_second is not None:
                    on_second(time.time() - started)

    def results(self, *, timeout_s: float = 30.0) -> tuple[dict, dict | None]:
        """(publisher summary, {stream: transport latencies} or None)."""
        published = self._publisher_results.get(timeout=timeout_s)
        probe = self._probe_results.get(timeout=timeout_s) if self.probe is not None else None
        for process in (self.publisher, self.probe):
            if process is not None:
                process.join(timeout=timeout_s)
        return published, probe
