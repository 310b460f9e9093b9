"""The node as a process: `python -m rcmcl_ros node [--lifecycle]`, `rcmcl_node`, `rcmcl_lifecycle_node`.

Lives apart from ros_node.py and lifecycle_node.py so that the lifecycle node, a subclass of the plain one,
is imported from here and neither node module imports the other's subclass.
"""
from __future__ import annotations

import rclpy
import rclpy.executors
import rclpy.logging

from rcmcl_ros.node.lifecycle_node import RCMCLLifecycleNode
from rcmcl_ros.node.ros_node import NODE_NAME, NodeStartError, RCMCLNode


def run(args: list[str] | None = None, *, lifecycle: bool = False) -> int:
    """init, spin until Ctrl-C / shutdown, clean up. 0 on a clean exit; 1 when the node cannot start.
    lifecycle: the managed node (lifecycle_node.py), which loads and subscribes on configure / activate."""
    rclpy.init(args=args)
    node = None
    try:
        try:
            node = RCMCLLifecycleNode() if lifecycle else RCMCLNode()
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
