"""The bag player (rcmcl_ros/bag/player.py) over real Fast DDS, in-process: a demo bag played with /clock into a
sim-time RCMCLNode, topic drops and remaps, looping with the clock jumping back, and CLI errors. Tiny
random-weight checkpoint: what is checked is timing and plumbing, not labels."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.ros, pytest.mark.timeout(90)]

import rclpy  # noqa: E402, F401  (imported only to prove it imports: a core dependency, a broken wheel must fail, not skip)
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from rcmcl_ros.__main__ import main  # noqa: E402
from rcmcl_ros.bag.files import DEFAULT_TOPICS, BagReader  # noqa: E402
from rcmcl_ros.bag.annotations import Fault  # noqa: E402
from rcmcl_ros.bag.demo import DemoBagConfig, make_demo_bag  # noqa: E402
from rcmcl_ros.node.ros_node import RCMCLNode  # noqa: E402
from rcmcl_ros.bag.player import BagPlayer, PlayerConfig, TopicDrop, message_class, parse_drop, parse_remap  # noqa: E402

FPS = 30.0
DURATION_S = 3.0



@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> Path:
    config = DemoBagConfig(actions=2, segment_s=DURATION_S / 2, image_size=32, fps=FPS,
                           faults=(Fault("points_sparse", 1.0, 1.5),))
    return make_demo_bag(config, out=tmp_path_factory.mktemp("bags") / "play", progress=False)


@pytest.fixture(scope="module")
def bag_span(bag) -> tuple[float, float]:
    with BagReader(bag) as reader:
        return reader.start_ns / 1e9, reader.end_ns / 1e9


class Graph:
    """Nodes spun by their own executor threads, a probe node recording what it hears, and a player."""

    def __init__(self, context) -> None:
        self.context = context
        self.probe = Node("probe", context=context)
        self.lock = threading.Lock()
        self.heard: dict[str, list[float]] = {}
        self.executors: list[SingleThreadedExecutor] = []
        self.nodes: list[Node] = [self.probe]
        self.spin(self.probe)

    def spin(self, node: Node) -> None:
        executor = SingleThreadedExecutor(context=self.context)
        executor.add_node(node)
        threading.Thread(target=executor.spin, daemon=True).start()
        self.executors.append(executor)
        if node is not self.probe:
            self.nodes.append(node)

    def listen(self, kind, topic: str, stamp_of) -> None:
        def record(msg) -> None:
            with self.lock:
                self.heard.setdefault(topic, []).append(stamp_of(msg))
        self.probe.create_subscription(kind, topic, record, 100)

    def times(self, topic: str) -> np.ndarray:
        with self.lock:
            return np.array(self.heard.get(topic, []))

    def play(self, bag: Path, config: PlayerConfig, *,
             stop: threading.Event | None = None) -> tuple[BagPlayer, threading.Thread]:
        node = Node("player", context=self.context)
        self.nodes.append(node)
        player = BagPlayer(node=node, bag=bag, config=config)
        thread = threading.Thread(target=player.play, args=(stop,), daemon=True)
        thread.start()
        return player, thread

    def close(self) -> None:
        for executor in self.executors:
            executor.shutdown(timeout_sec=1.0)
        for node in self.nodes:
            node.destroy_node()


def stamp_s(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


@pytest.fixture
def graph(rclpy_context):
    graph = Graph(rclpy_context)
    yield graph
    graph.close()


def sim_time_node(graph: Graph, checkpoint: Path) -> RCMCLNode:
    node = RCMCLNode(context=graph.context, parameter_overrides=[
        Parameter("checkpoint", value=str(checkpoint)), Parameter("use_sim_time", value=True),
        Parameter("stride_s", value=0.1333)])
    graph.spin(node)
    graph.listen(MarkerArray, f"{node.get_fully_qualified_name()}/gate_markers",
                 lambda m: stamp_s(m.markers[-1].header.stamp))
    return node


# -- live replay -----------------------------------------------------------------------------------
def test_a_played_bag_drives_a_sim_time_node_on_the_bag_clock(graph, bag, bag_span, tiny_checkpoint):
    start_s, end_s = bag_span
    node = sim_time_node(graph, tiny_checkpoint(window_s=0.5))
    graph.listen(Clock, "/clock", lambda m: stamp_s(m.clock))
    player, thread = graph.play(bag, PlayerConfig(delay_s=1.0))
    thread.join(timeout=20)
    assert not thread.is_alive()
    time.sleep(0.5)                                                   # the last windows are decided
    decisions = graph.times("/rcmcl_node/gate_markers")
    assert len(decisions) >= 10, "expected a decision every 0.133 s over ~2.5 s of bag"
    assert np.all((decisions >= start_s + 0.5 - 1e-6) & (decisions <= end_s + 1e-6))   # bag time, not wall time
    assert np.all(np.diff(decisions) > 0)
    assert abs(time.time() - decisions[-1]) > 3600                   # the bag is from 2023
    assert abs(node.now_s() - end_s) < 0.5                           # the node's clock is the bag's /clock
    clock = graph.times("/clock")
    assert np.all(np.diff(clock) >= 0) and clock[-1] == pytest.approx(end_s, abs=1e-6)
    assert player.stats.published > 4 * DURATION_S * FPS and player.stats.dropped == 0


def test_drop_withholds_a_topic_in_its_span_and_remap_renames_one(graph, bag, bag_span):
    start_s, _ = bag_span
    graph.listen(MarkerArray, DEFAULT_TOPICS["skeleton"], lambda m: float("nan"))
    graph.listen(PointCloud2, "/cam/points", lambda m: stamp_s(m.header.stamp) - start_s)
    config = PlayerConfig(rate=2.0, delay_s=1.0, drops=(parse_drop("/body_tracking_data@0.5-2"),),
                          remaps=dict([parse_remap("/points2:=/cam/points")]))
    player, thread = graph.play(bag, config)
    thread.join(timeout=20)
    frames = int(DURATION_S * FPS)
    deadline = time.monotonic() + 5.0       # on a loaded machine the last messages arrive late
    while time.monotonic() < deadline and (len(graph.times(DEFAULT_TOPICS["skeleton"])) < frames - player.stats.dropped
                                           or len(graph.times("/cam/points")) < frames):
        time.sleep(0.05)
    assert player.stats.dropped == int(1.5 * FPS)
    assert len(graph.times(DEFAULT_TOPICS["skeleton"])) == frames - player.stats.dropped
    assert len(graph.times("/cam/points")) == frames and not graph.times(DEFAULT_TOPICS["points"]).size


def test_looping_sends_the_clock_back_and_the_node_keeps_deciding(graph, bag, bag_span, tiny_checkpoint):
    start_s, end_s = bag_span
    sim_time_node(graph, tiny_checkpoint(window_s=0.5))
    graph.listen(Clock, "/clock", lambda m: stamp_s(m.clock))
    stop = threading.Event()
    player, thread = graph.play(bag, PlayerConfig(rate=2.0, loop=True, delay_s=1.0), stop=stop)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:                 # until the second pass has produced decisions
        decisions = graph.times("/rcmcl_node/gate_markers")
        back = np.flatnonzero(np.diff(decisions) < 0)
        if back.size and len(decisions) - back[0] > 5:
            break
        time.sleep(0.1)
    stop.set()
    thread.join(timeout=5)
    assert player.stats.loops >= 1
    clock = graph.times("/clock")
    assert np.any(np.diff(clock) < -(end_s - start_s) / 2)          # the clock jumped back to the start
    decisions = graph.times("/rcmcl_node/gate_markers")
    back = np.flatnonzero(np.diff(decisions) < 0)
    assert back.size and len(decisions) - back[0] > 5, "no decisions after the bag looped"


# -- pieces and errors -----------------------------------------------------------------------------
def test_drop_and_remap_flags_parse_and_reject_bad_forms():
    assert parse_drop("points2@1.5-3") == TopicDrop("/points2", 1.5, 3.0)
    assert parse_drop("/a/b@0-1").covers("/a/b", 0.5) and not parse_drop("/a/b@0-1").covers("/a/b", 1.0)
    assert parse_remap("/points2:=cam/points") == ("/points2", "/cam/points")
    for bad in ("/points2", "/points2@3-1", "/points2@x-2", "@1-2"):
        with pytest.raises(ValueError, match="TOPIC@START-END"):
            parse_drop(bad)
    with pytest.raises(ValueError, match="old_topic:=/new_topic"):
        parse_remap("/points2=/x")


def test_topics_of_uninstalled_message_packages_are_skipped(graph, bag):
    assert message_class("sensor_msgs/msg/Image").__name__ == "Image"
    assert message_class("no_such_msgs/msg/Thing") is None
    player = BagPlayer(node=graph.probe, bag=bag)
    installed = message_class("tf2_msgs/msg/TFMessage") is not None
    assert ("/tf_static" in player.publishers) == installed
    assert any("/tf_static" in s for s in player.stats.skipped_topics) == (not installed)


def test_play_cli_answers_a_bad_bag_with_one_line_and_status_2(tmp_path, capsys):
    assert main(["play", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"play: error: bag not found: {tmp_path / 'nowhere'}"
    with pytest.raises(SystemExit) as exit_info:
        main(["play", str(tmp_path), "--drop", "/points2@9-1"])
    assert exit_info.value.code == 2
    assert "TOPIC@START-END" in capsys.readouterr().err
