"""The rclpy node: a thin shell over Pipeline (docs/ARCHITECTURE.md).

Subscription callbacks only convert and push (Pipeline.ingest); a timer polls complete windows and puts
those of one poll (the newest MAX_WINDOWS_PER_POLL) into a one-slot queue, where a newer batch replaces one
not yet taken (replaced windows are counted); ONE worker thread runs the model and publishes, so a slow model
delays decisions but never the callbacks. Inputs use sensor-data QoS (best effort), outputs are reliable;
~/labels is latched (transient local). Stamps come from the node clock, so `use_sim_time` replays run on the
bag's /clock.
"""
from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import rclpy
import rclpy.executors
import rclpy.logging
import rclpy.time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Float32MultiArray, MultiArrayDimension, String
from visualization_msgs.msg import MarkerArray

from rcmcl_core.rotation import rigid_transform, rotation_from_quaternion
from rcmcl_ros.conversions import seconds_to_stamp
from rcmcl_ros.markers import gate_markers
from rcmcl_ros.node_diagnostics import diagnostics
from rcmcl_ros.node_params import declare_parameters, read_parameters, resolve_checkpoint
from rcmcl_ros.pipeline import Decision, Drop, Pipeline, message_stamp_s
from rcmcl_ros.window import Window

NODE_NAME = "rcmcl_node"
WORKER_POLL_S = 0.1
"""How often the idle worker checks for shutdown."""
WORKER_JOIN_S = 5.0
"""Longest wait for an inference in flight at shutdown."""
MAX_WINDOWS_PER_POLL = 4
"""Windows completed by one poll that are all inferred. A reference camera slower than 1 / stride (5 fps:
two windows per frame) and the catch-up after a dead reference stream (stale_after_s / stride) complete
several at once, and each is a decision the node owes; beyond that, only the newest are worth the latency."""


class NodeStartError(RuntimeError):
    """The node cannot start (missing or invalid checkpoint, bad parameter); the message says why."""


class LatestSlot:
    """A one-slot queue: `put` replaces what is there (the newest window wins), `take` waits for an item."""

    def __init__(self) -> None:
        self._item: Any = None
        self._ready = threading.Condition()

    def put(self, item: Any) -> bool:
        """Store item; True when it replaced one that was never taken."""
        with self._ready:
            replaced = self._item is not None
            self._item = item
            self._ready.notify()
        return replaced

    def take(self, *, timeout_s: float) -> Any:
        with self._ready:
            if self._item is None:
                self._ready.wait(timeout_s)
            item, self._item = self._item, None
        return item


class RCMCLNode(Node):
    """Parameters: node_params.PARAMETERS. Raises NodeStartError when the pipeline cannot be built."""

    def __init__(self, *, node_name: str = NODE_NAME, pipeline: Pipeline | None = None, **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        try:
            declare_parameters(self)
            self.settings, pipeline_config = read_parameters(self)
            self.checkpoint_path = resolve_checkpoint(self.settings.checkpoint)
            if pipeline is None and not self.checkpoint_path.is_file():
                which = "the bundled checkpoint" if not self.settings.checkpoint else "parameter 'checkpoint'"
                raise FileNotFoundError(f"checkpoint not found: {self.checkpoint_path} ({which}; point the "
                                        f"'checkpoint' parameter at an rcmcl .pt file)")
            self.pipeline = pipeline or Pipeline.from_checkpoint(self.checkpoint_path, config=pipeline_config)
        except Exception as error:
            super().destroy_node()
            raise NodeStartError(str(error)) from error
        self._tf = _attach_tf(self) if self.settings.use_tf else None
        self._slot = LatestSlot()
        self._pending = 0            # windows in the batch last put into the slot
        self._stop = threading.Event()
        self._decision_lock = threading.Lock()
        self._last_decision: Decision | None = None
        self._last_decision_wall: float | None = None
        self._drops_reported = 0
        self._logged: dict[str, float] = {}
        self._create_interfaces()
        self.people = self._attach_people()
        self._worker = threading.Thread(target=self._work, name="rcmcl_inference", daemon=True)
        self._worker.start()
        clip = self.pipeline.model_config.clip
        self.get_logger().info(
            f"rcmcl ready: checkpoint {self.pipeline.checkpoint_path or '(given model)'}, device "
            f"{self.pipeline.device}, T={clip.frames} over {clip.window_s} s, {clip.image_size}px, "
            f"N={clip.num_points}, {len(self.pipeline.labels)} classes, a decision every "
            f"{self.pipeline.config.window.stride_s} s")

    # -- wiring ------------------------------------------------------------------------------------
    def _create_interfaces(self) -> None:
        s = self.settings
        sensor = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=s.input_qos_depth,
                            reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)
        out = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=s.output_qos_depth,
                         reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
        latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        for stream, kind, topic in (("rgb", Image, s.rgb_topic), ("depth", Image, s.depth_topic),
                                    ("points", PointCloud2, s.points_topic),
                                    ("skeleton", MarkerArray, s.skeleton_topic)):
            self.create_subscription(kind, topic, lambda msg, stream=stream: self._on_message(stream, msg), sensor)
        self.action_pub = self.create_publisher(String, "~/action", out)
        self.scores_pub = self.create_publisher(Float32MultiArray, "~/scores", out)
        self.reliability_pub = self.create_publisher(Float32MultiArray, "~/reliability", out)
        self.status_pub = self.create_publisher(DiagnosticArray, "~/reliability_status", out)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", out)
        self.markers_pub = self.create_publisher(MarkerArray, "~/gate_markers", out)
        self.labels_pub = self.create_publisher(String, "~/labels", latched)
        self.labels_pub.publish(String(data="\n".join(self.pipeline.labels)))
        self.create_timer(s.poll_period_s, self._poll)
        self.create_timer(s.diagnostics_period_s, self._publish_diagnostics)

    def now_s(self) -> float:
        """The node clock in seconds (sim time under use_sim_time; 0 before the first /clock)."""
        return self.get_clock().now().nanoseconds * 1e-9

    # -- callbacks (executor thread): convert + push only -------------------------------------------
    def _on_message(self, stream: str, msg: Any) -> None:
        if stream == "skeleton" and self.people is not None:
            msg = self.people.main_actor_markers(msg)   # single-person topics follow the main actor
        now_s = self.now_s()
        drop = self.pipeline.ingest(stream, message_stamp_s(msg, fallback_s=now_s), msg, now_s=now_s)
        if drop is not None:
            self._log_drop(drop)

    def _log_drop(self, drop: Drop) -> None:
        key = f"{drop.stream}/{drop.reason}"
        wall = time.monotonic()
        if wall - self._logged.get(key, -np.inf) < self.settings.log_throttle_s:
            return
        self._logged[key] = wall
        count = self.pipeline.stats.drops.get(key, 0)
        self.get_logger().warning(f"dropped {drop.stream} message ({drop.reason}, {count} so far): {drop.detail}")

    def _poll(self) -> None:
        now_s = self.now_s()
        if now_s <= 0.0:   # sim time before the first /clock
            return
        windows = self.pipeline.ready_windows(now_s)
        if windows:
            batch = tuple(windows[-MAX_WINDOWS_PER_POLL:])
            replaced = len(windows) - len(batch)
            if self._slot.put(batch):
                replaced += self._pending
            self._pending = len(batch)
            if replaced:
                self.pipeline.stats.count_replaced(replaced)

    # -- worker thread: infer + publish -------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            batch = self._slot.take(timeout_s=WORKER_POLL_S)
            for window in batch or ():
                if self._stop.is_set():
                    return
                try:
                    decision = self.pipeline.infer(window)
                    self._publish(decision, window)
                except Exception as error:  # keep deciding on the next window; say what failed
                    if self._stop.is_set() or not rclpy.ok(context=self.context):
                        return
                    self._log_once("inference", f"inference failed on the window ending {window.end_s:.3f} s: "
                                                f"{type(error).__name__}: {error}")

    def _publish(self, decision: Decision, window: Window) -> None:
        stamp = seconds_to_stamp(max(0.0, decision.stamp_s))
        self.action_pub.publish(String(data=decision.label))
        self.scores_pub.publish(_float_array(decision.scores, label="classes"))
        self.reliability_pub.publish(_float_array(decision.gates, label="modalities"))
        self.markers_pub.publish(gate_markers(gates=decision.gates, present=decision.present, label=decision.label,
                                              confidence=decision.confidence, stamp=stamp,
                                              frame_id=self.settings.marker_frame_id))
        self.pipeline.stats.record_latency("stamp_to_publish_s", self.now_s() - decision.stamp_s)
        with self._decision_lock:
            self._last_decision = decision
            self._last_decision_wall = time.monotonic()

    def _publish_diagnostics(self) -> None:
        snapshot = self.pipeline.snapshot(self.now_s())
        with self._decision_lock:
            decision, wall = self._last_decision, self._last_decision_wall
        since = None if wall is None else time.monotonic() - wall
        drops_since_last = snapshot["drops_total"] - self._drops_reported
        self._drops_reported = snapshot["drops_total"]
        array = diagnostics(snapshot=snapshot, decision=decision, seconds_since_decision=since,
                            drops_since_last=drops_since_last, decision_timeout_s=self.settings.decision_timeout_s,
                            node_name=self.get_fully_qualified_name(), stamp=self.get_clock().now().to_msg(),
                            extra={"device": str(self.pipeline.device),
                                   "checkpoint": str(self.pipeline.checkpoint_path or "")})
        self.status_pub.publish(array)
        self.diagnostics_pub.publish(array)

    def _log_once(self, key: str, message: str) -> None:
        wall = time.monotonic()
        if wall - self._logged.get(key, -np.inf) >= self.settings.log_throttle_s:
            self._logged[key] = wall
            self.get_logger().error(message)

    # -- shutdown -----------------------------------------------------------------------------------
    def _attach_people(self) -> Any:
        """Per-person output (rcmcl_ros/people_node.py) when the parameter max_people is above 1."""
        from rcmcl_ros.node_params import read_people_parameters
        from rcmcl_ros.people_node import PeopleAttachment

        try:
            config = read_people_parameters(self)
            return PeopleAttachment(self, config=config) if config.max_people > 1 else None
        except ValueError as error:
            super().destroy_node()
            raise NodeStartError(str(error)) from error

    def destroy_node(self) -> None:
        """Stop and join the worker (an inference in flight finishes first), then destroy the node."""
        if getattr(self, "people", None) is not None:
            self.people.stop()
        if hasattr(self, "_stop"):
            self._stop.set()
            self._slot.put(None)
            if self._worker.is_alive() and self._worker is not threading.current_thread():
                self._worker.join(WORKER_JOIN_S)
        super().destroy_node()


def _float_array(values: np.ndarray, *, label: str) -> Float32MultiArray:
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    msg = Float32MultiArray(data=values.tolist())
    msg.layout.dim = [MultiArrayDimension(label=label, size=len(values), stride=len(values))]
    return msg


def _attach_tf(node: RCMCLNode) -> Any:
    """tf2 listener feeding Pipeline.extrinsic_lookup, or None when tf2_ros is not installed."""
    try:
        import tf2_ros
    except ImportError:
        node.get_logger().info("tf2_ros is not installed: the skeleton -> points transform is the "
                               "camera_extrinsic parameter")
        return None
    buffer = tf2_ros.Buffer()
    listener = tf2_ros.TransformListener(buffer, node)

    def lookup(target: str, source: str, stamp_s: float) -> np.ndarray | None:
        if not buffer.can_transform(target, source, rclpy.time.Time()):
            return None
        transform = buffer.lookup_transform(target, source, rclpy.time.Time()).transform
        return _matrix(transform)

    node.pipeline.extrinsic_lookup = lookup
    return buffer, listener


def _matrix(transform: Any) -> np.ndarray:
    """geometry_msgs/Transform -> (4, 4)."""
    q, t = transform.rotation, transform.translation
    return rigid_transform(rotation_from_quaternion(q.x, q.y, q.z, q.w), (t.x, t.y, t.z))


def run(args: list[str] | None = None) -> int:
    """init, spin until Ctrl-C / shutdown, clean up. 0 on a clean exit; 1 when the node cannot start."""
    rclpy.init(args=args)
    node = None
    try:
        try:
            node = RCMCLNode()
        except NodeStartError as error:
            rclpy.logging.get_logger(NODE_NAME).error(f"cannot start: {error}")
            return 1
        executor = rclpy.executors.SingleThreadedExecutor()
        executor.add_node(node)
        try:
            executor.spin()
        except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
            pass
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()

