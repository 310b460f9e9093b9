"""Replay a bag into the rcmcl node: the bag player (with /clock) and the node on sim time.

    ros2 launch rcmcl_ros replay.launch.py bag:=cache/demo_bag/demo_<hash>
    ros2 launch rcmcl_ros replay.launch.py bag:=/data/k4a.mcap rate:=0.5 loop:=true checkpoint:=/path/model.pt

Make a demo bag first with `python -m rcmcl_ros make-demo-bag` (it prints the path).

Arguments (descriptions and defaults: rcmcl_ros/launch_plan.py, ARGUMENTS; `--show-args` lists them):
  bag          rosbag2 folder, .mcap or .db3 file (required; a missing bag is an error before anything starts)
  rate         playback speed factor (default 1.0)
  loop         true to start the bag over at its end (the clock jumps back)
  params_file  parameters YAML for the node (empty: the installed config/rcmcl.yaml)
  checkpoint   rcmcl checkpoint; empty keeps the params file's value (empty there = bundled model)
  device       auto | cpu | cuda; empty keeps the params file's value
  backend      auto | torch | torchscript | onnxruntime; empty keeps the params file's value
  dds_profile  Fast DDS transport: shm_localhost (default: shared memory + UDP on 127.0.0.1), shm, off or a path
  enclave      SROS2 enclave of the node (default /rcmcl/rcmcl_node; used with ROS_SECURITY_ENABLE=true)

The launch ends when the player finishes (or the node exits); with status 1 when either failed.
"""
from launch import LaunchDescription
from launch.actions import OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from rcmcl_ros import launch_plan as plan
from rcmcl_ros.node.transport import launch_actions

LAUNCH_FILE = "replay.launch.py"


def _start(context, *_args, **_kwargs):
    """Check the bag and params file, then the transport profile, the node on sim time and the player."""
    share = FindPackageShare(plan.PACKAGE).perform(context)
    given = {name: LaunchConfiguration(name).perform(context) for name in plan.FILE_ARGUMENTS[LAUNCH_FILE]}
    player_arguments = plan.player_arguments(given["bag"], given["rate"], given["loop"])
    parameters = plan.node_parameters(params_file=plan.params_file(given["params_file"], share=share),
                                      checkpoint=given["checkpoint"], device=given["device"], backend=given["backend"],
                                      use_sim_time=True)
    node = Node(package=plan.PACKAGE, executable=plan.NODE_EXECUTABLE, name=plan.NODE_EXECUTABLE, output="screen",
                emulate_tty=True, parameters=parameters, ros_arguments=plan.node_ros_arguments(given["enclave"]))
    player = Node(package=plan.PACKAGE, executable=plan.PLAYER_EXECUTABLE, name=plan.PLAYER_NAME, output="screen",
                  emulate_tty=True, arguments=player_arguments)
    return [*launch_actions(given["dds_profile"], config_dir=f"{share}/config"), node, player,
            plan.exit_handler(node, "node"), plan.exit_handler(player, "player")]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([*plan.declare(LAUNCH_FILE), OpaqueFunction(function=_start)])
