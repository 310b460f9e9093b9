"""Replay a bag into the rcmcl node: the bag player (with /clock) and the node on sim time.

    ros2 launch rcmcl_ros replay.launch.py bag:=cache/demo_bag/demo_<hash>
    ros2 launch rcmcl_ros replay.launch.py bag:=/data/k4a.mcap rate:=0.5 loop:=true checkpoint:=/path/model.pt

Make a demo bag first with `python -m rcmcl_ros make-demo-bag` (it prints the path).

Arguments:
  bag          rosbag2 folder, .mcap or .db3 file (required)
  rate         playback speed factor (default 1.0)
  loop         true to start the bag over at its end (the clock jumps back)
  params_file  parameters YAML for the node (default: the installed config/rcmcl.yaml)
  checkpoint   rcmcl checkpoint; empty keeps the params file's value (empty there = bundled model)
  device       auto | cpu | cuda; empty keeps the params file's value
  dds_profile  Fast DDS transport: shm_localhost (default: shared memory + UDP on 127.0.0.1), shm, off or a path
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from rcmcl_ros.node.transport import launch_actions

PACKAGE = "rcmcl_ros"
NODE_EXECUTABLE = "rcmcl_node"
PLAYER_EXECUTABLE = "rcmcl_play"
TRUE_WORDS = ("true", "1", "yes", "on")
DEFAULT_DDS_PROFILE = "shm_localhost"


def _nodes(context, *_args, **_kwargs):
    """Build player and node once the arguments are known, so that empty arguments leave the YAML untouched."""
    bag = LaunchConfiguration("bag").perform(context)
    rate = LaunchConfiguration("rate").perform(context)
    loop = LaunchConfiguration("loop").perform(context).strip().lower() in TRUE_WORDS
    params_file = LaunchConfiguration("params_file").perform(context)
    checkpoint = LaunchConfiguration("checkpoint").perform(context)
    device = LaunchConfiguration("device").perform(context)

    overrides = {}
    overrides["use_sim_time"] = True        # the node runs on the bag's /clock
    if checkpoint:
        overrides["checkpoint"] = checkpoint
    if device:
        overrides["device"] = device
    player_arguments = [bag, "--rate", rate] + (["--loop"] if loop else [])
    return [
        Node(package=PACKAGE, executable=NODE_EXECUTABLE, name=NODE_EXECUTABLE, output="screen", emulate_tty=True,
             parameters=[params_file, overrides]),
        Node(package=PACKAGE, executable=PLAYER_EXECUTABLE, name="rcmcl_bag_player", output="screen",
             emulate_tty=True, arguments=player_arguments),
    ]


def _dds_profile(context, *_args, **_kwargs):
    """FASTDDS_DEFAULT_PROFILES_FILE for the processes started after this action (the camera driver needs the
    same file: see README 'Transport'); 'off' unsets it."""
    share = FindPackageShare(PACKAGE).perform(context)
    return launch_actions(LaunchConfiguration("dds_profile").perform(context), config_dir=f"{share}/config")


def generate_launch_description() -> LaunchDescription:
    default_params = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "rcmcl.yaml"])
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="rosbag2 folder, .mcap or .db3 file to replay"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback speed factor"),
        DeclareLaunchArgument("loop", default_value="false", description="start the bag over at its end"),
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="parameters YAML for rcmcl_node"),
        DeclareLaunchArgument("checkpoint", default_value="",
                              description="rcmcl checkpoint (.pt); empty keeps the params file's value"),
        DeclareLaunchArgument("device", default_value="",
                              description="auto, cpu or cuda; empty keeps the params file's value"),
        DeclareLaunchArgument("dds_profile", default_value=DEFAULT_DDS_PROFILE,
                              description="Fast DDS transport: shm, shm_localhost (UDP on 127.0.0.1 only), off "
                                          "or an XML path"),
        OpaqueFunction(function=_dds_profile),
        OpaqueFunction(function=_nodes),
    ])
