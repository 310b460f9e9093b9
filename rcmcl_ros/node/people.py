"""Per-person output of the live node, attached when the parameter `max_people` is above 1.

The attachment subscribes to the same rgb, depth, points and skeleton topics plus the rgb camera_info
(raw, full resolution: each person is cropped from the full frame), assembles SceneFrames on skeleton
messages (people_ingest.SceneAssembler), runs the PeopleWindower in the callback thread and hands each
round to its own inference thread through a one-slot queue (a newer round replaces an untaken one:
bounded, like the node's single-person path). Each round publishes:
- `~/decision` diagnostic_msgs/DiagnosticArray, one status per person (people_output.py's contract);
- `~/people_markers` visualization_msgs/MarkerArray, label text and gate bars above each head.
The single-person topics keep working: the node's skeleton input is narrowed to the main actor (the
tracked person nearest the camera), so its one window follows that person.

Parameters (node_params.py, section "people"): max_people (1 = off), people_max_batch,
people_stale_after_s, people_second_body, and people_camera_info_topic ("" = <rgb topic's
namespace>/camera_info).
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from rcmcl_ros.conversions.common import ConversionError
from rcmcl_ros.conversions.body_markers import BODY_ID_STRIDE
from rcmcl_ros.people.tracker import PeopleConfig, batch_for_budget, people_windower
from rcmcl_ros.people.crop import PELVIS
from rcmcl_ros.people.decisions import infer_round, main_actor
from rcmcl_ros.people.ingest import SceneAssembler, bodies_from_markers
from rcmcl_ros.people.markers import people_markers
from rcmcl_ros.people.output import people_decision_message
from rcmcl_ros.pipeline.runner import message_stamp_s

WORKER_TIMEOUT_S = 0.2


class PeopleAttachment:
    """Per-person windows, decisions and markers on a running RCMCLNode (see module docstring)."""

    def __init__(self, node: Any, *, config: PeopleConfig) -> None:
        settings, pipeline = node.settings, node.pipeline
        self.node = node
        self.config = config.validate()
        window = pipeline.config.window
        self.windower = people_windower(pipeline.model_config.clip, people=self.config, stride_s=window.stride_s,
                                        min_presence=window.min_presence, max_gap_s=window.max_gap_s,
                                        health=pipeline.config.health)
        self.assembler = SceneAssembler(skeleton_format=pipeline.config.preprocess.skeleton_format)
        self._lock = threading.Lock()
        self._slot: list[Any] = []
        self._ready = threading.Condition()
        self._stop = threading.Event()
        self._main_id: int | None = None
        self._frame_id = "rgb_camera_link"     # the images' frame (the heads are cropped in it)
        self.last_main = None
        self.rounds_replaced = 0
        self._cost_s: float | None = None
        sensor = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=settings.input_qos_depth,
                            reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)
        out = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=settings.output_qos_depth,
                         reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
        namespace = settings.rgb_topic.rsplit("/", 1)[0] if "/" in settings.rgb_topic else ""
        info_topic = settings.people_camera_info_topic or (f"{namespace}/camera_info" if namespace else "camera_info")
        for stream, kind, topic in (("rgb", Image, settings.rgb_topic), ("depth", Image, settings.depth_topic),
                                    ("points", PointCloud2, settings.points_topic),
                                    ("info", CameraInfo, info_topic)):
            node.create_subscription(kind, topic, lambda msg, stream=stream: self.on_message(stream, msg), sensor)
        self.decision_pub = node.decision_pub     # per-person statuses replace the main one (one contract)
        self.markers_pub = node.create_publisher(MarkerArray, "~/people_markers", out)
        self._worker = threading.Thread(target=self._work, name="rcmcl_people", daemon=True)
        self._worker.start()

    # -- callbacks (executor thread) -----------------------------------------------------------------
    def on_message(self, stream: str, msg: Any) -> None:
        fallback_s = self.assembler.newest_stamp_s() if stream == "skeleton" else None
        stamp_s = message_stamp_s(msg, fallback_s=self.node.now_s() if fallback_s is None else fallback_s)
        if stream == "rgb":
            self._frame_id = str(getattr(getattr(msg, "header", None), "frame_id", "")) or self._frame_id
        with self._lock:
            rounds = []
            for frame in self.assembler.add(stream, stamp_s, msg):
                rounds += self.windower.push(frame)
        if rounds:
            with self._ready:
                self.rounds_replaced += len(self._slot) + len(rounds) - 1
                self._slot = [rounds[-1]]
                self._ready.notify()

    def main_actor_markers(self, msg: Any) -> Any:
        """The node's skeleton message narrowed to the main actor's markers (a copy; msg is untouched): the
        valid body of this message nearest the camera. Called by the node before its single-person
        pipeline sees the message; the message also feeds the people path."""
        self.on_message("skeleton", msg)
        try:
            bodies, _ = bodies_from_markers(msg, layout=self.assembler.skeleton_format, limits=self.assembler.limits)
        except ConversionError:
            return msg                       # the pipeline counts it by reason
        if not bodies:
            return msg
        main = min(bodies, key=lambda i: (float(np.linalg.norm(bodies[i][PELVIS])), i))
        self._main_id = main
        narrowed = MarkerArray()
        narrowed.markers = [m for m in msg.markers if int(m.id) // BODY_ID_STRIDE == main]
        return narrowed

    def diagnostic_values(self) -> dict[str, str]:
        """Per-person sensor-health rejections for /diagnostics: people_health_rejected_<modality>/<reason>."""
        with self._lock:
            rejected = dict(self.windower.stats.rejected)
        return {f"people_health_rejected_{key}": str(count) for key, count in sorted(rejected.items())}

    # -- inference (own thread) ------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            with self._ready:
                if not self._slot:
                    self._ready.wait(WORKER_TIMEOUT_S)
                people, self._slot = (self._slot[0] if self._slot else None), []
            if people is None:
                continue
            try:
                decisions = infer_round(self.node.pipeline.model, people, labels=self.node.pipeline.labels)
            except (RuntimeError, ValueError) as error:
                self.node.get_logger().error(f"people round at {people.end_s:.3f} s failed: {error}")
                continue
            self._fit_budget(decisions[0].decision.latency["inference_s"] / len(decisions))
            whole = int(people.end_s)
            stamp = Time(sec=whole, nanosec=int(round((people.end_s - whole) * 1e9)) % 1_000_000_000)
            self.decision_pub.publish(people_decision_message(
                decisions, stamp_s=people.end_s, labels=self.node.pipeline.labels,
                window_s=self.node.pipeline.model_config.clip.window_s, node_name=self.node.get_fully_qualified_name()))
            self.markers_pub.publish(people_markers(decisions, stamp=stamp, frame_id=self._frame_id))
            self.last_main = main_actor(decisions)

    def _fit_budget(self, seconds_per_person: float) -> None:
        """Degradation rule: the batch that fits forward_budget x stride_s at the smoothed cost per person."""
        if self.config.forward_budget <= 0:
            return
        self._cost_s = seconds_per_person if self._cost_s is None else 0.7 * self._cost_s + 0.3 * seconds_per_person
        limit = batch_for_budget(seconds_per_person=self._cost_s, max_batch=self.config.max_batch,
                                 budget_s=self.config.forward_budget * self.windower.window.stride_s)
        if limit != self.windower.batch_limit:
            self.node.get_logger().info(
                f"people: {1000 * self._cost_s:.0f} ms per person per forward; {limit} people per round "
                f"(each decided every {self.windower.window.stride_s:g} s x ceil(people / {limit}))")
            self.windower.batch_limit = limit

    def stop(self) -> None:
        self._stop.set()
        with self._ready:
            self._ready.notify()
        if self._worker.is_alive() and self._worker is not threading.current_thread():
            self._worker.join(1.0)
