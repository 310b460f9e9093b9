"""`python -m rcmcl_ros watch` (rcmcl_ros/node/watch.py): it reads decisions back from the node's gate markers and
pairs them with a replayed bag's ground truth and faults; real rclpy in-process."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from rcmcl_ros.node.gate_markers import decision_text
from rcmcl_ros.node.watch import WatchedDecision, format_line, parse_decision_text


def test_decision_text_of_the_markers_parses_back():
    text = decision_text(label="hold up red sign", confidence=0.834, gates=np.array([0.5, 0.0, 0.25]),
                         present=np.array([True, False, True]))
    assert parse_decision_text(text) == ("hold up red sign", 0.83, {"R": 0.5, "S": None, "P": 0.25})
    assert parse_decision_text("not a decision") is None


def test_a_line_shows_time_label_gates_truth_and_faults():
    decision = WatchedDecision(stamp_s=112.5, label="wave", confidence=0.9, gates={"R": 0.8, "S": None, "P": 0.4})
    line = format_line(decision, origin_s=100.0, truth="kick", faults=["skeleton_lost"])
    assert line.startswith("t=  12.50 s  wave")
    assert "R 0.80  S --    P 0.40" in line and "truth kick" in line and line.endswith("--  [skeleton_lost]")
    assert format_line(decision, origin_s=100.0, truth=None, faults=[]).endswith("P 0.40")


@pytest.mark.ros
@pytest.mark.timeout(60)
def test_watcher_pairs_decisions_with_truth_and_active_faults(rclpy_context):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rosgraph_msgs.msg import Clock
    from std_msgs.msg import String

    from rcmcl_ros.bag.files import FAULT_TOPIC, GROUND_TRUTH_TOPIC
    from rcmcl_ros.bag.annotations import Fault
    from rcmcl_ros.conversions import seconds_to_stamp
    from rcmcl_ros.node.gate_markers import gate_markers
    from rcmcl_ros.node.watch import Watcher

    lines: list[str] = []
    watch_node = Node("watch", context=rclpy_context, parameter_overrides=[Parameter("use_sim_time", value=True)])
    Watcher(node=watch_node, target="/rcmcl_node", emit=lines.append)
    source = Node("source", context=rclpy_context)
    clock = source.create_publisher(Clock, "/clock", 10)
    truth = source.create_publisher(String, GROUND_TRUTH_TOPIC, 10)
    fault = source.create_publisher(String, FAULT_TOPIC, 10)
    markers = source.create_publisher(type(gate_markers(gates=np.zeros(3), present=np.ones(3, bool), label="x",
                                                        confidence=0.0, stamp=seconds_to_stamp(0.0), frame_id="f")),
                                      "/rcmcl_node/gate_markers", 10)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(watch_node)
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        deadline = time.monotonic() + 10
        while watch_node.count_publishers("/rcmcl_node/gate_markers") == 0 or \
                source.count_subscribers(GROUND_TRUTH_TOPIC) == 0 or source.count_subscribers("/clock") == 0:
            assert time.monotonic() < deadline, "no discovery"
            time.sleep(0.05)

        def at(t_s: float) -> None:
            clock.publish(Clock(clock=seconds_to_stamp(t_s)))
            time.sleep(0.2)

        at(1000.0)
        truth.publish(String(data="wave"))
        time.sleep(0.2)
        at(1001.0)
        fault.publish(String(data=Fault("skeleton_lost", 1.0, 3.0).to_json()))
        time.sleep(0.2)
        at(1001.3)
        truth.publish(String(data="kick"))        # the action changes late in the decision's 2 s window
        time.sleep(0.2)
        markers.publish(gate_markers(gates=np.array([0.7, 0.0, 0.3]), present=np.array([True, False, True]),
                                     label="wave", confidence=0.91, stamp=seconds_to_stamp(1001.5), frame_id="f"))
        deadline = time.monotonic() + 5
        while not lines and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        executor.shutdown(timeout_sec=1.0)
        watch_node.destroy_node()
        source.destroy_node()
    assert len(lines) == 1
    assert lines[0].startswith("t=   1.50 s  wave")
    # truth is the class over most of the window (wave), as evaluate-bag scores, not the class at its end (kick)
    assert "S --" in lines[0] and "truth wave" in lines[0] and lines[0].endswith("ok  [skeleton_lost]")
