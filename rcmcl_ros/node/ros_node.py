"""The rclpy node: a thin shell over Pipeline (docs/ARCHITECTURE.md).

Subscription callbacks only convert and push (Pipeline.ingest) and poll at once; a timer polls too; complete windows,
those of one poll (the newest MAX_WINDOWS_PER_POLL), go into a one-slot queue, where a newer batch replaces one
not yet taken (replaced windows are counted); ONE worker thread runs the model and publishes, so a slow model
delays decisions but never the callbacks. With max_people > 1 the pipeline's ingest also feeds the per-person
path (rcmcl_ros/people/path.py; one subscription per topic serves both), whose rounds go through a second
slot of the same kind to a second worker; ~/decision then carries one status per person (published here,
its one owner) and the single-person topics follow the main actor (the person nearest the camera).
Inputs use sensor-data QoS (best effort unless input_reliability says reliable), arrive serialised
(raw_subscriptions) and only the first message at or after each window end is deserialised and converted
(input_gate.py; the rest are counted as skipped); outputs are reliable; ~/labels is latched (transient local).
Stamps come from the node clock, so `use_sim_time` replays run on the
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
from rclpy.event_handler import PublisherEventCallbacks, SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Float32MultiArray, MultiArrayDimension, String
from visualization_msgs.msg import MarkerArray

from rcmcl_core.bundled import require_checkpoint, resolve_checkpoint
from rcmcl_core.config import SENSOR_NAMES
from rcmcl_core.geometry.rotation import rigid_transform, rotation_from_quaternion
from rcmcl_ros.conversions import seconds_to_stamp
from rcmcl_ros.node.decision_message import decision_message, people_decision_message
from rcmcl_ros.node.gate_warnings import GateUpdate, GateWatch
from rcmcl_ros.node.gate_markers import gate_markers
from rcmcl_ros.node.diagnostics import diagnostics
from rcmcl_ros.node.latest_slot import LatestSlot
from rcmcl_ros.node.params import declare_parameters, read_parameters, read_people_parameters
from rcmcl_ros.node.people_markers import people_markers
from rcmcl_ros.people.decisions import PersonDecision, infer_round
from rcmcl_ros.people.path import PeoplePath
from rcmcl_ros.people.tracker import PeopleRound
from rcmcl_ros.pipeline.runner import Decision, Drop, Pipeline, message_stamp_s
from rcmcl_ros.pipeline.window import Window
from rcmcl_ros.node.input_gate import InputGate, serialized_stamp_s
from rcmcl_ros.topics import camera_info_roles
from rcmcl_ros.node.cdr_view import view_message
from rcmcl_ros.node.process_tuning import keep_large_buffers, set_gil_switch_interval

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


class RCMCLNode(Node):
    """Parameters: rcmcl_ros/node/params.py PARAMETERS. Raises NodeStartError when the pipeline cannot be built."""

    def __init__(self, *, node_name: str = NODE_NAME, pipeline: Pipeline | None = None, **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        try:
            declare_parameters(self)
            self._load(pipeline)
        except Exception as error:
            super().destroy_node()
            raise NodeStartError(str(error)) from error
        self._start()

    def _load(self, pipeline: Pipeline | None = None) -> None:
        """Read the parameters and build the pipeline (loads the checkpoint). Raises on a bad parameter or
        checkpoint (the caller says how that ends: NodeStartError, or a failed lifecycle transition)."""
        self.settings, pipeline_config = read_parameters(self)
        people = read_people_parameters(self)
        self.checkpoint_path = resolve_checkpoint(self.settings.checkpoint)
        if pipeline is None:
            require_checkpoint(self.settings.checkpoint, setting="parameter 'checkpoint'",
                               fix="point the 'checkpoint' parameter at an rcmcl .pt file")
        self.pipeline = pipeline or Pipeline.from_checkpoint(self.checkpoint_path, config=pipeline_config)
        self.people = PeoplePath.for_pipeline(self.pipeline, people) if people.max_people > 1 else None

    def _start(self) -> None:
        """Subscribe, publish, start the timers and the inference worker (the loaded pipeline's)."""
        before = (set(self.subscriptions), set(self.publishers), set(self.timers))
        self._tf = _attach_tf(self) if self.settings.use_tf else None
        self._slot = LatestSlot()                 # window batches for the single-person worker
        self._people_slot = LatestSlot()          # rounds for the per-person worker (max_people > 1)
        self._gate = InputGate(self.settings.input_rate_hz, stride_s=self.pipeline.config.window.stride_s)
        self._pending = 0            # windows in the batch last put into the slot
        self.people_rounds_replaced = 0
        self._stop = threading.Event()
        self._decision_lock = threading.Lock()
        self._last_decision: Decision | None = None
        self._last_decision_wall: float | None = None
        self._drops_reported = 0
        self._logged: dict[str, float] = {}
        self._gate_watch = GateWatch(threshold=self.settings.gate_warn_threshold,
                                     after_s=self.settings.gate_warn_after_s)
        self._gate_warnings: tuple[str, ...] = ()
        tuning = [set_gil_switch_interval(self.settings.gil_switch_interval_s)]
        if self.settings.reuse_large_buffers:
            tuning.append(keep_large_buffers())
        self.get_logger().info("process: " + "; ".join(tuning))
        self._create_interfaces()
        self._interfaces = (set(self.subscriptions) - before[0], set(self.publishers) - before[1],
                            set(self.timers) - before[2])
        self._workers = [threading.Thread(target=self._work, args=(self._slot, self._decide_windows),
                                          name="rcmcl_inference", daemon=True)]
        if self.people is not None:
            self._workers.append(threading.Thread(target=self._work, args=(self._people_slot, self._decide_people),
                                                  name="rcmcl_people", daemon=True))
        for worker in self._workers:
            worker.start()
        clip = self.pipeline.model_config.clip
        self.get_logger().info(
            f"rcmcl ready: checkpoint {self.pipeline.checkpoint_path or '(given model)'}, device "
            f"{self.pipeline.device} ({self.pipeline.runtime.describe()}), T={clip.frames} over {clip.window_s} s, "
            f"{clip.image_size}px, N={clip.num_points}, {len(self.pipeline.labels)} classes, a decision every "
            f"{self.pipeline.config.window.stride_s} s")

    def _halt(self) -> None:
        """Undo _start: stop and join the worker (an inference in flight finishes first), destroy what
        _start created. The pipeline (model, counters) stays."""
        if not hasattr(self, "_workers"):
            return
        self._stop_workers()
        subscriptions, publishers, timers = getattr(self, "_interfaces", (set(), set(), set()))
        for subscription in subscriptions:
            self.destroy_subscription(subscription)
        for publisher in publishers:
            self.destroy_publisher(publisher)
        for timer in timers:
            self.destroy_timer(timer)
        self._interfaces = (set(), set(), set())
        del self._workers

    def workers_alive(self) -> bool:
        """True while every inference worker started by _start runs (False before the first start)."""
        return bool(getattr(self, "_workers", None)) and all(w.is_alive() for w in self._workers)

    def _stop_workers(self) -> None:
        """Stop the workers and join them (an inference in flight finishes first)."""
        self._stop.set()
        for slot in (self._slot, self._people_slot):
            slot.put(None)
        for worker in self._workers:
            if worker.is_alive() and worker is not threading.current_thread():
                worker.join(WORKER_JOIN_S)

    # -- wiring ------------------------------------------------------------------------------------
    def create_subscription(self, *args: Any, **kwargs: Any) -> Any:
        """Node.create_subscription without rclpy's default QoS-event handlers (unless the caller passes
        event_callbacks). Those handlers are waitables, and rclpy's executor raises InvalidHandle, ending its
        spin thread, when one is destroyed between its wait-set steps: deactivating (lifecycle) or stopping
        the node from another thread while an executor spins did that under load. Without them a publisher
        with incompatible QoS is not logged by rclpy; the node's input rates in /diagnostics show it."""
        kwargs.setdefault("event_callbacks", SubscriptionEventCallbacks(use_default_callbacks=False))
        return super().create_subscription(*args, **kwargs)

    def create_publisher(self, *args: Any, **kwargs: Any) -> Any:
        """Node.create_publisher without the default QoS-event handlers (see create_subscription)."""
        kwargs.setdefault("event_callbacks", PublisherEventCallbacks(use_default_callbacks=False))
        return super().create_publisher(*args, **kwargs)

    def _create_interfaces(self) -> None:
        s = self.settings
        reliability = (ReliabilityPolicy.RELIABLE if s.input_reliability == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        sensor = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=s.input_qos_depth,
                            reliability=reliability, durability=DurabilityPolicy.VOLATILE)
        out = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=s.output_qos_depth,
                         reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
        latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        inputs = [("rgb", Image, s.rgb_topic), ("depth", Image, s.depth_topic),
                  ("points", PointCloud2, s.points_topic), ("skeleton", MarkerArray, s.skeleton_topic)]
        if s.rgb_transport == "compressed":  # jpeg / png, decoded in the conversion (compressed_image.py)
            inputs[0] = ("rgb", CompressedImage, f"{s.rgb_topic.rstrip('/')}/compressed")
        cloud_from_depth = self.pipeline.config.points_source == "depth"   # depth + camera_info (depth_cloud.py)
        if cloud_from_depth:
            inputs = [entry for entry in inputs if entry[0] != "points"]
        for topic, roles in camera_info_roles(cloud=s.camera_info_topic if cloud_from_depth else None,
                                               people=s.people_info_topic() if self.people else None).items():
            self.create_subscription(CameraInfo, topic, lambda msg, roles=roles: self.pipeline.camera_info(
                msg, cloud="cloud" in roles, people="people" in roles), sensor)
        for stream, kind, topic in inputs:
            if s.raw_subscriptions:
                self.create_subscription(kind, topic, lambda data, stream=stream, kind=kind:
                                         self._on_serialized(stream, kind, data), sensor, raw=True)
            else:
                self.create_subscription(kind, topic, lambda msg, stream=stream: self._on_gated(stream, msg), sensor)
        self.action_pub = self.create_publisher(String, "~/action", out)
        self.scores_pub = self.create_publisher(Float32MultiArray, "~/scores", out)
        self.reliability_pub = self.create_publisher(Float32MultiArray, "~/reliability", out)
        self.status_pub = self.create_publisher(DiagnosticArray, "~/reliability_status", out)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", out)
        self.markers_pub = self.create_publisher(MarkerArray, "~/gate_markers", out)
        self.decision_pub = self.create_publisher(DiagnosticArray, "~/decision", out)
        if self.people is not None:
            self.people_markers_pub = self.create_publisher(MarkerArray, "~/people_markers", out)
        self.labels_pub = self.create_publisher(String, "~/labels", latched)
        self.labels_pub.publish(String(data="\n".join(self.pipeline.labels)))
        self.create_timer(s.poll_period_s, self._poll)
        self.create_timer(s.diagnostics_period_s, self._publish_diagnostics)

    def now_s(self) -> float:
        """The node clock in seconds (sim time under use_sim_time; 0 before the first /clock)."""
        return self.get_clock().now().nanoseconds * 1e-9

    # -- callbacks (executor thread): convert + push only -------------------------------------------
    def _on_serialized(self, stream: str, kind: type, data: bytes) -> None:
        """Raw subscription: read the stamp from the CDR bytes; deserialise only a message the gate keeps."""
        received = time.perf_counter()
        stamp_s = serialized_stamp_s(data, markers=stream == "skeleton")
        if not self._gate.keep(stream, stamp_s):
            self.pipeline.stats.count_skipped(stream, stamp_s=stamp_s)
            return
        try:   # Image / PointCloud2: a zero-copy view of the bytes (cdr_view.py); the rest: rclpy's deserialiser
            msg = view_message(kind, data) or deserialize_message(data, kind)
        except Exception as error:  # a callback must never die
            self.pipeline.stats.count_message(stream, stamp_s=float("nan"), drop="data")
            self._log_drop(Drop(stream=stream, reason="data", detail=f"cannot deserialise: {error}"))
            return
        self.pipeline.stats.record_latency(f"deserialise_{stream}_s", time.perf_counter() - received)
        self._on_message(stream, msg, received=received)

    def _on_gated(self, stream: str, msg: Any) -> None:
        """Deserialised subscription: the same gate, before conversion."""
        received = time.perf_counter()
        stamp_s = message_stamp_s(msg, fallback_s=0.0) or None
        if not self._gate.keep(stream, stamp_s):
            self.pipeline.stats.count_skipped(stream, stamp_s=stamp_s)
            return
        self._on_message(stream, msg, received=received)

    def _on_message(self, stream: str, msg: Any, *, received: float | None = None) -> None:
        """Convert and push one kept message (received: perf_counter at callback entry, for the stage
        timing), then poll at once: the message may complete a set and with it a window (or a people round)."""
        now_s = self.now_s()
        stamp_s = message_stamp_s(msg, fallback_s=now_s)
        drop = self.pipeline.ingest(stream, stamp_s, msg, now_s=now_s, received=received)
        if drop is not None:
            self._log_drop(drop)
        else:
            self._gate.used(stream, stamp_s)
        if drop is None or stream == "depth":       # a depth image may have made the cloud all the same
            self._poll()

    def _throttled(self, key: str) -> bool:
        """True at most once per log_throttle_s for each key: the one rule for repeated log lines."""
        wall = time.monotonic()
        if wall - self._logged.get(key, -np.inf) < self.settings.log_throttle_s:
            return False
        self._logged[key] = wall
        return True

    def _log_drop(self, drop: Drop) -> None:
        if self._throttled(drop.key):
            stats = self.pipeline.stats
            if drop.rejected:
                counts, what = stats.rejected, f"rejected {drop.stream} frame"
            else:
                counts, what = stats.drops, f"dropped {drop.stream} message"
            self.get_logger().warning(f"{what} ({drop.reason}, {counts.get(drop.key, 0)} so far): {drop.detail}")

    def _poll(self) -> None:
        now_s = self.now_s()
        if now_s <= 0.0:   # sim time before the first /clock
            return
        windows = self.pipeline.ready_windows(now_s)
        for drop in self.pipeline.take_drops():   # sensor-health rules, clouds a depth image could not make
            self._log_drop(drop)
        if self.people is not None:
            rounds = self.people.take_rounds()
            if rounds:
                replaced = len(rounds) - 1 + int(self._people_slot.put(rounds[-1]))
                self.people_rounds_replaced += replaced
        if windows:
            batch = tuple(windows[-MAX_WINDOWS_PER_POLL:])
            replaced = len(windows) - len(batch)
            if self._slot.put(batch):
                replaced += self._pending
            self._pending = len(batch)
            if replaced:
                self.pipeline.stats.count_replaced(replaced)

    # -- worker thread: infer + publish -------------------------------------------------------------
    def _work(self, slot: LatestSlot, decide: Any) -> None:
        """A worker: take the newest item of `slot` and `decide(item)` until the node stops."""
        while not self._stop.is_set():
            item = slot.take(timeout_s=WORKER_POLL_S)
            if item is None:
                continue
            try:
                decide(item)
            except Exception as error:  # keep deciding on the next item; say what failed
                if self._stop.is_set() or not rclpy.ok(context=self.context):
                    return
                self._log_once(f"inference {decide.__name__}", f"inference failed: {type(error).__name__}: {error}")

    def _decide_windows(self, batch: tuple[Window, ...]) -> None:
        for window in batch:
            if self._stop.is_set():
                return
            try:
                decision = self.pipeline.infer(window)
            except Exception as error:
                raise RuntimeError(f"on the window ending {window.end_s:.3f} s: {error}") from error
            self._publish(decision, window)

    def _decide_people(self, people: PeopleRound) -> None:
        """One batched forward for everyone in the round (through the pipeline's InferenceRuntime), then
        the per-person ~/decision and ~/people_markers."""
        try:
            decisions = infer_round(self.pipeline.runtime, people, labels=self.pipeline.labels)
        except Exception as error:
            raise RuntimeError(f"on the people round ending {people.end_s:.3f} s: {error}") from error
        line = self.people.fit_budget(decisions[0].decision.latency["inference_s"] / len(decisions))
        if line is not None:
            self.get_logger().info(line)
        self._publish_people(decisions, end_s=people.end_s)

    def _publish_people(self, decisions: list[PersonDecision], *, end_s: float) -> None:
        self.decision_pub.publish(people_decision_message(
            decisions, stamp_s=end_s, labels=self.pipeline.labels, window_s=self.pipeline.model_config.clip.window_s,
            node_name=self.get_fully_qualified_name()))
        self.people_markers_pub.publish(people_markers(decisions, stamp=seconds_to_stamp(max(0.0, end_s)),
                                                       frame_id=self.pipeline.frame_id("rgb") or "rgb_camera_link"))

    def _publish(self, decision: Decision, window: Window) -> None:
        stamp = seconds_to_stamp(max(0.0, decision.stamp_s))
        self.action_pub.publish(String(data=decision.label))
        self.scores_pub.publish(_float_array(decision.scores, label="classes"))
        self.reliability_pub.publish(_float_array(decision.gates, label="modalities"))
        gate_update = self._gate_watch.update(decision.stamp_s, decision.gates, decision.present)
        self._report_gate_warnings(gate_update)
        warnings = tuple(w.text() for w in gate_update.active)
        if self.people is None:          # per person, the people statuses go out instead (one contract)
            self.decision_pub.publish(decision_message(
                decision, window_start_s=float(window.target_s[0]) if len(window.target_s) else decision.stamp_s,
                labels=self.pipeline.labels, node_name=self.get_fully_qualified_name(), warnings=warnings))
        self.markers_pub.publish(gate_markers(gates=decision.gates, present=decision.present, label=decision.label,
                                              confidence=decision.confidence, stamp=stamp,
                                              frame_id=self.settings.marker_frame_id, warned=gate_update.warned()))
        self.pipeline.stats.record_latency("stamp_to_publish_s", self.now_s() - decision.stamp_s)
        decision.stages = self.pipeline.record_stages(window, decision, published=time.perf_counter())
        with self._decision_lock:
            self._last_decision = decision
            self._last_decision_wall = time.monotonic()
            self._gate_warnings = warnings

    def _report_gate_warnings(self, update: GateUpdate) -> None:
        """Log each gate warning when it starts (WARN) and when it clears (INFO)."""
        for warning in update.active:
            if warning.modality in update.started:
                self.get_logger().warning(warning.text())
        for modality in update.cleared:
            self.get_logger().info(f"{SENSOR_NAMES[modality]} reliable again: gate >= "
                                   f"{self.settings.gate_warn_threshold:.2f}")

    def _publish_diagnostics(self) -> None:
        snapshot = self.pipeline.snapshot(self.now_s())
        with self._decision_lock:
            decision, wall, gate_warnings = self._last_decision, self._last_decision_wall, self._gate_warnings
        since = None if wall is None else time.monotonic() - wall
        drops_since_last = snapshot["drops_total"] - self._drops_reported
        self._drops_reported = snapshot["drops_total"]
        array = diagnostics(snapshot=snapshot, decision=decision, seconds_since_decision=since,
                            drops_since_last=drops_since_last, decision_timeout_s=self.settings.decision_timeout_s,
                            node_name=self.get_fully_qualified_name(), stamp=self.get_clock().now().to_msg(),
                            extra={"device": str(self.pipeline.device),
                                   "checkpoint": str(self.pipeline.checkpoint_path or ""),
                                   **(self.people.diagnostic_values() if self.people is not None else {}),
                                   **({"people_rounds_replaced": str(self.people_rounds_replaced)}
                                      if self.people is not None else {})},
                            gate_warnings=gate_warnings, warnings=self._standing_warnings())
        self.status_pub.publish(array)
        self.diagnostics_pub.publish(array)

    def _standing_warnings(self) -> list[str]:
        """Problems that persist (shown in every diagnostics message, logged as WARN once per log_throttle_s)."""
        warning = self.pipeline.frame_warning
        if warning is None:
            return []
        if self._throttled("frames"):
            self.get_logger().warning(warning)
        return [warning]

    def _log_once(self, key: str, message: str) -> None:
        if self._throttled(key):
            self.get_logger().error(message)

    # -- shutdown -----------------------------------------------------------------------------------
    def destroy_node(self) -> None:
        """Stop and join the workers (an inference in flight finishes first), then destroy the node."""
        if hasattr(self, "_workers"):
            self._stop_workers()
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
                               "camera_extrinsic parameter (a WARN and /diagnostics say when the frames "
                               "differ and that parameter is the identity)")
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
