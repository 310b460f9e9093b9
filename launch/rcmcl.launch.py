"""Start the rcmcl action recognition node next to an Azure Kinect (or any camera publishing the same topics).

    ros2 launch rcmcl_ros rcmcl.launch.py camera_namespace:=k4a device:=cuda
    ros2 launch rcmcl_ros rcmcl.launch.py params_file:=/path/my.yaml checkpoint:=/path/model.pt use_sim_time:=true

Arguments (descriptions and defaults: rcmcl_ros/launch_plan.py, ARGUMENTS; `--show-args` lists them):
  params_file       parameters YAML (empty: the installed config/rcmcl.yaml; a missing file is an error)
  checkpoint        rcmcl checkpoint; empty keeps the params file's value (empty there = bundled model)
  device            auto | cpu | cuda; empty keeps the params file's value
  backend           auto | torch | torchscript | onnxruntime; empty keeps the params file's value
  camera_namespace  namespace of the camera driver; the four inputs are remapped under it (empty: as is)
  use_sim_time      true when replaying a bag with /clock
  dds_profile       Fast DDS transport: shm (default), shm_localhost, off or an XML path (README, "Transport")
  enclave           SROS2 enclave (default /rcmcl/rcmcl_node; used with ROS_SECURITY_ENABLE=true)

The launch ends when the node does: with status 1 when it failed (for example a checkpoint that does not load).
"""
from launch import LaunchDescription
from launch.actions import OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from rcmcl_ros import launch_plan as plan
from rcmcl_ros.node.transport import launch_actions

LAUNCH_FILE = "rcmcl.launch.py"


def _start(context, *_args, **_kwargs):
    """The transport profile, then the node, once the arguments are known (empty ones leave the YAML as is)."""
    share = FindPackageShare(plan.PACKAGE).perform(context)
    given = {name: LaunchConfiguration(name).perform(context) for name in plan.FILE_ARGUMENTS[LAUNCH_FILE]}
    parameters = plan.node_parameters(params_file=plan.params_file(given["params_file"], share=share),
                                      checkpoint=given["checkpoint"], device=given["device"], backend=given["backend"],
                                      use_sim_time=plan.is_true(given["use_sim_time"]))
    node = Node(package=plan.PACKAGE, executable=plan.NODE_EXECUTABLE, name=plan.NODE_EXECUTABLE, output="screen",
                emulate_tty=True, parameters=parameters, remappings=plan.input_remappings(given["camera_namespace"]),
                ros_arguments=plan.node_ros_arguments(given["enclave"]))
    return [*launch_actions(given["dds_profile"], config_dir=f"{share}/config"), node,
            plan.exit_handler(node, "node")]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([*plan.declare(LAUNCH_FILE), OpaqueFunction(function=_start)])
