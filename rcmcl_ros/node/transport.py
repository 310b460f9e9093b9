"""The shipped Fast DDS transport profiles (config/fastdds_*.xml) and how a process applies them.

Fast DDS reads its XML profile once per process, when the first participant is created, from the file named
by FASTDDS_DEFAULT_PROFILES_FILE (Fast DDS 3.x, ROS 2 Kilted; rmw_fastrtps warns that the 2.x name
FASTRTPS_DEFAULT_PROFILES_FILE is deprecated, so only a camera stack on Fast DDS 2.x, e.g. Jazzy, sets that
one). So the profile must be in the environment before `rclpy.init`, in every process of the graph: the
camera driver and the node alike.

| profile       | transports                                          | use                                          |
|---------------|-----------------------------------------------------|----------------------------------------------|
| shm           | shared memory (64 MB segment) + UDPv4 any interface | driver and node on one host, peers elsewhere |
| shm_localhost | shared memory (64 MB segment) + UDPv4 on 127.0.0.1  | nothing leaves the host (tests, demo)        |
| off           | Fast DDS defaults                                   | comparison / other RMW                       |
"""
from __future__ import annotations

import os
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
PROFILES = {"shm": CONFIG_DIR / "fastdds_shm.xml", "shm_localhost": CONFIG_DIR / "fastdds_shm_localhost.xml"}
PROFILE_ENV_VARS = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
"""Fast DDS 3.x reads the first (set here); 2.x the second (cleared here, so no stale file applies)."""
OFF = "off"


def profile_path(name: str, *, config_dir: Path | str | None = None) -> Path | None:
    """'shm' | 'shm_localhost' -> the shipped file (in config_dir: the installed share/rcmcl_ros/config for
    launch files; default this checkout's config/); 'off' -> None; anything else is taken as a path.
    Raises FileNotFoundError naming the file when it does not exist."""
    if name == OFF:
        return None
    if name in PROFILES:
        path = Path(config_dir) / PROFILES[name].name if config_dir is not None else PROFILES[name]
    else:
        path = Path(name).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"Fast DDS profile not found: {path} (expected one of {sorted(PROFILES)}, "
                                f"'{OFF}' or a path to an XML file)")
    return path.resolve()


def profile_environment(name: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of `environ` (default os.environ) with FASTDDS_DEFAULT_PROFILES_FILE set to the profile (removed
    for 'off') and FASTRTPS_DEFAULT_PROFILES_FILE removed."""
    env = dict(os.environ if environ is None else environ)
    path = profile_path(name)
    for variable in PROFILE_ENV_VARS:
        env.pop(variable, None)
    if path is not None:
        env[PROFILE_ENV_VARS[0]] = str(path)
    return env


def launch_actions(name: str, *, config_dir: Path | str) -> list:
    """launch actions that set FASTDDS_DEFAULT_PROFILES_FILE to profile `name` (see profile_path) for the
    processes a launch file starts after them, or unset it for 'off'. Imports `launch` (only launch files
    call this)."""
    from launch.actions import SetEnvironmentVariable, UnsetEnvironmentVariable

    path = profile_path(name.strip(), config_dir=config_dir)
    actions = [UnsetEnvironmentVariable(variable) for variable in PROFILE_ENV_VARS]
    if path is not None:
        actions.append(SetEnvironmentVariable(PROFILE_ENV_VARS[0], str(path)))
    return actions
