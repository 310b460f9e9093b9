"""Live: the node with max_people = 3 publishes ~/decision per person (rcmcl_ros/people/path.py). Two
people in view; person 2's skeleton drops after PERSON2_OFF_S while person 1's stays: person 2's skeleton
goes absent (gate 0) while RGB-D and points carry on, then person 2 stops being decided (stale), person 1
goes on; the single-person topics keep publishing."""
from __future__ import annotations

import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import String
from visualization_msgs.msg import MarkerArray

from rcmcl_core.data.synthetic.generate import synthetic_intrinsics
from rcmcl_core.data.synthetic.classes import CLASS_NAMES
from rcmcl_core.data.synthetic.scene import make_scene_clip
from rcmcl_core.geometry.pinhole import backproject
from rcmcl_ros.conversions import numpy_to_image, seconds_to_stamp, skeleton_to_markers, xyz_to_pointcloud2
from rcmcl_ros.bag.demo import camera_info_message, azure32_from_ntu25
from rcmcl_ros.node.ros_node import RCMCLNode
from rcmcl_core.bundled import BUNDLED_CHECKPOINT
from rcmcl_core.config import MODALITIES
from rcmcl_ros.node.decision_message import decision_from_message

FPS = 10.0
SIZE = 64
SECONDS = 9.0
PERSON2_OFF_S = 3.5
STALE_S = 2.5
STRIDE_S = 0.5


def hostile_markers(msg: MarkerArray, k: int) -> MarkerArray:
    """Frame k's markers plus, in turn: 40 bodies 50 m away (ids 100-139), a body with NaN joints, every
    marker of body 1 twice, or nothing at all (0 people)."""
    kind = k % 4
    if kind == 3:
        return MarkerArray()
    extra = []
    for marker in msg.markers:
        body = marker.id // 100
        if kind == 0 and body == 1:
            extra += [_moved(marker, 100 + b, z=50.0) for b in range(40)]
        elif kind == 1 and body == 1:
            extra.append(_moved(marker, 50, z=float("nan")))
        elif kind == 2 and body == 1:
            extra.append(_moved(marker, 1, z=marker.pose.position.z))
    msg.markers = list(msg.markers) + extra
    return msg


def _moved(marker, body: int, *, z: float):
    copy = type(marker)()
    copy.header, copy.ns, copy.type, copy.action = marker.header, marker.ns, marker.type, marker.action
    copy.id = body * 100 + marker.id % 100
    copy.pose.position.x, copy.pose.position.y, copy.pose.position.z = marker.pose.position.x, marker.pose.position.y, z
    return copy


def scene_messages(t0_wall: float):
    intrinsics = synthetic_intrinsics(width=SIZE, height=SIZE)
    clip = make_scene_clip([CLASS_NAMES.index("wave"), CLASS_NAMES.index("kick")], [2, 4], camera=1, seed=5,
                           intrinsics=intrinsics, fps=FPS, frames=int(SECONDS * FPS))
    info = camera_info_message(intrinsics, frame_id="rgb_camera_link")
    for k in range(len(clip["rgb"])):
        t_s = k / FPS
        stamp = seconds_to_stamp(t0_wall + t_s)
        ids = [1] if t_s >= PERSON2_OFF_S else [1, 2]
        joints = clip["skeleton"][k][[i - 1 for i in ids]]
        depth_m = clip["depth_mm"][k].astype(np.float32) / 1000.0
        info.header.stamp = stamp
        yield t_s, {
            "rgb": numpy_to_image(clip["rgb"][k], encoding="rgb8", stamp=stamp, frame_id="rgb_camera_link"),
            "depth": numpy_to_image(clip["depth_mm"][k], encoding="16UC1", stamp=stamp, frame_id="rgb_camera_link"),
            "points": xyz_to_pointcloud2(backproject(depth_m, intrinsics=intrinsics), stamp=stamp,
                                         frame_id="rgb_camera_link"),
            "info": info,
            "skeleton": skeleton_to_markers(azure32_from_ntu25(joints), layout="azure32", stamp=stamp,
                                            frame_id="rgb_camera_link", body_ids=tuple(ids))}


def run_node(context, *, hostile: bool = False):
    """Publish the scene to a node with max_people 3 in real time; returns (t0, decisions, actions, markers,
    node stats)."""
    params = {"checkpoint": str(BUNDLED_CHECKPOINT), "max_people": 3, "people_max_batch": 3,
              "people_forward_budget": 0.0,     # everyone in every round, whatever this machine's speed
              "people_stale_after_s": STALE_S, "stride_s": STRIDE_S, "torch_threads": 1, "use_tf": False}
    node = RCMCLNode(context=context, parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    probe = Node("people_probe", context=context)
    topics = {"rgb": ("/rgb/image_raw", Image), "depth": ("/depth_to_rgb/image_raw", Image),
              "points": ("/points2", PointCloud2), "info": ("/rgb/camera_info", CameraInfo),
              "skeleton": ("/body_tracking_data", MarkerArray)}
    pubs = {s: probe.create_publisher(kind, topic, 10) for s, (topic, kind) in topics.items()}
    decisions: list[tuple[float, dict]] = []
    actions: list[str] = []
    markers: list[MarkerArray] = []
    name = node.get_fully_qualified_name()
    probe.create_subscription(DiagnosticArray, f"{name}/decision", lambda m: decisions.append(
        (m.header.stamp.sec + m.header.stamp.nanosec * 1e-9, _by_body(m))), 10)
    probe.create_subscription(String, f"{name}/action", lambda m: actions.append(m.data), 10)
    probe.create_subscription(MarkerArray, f"{name}/people_markers", markers.append, 10)
    executors = []
    for n in (node, probe):
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(n)
        threading.Thread(target=executor.spin, daemon=True).start()
        executors.append(executor)
    try:
        time.sleep(0.5)
        t0 = time.time()
        for k, (t_s, msgs) in enumerate(scene_messages(t0)):
            time.sleep(max(0.0, t0 + t_s - time.time()))
            if hostile:
                msgs["skeleton"] = hostile_markers(msgs["skeleton"], k)
            for stream, msg in msgs.items():
                pubs[stream].publish(msg)
        time.sleep(1.5)
        stats = node.people.windower.stats
        stats.main_id = node.pipeline.main_actor_id
    finally:
        for executor in executors:
            executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        probe.destroy_node()
    return t0, decisions, actions, markers, stats


def _by_body(msg) -> dict[int, dict]:
    """~/decision -> {body id: {"present": (3,) bool, "gates": (3,) float}} in MODALITIES order."""
    return {p.body_id: {"present": np.array([p.present[m] for m in MODALITIES]),
                        "gates": np.array([p.gates[m] for m in MODALITIES])}
            for p in decision_from_message(msg)}


def test_per_person_decisions_follow_a_skeleton_that_drops_while_the_other_stays(rclpy_context):
    t0, decisions, actions, markers, stats = run_node(rclpy_context)
    assert stats.main_id == 1          # person 2 stood nearer; with its skeleton gone the main actor is 1
    got = [(stamp - t0, people) for stamp, people in decisions]
    assert got, "no ~/decision message"
    early = [p for t, p in got if t <= PERSON2_OFF_S]
    assert early and all(set(p) == {1, 2} and p[2]["present"][1] and p[2]["gates"][1] > 0 for p in early)
    held = [p for t, p in got if PERSON2_OFF_S + 1.3 <= t <= PERSON2_OFF_S + STALE_S - 0.1]
    assert held, [round(t, 2) for t, _ in got]
    for p in held:          # person 2: skeleton absent (gate exactly 0), RGB-D and points still there
        assert p[2]["present"].tolist() == [True, False, True] and p[2]["gates"][1] == 0.0
        assert p[1]["present"].all() and p[1]["gates"][1] > 0
    late = [p for t, p in got if t > PERSON2_OFF_S + STALE_S + 0.05]
    assert late and all(set(p) == {1} for p in late)                # no phantom label for person 2
    assert actions                                                  # single-person topics still publish
    assert any(m.markers and m.markers[0].text.startswith("1: ") for m in markers)


def test_hostile_skeletons_are_counted_and_never_become_people(rclpy_context):
    t0, decisions, actions, _, stats = run_node(rclpy_context, hostile=True)
    assert decisions and actions
    assert all(set(people) <= {1, 2} for _, people in decisions)      # no id 50, 100-139
    assert stats.bad_bodies > 0 and stats.tracks_started == 2
