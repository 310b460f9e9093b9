"""Every topic and service the node uses, from its parameters: the one list the node creates its interfaces
from and the SROS2 policy generator (rcmcl_ros/security/policy.py) grants. No rclpy import.

Names are as the node passes them to rclpy: relative ('rgb/image_raw'), private ('~/action') or absolute
('/diagnostics'); `resolve` gives the name on the graph under a namespace, node name and remaps.
"""
from __future__ import annotations

from dataclasses import dataclass

from rcmcl_ros.topics import camera_info_beside, camera_info_roles

PARAMETER_SERVICES = {"describe_parameters": "rcl_interfaces/srv/DescribeParameters",
                      "get_parameter_types": "rcl_interfaces/srv/GetParameterTypes",
                      "get_parameters": "rcl_interfaces/srv/GetParameters",
                      "list_parameters": "rcl_interfaces/srv/ListParameters",
                      "set_parameters": "rcl_interfaces/srv/SetParameters",
                      "set_parameters_atomically": "rcl_interfaces/srv/SetParametersAtomically",
                      "get_type_description": "type_description_interfaces/srv/GetTypeDescription"}
"""The services rclpy gives every node under ~/ (get_type_description: Jazzy and later)."""
LIFECYCLE_SERVICES = {"change_state": "lifecycle_msgs/srv/ChangeState", "get_state": "lifecycle_msgs/srv/GetState",
                      "get_available_states": "lifecycle_msgs/srv/GetAvailableStates",
                      "get_available_transitions": "lifecycle_msgs/srv/GetAvailableTransitions",
                      "get_transition_graph": "lifecycle_msgs/srv/GetAvailableTransitions"}


@dataclass(frozen=True)
class Interface:
    """One topic or service: name as passed to rclpy, ROS type ('sensor_msgs/msg/Image'), and what for."""

    name: str
    type: str
    role: str = ""             # the input stream (rgb, depth, points, skeleton) or camera_info's roles


@dataclass
class NodeInterfaces:
    subscribes: list[Interface]
    publishes: list[Interface]
    services: list[Interface]          # servers (the node answers them)

    @property
    def inputs(self) -> list[Interface]:
        """The four sensor inputs (a camera driver publishes them)."""
        return [i for i in self.subscribes if i.role in ("rgb", "depth", "points", "skeleton")
                or "cloud" in i.role or "people" in i.role]


def node_interfaces(*, rgb_topic: str, depth_topic: str, points_topic: str, skeleton_topic: str,
                    rgb_transport: str = "raw", points_source: str = "topic", camera_info_topic: str = "",
                    people_camera_info_topic: str = "", max_people: int = 1, use_tf: bool = True,
                    use_sim_time: bool = False, lifecycle: bool = False) -> NodeInterfaces:
    """The interfaces of a node with these parameters (rcmcl_ros/node/params.py names them). use_tf: the tf2
    listener's /tf and /tf_static (the node has them when use_tf is on and tf2_ros is installed)."""
    rgb = ((f"{rgb_topic.rstrip('/')}/compressed", "sensor_msgs/msg/CompressedImage") if rgb_transport == "compressed"
           else (rgb_topic, "sensor_msgs/msg/Image"))
    subscribes = [Interface(rgb[0], rgb[1], "rgb"), Interface(depth_topic, "sensor_msgs/msg/Image", "depth")]
    if points_source != "depth":
        subscribes.append(Interface(points_topic, "sensor_msgs/msg/PointCloud2", "points"))
    subscribes.append(Interface(skeleton_topic, "visualization_msgs/msg/MarkerArray", "skeleton"))
    people = max_people > 1
    roles = camera_info_roles(cloud=camera_info_topic if points_source == "depth" else None,
                              people=(people_camera_info_topic or camera_info_beside(rgb_topic)) if people else None)
    subscribes += [Interface(topic, "sensor_msgs/msg/CameraInfo", ",".join(sorted(r))) for topic, r in roles.items()]
    if use_tf:
        subscribes += [Interface("/tf", "tf2_msgs/msg/TFMessage"), Interface("/tf_static", "tf2_msgs/msg/TFMessage")]
    if use_sim_time:
        subscribes.append(Interface("/clock", "rosgraph_msgs/msg/Clock"))
    publishes = [Interface("~/action", "std_msgs/msg/String"), Interface("~/scores", "std_msgs/msg/Float32MultiArray"),
                 Interface("~/reliability", "std_msgs/msg/Float32MultiArray"),
                 Interface("~/reliability_status", "diagnostic_msgs/msg/DiagnosticArray"),
                 Interface("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray"),
                 Interface("~/gate_markers", "visualization_msgs/msg/MarkerArray"),
                 Interface("~/decision", "diagnostic_msgs/msg/DiagnosticArray")]
    if people:
        publishes.append(Interface("~/people_markers", "visualization_msgs/msg/MarkerArray"))
    publishes += [Interface("~/labels", "std_msgs/msg/String"), Interface("/rosout", "rcl_interfaces/msg/Log"),
                  Interface("/parameter_events", "rcl_interfaces/msg/ParameterEvent")]
    services = [Interface(f"~/{name}", kind) for name, kind in PARAMETER_SERVICES.items()]
    if lifecycle:
        publishes.append(Interface("~/transition_event", "lifecycle_msgs/msg/TransitionEvent"))
        services += [Interface(f"~/{name}", kind) for name, kind in LIFECYCLE_SERVICES.items()]
    return NodeInterfaces(subscribes=subscribes, publishes=publishes, services=services)


def resolve(name: str, *, namespace: str = "/", node_name: str, remaps: dict[str, str] | None = None) -> str:
    """The name on the graph: '~/x' -> '<ns>/<node>/x', 'x' -> '<ns>/x', '/x' stays; then a remap of the
    resolved name (or of the name as written) applies, as `--ros-args -r from:=to` does."""
    remaps = remaps or {}
    namespace = "/" + namespace.strip("/") if namespace.strip("/") else ""
    if name.startswith("~"):
        resolved = f"{namespace}/{node_name}{name[1:]}"
    elif name.startswith("/"):
        resolved = name
    else:
        resolved = f"{namespace}/{name}"
    for key in (resolved, name):
        if key in remaps:
            target = remaps[key]
            return target if target.startswith("/") else f"{namespace}/{target}"
    return resolved
