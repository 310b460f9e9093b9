"""The managed node: nothing loads or subscribes before configure / activate; deactivate stops decisions,
activate starts them again; a missing checkpoint fails configure with a logged reason."""
from __future__ import annotations

import threading
import time

from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Float32MultiArray

from rcmcl_ros.node.lifecycle_node import RCMCLLifecycleNode
from test_node import RATE_HZ, TOPICS


def spin(context, *nodes) -> list[SingleThreadedExecutor]:
    executors = []
    for node in nodes:
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        executors.append(executor)
    return executors


def wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_configure_loads_activate_decides_deactivate_stops_and_activate_resumes(rclpy_context, tiny_checkpoint,
                                                                                scene):
    node = RCMCLLifecycleNode(context=rclpy_context, parameter_overrides=[
        Parameter("checkpoint", value=str(tiny_checkpoint(window_s=1.0))), Parameter("stride_s", value=0.2)])
    probe = Node("lifecycle_probe", context=rclpy_context)
    gates: list[Float32MultiArray] = []
    probe.create_subscription(Float32MultiArray, "rcmcl_node/reliability", gates.append, 10)
    publishers = {s: probe.create_publisher(kind, topic, 10) for s, (topic, kind) in TOPICS.items()}

    def tick() -> None:
        messages = scene.messages(time.time())
        for stream, publisher in publishers.items():
            publisher.publish(messages[stream])

    probe.create_timer(1.0 / RATE_HZ, tick)
    executors = spin(rclpy_context, node, probe)
    try:
        assert node.pipeline is None and node.count_subscribers("/rgb/image_raw") == 0
        assert node.count_publishers("/rcmcl_node/reliability") == 0     # unconfigured: nothing exists
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.pipeline is not None                                  # model loaded, still silent
        time.sleep(0.5)
        assert not gates
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert wait_for(lambda: len(gates) >= 2, 15.0), "no decisions after activate"
        # no QoS-event waitables on what deactivate destroys: rclpy's executor ends its spin thread with
        # InvalidHandle when one is destroyed between its wait-set steps (seen under load in CI)
        from rclpy.event_handler import EventHandler
        assert not [w for w in node.waitables if isinstance(w, EventHandler)]
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        time.sleep(0.3)
        stopped = len(gates)
        time.sleep(1.0)
        assert len(gates) == stopped                                      # no decision while inactive
        assert node.count_publishers("/rcmcl_node/reliability") == 0
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert wait_for(lambda: len(gates) >= stopped + 2, 15.0), "no decisions after re-activating"
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS and node.pipeline is None
    finally:
        for executor in executors:
            executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        probe.destroy_node()


def test_configure_with_a_missing_checkpoint_fails_and_says_why(rclpy_context, tmp_path, capfd):
    missing = tmp_path / "no_such.pt"
    node = RCMCLLifecycleNode(context=rclpy_context, parameter_overrides=[Parameter("checkpoint", value=str(missing))])
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node.pipeline is None
        assert f"checkpoint not found: {missing}" in capfd.readouterr().err
    finally:
        node.destroy_node()
