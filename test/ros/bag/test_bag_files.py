"""rosbag2 files through rosbags (rcmcl_ros/bag/files.py), the annotations they carry (rcmcl_ros/bag/annotations.py) and
the demo bag (rcmcl_ros/bag/demo.py): real mcap / sqlite3 bags written and read back, faults visible in the data, and
one-line errors for bags that cannot be read."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from rcmcl_core.data.synthetic.classes import CLASS_NAMES
from rcmcl_ros.bag.files import (DEFAULT_TOPICS, FAULT_TOPIC, GROUND_TRUTH_TOPIC, STREAM_TYPES, BagError, BagReader,
                                 BagWriter, parse_topic_map)
from rcmcl_ros.bag.annotations import Fault, GroundTruth, parse_fault
from rcmcl_ros.bag.demo import (CAMERA_INFO_TOPICS, FRAMES, START_NS, DemoBagConfig, azure32_from_ntu25,
                                make_demo_bag, read_sidecar)
from rcmcl_ros.pipeline.preprocess import PreprocessConfig, Preprocessor

FAULTS = (Fault("skeleton_lost", 0.5, 1.0), Fault("points_sparse", 1.5, 2.0), Fault("rgbd_blackout", 2.5, 3.0),
          Fault("rgbd_dropped", 3.0, 3.5))
SMALL = DemoBagConfig(actions=2, segment_s=2.0, image_size=32, cloud_stride=1, faults=FAULTS,
                      classes=("wave", "kick"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return make_demo_bag(SMALL, out=tmp_path_factory.mktemp("bags") / "demo", progress=False)


def read_all(path: Path, topic: str) -> list[tuple[float, object]]:
    """(seconds from the bag start, rosbags message) of one topic."""
    with BagReader(path) as bag:
        return [((m.record_ns - START_NS) / 1e9, bag.deserialize(m)) for m in bag.messages([topic])]


# -- topics and the demo bag's content -------------------------------------------------------------
def test_default_topics_are_the_node_defaults_in_the_root_namespace():
    from rcmcl_ros.node.params import NodeConfig

    node = NodeConfig()
    assert DEFAULT_TOPICS == {"rgb": f"/{node.rgb_topic}", "depth": f"/{node.depth_topic}",
                              "points": f"/{node.points_topic}", "skeleton": f"/{node.skeleton_topic}"}


def test_topic_map_flags_replace_single_streams_and_reject_unknown_ones():
    topics = parse_topic_map(["rgb:=/cam/color", "points:=cam/points"])
    assert topics["rgb"] == "/cam/color" and topics["points"] == "/cam/points"
    assert topics["depth"] == DEFAULT_TOPICS["depth"]
    with pytest.raises(ValueError, match="unknown stream 'colour'"):
        parse_topic_map(["colour:=/x"])
    with pytest.raises(ValueError, match="STREAM:=/topic"):
        parse_topic_map(["rgb=/x"])


def test_demo_bag_has_the_azure_topics_and_types_at_30_hz(demo):
    with BagReader(demo) as bag:
        topics = bag.topics
        assert bag.duration_s == pytest.approx(SMALL.duration_s - 1 / SMALL.fps, abs=1e-6)
    for stream, topic in DEFAULT_TOPICS.items():
        assert topics[topic].msgtype == STREAM_TYPES[stream]
    frames = int(SMALL.duration_s * SMALL.fps)
    rgbd_lost = int(0.5 * SMALL.fps)                                   # rgbd_dropped lasts 0.5 s
    assert topics[DEFAULT_TOPICS["skeleton"]].count == frames
    assert topics[DEFAULT_TOPICS["points"]].count == frames
    assert topics[DEFAULT_TOPICS["rgb"]].count == topics[DEFAULT_TOPICS["depth"]].count == frames - rgbd_lost
    assert topics[CAMERA_INFO_TOPICS["rgb"]].msgtype == "sensor_msgs/msg/CameraInfo"
    assert topics[GROUND_TRUTH_TOPIC].count == frames and topics[FAULT_TOPIC].count == len(FAULTS)
    assert topics["/tf_static"].msgtype == "tf2_msgs/msg/TFMessage"
    stamps = [t for t, _ in read_all(demo, DEFAULT_TOPICS["skeleton"])]
    np.testing.assert_allclose(np.diff(stamps), 1 / SMALL.fps, atol=1e-6)


def test_demo_images_are_bgra8_and_16uc1_mm_in_the_colour_camera_frame(demo):
    (_, rgb), *_ = read_all(demo, DEFAULT_TOPICS["rgb"])
    (_, depth), *_ = read_all(demo, DEFAULT_TOPICS["depth"])
    (_, cloud), *_ = read_all(demo, DEFAULT_TOPICS["points"])
    assert (rgb.encoding, rgb.width, rgb.height) == ("bgra8", 32, 32)
    assert depth.encoding == "16UC1"
    assert rgb.header.frame_id == depth.header.frame_id == cloud.header.frame_id == FRAMES["rgb"]
    assert rgb.header.stamp.sec * 10**9 + rgb.header.stamp.nanosec == START_NS
    values = np.frombuffer(depth.data, np.uint16)
    assert 1000 < np.median(values[values > 0]) < 5000              # a person 2.5 m away, in millimetres
    assert not cloud.is_dense                                         # invalid pixels are NaN points


def test_demo_skeleton_markers_carry_32_k4abt_joints_per_body(demo):
    _, markers = read_all(demo, DEFAULT_TOPICS["skeleton"])[0]
    ids = sorted(m.id for m in markers.markers)
    assert ids == [100 + j for j in range(32)]                        # body 1, joints 0..31
    assert {m.header.frame_id for m in markers.markers} == {FRAMES["skeleton"]}
    joints, valid = Preprocessor(config=PreprocessConfig(image_size=32, num_points=64)).skeleton(markers)
    assert valid[0] and 1.5 < joints[0, :, 2].mean() < 3.5


def test_azure32_from_ntu25_keeps_the_25_mapped_joints():
    from rcmcl_core.geometry.skeleton_layout import azure_to_ntu

    ntu = np.random.default_rng(0).normal(size=(2, 25, 3)).astype(np.float32)
    np.testing.assert_allclose(azure_to_ntu(azure32_from_ntu25(ntu)), ntu, atol=1e-6)
    assert azure32_from_ntu25(np.zeros((0, 25, 3))).shape == (0, 32, 3)


def test_ground_truth_names_a_class_per_frame_in_the_drawn_order(demo):
    truth = read_all(demo, GROUND_TRUTH_TOPIC)
    labels = [msg.data for _, msg in truth]
    assert set(labels) <= set(CLASS_NAMES) and set(labels) == set(SMALL.classes)
    sidecar = read_sidecar(demo)
    for t, label in zip([t for t, _ in truth], labels):
        start, end, name = next(a for a in sidecar["actions"] if a[0] <= t < a[1])
        assert label == name


def test_fault_schedule_is_in_the_bag_and_in_the_sidecar(demo):
    faults = [Fault.from_json(msg.data) for _, msg in read_all(demo, FAULT_TOPIC)]
    assert faults == list(FAULTS)
    for t, msg in read_all(demo, FAULT_TOPIC):
        assert t == pytest.approx(Fault.from_json(msg.data).start_s)   # recorded at its start
    assert [Fault(f["fault"], f["start_s"], f["end_s"]) for f in read_sidecar(demo)["faults"]] == list(FAULTS)
    with BagReader(demo) as bag:
        assert json.loads(bag.custom_data["rcmcl_demo"])["faults"] == read_sidecar(demo)["faults"]


def test_faults_remove_or_thin_out_exactly_their_topic_in_their_span(demo):
    skeleton = read_all(demo, DEFAULT_TOPICS["skeleton"])
    assert all(not msg.markers for t, msg in skeleton if 0.5 <= t < 1.0)
    tracked = [bool(msg.markers) for t, msg in skeleton if not 0.5 <= t < 1.0]
    assert np.mean(tracked) > 0.8          # outside the fault only the simulated tracker loses frames
    finite = {round(t, 3): np.isfinite(np.frombuffer(msg.data, np.float32).reshape(-1, 4)[:, 0]).sum()
              for t, msg in read_all(demo, DEFAULT_TOPICS["points"])}
    sparse = [n for t, n in finite.items() if 1.5 <= t < 2.0]
    dense = [n for t, n in finite.items() if not 1.5 <= t < 2.0]
    assert max(sparse) < 0.1 * min(dense)
    depth = read_all(demo, DEFAULT_TOPICS["depth"])
    assert all(not np.frombuffer(m.data, np.uint16).any() for t, m in depth if 2.5 <= t < 3.0)   # blackout
    assert not [t for t, _ in depth if 3.0 <= t < 3.5]                                          # dropped


def test_default_fault_schedule_scales_with_the_duration_and_hits_every_modality():
    schedule = DemoBagConfig(actions=4, segment_s=3.0).schedule()
    assert {f.modality for f in schedule} == {"rgbd", "skeleton", "points"}
    assert all(0 <= f.start_s < f.end_s <= 12.0 for f in schedule)
    assert DemoBagConfig().schedule()[0] == Fault("skeleton_lost", 4.0, 7.0)


# -- cache and determinism -------------------------------------------------------------------------
def test_same_parameters_reuse_the_bag_and_other_ones_need_force(demo):
    mcap = next(demo.glob("*.mcap"))
    before = mcap.stat().st_mtime_ns
    assert make_demo_bag(SMALL, out=demo, progress=False) == demo
    assert mcap.stat().st_mtime_ns == before
    other = DemoBagConfig(actions=1, segment_s=1.0, image_size=32, faults=())
    with pytest.raises(BagError, match="--force"):
        make_demo_bag(other, out=demo, progress=False)


def test_demo_bag_is_deterministic(tmp_path):
    config = DemoBagConfig(actions=1, segment_s=1.0, image_size=32, faults=(Fault("points_sparse", 0.2, 0.6),))
    first = make_demo_bag(config, out=tmp_path / "a", progress=False)
    second = make_demo_bag(config, out=tmp_path / "b", progress=False)
    with BagReader(first) as a, BagReader(second) as b:     # file names differ, messages do not
        assert list(a.messages()) == list(b.messages())


def test_a_folder_that_is_not_a_demo_bag_is_never_overwritten(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(BagError, match="not a demo bag"):
        make_demo_bag(SMALL, out=tmp_path / "mine", force=True, progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


# -- writer and reader -----------------------------------------------------------------------------
def test_sqlite3_bags_round_trip_rclpy_messages(tmp_path):
    from std_msgs.msg import String

    with BagWriter(tmp_path / "db", storage="sqlite3") as bag:
        bag.add_topic(GROUND_TRUTH_TOPIC, "std_msgs/msg/String")
        for i, label in enumerate(("wave", "kick")):
            bag.write(GROUND_TRUTH_TOPIC, 10**9 + i, String(data=label))
    with BagReader(tmp_path / "db") as bag:
        assert [bag.deserialize(m).data for m in bag.messages()] == ["wave", "kick"]
        assert bag.start_ns == 10**9 and bag.end_ns == 10**9 + 1


def test_a_failed_write_leaves_no_bag_behind(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with BagWriter(tmp_path / "half") as bag:
            bag.add_topic("/x", "std_msgs/msg/String")
            raise RuntimeError("boom")
    assert not (tmp_path / "half").exists()
    assert not list(tmp_path.iterdir())


def test_missing_bag_is_a_one_line_error(tmp_path):
    with pytest.raises(BagError, match=r"^bag not found: .*nowhere$"):
        BagReader(tmp_path / "nowhere").__enter__()


def test_unknown_storage_formats_are_one_line_errors(tmp_path, demo):
    (tmp_path / "old.bag").write_bytes(b"#ROSBAG V2.0\n")
    with pytest.raises(BagError, match="unknown storage format '.bag'"):
        BagReader(tmp_path / "old.bag").__enter__()
    folder = tmp_path / "odd"
    folder.mkdir()
    for item in demo.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    metadata = folder / "metadata.yaml"
    metadata.write_text(metadata.read_text().replace("storage_identifier: mcap", "storage_identifier: rosbag_v3"))
    with pytest.raises(BagError, match="rosbag_v3") as error:
        BagReader(folder).__enter__()
    assert "\n" not in str(error.value) and "report issue" not in str(error.value)


def test_truncated_mcap_is_a_one_line_error(tmp_path, demo):
    cut = tmp_path / "cut.mcap"
    data = next(demo.glob("*.mcap")).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BagError, match="cut off") as error:
        BagReader(cut).__enter__()
    assert "\n" not in str(error.value)


# -- annotations -----------------------------------------------------------------------------------
def test_faults_parse_from_flags_and_json():
    fault = parse_fault("rgbd_blackout@1.5-4")
    assert (fault.name, fault.modality, fault.start_s, fault.end_s) == ("rgbd_blackout", "rgbd", 1.5, 4.0)
    assert Fault.from_json(fault.to_json()) == fault
    for bad in ("rgbd_blackout", "smoke@1-2", "skeleton_lost@3-1", "skeleton_lost@a-b"):
        with pytest.raises(ValueError):
            parse_fault(bad)
    with pytest.raises(ValueError, match="JSON"):
        Fault.from_json("not json")


def test_ground_truth_is_a_step_function_with_majority_over_a_window():
    truth = GroundTruth([(10.0, "wave"), (10.1, "wave"), (12.0, "kick")])
    assert truth.label_at(9.9) is None and truth.label_at(11.99) == "wave" and truth.label_at(50.0) == "kick"
    assert truth.majority(np.linspace(11.0, 12.4, 8)) == "wave"
    assert truth.majority(np.linspace(11.6, 13.0, 8)) == "kick"
    assert truth.segments(end_s=14.0) == [(10.0, 12.0, "wave"), (12.0, 14.0, "kick")]
    live = GroundTruth()
    live.add(5.0, "wave")
    live.add(1.0, "kick")                   # the bag looped: history starts over
    assert live.label_at(4.0) == "kick" and live.label_at(0.5) is None


def test_demo_bag_cli_prints_the_path_and_rejects_bad_faults(tmp_path, capsys):
    from rcmcl_ros.__main__ import main

    out = tmp_path / "cli"
    assert main(["make-demo-bag", "--out", str(out), "--actions", "1", "--segment-s", "1", "--size", "32",
                 "--fault", "points_dropped@0.2-0.5", "--no-progress"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out)
    assert [f["fault"] for f in read_sidecar(out)["faults"]] == ["points_dropped"]
    assert main(["make-demo-bag", "--out", str(tmp_path / "x"), "--fault", "fog@1-2"]) == 2
    assert "unknown fault 'fog'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert os.listdir(tmp_path) == ["cli"]
