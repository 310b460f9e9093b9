"""What the launch files in launch/ decide, as plain functions that tests call (launch / launch_ros are not
needed here; only `declare` imports them, and only launch files call it).

One home for: the arguments each launch file takes and their descriptions, the node's parameters and
remappings, the player's command line, the checks made before anything starts (a missing params file or bag
is an error, not a node on its defaults), what happens without rviz2, and which process exits end the launch
and with which status.
"""
from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

from rcmcl_ros.node.params import NodeConfig

PACKAGE = "rcmcl_ros"
NODE_EXECUTABLE = "rcmcl_node"
PLAYER_EXECUTABLE = "rcmcl_play"
PLAYER_NAME = "rcmcl_bag_player"
TRUE_WORDS = ("true", "1", "yes", "on")
INSTALLED_PARAMS = "config/rcmcl.yaml"
"""The params file an empty params_file means, relative to the installed share/rcmcl_ros."""
RVIZ_CONFIG = "config/rcmcl.rviz"
CLEAN_EXIT_CODES = (0, -signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGINT, 128 + signal.SIGTERM)
"""A process that ends with one of these stopped normally (Ctrl-C reaches every process of a launch)."""


class LaunchError(RuntimeError):
    """A launch argument that cannot work; raised before any process starts (the launch ends with status 1)."""


@dataclass(frozen=True)
class LaunchArgument:
    """One launch argument: `default` None means required."""

    name: str
    description: str
    default: str | None = ""


ARGUMENTS = {argument.name: argument for argument in (
    LaunchArgument("params_file", f"parameters YAML for rcmcl_node; empty: the installed {INSTALLED_PARAMS} "
                                  "(a path that does not exist is an error)"),
    LaunchArgument("checkpoint", "rcmcl checkpoint (.pt); empty keeps the params file's value (empty there: the "
                                 "bundled model)"),
    LaunchArgument("device", "auto, cpu or cuda; empty keeps the params file's value"),
    LaunchArgument("backend", "auto, torch, torchscript or onnxruntime (README, 'Backends'); empty keeps the params "
                              "file's value"),
    LaunchArgument("enclave", "SROS2 enclave of the node, passed as --enclave (used when ROS_SECURITY_ENABLE=true; "
                              "README, 'Running secured'); empty: none", f"/rcmcl/{NODE_EXECUTABLE}"),
    LaunchArgument("camera_namespace", "camera driver namespace; the four inputs are remapped under it (empty: "
                                       "as they are)"),
    LaunchArgument("use_sim_time", "true: run on /clock (bag replay)", "false"),
    LaunchArgument("dds_profile", "Fast DDS transport: shm (shared memory with a 64 MB segment + UDP), "
                                  "shm_localhost (the same, UDP on 127.0.0.1 only), off (Fast DDS defaults) or an "
                                  "XML path; the camera driver must load the same (README, 'Transport')", "shm"),
    LaunchArgument("rviz", f"true: also start rviz2 with {RVIZ_CONFIG} (without rviz2: a message, the rest runs)",
                   "false"),
    LaunchArgument("bag", "rosbag2 folder, .mcap or .db3 file to replay (required; the launch ends when the "
                          "player does)", None),
    LaunchArgument("rate", "playback speed factor (> 0)", "1.0"),
    LaunchArgument("loop", "true: start the bag over at its end (the clock jumps back)", "false"),
)}
"""Every launch argument of every launch file, with its one description and default."""

FILE_ARGUMENTS = {
    "rcmcl.launch.py": ("params_file", "checkpoint", "device", "backend", "camera_namespace", "use_sim_time",
                        "dds_profile", "enclave"),
    "azure_kinect.launch.py": ("rviz", "params_file", "checkpoint", "device", "backend", "dds_profile", "enclave"),
    "replay.launch.py": ("bag", "rate", "loop", "params_file", "checkpoint", "device", "backend", "dds_profile",
                         "enclave"),
}
"""The arguments each launch file declares, in the order `ros2 launch --show-args` lists them."""
FILE_DEFAULTS = {"replay.launch.py": {"dds_profile": "shm_localhost"}}
"""Defaults that differ per file: a replay keeps its traffic on this host."""


def is_true(text: str) -> bool:
    """A launch argument's boolean: true, 1, yes or on (any case, spaces ignored)."""
    return text.strip().lower() in TRUE_WORDS


def arguments(launch_file: str) -> list[LaunchArgument]:
    """The arguments `launch_file` (a name in FILE_ARGUMENTS) declares, with that file's defaults."""
    overrides = FILE_DEFAULTS.get(launch_file, {})
    return [LaunchArgument(name, ARGUMENTS[name].description, overrides.get(name, ARGUMENTS[name].default))
            for name in FILE_ARGUMENTS[launch_file]]


def declare(launch_file: str) -> list:
    """DeclareLaunchArgument actions for `launch_file` (imports `launch`: only launch files call this)."""
    from launch.actions import DeclareLaunchArgument

    return [DeclareLaunchArgument(a.name, description=a.description,
                                  **({} if a.default is None else {"default_value": a.default}))
            for a in arguments(launch_file)]


def params_file(value: str, *, share: str | Path) -> str:
    """The params file the node loads: `value`, or the installed one under `share` when empty.
    Raises LaunchError when the file does not exist (launch_ros would only warn and start the node on its
    defaults)."""
    path = Path(value.strip()).expanduser() if value.strip() else Path(share) / INSTALLED_PARAMS
    if not path.is_file():
        raise LaunchError(f"params_file not found: {path} (give an existing YAML, or leave it empty for the "
                          f"installed {INSTALLED_PARAMS})")
    return str(path)


def node_parameters(*, params_file: str, checkpoint: str, device: str, use_sim_time: bool,
                    backend: str = "") -> list:
    """`parameters=` for the node: the params file, then the overrides; an empty checkpoint, device or backend
    keeps the file's value."""
    overrides: dict[str, object] = {"use_sim_time": use_sim_time}
    for name, value in (("checkpoint", checkpoint), ("device", device), ("backend", backend)):
        if value.strip():
            overrides[name] = value.strip()
    return [params_file, overrides]


def node_ros_arguments(enclave: str) -> list[str]:
    """`ros_arguments=` for the node: its SROS2 enclave ('' : none; ROS ignores it while security is off)."""
    enclave = enclave.strip()
    if enclave and not enclave.startswith("/"):
        raise LaunchError(f"enclave must be an absolute path such as /rcmcl/{NODE_EXECUTABLE}, got {enclave!r}")
    return ["--enclave", enclave] if enclave else []


def input_topics() -> tuple[str, ...]:
    """The node's default input topics (parameters rgb_topic, depth_topic, points_topic, skeleton_topic)."""
    defaults = NodeConfig()
    return defaults.rgb_topic, defaults.depth_topic, defaults.points_topic, defaults.skeleton_topic


def input_remappings(camera_namespace: str) -> list[tuple[str, str]]:
    """Remap the four inputs under the camera driver's namespace ('' or '/': none)."""
    namespace = camera_namespace.strip().strip("/")
    return [(topic, f"/{namespace}/{topic}") for topic in input_topics()] if namespace else []


def player_arguments(bag: str, rate: str, loop: str) -> list[str]:
    """The player's command line. Raises LaunchError for a bag that does not exist or a rate that is not a
    positive number, before the node starts."""
    path = Path(bag.strip()).expanduser()
    if not bag.strip() or not path.exists():
        raise LaunchError(f"bag not found: {bag!r} (a rosbag2 folder, .mcap or .db3 file)")
    try:
        speed = float(rate)
    except ValueError:
        raise LaunchError(f"rate must be a number, got {rate!r}") from None
    if not speed > 0:
        raise LaunchError(f"rate must be > 0, got {rate!r}")
    return [str(path), "--rate", str(speed)] + (["--loop"] if is_true(loop) else [])


def rviz_message(requested: bool, installed: bool) -> str | None:
    """None: start rviz2 (or it was not asked for); a message: rviz2 was asked for but is not installed, so
    the rest runs without it (Node(package='rviz2') would end the launch and orphan the node)."""
    if requested and not installed:
        return ("[rcmcl] rviz:=true but the rviz2 package is not installed: running without it (install "
                f"ros-$ROS_DISTRO-rviz2, or open {RVIZ_CONFIG} in an rviz2 elsewhere)")
    return None


@dataclass(frozen=True)
class ExitOutcome:
    """What a process's exit does to the launch: `shutdown` ends it; `error` (when not None) ends it with
    status 1 and this message."""

    shutdown: bool
    error: str | None = None


def process_exit(role: str, returncode: int | None, *, shutting_down: bool) -> ExitOutcome:
    """The launch's answer when the process playing `role` ('node' or 'player') exits.

    Both end the launch (a replay is over when its bag is; nothing is left running without the node); a
    non-zero status ends it as an error unless it is a normal stop (CLEAN_EXIT_CODES) or the launch is already
    shutting down (Ctrl-C). rviz is not watched: closing it leaves the robot's node running."""
    if role not in ("node", "player"):
        raise ValueError(f"unknown role {role!r}")
    if shutting_down or returncode in CLEAN_EXIT_CODES:
        return ExitOutcome(shutdown=True)
    what = NODE_EXECUTABLE if role == "node" else PLAYER_EXECUTABLE
    return ExitOutcome(shutdown=True, error=f"{what} exited with status {returncode}: ending the launch")


def exit_handler(action, role: str):
    """A RegisterEventHandler that applies process_exit when `action` (a launch_ros Node) exits: Shutdown, or
    LaunchError (the launch then ends with status 1). Imports `launch`: only launch files call this."""
    from launch.actions import EmitEvent, RegisterEventHandler
    from launch.event_handlers import OnProcessExit
    from launch.events import Shutdown

    def handle(event, context):
        outcome = process_exit(role, event.returncode, shutting_down=context.is_shutdown)
        if outcome.error is not None:
            raise LaunchError(outcome.error)
        return [EmitEvent(event=Shutdown(reason=f"{role} exited"))] if outcome.shutdown else []

    return RegisterEventHandler(OnProcessExit(target_action=action, on_exit=handle))
