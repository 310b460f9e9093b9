"""launch/*.launch.py, config/rcmcl.yaml and config/rcmcl.rviz agree with the node and setup.py, and each
launch decision (rcmcl_ros/launch_plan.py) does what a robot needs.

`launch` / `launch_ros` are not installable here: the launch files run against recording stand-ins
(fake_launch.py), their source is also checked through its AST, and the real launch test runs only where
launch_ros is importable."""
from __future__ import annotations

import ast
import signal
from pathlib import Path

import pytest
import yaml
from fake_launch import Context, ExitEvent, Installed, exit_handlers, of_type, run_launch

from rcmcl_ros import launch_plan as plan
from rcmcl_ros.node.params import PARAMETER_NAMES, NodeConfig, parameter_defaults
from rcmcl_ros.node.transport import PROFILES, profile_path, profile_variables

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_DIR = ROOT / "launch"
LAUNCH = LAUNCH_DIR / "rcmcl.launch.py"
REPLAY = LAUNCH_DIR / "replay.launch.py"
AZURE = LAUNCH_DIR / "azure_kinect.launch.py"
PARAMS = ROOT / "config" / "rcmcl.yaml"
RVIZ = ROOT / "config" / "rcmcl.rviz"
RCL_PARAMETERS = {"use_sim_time"}
"""Declared by rclpy itself on every node."""


def module_constants(tree: ast.Module) -> dict[str, object]:
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                constants[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return constants


def console_scripts() -> dict[str, str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    setup_call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    entry_points = ast.literal_eval(next(k.value for k in setup_call.keywords if k.arg == "entry_points"))
    return dict((part.strip() for part in line.split("=", 1)) for line in entry_points["console_scripts"])


@pytest.fixture
def share(tmp_path) -> Path:
    """An installed share/rcmcl_ros: the shipped config files."""
    (tmp_path / "config").mkdir()
    for source in [PARAMS, RVIZ, *PROFILES.values()]:
        (tmp_path / "config" / source.name).write_text(source.read_text())
    return tmp_path


@pytest.fixture
def bag(tmp_path) -> Path:
    path = tmp_path / "recording.mcap"
    path.write_bytes(b"")
    return path


# -- every launch file -------------------------------------------------------------------------------
def test_each_launch_file_declares_its_arguments_from_the_one_table():
    assert {p.name for p in LAUNCH_DIR.glob("*.launch.py")} == set(plan.FILE_ARGUMENTS)
    for name, declared in plan.FILE_ARGUMENTS.items():
        source = (LAUNCH_DIR / name).read_text()
        assert module_constants(ast.parse(source))["LAUNCH_FILE"] == name
        assert "plan.declare(LAUNCH_FILE)" in source and "DeclareLaunchArgument" not in source
        documented = source.split("Arguments", 1)[1]
        assert all(f"  {argument} " in documented for argument in declared), name      # the docstring lists each


@pytest.mark.parametrize("name", sorted(plan.FILE_ARGUMENTS))
def test_the_stand_in_launch_declares_the_table_with_one_description_per_argument(name, monkeypatch):
    from fake_launch import description

    entities = description(LAUNCH_DIR / name, monkeypatch).args[0]
    declared = [e for e in entities if type(e).__name__ == "DeclareLaunchArgument"]
    assert [d.name for d in declared] == list(plan.FILE_ARGUMENTS[name])
    for argument in declared:
        assert argument.kwargs["description"] == plan.ARGUMENTS[argument.name].description


def test_default_dds_profiles_are_shipped_profiles_that_setup_py_installs(share):
    assert 'glob("config/*.xml")' in (ROOT / "setup.py").read_text()
    for name in plan.FILE_ARGUMENTS:
        default = next(a.default for a in plan.arguments(name) if a.name == "dds_profile")
        assert default in PROFILES, name
        assert profile_path(default, config_dir=share / "config") == (share / "config" / PROFILES[default].name)
    assert next(a.default for a in plan.arguments("replay.launch.py") if a.name == "dds_profile") == "shm_localhost"


def test_launch_files_start_executables_that_setup_py_installs():
    scripts = console_scripts()
    assert scripts[plan.NODE_EXECUTABLE] == "rcmcl_ros.__main__:node_main"
    assert scripts[plan.PLAYER_EXECUTABLE] == "rcmcl_ros.__main__:play_main"


# -- the decisions, one by one ------------------------------------------------------------------------
def test_node_parameters_pass_only_declared_parameters_and_empty_keeps_the_file():
    assert plan.node_parameters(params_file="p.yaml", checkpoint="", device=" ", use_sim_time=False) == [
        "p.yaml", {"use_sim_time": False}]
    parameters = plan.node_parameters(params_file="p.yaml", checkpoint="/m.pt", device="cuda", use_sim_time=True,
                                      backend="onnxruntime")
    assert parameters[1] == {"use_sim_time": True, "checkpoint": "/m.pt", "device": "cuda", "backend": "onnxruntime"}
    assert set(parameters[1]) <= set(PARAMETER_NAMES) | RCL_PARAMETERS


def test_a_missing_params_file_is_an_error_and_empty_means_the_installed_one(share, tmp_path):
    assert plan.params_file("", share=share) == str(share / "config" / "rcmcl.yaml")
    assert plan.params_file(str(PARAMS), share=share) == str(PARAMS)
    with pytest.raises(plan.LaunchError, match="params_file not found: /nonexistent.yaml"):
        plan.params_file("/nonexistent.yaml", share=share)
    with pytest.raises(plan.LaunchError, match="params_file not found"):
        plan.params_file("", share=tmp_path / "elsewhere")


def test_camera_namespace_remaps_exactly_the_node_default_input_topics():
    defaults = NodeConfig()
    assert set(plan.input_topics()) == {defaults.rgb_topic, defaults.depth_topic, defaults.points_topic,
                                        defaults.skeleton_topic}
    assert plan.input_remappings("") == plan.input_remappings("/") == []
    assert ("points2", "/k4a/points2") in plan.input_remappings("/k4a/")
    assert len(plan.input_remappings("k4a")) == 4


def test_player_arguments_check_the_bag_and_the_rate_before_anything_starts(bag):
    assert plan.player_arguments(str(bag), "0.5", "true") == [str(bag), "--rate", "0.5", "--loop"]
    assert plan.player_arguments(str(bag), "1", "false") == [str(bag), "--rate", "1.0"]
    with pytest.raises(plan.LaunchError, match="bag not found"):
        plan.player_arguments("/nonexistent", "1.0", "false")
    with pytest.raises(plan.LaunchError, match="bag not found"):
        plan.player_arguments("", "1.0", "false")
    for rate in ("fast", "0", "-1", "nan"):
        with pytest.raises(plan.LaunchError, match="rate must be"):
            plan.player_arguments(str(bag), rate, "false")


def test_rviz_without_rviz2_is_a_message_not_a_failed_launch():
    assert plan.rviz_message(True, installed=True) is None
    assert plan.rviz_message(False, installed=False) is None
    assert "rviz2 package is not installed" in plan.rviz_message(True, installed=False)


@pytest.mark.parametrize("returncode", [0, -signal.SIGINT, -signal.SIGTERM, 130, 143])
def test_a_normal_stop_of_the_node_or_player_ends_the_launch_without_error(returncode):
    for role in ("node", "player"):
        assert plan.process_exit(role, returncode, shutting_down=False) == plan.ExitOutcome(shutdown=True)


def test_a_failed_node_or_player_ends_the_launch_as_an_error_unless_it_is_already_stopping():
    failed = plan.process_exit("node", 1, shutting_down=False)
    assert failed.shutdown and "rcmcl_node exited with status 1" in failed.error
    assert "rcmcl_play exited with status 2" in plan.process_exit("player", 2, shutting_down=False).error
    assert plan.process_exit("node", 1, shutting_down=True).error is None       # Ctrl-C: whatever the status
    with pytest.raises(ValueError, match="unknown role"):
        plan.process_exit("rviz", 0, shutting_down=False)


# -- the launch files, run against the stand-ins ------------------------------------------------------
def _nodes(actions) -> dict[str, object]:
    return {node.kwargs["executable"]: node for node in of_type(actions, "Node")}


def _environment(actions) -> dict[str, str | None]:
    """The profile variables after the launch's environment actions, in order (None: unset)."""
    env: dict[str, str | None] = {}
    for action in actions:
        if type(action).__name__ == "UnsetEnvironmentVariable":
            env[action.args[0]] = None
        elif type(action).__name__ == "SetEnvironmentVariable":
            env[action.args[0]] = action.args[1]
    return env


def test_rcmcl_launch_starts_the_node_with_the_profile_remaps_and_an_exit_handler(share, monkeypatch):
    actions = run_launch(LAUNCH, {"camera_namespace": "k4a", "device": "cuda"}, share=share, monkeypatch=monkeypatch)
    (node,) = _nodes(actions).values()
    assert node.kwargs["executable"] == plan.NODE_EXECUTABLE and node.kwargs["package"] == plan.PACKAGE
    assert node.kwargs["parameters"] == [str(share / "config" / "rcmcl.yaml"), {"use_sim_time": False,
                                                                                "device": "cuda"}]
    assert ("rgb/image_raw", "/k4a/rgb/image_raw") in node.kwargs["remappings"]
    assert _environment(actions)[profile_variables()[0]] == str(share / "config" / "fastdds_shm.xml")
    assert actions.index(node) > max(actions.index(a) for a in of_type(actions, "SetEnvironmentVariable"))
    handler = exit_handlers(actions)[plan.NODE_EXECUTABLE]
    context = Context({}, share)
    assert type(handler(ExitEvent(0), context)[0]).__name__ == "EmitEvent"          # the launch ends with it
    with pytest.raises(plan.LaunchError, match="status 1"):
        handler(ExitEvent(1), context)                                              # ... with status 1


def test_rcmcl_launch_with_a_mistyped_params_file_starts_nothing(share, monkeypatch):
    with pytest.raises(plan.LaunchError, match="params_file not found"):
        run_launch(LAUNCH, {"params_file": str(share / "my_params.yml")}, share=share, monkeypatch=monkeypatch)


def test_replay_launch_runs_node_on_sim_time_and_ends_with_the_player(share, bag, monkeypatch):
    actions = run_launch(REPLAY, {"bag": str(bag), "rate": "0.5"}, share=share, monkeypatch=monkeypatch)
    nodes = _nodes(actions)
    assert set(nodes) == {plan.NODE_EXECUTABLE, plan.PLAYER_EXECUTABLE}
    assert nodes[plan.NODE_EXECUTABLE].kwargs["parameters"][1] == {"use_sim_time": True}
    assert nodes[plan.PLAYER_EXECUTABLE].kwargs["arguments"] == [str(bag), "--rate", "0.5"]
    assert _environment(actions)[profile_variables()[0]].endswith("fastdds_shm_localhost.xml")
    handlers = exit_handlers(actions)
    assert set(handlers) == {plan.NODE_EXECUTABLE, plan.PLAYER_EXECUTABLE}
    assert type(handlers[plan.PLAYER_EXECUTABLE](ExitEvent(0), Context({}, share))[0]).__name__ == "EmitEvent"


def test_replay_launch_without_a_bag_or_with_a_missing_one_starts_nothing(share, monkeypatch):
    with pytest.raises(KeyError, match="required launch argument 'bag'"):
        run_launch(REPLAY, {}, share=share, monkeypatch=monkeypatch)
    with pytest.raises(plan.LaunchError, match="bag not found"):
        run_launch(REPLAY, {"bag": "/nonexistent"}, share=share, monkeypatch=monkeypatch)


def test_azure_launch_without_driver_or_rviz2_runs_the_node_and_says_so(share, monkeypatch):
    actions = run_launch(AZURE, {"rviz": "true"}, share=share, monkeypatch=monkeypatch)
    messages = [a.kwargs["msg"] for a in of_type(actions, "LogInfo")]
    assert any("azure_kinect_ros_driver is not installed" in m for m in messages)
    assert any("rviz2 package is not installed" in m for m in messages)
    assert not of_type(actions, "Node")                                     # rviz2 is not started
    (node_launch,) = of_type(actions, "IncludeLaunchDescription")
    assert node_launch.args[0].args[0] == f"{share}/launch/rcmcl.launch.py"
    assert dict(node_launch.kwargs["launch_arguments"])["params_file"] == str(share / "config" / "rcmcl.yaml")


def test_launch_on_jazzy_sets_the_variable_fast_dds_2_reads(share, monkeypatch):
    monkeypatch.setenv("ROS_DISTRO", "jazzy")
    env = _environment(run_launch(LAUNCH, {}, share=share, monkeypatch=monkeypatch))
    assert env["FASTRTPS_DEFAULT_PROFILES_FILE"] == str(share / "config" / "fastdds_shm.xml")
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"] is None                       # unset: no stale file applies


def test_azure_launch_with_driver_and_rviz2_starts_both(share, monkeypatch, tmp_path):
    installed = Installed({"azure_kinect_ros_driver": str(tmp_path / "driver"), "rviz2": str(tmp_path / "rviz2")})
    actions = run_launch(AZURE, {"rviz": "true", "dds_profile": "shm_localhost"}, share=share,
                         monkeypatch=monkeypatch, installed=installed)
    includes = of_type(actions, "IncludeLaunchDescription")
    assert [i.args[0].args[0] for i in includes] == [f"{tmp_path}/driver/launch/driver.launch.py",
                                                     f"{share}/launch/rcmcl.launch.py"]
    assert dict(includes[1].kwargs["launch_arguments"])["dds_profile"] == "shm_localhost"
    assert _environment(actions)[profile_variables()[0]].endswith("fastdds_shm_localhost.xml")
    (rviz,) = of_type(actions, "Node")
    assert rviz.kwargs["arguments"] == ["-d", f"{share}/config/rcmcl.rviz"]


def _launch_description(path: Path):
    """generate_launch_description() of the launch file at `path` with the real launch_ros."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.name.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


@pytest.mark.parametrize("name", sorted(plan.FILE_ARGUMENTS))
def test_launch_description_builds_where_launch_ros_is_installed(name):
    pytest.importorskip("launch_ros")
    description = _launch_description(LAUNCH_DIR / name)
    assert [a.name for a in description.get_launch_arguments()] == list(plan.FILE_ARGUMENTS[name])


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



# -- the player and the driver line ------------------------------------------------------------------
def test_player_accepts_the_arguments_the_replay_launch_passes(tmp_path):
    from rcmcl_ros.bag.player import parse_arguments

    args, ros_args = parse_arguments([str(tmp_path), "--rate", "0.5", "--loop",
                                      "--ros-args", "-r", "__node:=rcmcl_bag_player"])
    assert (args.bag, args.rate, args.loop) == (tmp_path, 0.5, True)
    assert ros_args == ["--ros-args", "-r", "__node:=rcmcl_bag_player"]


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


def test_every_data_files_entry_of_setup_py_installs_at_least_one_file():
    """An empty glob would install an empty share folder (one did, for a labels folder that never existed)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    globs = [ast.literal_eval(n.args[0]) for n in ast.walk(tree)
             if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "glob"]
    assert globs
    for pattern in globs:
        assert list(ROOT.glob(pattern)), f"setup.py data_files glob {pattern!r} matches nothing"
    assert "tests_require" not in (ROOT / "setup.py").read_text()              # setuptools warns: deprecated


def test_the_enclave_goes_to_the_node_as_a_ros_argument():
    assert plan.ARGUMENTS["enclave"].default == "/rcmcl/rcmcl_node"
    assert plan.node_ros_arguments("/rcmcl/rcmcl_node") == ["--enclave", "/rcmcl/rcmcl_node"]
    assert plan.node_ros_arguments(" ") == []
    with pytest.raises(plan.LaunchError, match="absolute path"):
        plan.node_ros_arguments("rcmcl/rcmcl_node")
