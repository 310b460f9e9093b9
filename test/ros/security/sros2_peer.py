"""A child process for the secured-node test (test_secured_node.py), secured or not by its environment:

    python sros2_peer.py camera|observer|intruder SECONDS OUT.json [--ros-args --enclave E]

camera: publishes the test scene's four inputs at 30 Hz and counts the node's decisions (~/reliability);
observer: only counts them; intruder: tries to publish skeletons. Writes what it saw to OUT.json."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))      # test/: conftest's SyntheticScene


def main() -> int:
    mode, seconds, out = sys.argv[1], float(sys.argv[2]), Path(sys.argv[3])
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from std_msgs.msg import Float32MultiArray

    from conftest import SyntheticScene
    from rcmcl_ros.node.interfaces import node_interfaces
    from rcmcl_ros.security.policy_command import DEFAULTS

    rclpy.init(args=sys.argv)
    node = Node(f"peer_{mode}")
    result = {"mode": mode, "decisions": 0, "published": 0, "publisher_error": None}
    node.create_subscription(Float32MultiArray, "/rcmcl_node/reliability",
                             lambda _: result.__setitem__("decisions", result["decisions"] + 1), 10)
    publishers = {}
    kinds = {"rgb": "sensor_msgs.msg.Image", "depth": "sensor_msgs.msg.Image",
             "points": "sensor_msgs.msg.PointCloud2", "skeleton": "visualization_msgs.msg.MarkerArray"}
    inputs = {i.role: i.name for i in node_interfaces(**DEFAULTS).inputs if i.role in kinds}
    wanted = {"camera": list(kinds), "intruder": ["skeleton"], "observer": []}[mode]
    try:
        for stream in wanted:
            module, _, cls = kinds[stream].rpartition(".")
            publishers[stream] = node.create_publisher(getattr(__import__(module, fromlist=[cls]), cls),
                                                       inputs[stream], 10)
    except Exception as error:  # rmw refuses a topic outside the allow rule (rclpy raises its own error kinds)
        result["publisher_error"] = f"{type(error).__name__}: {error}"
    scene = SyntheticScene(seed=0)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    started = time.time()
    next_tick = started
    while time.time() - started < seconds:
        if time.time() >= next_tick and publishers:
            messages = scene.messages(time.time())
            for stream, publisher in publishers.items():
                publisher.publish(messages[stream])
                result["published"] += 1
            next_tick += 1.0 / 30.0
        executor.spin_once(timeout_sec=0.005)
    out.write_text(json.dumps(result))
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
