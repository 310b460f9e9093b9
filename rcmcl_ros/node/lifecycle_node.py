"""The rcmcl node as a ROS 2 managed (lifecycle) node, for robot stacks that bring nodes up in order.

    python -m rcmcl_ros node --lifecycle [--ros-args ...]        # or the rcmcl_lifecycle_node console script
    ros2 lifecycle set /rcmcl_node configure   # reads the parameters, loads the checkpoint
    ros2 lifecycle set /rcmcl_node activate    # subscribes, publishes, starts the inference worker

| transition | what happens                                                                    |
|------------|---------------------------------------------------------------------------------|
| configure  | parameters read, model loaded (a bad checkpoint or parameter fails the transition, logged) |
| activate   | RCMCLNode's subscriptions, publishers, timers and worker start                   |
| deactivate | they stop (an inference in flight finishes); the model stays loaded              |
| cleanup    | the model is released                                                            |
| shutdown   | as deactivate + cleanup                                                          |

Parameters are declared at construction (read-only, read at configure). The plain RCMCLNode (rcmcl_ros/node/ros_node.py)
stays the default entry point; this one needs rclpy.lifecycle and lifecycle_msgs (both in the ROS wheels).
"""
from __future__ import annotations

from typing import Any

from rclpy.lifecycle import LifecycleNodeMixin, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node

from rcmcl_ros.node.ros_node import NODE_NAME, RCMCLNode
from rcmcl_ros.node.params import declare_parameters


class RCMCLLifecycleNode(LifecycleNodeMixin, RCMCLNode):
    """RCMCLNode whose loading and wiring wait for the configure and activate transitions."""

    def __init__(self, *, node_name: str = NODE_NAME, **node_kwargs: Any) -> None:
        Node.__init__(self, node_name, **node_kwargs)          # not RCMCLNode.__init__: nothing starts yet
        LifecycleNodeMixin.__init__(self)
        declare_parameters(self)
        self.pipeline = None
        self.get_logger().info("rcmcl lifecycle node unconfigured: 'configure' loads the model, 'activate' "
                               "subscribes (ros2 lifecycle set <node> configure)")

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._load()
        except Exception as error:   # a bad checkpoint or parameter: say why, stay unconfigured
            self.pipeline = None
            self.get_logger().error(f"configure failed: {type(error).__name__}: {error}")
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f"configured: checkpoint {self.checkpoint_path}, device {self.pipeline.device}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._start()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._halt()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.pipeline = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._halt()
        self.pipeline = None
        return TransitionCallbackReturn.SUCCESS
