"""Spawn targets for test_transport_profile: one true-size colour stream between two fresh processes (Fast DDS
reads its XML profile once per process, so the pytest process itself cannot switch transports)."""
from __future__ import annotations

import time
from typing import Any

COLOUR_SHAPE = (720, 1280, 4)
"""Azure Kinect 720P colour, bgra8: 3.7 MB a message."""


def _start(domain_id: int, name: str) -> tuple[Any, Any]:
    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node

    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    return context, Node(name, context=context)


def publish_colour(domain_id: int, start_wall: float, seconds: float, rate_hz: float, results: Any) -> None:
    """Publish 1280x720 bgra8 Images on `colour` with sensor-data QoS from start_wall on; put the count."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    context, node = _start(domain_id, "colour_publisher")
    height, width, channels = COLOUR_SHAPE
    msg = Image(height=height, width=width, encoding="bgra8", step=width * channels)
    msg.data = bytes(height * width * channels)
    publisher = node.create_publisher(Image, "colour", qos_profile_sensor_data)
    sent = 0
    try:
        while time.time() < start_wall + seconds:
            time.sleep(max(0.0, start_wall + sent / rate_hz - time.time()))
            publisher.publish(msg)
            sent += 1
    finally:
        results.put(sent)
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def count_colour(domain_id: int, until_wall: float, results: Any) -> None:
    """Count full-size Images received on `colour` until until_wall; put the count."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    context, node = _start(domain_id, "colour_counter")
    received = [0]
    full = COLOUR_SHAPE[0] * COLOUR_SHAPE[1] * COLOUR_SHAPE[2]

    def on_image(msg: Any) -> None:
        received[0] += int(len(msg.data) == full)

    node.create_subscription(Image, "colour", on_image, qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        while time.time() < until_wall:
            executor.spin_once(timeout_sec=0.1)
    finally:
        results.put(received[0])
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def report_sockets(domain_id: int, seconds: float, results: Any) -> None:
    """Run a node with a publisher and a subscription for `seconds`, then put the (type, local address) of
    every inet socket this process holds."""
    import psutil
    import rclpy
    from std_msgs.msg import String

    context, node = _start(domain_id, "socket_probe")
    publisher = node.create_publisher(String, "probe", 10)
    node.create_subscription(String, "probe", lambda msg: None, 10)
    end = time.time() + seconds
    while time.time() < end:
        publisher.publish(String(data="probe"))
        time.sleep(0.05)
    results.put(sorted({(c.type.name, c.laddr.ip) for c in psutil.Process().net_connections(kind="inet")}))
    node.destroy_node()
    rclpy.shutdown(context=context)
