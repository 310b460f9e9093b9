"""The ROS side of a live-node benchmark run, said once: apply a shipped Fast DDS profile to this process (its
spawned children inherit it) and describe the ROS 2 that runs (distribution by its rclpy and Fast DDS wheels).
Light imports only."""
from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version


def apply_profile(name: str) -> dict[str, str]:
    """Set the profile variable(s) this Fast DDS reads to the shipped profile `name` ('off': none); return
    {dds_profile, variable, fastdds, rclpy, distro} for the results."""
    from rcmcl_ros.node.transport import PROFILE_ENV_VARS, installed_fastdds_major, profile_environment

    environment = profile_environment(name)
    for variable in PROFILE_ENV_VARS:
        os.environ.pop(variable, None)
        if variable in environment:
            os.environ[variable] = environment[variable]
    major = installed_fastdds_major()
    return {"dds_profile": name, "variable": ",".join(v for v in PROFILE_ENV_VARS if v in os.environ),
            "fastdds": f"{major}.x" if major else "unknown", "rclpy": _version("rclpy"),
            "distro": {2: "jazzy", 3: "kilted"}.get(major, "unknown")}


def _version(package: str) -> str:
    for name in (f"ros-jazzy-{package}", f"ros-{package}", package):   # "rclpy" alone may be a stub
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "unknown"
