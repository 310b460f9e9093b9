"""The rclpy node over real Fast DDS, in-process: 30 Hz synthetic inputs, sensor dropout, malformed input,
sim time, parameters, start-up errors and Ctrl-C. Tiny random-weight checkpoint (labels are meaningless;
`Harness` takes any scene with `messages(t_s)`, so a trained checkpoint can be checked the same way)."""
from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.ros, pytest.mark.timeout(60)]

import rclpy  # noqa: E402, F401  (imported only to prove it imports: a core dependency, a broken wheel must fail, not skip)
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import Image, PointCloud2  # noqa: E402
from std_msgs.msg import Float32MultiArray, String  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from rcmcl_ros.conversions import (numpy_to_image, seconds_to_stamp, skeleton_to_markers,  # noqa: E402
                                   xyz_to_pointcloud2)
from rcmcl_ros.node.node_command import run  # noqa: E402
from rcmcl_ros.node.ros_node import NodeStartError, RCMCLNode  # noqa: E402
from rcmcl_ros.node.params import PARAMETER_NAMES  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
RATE_HZ = 30.0
STRIDE_S = 0.1333
WINDOW_S = 0.5            # the test checkpoint's clip: T=8 over 0.5 s, so phases stay short
STALE_S = 0.3
SETTLE_S = 0.35           # window end -> published decision: one frame + poll + inference, with margin
TOPICS = {"rgb": ("rgb/image_raw", Image), "depth": ("depth_to_rgb/image_raw", Image),
          "points": ("points2", PointCloud2), "skeleton": ("body_tracking_data", MarkerArray)}


class Harness:
    """RCMCLNode + a probe node (30 Hz publishers of `scene`, subscribers of every output), each spun by its
    own executor thread. `streams` is the set of inputs currently published; `extra` messages are
    published once by the probe's timer thread."""

    def __init__(self, *, context, checkpoint: Path, scene, sim_time_start_s: float | None = None,
                 **parameters) -> None:
        params = {"checkpoint": str(checkpoint), "stride_s": STRIDE_S, "stale_after_s": STALE_S,
                  "diagnostics_period_s": 0.25, "log_throttle_s": 0.5, **parameters}
        if sim_time_start_s is not None:
            params["use_sim_time"] = True
        self.node = RCMCLNode(context=context,
                              parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        self.probe = Node("probe", context=context)
        self.scene = scene
        self.sim_time_start_s = sim_time_start_s
        self.started_wall = time.monotonic()
        self.streams = set(TOPICS)
        self.extra: list[tuple[str, object]] = []
        self.lock = threading.RLock()      # wait_for predicates may call the locked getters
        self.reliability: list[tuple[float, np.ndarray]] = []      # (receipt clock s, gates)
        self.markers: list[tuple[float, str]] = []                 # (decision stamp s, text)
        self.actions: list[str] = []
        self.scores: list[Float32MultiArray] = []
        self.status: list[DiagnosticArray] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.labels: list[str] = []
        self.publishers = {s: self.probe.create_publisher(kind, topic, 10) for s, (topic, kind) in TOPICS.items()}
        self.clock_pub = self.probe.create_publisher(Clock, "/clock", 10)
        name = self.node.get_fully_qualified_name()
        self._sub(Float32MultiArray, f"{name}/reliability",
                  lambda m: self.reliability.append((self.clock_s(), np.array(m.data))))
        self._sub(MarkerArray, f"{name}/gate_markers", lambda m: self.markers.append(
            (m.markers[-1].header.stamp.sec + m.markers[-1].header.stamp.nanosec * 1e-9, m.markers[-1].text)))
        self._sub(String, f"{name}/action", lambda m: self.actions.append(m.data))
        self._sub(Float32MultiArray, f"{name}/scores", self.scores.append)
        self._sub(DiagnosticArray, f"{name}/reliability_status", self.status.append)
        self._sub(DiagnosticArray, "/diagnostics", self.diagnostics.append)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.probe.create_subscription(String, f"{name}/labels", lambda m: self.labels.append(m.data), latched)
        self.probe.create_timer(1.0 / RATE_HZ, self._tick)
        self.executors = []
        for node in (self.node, self.probe):
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(node)
            threading.Thread(target=executor.spin, daemon=True).start()
            self.executors.append(executor)

    def _sub(self, kind, topic, callback) -> None:
        self.probe.create_subscription(kind, topic, lambda m: self._locked(callback, m), 50)

    def _locked(self, callback, msg) -> None:
        with self.lock:
            callback(msg)

    def clock_s(self) -> float:
        """The input clock: system time, or sim time advancing at wall rate from sim_time_start_s."""
        if self.sim_time_start_s is None:
            return time.time()
        return self.sim_time_start_s + time.monotonic() - self.started_wall

    def _tick(self) -> None:
        t = self.clock_s()
        if self.sim_time_start_s is not None:
            self.clock_pub.publish(Clock(clock=seconds_to_stamp(t)))
        messages = self.scene.messages(t)
        for stream in sorted(self.streams):
            self.publishers[stream].publish(messages[stream])
        while self.extra:
            stream, msg = self.extra.pop(0)
            self.publishers[stream].publish(msg)

    def wait_for(self, predicate, *, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if predicate():
                    return True
            time.sleep(0.02)
        return False

    def gates_after(self, t_s: float) -> np.ndarray:
        """Gates of the decisions whose window ended at or after t_s. Each decision publishes ~/reliability
        then ~/gate_markers (reliable QoS, in order), so the i-th of each belong together; the markers carry
        the decision stamp. (Receipt time would misattribute windows queued behind a slow inference.)"""
        with self.lock:
            pairs = zip(self.markers, self.reliability)
            return np.array([g for (stamp, _), (_, g) in pairs if stamp >= t_s]).reshape(-1, 3)

    def decisions_between(self, start_s: float, stop_s: float) -> int:
        """Distinct decision stamps in [start_s, stop_s) (from the markers' header stamps)."""
        with self.lock:
            return len({round(t, 4) for t, _ in self.markers if start_s <= t < stop_s})

    def close(self) -> None:
        for executor in self.executors:
            executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self.probe.destroy_node()



@pytest.fixture
def harness(rclpy_context, tiny_checkpoint, scene, request):
    params = getattr(request, "param", {})
    h = Harness(context=rclpy_context, checkpoint=tiny_checkpoint(window_s=WINDOW_S), scene=scene, **params)
    yield h
    h.close()


def run_dropout(h: Harness, stopped: set[str], *, dead_index: list[int], alive_index: list[int]) -> None:
    """All inputs on, then `stopped` off, then on again; decisions must keep their rate and the stopped
    modalities' gates must be exactly 0 within one window (after the stream is declared dead)."""
    assert h.wait_for(lambda: len(h.reliability) >= 3, timeout_s=10.0), "no decisions with every input on"
    assert np.all(h.gates_after(0.0)[-1] > 0)
    t_stop = h.clock_s()
    h.streams -= stopped
    # The reference stream (rgb) dying stalls sets until it is declared dead (stale_after_s).
    delay = STALE_S if "rgb" in stopped else 0.0
    measure_from = t_stop + delay + WINDOW_S + SETTLE_S
    time.sleep(measure_from - t_stop + 2.0)
    gates = h.gates_after(measure_from)
    assert len(gates) > 0 and np.all(gates[:, dead_index] == 0.0), gates
    assert np.all(gates[:, alive_index] > 0.0)
    nominal = 2.0 / STRIDE_S
    made = h.decisions_between(measure_from - SETTLE_S, measure_from - SETTLE_S + 2.0)
    assert made >= 0.9 * nominal, f"{made} decisions in 2 s, nominal {nominal:.1f}"
    t_back = h.clock_s()
    h.streams |= stopped
    time.sleep(WINDOW_S + SETTLE_S + 0.6)
    gates = h.gates_after(t_back + WINDOW_S + SETTLE_S)
    assert len(gates) > 0 and np.all(gates > 0.0), gates


def test_skeleton_gate_is_zero_while_its_stream_is_dead_and_decisions_keep_their_rate(harness):
    run_dropout(harness, {"skeleton"}, dead_index=[1], alive_index=[0, 2])


def test_rgbd_and_points_dying_together_leave_skeleton_only_decisions_at_full_rate(harness):
    run_dropout(harness, {"rgb", "depth", "points"}, dead_index=[0, 2], alive_index=[1])


def test_outputs_carry_labels_scores_and_diagnostics(harness):
    h = harness
    assert h.wait_for(lambda: len(h.scores) >= 2 and len(h.status) >= 2 and h.labels, timeout_s=10.0)
    labels = h.labels[0].split("\n")
    assert labels == [f"action_{i:02d}" for i in range(24)]
    scores = h.scores[-1]
    assert scores.layout.dim[0].label == "classes" and scores.layout.dim[0].size == 24
    assert sum(scores.data) == pytest.approx(1.0, abs=1e-4)
    assert all(action in labels for action in h.actions)
    assert h.wait_for(lambda: _diagnostic_value(h.status[-1], "decisions") not in (None, "0"), timeout_s=5.0)
    values = {kv.key: kv.value for kv in h.status[-1].status[0].values}
    for key in ("gate_rgbd", "gate_skeleton", "gate_points", "present_skeleton", "rate_hz_rgb",
                "drops_total", "replaced_windows", "latency_stamp_to_publish_s_p95", "latency_inference_s_p50"):
        assert key in values, key
    assert float(values["rate_hz_rgb"]) > 15.0
    assert h.diagnostics and h.diagnostics[-1].status[0].name == h.status[-1].status[0].name


def _diagnostic_value(array: DiagnosticArray, key: str) -> str | None:
    return next((kv.value for kv in array.status[0].values if kv.key == key), None)


def malformed_messages(t: float) -> list[tuple[str, object, str]]:
    """(stream, message, drop key in diagnostics) for every kind of bad input."""
    short = numpy_to_image(np.zeros((4, 4, 4), np.uint8), encoding="bgra8", stamp=t)
    short.data = short.data[:10]
    yuv = numpy_to_image(np.zeros((4, 4, 3), np.uint8), encoding="rgb8", stamp=t)
    yuv.encoding = "yuv422"
    nan_depth = numpy_to_image(np.full((4, 4), np.nan, np.float32), encoding="32FC1", stamp=t)
    empty = xyz_to_pointcloud2(np.zeros((0, 3), np.float32), stamp=t)
    far = skeleton_to_markers(np.full((1, 25, 3), 50.0, np.float32), stamp=t)
    future = numpy_to_image(np.zeros((4, 4, 4), np.uint8), encoding="bgra8", stamp=t + 60.0)
    past = xyz_to_pointcloud2(np.ones((5, 3), np.float32), stamp=t - 60.0)
    return [("rgb", yuv, "rgb/encoding"), ("rgb", short, "rgb/size"), ("depth", nan_depth, "depth/nan"),
            ("points", empty, "points/no_points_in_range"), ("skeleton", far, "skeleton/joints_out_of_range"),
            ("rgb", future, "rgb/stamp_future"), ("points", past, "points/stamp_past")]


# input_rate_hz 0: every message is converted. With the input gate on, a bad message stamped in a slot that a
# good frame already used is skipped unread (counted as skipped; test_input_gate.py covers that rule).
@pytest.mark.parametrize("harness", [{"input_rate_hz": 0.0}], indirect=True)
def test_malformed_messages_are_counted_by_reason_logged_and_do_not_stop_decisions(harness, capfd):
    h = harness
    assert h.wait_for(lambda: len(h.reliability) >= 2, timeout_s=10.0)
    start = h.clock_s()
    for _ in range(3):
        for stream, msg, _ in malformed_messages(h.clock_s()):
            h.extra.append((stream, msg))
        time.sleep(0.3)
    expected = {key for _, _, key in malformed_messages(100.0)}

    def counted() -> bool:
        values = {kv.key: kv.value for kv in h.status[-1].status[0].values} if h.status else {}
        return all(int(values.get(f"drops_{key}", 0)) >= 1 for key in expected)

    assert h.wait_for(counted, timeout_s=3.0), [kv for kv in h.status[-1].status[0].values if "drops" in kv.key]
    assert h.wait_for(lambda: len(h.gates_after(start)) >= 5, timeout_s=10.0), "decisions stopped"
    assert np.all(h.gates_after(start) > 0)
    assert any(array.status[0].level == DiagnosticStatus.WARN for array in h.status)
    err = capfd.readouterr().err
    assert "dropped rgb message (encoding" in err and "dropped skeleton message (joints_out_of_range" in err


@pytest.mark.parametrize("harness", [{"sim_time_start_s": 1000.0}], indirect=True)
def test_sim_time_drives_stamps_and_decisions(harness):
    h = harness
    assert h.wait_for(lambda: len(h.markers) >= 3, timeout_s=10.0)
    stamps = [t for t, _ in h.markers]
    assert all(1000.0 < t < 1000.0 + 30.0 for t in stamps), stamps


def test_node_declares_exactly_the_documented_parameters(harness):
    declared = set(harness.node._parameters)
    assert declared - {"use_sim_time", "start_type_description_service"} == set(PARAMETER_NAMES)


def test_missing_checkpoint_logs_one_error_naming_it_and_exits_nonzero(ros_domain, tmp_path, capfd):
    missing = tmp_path / "no_such.pt"
    status = run(["rcmcl_node", "--ros-args", "-p", f"checkpoint:={missing}"])
    err = capfd.readouterr().err
    assert status == 1
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "cannot start" in line]
    assert len(lines) == 1 and str(missing) in lines[0]


def test_ctrl_c_stops_the_node_cleanly(ros_domain, tiny_checkpoint):
    env = dict(os.environ, PYTHONUNBUFFERED="1", RCUTILS_LOGGING_BUFFERED_STREAM="0")
    process = subprocess.Popen(
        [sys.executable, "-m", "rcmcl_ros", "node", "--ros-args", "-p",
         f"checkpoint:={tiny_checkpoint(window_s=WINDOW_S)}", "-p", "torch_threads:=1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    try:
        for line in process.stdout:
            output.append(line)
            if "rcmcl ready" in line:
                break
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    text = "".join(output) + rest
    assert "rcmcl ready" in text, text
    assert process.returncode == 0, text
    assert "Traceback" not in text and "Exception" not in text


def test_one_slot_queue_keeps_only_the_newest_window():
    from rcmcl_ros.node.latest_slot import LatestSlot

    slot = LatestSlot()
    assert slot.put("old") is False
    assert slot.put("new") is True          # "old" was never taken: it counts as replaced
    assert slot.take(timeout_s=0.01) == "new"
    assert slot.take(timeout_s=0.01) is None


@pytest.mark.parametrize("harness", [{"points_source": "depth"}], indirect=True)
def test_points_from_depth_without_camera_info_are_counted_drops_and_decisions_go_on(harness, capfd):
    h = harness                                # the harness publishes no camera_info

    def counted() -> bool:
        return bool(h.status) and int(_diagnostic_value(h.status[-1], "drops_points/camera_info") or 0) >= 1

    assert h.wait_for(counted, timeout_s=10.0)
    assert h.wait_for(lambda: len(h.reliability) >= 2, timeout_s=10.0), "decisions stopped"
    assert "dropped points message (camera_info" in capfd.readouterr().err


def test_cloud_and_skeleton_frames_without_a_transform_warn_in_the_log_and_in_diagnostics(harness, capfd):
    h = harness                   # the scene's cloud is in rgb_camera_link, its skeleton in depth_camera_link

    def warned() -> bool:
        return bool(h.status) and any(kv.key.startswith("warning_") and "no transform is known" in kv.value
                                      for kv in h.status[-1].status[0].values)

    assert h.wait_for(warned, timeout_s=10.0)
    assert h.status[-1].status[0].level in (DiagnosticStatus.WARN, DiagnosticStatus.ERROR)
    assert h.diagnostics and "rgb_camera_link" in h.diagnostics[-1].status[0].message + "".join(
        kv.value for kv in h.diagnostics[-1].status[0].values)
    err = capfd.readouterr().err
    assert "[WARN]" in err and "differs from skeleton frame 'depth_camera_link'" in err


@pytest.mark.parametrize("harness", [{"camera_extrinsic": [0.0, 0.0, 0.0, 0.0, 0.0, 0.1]}], indirect=True)
def test_an_explicit_camera_extrinsic_is_a_known_transform_and_silences_the_frame_warning(harness):
    h = harness
    assert h.wait_for(lambda: len(h.reliability) >= 2 and len(h.status) >= 3, timeout_s=10.0)
    assert not any(kv.key.startswith("warning_") for kv in h.status[-1].status[0].values)


@pytest.mark.parametrize("harness", [{"raw_subscriptions": True}, {"raw_subscriptions": False}], indirect=True)
def test_the_input_gate_converts_about_input_rate_hz_per_stream_and_counts_the_rest_as_skipped(harness):
    h = harness                                   # the scene at 30 Hz; input_rate_hz 10 (default)
    assert h.wait_for(lambda: len(h.reliability) >= 3, timeout_s=10.0)
    stats = h.node.pipeline.stats
    time.sleep(1.0)
    for stream in ("rgb", "depth", "points", "skeleton"):
        received, skipped = stats.received[stream], stats.skipped[stream]
        assert received > 20 and 0.5 * received <= skipped <= 0.8 * received, (stream, received, skipped)
    assert np.all(h.gates_after(0.0)[-1] > 0)     # every modality still present


def test_integer_values_are_accepted_for_float_parameters_and_text_is_a_named_error(rclpy_context, tiny_checkpoint):
    node = RCMCLNode(context=rclpy_context, parameter_overrides=[
        Parameter("checkpoint", value=str(tiny_checkpoint())), Parameter("stride_s", value=1),
        Parameter("max_wait_s", value=0), Parameter("input_rate_hz", value=15)])
    try:
        assert node.pipeline.config.window.stride_s == 1.0 and isinstance(node.pipeline.config.window.stride_s, float)
        assert node.pipeline.config.sync.max_wait_s == 0.0 and node.settings.input_rate_hz == 15.0
    finally:
        node.destroy_node()
    with pytest.raises(NodeStartError, match="parameter slop_s must be a number"):
        RCMCLNode(context=rclpy_context, parameter_overrides=[
            Parameter("checkpoint", value=str(tiny_checkpoint())), Parameter("slop_s", value="fast")])


class FrozenCameraScene:
    """`scene` with colour and depth frozen at their first frame (restamped): what a hung driver sends."""

    def __init__(self, scene) -> None:
        self.scene, self.first = scene, scene.messages(0.0)

    def messages(self, t_s: float) -> dict:
        messages = self.scene.messages(t_s)
        for stream in ("rgb", "depth"):
            frozen = copy.deepcopy(self.first[stream])
            frozen.header.stamp = seconds_to_stamp(t_s)
            messages[stream] = frozen
        return messages


def test_a_frozen_camera_is_logged_with_its_rejection_count_and_its_gate_is_zero(rclpy_context, tiny_checkpoint,
                                                                                  scene, capfd):
    h = Harness(context=rclpy_context, checkpoint=tiny_checkpoint(window_s=WINDOW_S), scene=FrozenCameraScene(scene))
    try:
        def rejected() -> int:
            return int(_diagnostic_value(h.status[-1], "health_rejected_rgbd/repeated") or 0) if h.status else 0

        assert h.wait_for(lambda: rejected() >= 30 and len(h.reliability) >= 3, timeout_s=15.0), rejected()
        start = h.clock_s()
        assert h.wait_for(lambda: len(h.gates_after(start + WINDOW_S)) >= 2, timeout_s=10.0)
        assert np.all(h.gates_after(start + WINDOW_S)[:, 0] == 0.0)        # rgbd is gate 0
    finally:
        h.close()
    counts = [int(n) for n in re.findall(r"rejected rgbd frame \(repeated, (\d+) so far\)", capfd.readouterr().err)]
    assert counts and max(counts) >= 2, counts       # log_throttle_s 0.5: several lines, the count rising
    assert counts == sorted(counts)


def test_the_node_decides_through_onnxruntime_and_its_log_says_so(rclpy_context, tiny_checkpoint, tiny_onnx, scene,
                                                                   capfd, tmp_path):
    h = Harness(context=rclpy_context, checkpoint=tiny_checkpoint(window_s=WINDOW_S), scene=scene,
                backend="onnxruntime", onnx_model=str(tiny_onnx(window_s=WINDOW_S)))
    try:
        assert h.node.pipeline.runtime.onnx is not None
        assert h.wait_for(lambda: len(h.reliability) >= 3, timeout_s=15.0), "no decisions"
        assert np.all(h.gates_after(0.0)[-1] > 0)
        h.streams -= {"skeleton"}                                  # one modality gone: still onnxruntime
        gone = h.clock_s() + WINDOW_S + SETTLE_S + 0.5
        assert h.wait_for(lambda: len(h.gates_after(gone)) >= 2, timeout_s=10.0)
        assert np.all(h.gates_after(gone)[:, 1] == 0.0) and np.all(h.gates_after(gone)[:, 0] > 0)
    finally:
        h.close()
    assert "backend onnxruntime (onnxruntime: set by parameter), onnxruntime" in capfd.readouterr().err
    with pytest.raises(NodeStartError, match="another checkpoint"):
        RCMCLNode(context=rclpy_context, parameter_overrides=[
            Parameter("checkpoint", value=str(tiny_checkpoint(window_s=WINDOW_S, seed=1))),
            Parameter("onnx_model", value=str(tiny_onnx(window_s=WINDOW_S)))])
    with pytest.raises(NodeStartError, match="ONNX file not found"):
        RCMCLNode(context=rclpy_context, parameter_overrides=[
            Parameter("checkpoint", value=str(tiny_checkpoint(window_s=WINDOW_S))),
            Parameter("backend", value="onnxruntime"), Parameter("onnx_model", value=str(tmp_path / "no.onnx"))])
