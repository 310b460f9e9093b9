"""Start the Azure Kinect ROS driver with the arguments rcmcl needs, the rcmcl node, and rviz when asked.

    ros2 launch rcmcl_ros azure_kinect.launch.py
    ros2 launch rcmcl_ros azure_kinect.launch.py rviz:=true device:=cuda dds_profile:=shm_localhost

When the azure_kinect_ros_driver package is not installed, only the node starts (it waits for the topics)
and a message says so. The driver gets the same Fast DDS profile as the node (dds_profile).

Arguments:
  rviz         true: also start rviz2 with config/rcmcl.rviz
  params_file  parameters YAML for the node (default: the installed config/rcmcl.yaml)
  checkpoint   rcmcl checkpoint; empty keeps the params file's value (empty there = bundled model)
  device       auto | cpu | cuda; empty keeps the params file's value
  dds_profile  Fast DDS transport for driver and node: shm (default), shm_localhost, off or an XML path
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, LogInfo, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from rcmcl_ros.node.transport import launch_actions

PACKAGE = "rcmcl_ros"
DRIVER_PACKAGE = "azure_kinect_ros_driver"
TRUE_WORDS = ("true", "1", "yes", "on")
DRIVER_ARGUMENTS = {
    "body_tracking_enabled": "true",      # the skeleton stream (body_tracking_data); off by default
    "fps": "30",                          # the driver's default is 5; the node keeps ~10 frames/s per stream
    "color_resolution": "720P",           # 1280x720: 3.7 MB bgra8 frames (default 1536P: 8 MB)
    "depth_mode": "NFOV_UNBINNED",        # 640x576 depth, 0.5-3.9 m: a person's range (default WFOV_UNBINNED)
    "point_cloud": "true",                # points2 (points_source: topic)
    "rgb_point_cloud": "false",           # cloud in depth_camera_link, the skeleton's frame: no transform
                                          # needed, 368,640 points (true: 921,600 at 720P in the colour frame)
}
"""The README's copy-paste line passes the same values (test/ros/test_launch.py checks they agree)."""


def _dds_profile(context, *_args, **_kwargs):
    """FASTDDS_DEFAULT_PROFILES_FILE for the processes started after this action here: the driver and the node
    (whose own launch file sets the same again); 'off' unsets it."""
    share = FindPackageShare(PACKAGE).perform(context)
    return launch_actions(LaunchConfiguration("dds_profile").perform(context), config_dir=f"{share}/config")


def _driver_and_node(context, *_args, **_kwargs):
    share = FindPackageShare(PACKAGE).perform(context)
    actions = []
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        driver_share = get_package_share_directory(DRIVER_PACKAGE)
    except (ImportError, PackageNotFoundError):
        driver_share = None
    if driver_share is None:
        actions.append(LogInfo(msg=f"[rcmcl] {DRIVER_PACKAGE} is not installed: starting the rcmcl node alone; it "
                                   f"waits for rgb/image_raw, depth_to_rgb/image_raw, points2 and "
                                   f"body_tracking_data (see README, 'Azure Kinect driver')"))
    else:
        actions.append(IncludeLaunchDescription(
            PythonLaunchDescriptionSource(f"{driver_share}/launch/driver.launch.py"),
            launch_arguments=DRIVER_ARGUMENTS.items()))
    actions.append(IncludeLaunchDescription(
        PythonLaunchDescriptionSource(f"{share}/launch/rcmcl.launch.py"),
        launch_arguments={name: LaunchConfiguration(name).perform(context)
                          for name in ("params_file", "checkpoint", "device", "dds_profile")}.items()))
    if LaunchConfiguration("rviz").perform(context).strip().lower() in TRUE_WORDS:
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
                            arguments=["-d", f"{share}/config/rcmcl.rviz"]))
    return actions


def generate_launch_description() -> LaunchDescription:
    default_params = PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "rcmcl.yaml"])
    return LaunchDescription([
        DeclareLaunchArgument("rviz", default_value="false", description="also start rviz2 with config/rcmcl.rviz"),
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="parameters YAML for rcmcl_node"),
        DeclareLaunchArgument("checkpoint", default_value="",
                              description="rcmcl checkpoint (.pt); empty keeps the params file's value"),
        DeclareLaunchArgument("device", default_value="",
                              description="auto, cpu or cuda; empty keeps the params file's value"),
        DeclareLaunchArgument("dds_profile", default_value="shm",
                              description="Fast DDS transport for driver and node: shm, shm_localhost, off or a path"),
        OpaqueFunction(function=_dds_profile),
        OpaqueFunction(function=_driver_and_node),
    ])
