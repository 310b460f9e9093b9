"""Start the rcmcl action recognition node next to an Azure Kinect (or any camera publishing the same topics).

    ros2 launch rcmcl_ros rcmcl.launch.py camera_namespace:=k4a device:=cuda
    ros2 launch rcmcl_ros rcmcl.launch.py params_file:=/path/my.yaml checkpoint:=/path/model.pt use_sim_time:=true

Arguments:
  params_file       parameters YAML (default: the installed config/rcmcl.yaml)
  checkpoint        rcmcl checkpoint; empty keeps the params file's value (empty there = bundled model)
  device            auto | cpu | cuda; empty keeps the params file's value
  camera_namespace  namespace of the camera driver; the four inputs are remapped under it (empty: as is)
  use_sim_time      true when replaying a bag with /clock
  dds_profile       Fast DDS transport for the node: shm (default: shared memory with a 64 MB segment + UDP),
                    shm_localhost (the same, UDP on 127.0.0.1 only), off (Fast DDS defaults) or an XML path.
                    The camera driver must load the same profile (README, "Transport").
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from rcmcl_ros.node.transport import launch_actions

PACKAGE = "rcmcl_ros"
EXECUTABLE = "rcmcl_node"
INPUT_TOPICS = ("rgb/image_raw", "depth_to_rgb/image_raw", "points2", "body_tracking_data")
"""The node's default input topics (parameters rgb_topic, depth_topic, points_topic, skeleton_topic)."""
TRUE_WORDS = ("true", "1", "yes", "on")
DEFAULT_DDS_PROFILE = "shm"


def _node(context, *_args, **_kwargs):
    """Build the node once the arguments are known, so that empty arguments leave the YAML untouched."""
    params_file = LaunchConfiguration("params_file").perform(context)
    checkpoint = LaunchConfiguration("checkpoint").perform(context)
    device = LaunchConfiguration("device").perform(context)
    camera_namespace = LaunchConfiguration("camera_namespace").perform(context).strip("/")
    use_sim_time = LaunchConfiguration("use_sim_time").perform(context).strip().lower() in TRUE_WORDS

    overrides = {}
    overrides["use_sim_time"] = use_sim_time
    if checkpoint:
        overrides["checkpoint"] = checkpoint
    if device:
        overrides["device"] = device
    remappings = [(topic, f"/{camera_namespace}/{topic}") for topic in INPUT_TOPICS] if camera_namespace else []
    return [Node(package=PACKAGE, executable=EXECUTABLE, name=EXECUTABLE, output="screen", emulate_tty=True,
                 parameters=[params_file, overrides], remappings=remappings)]


def _dds_profile(context, *_args, **_kwargs):
    """FASTDDS_DEFAULT_PROFILES_FILE for the processes started after this action (the camera driver needs the
    same file: see README 'Transport'); 'off' unsets it."""
    share = FindPackageShare(PACKAGE).perform(context)
    return launch_actions(LaunchConfiguration("dds_profile").perform(context), config_dir=f"{share}/config")


def generate_launch_description() -> LaunchDescription:
    default_params = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "rcmcl.yaml"])
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="parameters YAML for rcmcl_node"),
        DeclareLaunchArgument("checkpoint", default_value="",
                              description="rcmcl checkpoint (.pt); empty keeps the params file's value"),
        DeclareLaunchArgument("device", default_value="",
                              description="auto, cpu or cuda; empty keeps the params file's value"),
        DeclareLaunchArgument("camera_namespace", default_value="",
                              description="camera driver namespace; inputs are remapped under it"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="use /clock (bag replay)"),
        DeclareLaunchArgument("dds_profile", default_value=DEFAULT_DDS_PROFILE,
                              description="Fast DDS transport: shm, shm_localhost (UDP on 127.0.0.1 only), off "
                                          "or an XML path"),
        OpaqueFunction(function=_dds_profile),
        OpaqueFunction(function=_node),
    ])
