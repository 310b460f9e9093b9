"""Start the Azure Kinect ROS driver with the arguments rcmcl needs, the rcmcl node, and rviz when asked.

    ros2 launch rcmcl_ros azure_kinect.launch.py
    ros2 launch rcmcl_ros azure_kinect.launch.py rviz:=true device:=cuda dds_profile:=shm_localhost

When the azure_kinect_ros_driver package is not installed, only the node starts (it waits for the topics)
and a message says so; likewise without rviz2. The driver gets the same Fast DDS profile as the node.

Arguments (descriptions and defaults: rcmcl_ros/launch_plan.py, ARGUMENTS; `--show-args` lists them):
  rviz         true: also start rviz2 with config/rcmcl.rviz
  params_file  parameters YAML for the node (empty: the installed config/rcmcl.yaml)
  checkpoint   rcmcl checkpoint; empty keeps the params file's value (empty there = bundled model)
  device       auto | cpu | cuda; empty keeps the params file's value
  backend      auto | torch | torchscript | onnxruntime; empty keeps the params file's value
  dds_profile  Fast DDS transport for driver and node: shm (default), shm_localhost, off or an XML path
  enclave      SROS2 enclave (default /rcmcl/rcmcl_node; used with ROS_SECURITY_ENABLE=true)
"""
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription, LogInfo, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from rcmcl_ros import launch_plan as plan
from rcmcl_ros.node.transport import launch_actions

LAUNCH_FILE = "azure_kinect.launch.py"
DRIVER_PACKAGE = "azure_kinect_ros_driver"
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


def _share_of(package: str) -> str | None:
    """The installed share folder of `package`, None when it is not installed."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        return get_package_share_directory(package)
    except (ImportError, PackageNotFoundError):
        return None


def _start(context, *_args, **_kwargs):
    """The transport profile (for the driver and the node), the driver or a message, the node, rviz or a message."""
    share = FindPackageShare(plan.PACKAGE).perform(context)
    given = {name: LaunchConfiguration(name).perform(context) for name in plan.FILE_ARGUMENTS[LAUNCH_FILE]}
    given["params_file"] = plan.params_file(given["params_file"], share=share)
    actions = list(launch_actions(given["dds_profile"], config_dir=f"{share}/config"))
    driver_share = _share_of(DRIVER_PACKAGE)
    if driver_share is None:
        actions.append(LogInfo(msg=f"[rcmcl] {DRIVER_PACKAGE} is not installed: starting the rcmcl node alone; it "
                                   f"waits for {', '.join(plan.input_topics())} (see README, 'Azure Kinect "
                                   f"driver')"))
    else:
        actions.append(IncludeLaunchDescription(
            PythonLaunchDescriptionSource(f"{driver_share}/launch/driver.launch.py"),
            launch_arguments=DRIVER_ARGUMENTS.items()))
    actions.append(IncludeLaunchDescription(
        PythonLaunchDescriptionSource(f"{share}/launch/rcmcl.launch.py"),
        launch_arguments=[(name, given[name]) for name in ("params_file", "checkpoint", "device", "backend",
                                                              "dds_profile", "enclave")]))
    message = plan.rviz_message(plan.is_true(given["rviz"]), installed=_share_of("rviz2") is not None)
    if message is not None:
        actions.append(LogInfo(msg=message))
    elif plan.is_true(given["rviz"]):
        actions.append(Node(package="rviz2", executable="rviz2", name="rviz2", output="screen",
                            arguments=["-d", f"{share}/{plan.RVIZ_CONFIG}"]))   # closing it leaves the node
    return actions


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([*plan.declare(LAUNCH_FILE), OpaqueFunction(function=_start)])
