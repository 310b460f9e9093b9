"""launch/rcmcl.launch.py, config/rcmcl.yaml and config/rcmcl.rviz agree with the node and setup.py.

`launch` / `launch_ros` are not installable here, so the launch file is checked through its AST; the real
launch test runs only where launch_ros is importable."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import yaml

from rcmcl_ros.node.params import PARAMETER_NAMES, NodeConfig, parameter_defaults

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch" / "rcmcl.launch.py"
PARAMS = ROOT / "config" / "rcmcl.yaml"
RVIZ = ROOT / "config" / "rcmcl.rviz"
RCL_PARAMETERS = {"use_sim_time"}
"""Declared by rclpy itself on every node."""


def launch_tree() -> ast.Module:
    return ast.parse(LAUNCH.read_text(), filename=str(LAUNCH))


def module_constants(tree: ast.Module) -> dict[str, object]:
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return constants


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name]


def keyword(call: ast.Call, name: str, constants: dict[str, object]) -> object:
    value = next(k.value for k in call.keywords if k.arg == name)
    return constants[value.id] if isinstance(value, ast.Name) else ast.literal_eval(value)


def console_scripts() -> dict[str, str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    setup_call = calls(tree, "setup")[0]
    entry_points = ast.literal_eval(next(k.value for k in setup_call.keywords if k.arg == "entry_points"))
    return dict((part.strip() for part in line.split("=", 1)) for line in entry_points["console_scripts"])


def test_launch_file_starts_an_executable_that_setup_py_installs():
    tree = launch_tree()
    constants = module_constants(tree)
    (node,) = calls(tree, "Node")
    executable = keyword(node, "executable", constants)
    assert executable == "rcmcl_node"
    assert console_scripts()[executable] == "rcmcl_ros.__main__:node_main"
    assert keyword(node, "package", constants) == "rcmcl_ros"


def test_every_parameter_the_launch_file_passes_is_declared_by_the_node():
    passed = {n.slice.value for n in ast.walk(launch_tree())
              if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and n.value.id == "overrides"
              and isinstance(n.slice, ast.Constant)}
    assert passed == {"checkpoint", "device", "use_sim_time"}
    assert passed <= set(PARAMETER_NAMES) | RCL_PARAMETERS


def test_launch_arguments_are_the_documented_six():
    declared = {ast.literal_eval(c.args[0]) for c in calls(launch_tree(), "DeclareLaunchArgument")}
    assert declared == {"params_file", "checkpoint", "device", "camera_namespace", "use_sim_time", "dds_profile"}
    documented = LAUNCH.read_text().split("Arguments:", 1)[1]
    assert all(f"  {name} " in documented for name in declared)


@pytest.mark.parametrize("path", [LAUNCH, ROOT / "launch" / "replay.launch.py"], ids=lambda p: p.name)
def test_launch_files_apply_a_shipped_dds_profile_that_setup_py_installs(path, tmp_path):
    from rcmcl_ros.node.transport import PROFILES, profile_path

    default = module_constants(ast.parse(path.read_text()))["DEFAULT_DDS_PROFILE"]
    assert default in PROFILES
    assert 'glob("config/*.xml")' in (ROOT / "setup.py").read_text()
    installed = tmp_path / "config"                       # what share/rcmcl_ros/config holds once installed
    installed.mkdir()
    (installed / PROFILES[default].name).write_text(PROFILES[default].read_text())
    assert profile_path(default, config_dir=installed) == (installed / PROFILES[default].name).resolve()
    assert profile_path("off", config_dir=installed) is None


def test_camera_namespace_remaps_exactly_the_node_default_input_topics():
    topics = module_constants(launch_tree())["INPUT_TOPICS"]
    defaults = NodeConfig()
    assert set(topics) == {defaults.rgb_topic, defaults.depth_topic, defaults.points_topic, defaults.skeleton_topic}


def _launch_description(path: Path):
    """generate_launch_description() of the launch file at `path` (needs launch_ros)."""
    spec = importlib.util.spec_from_file_location(path.name.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def test_launch_description_builds_where_launch_ros_is_installed():
    pytest.importorskip("launch_ros")
    from launch import LaunchDescription

    description = _launch_description(LAUNCH)
    assert isinstance(description, LaunchDescription)
    assert {a.name for a in description.get_launch_arguments()} == {
        "params_file", "checkpoint", "device", "camera_namespace", "use_sim_time", "dds_profile"}


def params_yaml() -> dict:
    return yaml.safe_load(PARAMS.read_text())["rcmcl_node"]["ros__parameters"]


def test_params_yaml_lists_every_declared_parameter():
    assert set(params_yaml()) == set(PARAMETER_NAMES)


def test_params_yaml_values_are_the_defaults_with_their_ros_types():
    defaults = parameter_defaults()
    for name, value in params_yaml().items():
        assert value == defaults[name], name
        assert type(value) is type(defaults[name]), f"{name}: {type(value).__name__} in YAML, declared " \
                                                    f"{type(defaults[name]).__name__}"


@pytest.mark.ros
def test_params_yaml_is_accepted_by_a_real_node(rclpy_context, tiny_checkpoint):
    from rclpy.parameter import Parameter

    from rcmcl_ros.node.ros_node import RCMCLNode

    node = RCMCLNode(context=rclpy_context, cli_args=["--ros-args", "--params-file", str(PARAMS)],
                     parameter_overrides=[Parameter("checkpoint", value=str(tiny_checkpoint()))])
    try:
        assert node.get_parameter("stride_s").value == params_yaml()["stride_s"]
        assert list(node.get_parameter("camera_extrinsic").value) == params_yaml()["camera_extrinsic"]
    finally:
        node.destroy_node()


def test_rviz_config_shows_image_cloud_skeleton_gates_and_label():
    config = yaml.safe_load(RVIZ.read_text())
    displays = config["Visualization Manager"]["Displays"]
    by_topic = {d["Topic"]["Value"]: d["Class"] for d in displays if "Topic" in d}
    defaults = NodeConfig()
    assert by_topic[f"/{defaults.rgb_topic}"] == "rviz_default_plugins/Image"
    assert by_topic[f"/{defaults.points_topic}"] == "rviz_default_plugins/PointCloud2"
    assert by_topic[f"/{defaults.skeleton_topic}"] == "rviz_default_plugins/MarkerArray"
    assert by_topic["/rcmcl_node/gate_markers"] == "rviz_default_plugins/MarkerArray"   # bars + label text
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"] == defaults.marker_frame_id


# -- launch/replay.launch.py: the bag player and the node on sim time --------------------------------
REPLAY = ROOT / "launch" / "replay.launch.py"
REPLAY_ARGUMENTS = {"bag", "rate", "loop", "params_file", "checkpoint", "device", "dds_profile"}


def replay_tree() -> ast.Module:
    return ast.parse(REPLAY.read_text(), filename=str(REPLAY))


def replay_nodes() -> dict[str, ast.Call]:
    tree = replay_tree()
    constants = module_constants(tree)
    return {keyword(call, "executable", constants): call for call in calls(tree, "Node")}


def test_replay_launch_starts_the_node_and_the_player_that_setup_py_installs():
    nodes = replay_nodes()
    assert set(nodes) == {"rcmcl_node", "rcmcl_play"}
    scripts = console_scripts()
    assert scripts["rcmcl_node"] == "rcmcl_ros.__main__:node_main"
    assert scripts["rcmcl_play"] == "rcmcl_ros.__main__:play_main"
    constants = module_constants(replay_tree())
    assert all(keyword(call, "package", constants) == "rcmcl_ros" for call in nodes.values())
    assert any(k.arg == "arguments" for k in nodes["rcmcl_play"].keywords)       # the bag path and --rate


def test_replay_launch_runs_the_node_on_sim_time_with_declared_parameters_only():
    assigned = {n.targets[0].slice.value: n.value for n in ast.walk(replay_tree())
                if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Subscript)
                and isinstance(n.targets[0].value, ast.Name) and n.targets[0].value.id == "overrides"}
    assert set(assigned) == {"checkpoint", "device", "use_sim_time"}
    assert set(assigned) <= set(PARAMETER_NAMES) | RCL_PARAMETERS
    assert ast.literal_eval(assigned["use_sim_time"]) is True


def test_replay_launch_arguments_are_the_documented_seven():
    declared = {ast.literal_eval(c.args[0]) for c in calls(replay_tree(), "DeclareLaunchArgument")}
    assert declared == REPLAY_ARGUMENTS
    documented = REPLAY.read_text().split("Arguments:", 1)[1]
    assert all(f"  {name} " in documented for name in REPLAY_ARGUMENTS)


def test_player_accepts_the_arguments_the_replay_launch_passes(tmp_path):
    from rcmcl_ros.bag.player import parse_arguments

    args, ros_args = parse_arguments([str(tmp_path), "--rate", "0.5", "--loop",
                                      "--ros-args", "-r", "__node:=rcmcl_bag_player"])
    assert (args.bag, args.rate, args.loop) == (tmp_path, 0.5, True)
    assert ros_args == ["--ros-args", "-r", "__node:=rcmcl_bag_player"]


def test_replay_launch_description_builds_where_launch_ros_is_installed():
    pytest.importorskip("launch_ros")
    description = _launch_description(REPLAY)
    assert {a.name for a in description.get_launch_arguments()} == REPLAY_ARGUMENTS


AZURE = ROOT / "launch" / "azure_kinect.launch.py"


def test_azure_kinect_launch_passes_the_driver_the_readme_line_arguments():
    tree = ast.parse(AZURE.read_text())
    driver = module_constants(tree)["DRIVER_ARGUMENTS"]
    assert driver == {"body_tracking_enabled": "true", "fps": "30", "color_resolution": "720P",
                      "depth_mode": "NFOV_UNBINNED", "point_cloud": "true", "rgb_point_cloud": "false"}
    readme_line = next(line for line in (ROOT / "README.md").read_text().splitlines()
                       if line.startswith("ros2 launch azure_kinect_ros_driver driver.launch.py body_tracking"))
    assert dict(arg.split(":=") for arg in readme_line.split()[4:]) == driver
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{name}:=" in readme for name in driver)                # each argument's reason is stated


def test_azure_kinect_launch_arguments_are_documented_and_it_starts_the_node_alone_without_the_driver():
    tree = ast.parse(AZURE.read_text())
    declared = {ast.literal_eval(c.args[0]) for c in calls(tree, "DeclareLaunchArgument")}
    assert declared == {"rviz", "params_file", "checkpoint", "device", "dds_profile"}
    documented = AZURE.read_text().split("Arguments:", 1)[1]
    assert all(f"  {name} " in documented for name in declared)
    text = AZURE.read_text()
    assert "PackageNotFoundError" in text and "starting the rcmcl node alone" in text
    assert "rcmcl.launch.py" in text and "rcmcl.rviz" in text


def test_azure_kinect_launch_description_builds_where_launch_ros_is_installed():
    pytest.importorskip("launch_ros")
    description = _launch_description(AZURE)
    assert {a.name for a in description.get_launch_arguments()} == {
        "rviz", "params_file", "checkpoint", "device", "dds_profile"}
