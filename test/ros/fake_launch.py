"""Run a launch file in launch/ without ROS 2's `launch` / `launch_ros` (not installable here): stand-in
modules record every action the file builds, so a test sees exactly what `ros2 launch` would start, with
which parameters, environment, remappings and exit handlers.

    actions = run_launch(path, {"bag": "/x.mcap"}, share=tmp_path, installed={"rviz2"}, monkeypatch=mp)
"""
from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path


class Recorded:
    """An action or description: remembers how it was built."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args}, {self.kwargs})"


class LaunchConfiguration(Recorded):
    def perform(self, context) -> str:
        return context.launch_configurations[self.args[0]]


class FindPackageShare(Recorded):
    def perform(self, context) -> str:
        return str(context.share)


class OpaqueFunction(Recorded):
    def __init__(self, function):
        super().__init__(function=function)
        self.function = function


class DeclareLaunchArgument(Recorded):
    @property
    def name(self) -> str:
        return self.args[0]


class PackageNotFoundError(KeyError):
    pass


@dataclass
class Context:
    launch_configurations: dict[str, str]
    share: Path
    is_shutdown: bool = False


@dataclass
class ExitEvent:
    returncode: int


@dataclass
class Installed:
    """Packages the stand-in ament index knows (name -> share folder)."""

    shares: dict[str, str] = field(default_factory=dict)

    def get_package_share_directory(self, package: str) -> str:
        if package not in self.shares:
            raise PackageNotFoundError(package)
        return self.shares[package]


def _module(name: str, **members) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(members)
    return module


def _recorded(*names: str) -> dict[str, type]:
    return {name: type(name, (Recorded,), {}) for name in names}


def install_stand_ins(monkeypatch, installed: Installed) -> None:
    """Put stand-in launch, launch_ros and ament_index_python modules in sys.modules (undone by monkeypatch)."""
    actions = _recorded("IncludeLaunchDescription", "LogInfo", "SetEnvironmentVariable", "UnsetEnvironmentVariable",
                        "EmitEvent", "RegisterEventHandler")
    modules = {
        "launch": _module("launch", LaunchDescription=type("LaunchDescription", (Recorded,), {})),
        "launch.actions": _module("launch.actions", DeclareLaunchArgument=DeclareLaunchArgument,
                                  OpaqueFunction=OpaqueFunction, **actions),
        "launch.substitutions": _module("launch.substitutions", LaunchConfiguration=LaunchConfiguration),
        "launch.launch_description_sources": _module("launch.launch_description_sources",
                                                     **_recorded("PythonLaunchDescriptionSource")),
        "launch.event_handlers": _module("launch.event_handlers", **_recorded("OnProcessExit")),
        "launch.events": _module("launch.events", **_recorded("Shutdown")),
        "launch_ros": _module("launch_ros"),
        "launch_ros.actions": _module("launch_ros.actions", **_recorded("Node")),
        "launch_ros.substitutions": _module("launch_ros.substitutions", FindPackageShare=FindPackageShare),
        "ament_index_python": _module("ament_index_python"),
        "ament_index_python.packages": _module("ament_index_python.packages", PackageNotFoundError=PackageNotFoundError,
                                               get_package_share_directory=installed.get_package_share_directory),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)


def description(path: Path, monkeypatch, installed: Installed | None = None):
    """generate_launch_description() of the launch file at `path`, built with the stand-ins."""
    install_stand_ins(monkeypatch, installed or Installed())
    spec = importlib.util.spec_from_file_location(path.name.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def run_launch(path: Path, given: dict[str, str], *, share: Path, monkeypatch,
               installed: Installed | None = None) -> list[Recorded]:
    """The actions `ros2 launch <path> name:=value ...` would run, in order, with the opaque functions
    evaluated. A required argument left out raises KeyError, as launch refuses it."""
    entities = description(path, monkeypatch, installed).args[0]
    values = {}
    for entity in entities:
        if isinstance(entity, DeclareLaunchArgument):
            if entity.name in given:
                values[entity.name] = given[entity.name]
            elif "default_value" in entity.kwargs:
                values[entity.name] = entity.kwargs["default_value"]
            else:
                raise KeyError(f"required launch argument {entity.name!r} not given")
    unknown = set(given) - set(values)
    assert not unknown, f"not declared: {unknown}"
    context = Context(values, share)
    ran = []
    for entity in entities:
        if isinstance(entity, OpaqueFunction):
            ran += entity.function(context)
        elif not isinstance(entity, DeclareLaunchArgument):
            ran.append(entity)
    return ran


def of_type(actions: list[Recorded], name: str) -> list[Recorded]:
    return [a for a in actions if type(a).__name__ == name]


def exit_handlers(actions: list[Recorded]) -> dict[str, object]:
    """{executable of the watched Node: its on_exit(event, context)} from RegisterEventHandler(OnProcessExit)."""
    handlers = {}
    for register in of_type(actions, "RegisterEventHandler"):
        on_process_exit = register.args[0]
        handlers[on_process_exit.kwargs["target_action"].kwargs["executable"]] = on_process_exit.kwargs["on_exit"]
    return handlers
