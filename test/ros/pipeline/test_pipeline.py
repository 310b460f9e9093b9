"""Pipeline (no ROS graph, real messages, tiny random-weight checkpoint) and its per-frame preprocessing."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sensor_msgs.msg import Image
from std_msgs.msg import String

from rcmcl_core.checkpoint import CheckpointError
from rcmcl_ros.conversions import numpy_to_image, skeleton_to_markers, xyz_to_pointcloud2
from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig, PipelineConfigError, message_stamp_s
from rcmcl_ros.pipeline.preprocess import (PreprocessConfig, PreprocessConfigError, Preprocessor, extrinsic_matrix)
from rcmcl_ros.pipeline.window import WindowConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # conftest.py

STREAMS = ("rgb", "depth", "points", "skeleton")
FPS = 30.0
STRIDE_S = 0.2



@pytest.fixture
def pipeline(tiny_checkpoint) -> Pipeline:
    config = PipelineConfig(device="cpu", window=WindowConfig(stride_s=STRIDE_S))
    return Pipeline.from_checkpoint(tiny_checkpoint(window_s=1.0), config=config)


def play(pipeline: Pipeline, scene, start_s: float, stop_s: float, *, streams=STREAMS) -> list:
    """Ingest the scene's messages at FPS over [start_s, stop_s) and step the pipeline after each frame."""
    decisions = []
    for t in np.arange(round(start_s * FPS), round(stop_s * FPS)) / FPS:
        messages = scene.messages(float(t))
        for stream in streams:
            assert pipeline.ingest(stream, float(t), messages[stream], now_s=float(t) + 0.01) is None
        decisions += pipeline.step(float(t) + 0.01)
    return decisions


# -- the checkpoint decides the clip ---------------------------------------------------------------
def test_checkpoint_clip_sizes_override_the_parameters(tiny_checkpoint):
    config = PipelineConfig(device="cpu", window=WindowConfig(frames=16, window_s=2.0),
                            preprocess=PreprocessConfig(image_size=64, num_points=256))
    pipeline = Pipeline.from_checkpoint(tiny_checkpoint(window_s=0.5), config=config)
    assert (pipeline.config.window.frames, pipeline.config.window.window_s) == (8, 0.5)
    assert (pipeline.config.preprocess.image_size, pipeline.config.preprocess.num_points) == (32, 64)
    assert pipeline.labels[0] == "action_00" and len(pipeline.labels) == 24


def test_missing_checkpoint_is_an_error_naming_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "rcmcl_compact.pt"
    with pytest.raises(CheckpointError, match=str(missing)):
        Pipeline.from_checkpoint(missing)


def test_pipeline_config_accepts_every_device_name_the_core_accepts():
    for name in ("auto", "cpu", "cuda", "cuda:1"):
        PipelineConfig(device=name).validate()
    with pytest.raises(PipelineConfigError, match="cuda:N"):
        PipelineConfig(device="gpu").validate()


# -- decisions -------------------------------------------------------------------------------------
def test_decisions_come_every_stride_with_probabilities_and_gates(pipeline, scene):
    decisions = play(pipeline, scene, 0.1, 2.5)
    stamps = np.array([d.stamp_s for d in decisions])
    assert len(decisions) >= 6
    np.testing.assert_allclose(np.diff(stamps), STRIDE_S, atol=1e-6)
    for d in decisions:
        assert d.scores.shape == (24,) and d.scores.sum() == pytest.approx(1.0, abs=1e-5)
        assert d.label == pipeline.labels[d.label_index] and d.confidence == pytest.approx(d.scores.max())
        assert d.present.all() and np.all((d.gates > 0) & (d.gates < 1))
        assert d.latency["inference_s"] > 0


def test_skeleton_gate_is_zero_within_one_window_of_the_skeleton_stopping_and_returns(pipeline, scene):
    decisions = play(pipeline, scene, 0.1, 2.0)
    decisions += play(pipeline, scene, 2.0, 4.0, streams=("rgb", "depth", "points"))
    decisions += play(pipeline, scene, 4.0, 6.0)
    stamps = np.array([d.stamp_s for d in decisions])
    np.testing.assert_allclose(np.diff(stamps), STRIDE_S, atol=1e-6)   # no decision lost meanwhile
    window_s = pipeline.config.window.window_s
    for d in decisions:
        if 2.0 + window_s <= d.stamp_s < 4.0:
            assert not d.present[1] and d.gates[1] == 0.0
            assert d.present[0] and d.present[2] and d.gates[0] > 0 and d.gates[2] > 0
        if d.stamp_s >= 4.0 + window_s:
            assert d.present.all() and d.gates[1] > 0


def test_rgbd_and_points_stopping_together_leave_skeleton_only_decisions(pipeline, scene):
    decisions = play(pipeline, scene, 0.1, 2.0)
    decisions += play(pipeline, scene, 2.0, 4.0, streams=("skeleton",))
    late = [d for d in decisions if d.stamp_s >= 2.0 + pipeline.config.window.window_s]
    assert len(late) >= 4
    for d in late:
        assert list(d.present) == [False, True, False]
        assert d.gates[0] == 0.0 and d.gates[2] == 0.0 and d.gates[1] > 0


def test_stamps_going_backwards_reset_and_decisions_resume(pipeline, scene):
    play(pipeline, scene, 10.0, 12.0)
    again = play(pipeline, scene, 0.1, 2.0)
    assert again and all(d.stamp_s < 2.0 for d in again)
    assert pipeline.windower.stats.resets == 1


def test_stats_report_input_rates_drops_and_latency(pipeline, scene):
    play(pipeline, scene, 0.1, 2.5)
    snapshot = pipeline.snapshot(2.5)
    for stream in STREAMS:
        assert snapshot["rates_hz"][stream] == pytest.approx(FPS, rel=0.1)
        assert snapshot["accepted"][stream] == snapshot["received"][stream] > 0
    assert snapshot["drops_total"] == 0 and snapshot["decisions"] == snapshot["windows"] > 0
    assert snapshot["latency"]["inference_s"]["p95"] >= snapshot["latency"]["inference_s"]["p50"] > 0


# -- malformed input -------------------------------------------------------------------------------
def malformed(scene, t: float) -> list[tuple[str, object, float, str]]:
    """(stream, message, now_s, expected drop reason)."""
    good = scene.messages(t)
    short = numpy_to_image(np.zeros((4, 4, 4), np.uint8), encoding="bgra8", stamp=t)
    short.data = short.data[:10]
    yuv = numpy_to_image(np.zeros((4, 4, 3), np.uint8), encoding="rgb8", stamp=t)
    yuv.encoding = "yuv422"
    nan_depth = numpy_to_image(np.full((4, 4), np.nan, np.float32), encoding="32FC1", stamp=t)
    inf_depth = numpy_to_image(np.full((4, 4), np.inf, np.float32), encoding="32FC1", stamp=t)
    empty = xyz_to_pointcloud2(np.zeros((0, 3), np.float32), stamp=t)
    far = skeleton_to_markers(np.full((1, 25, 3), 50.0, np.float32), stamp=t)
    nan_joints = skeleton_to_markers(np.full((1, 25, 3), np.nan, np.float32), stamp=t)
    return [
        ("rgb", yuv, t, "encoding"),
        ("rgb", short, t, "size"),
        ("depth", nan_depth, t, "nan"),
        ("depth", inf_depth, t, "nan"),
        ("points", empty, t, "no_points_in_range"),
        ("skeleton", far, t, "joints_out_of_range"),
        ("skeleton", nan_joints, t, "joints_out_of_range"),
        ("rgb", good["rgb"], t - 30.0, "stamp_future"),
        ("depth", good["depth"], t + 30.0, "stamp_past"),
        ("points", good["points"], t, "stamp_unset"),     # stamped 0 below
        ("rgb", String(data="not an image"), t, "internal"),
        ("thermal", good["rgb"], t, "unknown_stream"),
    ]


def test_malformed_messages_are_dropped_and_counted_by_reason_never_raised(pipeline, scene):
    cases = malformed(scene, 100.0)
    for stream, msg, now_s, reason in cases:
        stamp = 0.0 if reason == "stamp_unset" else 100.0
        drop = pipeline.ingest(stream, stamp, msg, now_s=now_s)
        assert drop is not None and drop.reason == reason, (stream, reason, drop)
        assert drop.detail
    drops = pipeline.snapshot(100.0)["drops"]
    assert drops["depth/nan"] == 2 and drops["skeleton/joints_out_of_range"] == 2
    assert sum(drops.values()) == len(cases)


def test_wellformed_traffic_keeps_deciding_between_malformed_messages(pipeline, scene):
    decisions = []
    for i, t in enumerate(np.arange(3, 75) / FPS):
        t = float(t)
        messages = scene.messages(t)
        for stream in STREAMS:
            pipeline.ingest(stream, t, messages[stream], now_s=t + 0.01)
        stream, msg, _, reason = malformed(scene, t)[i % 7]   # the message-content cases
        assert pipeline.ingest(stream, t + 0.005, msg, now_s=t + 0.01).reason == reason
        decisions += pipeline.step(t + 0.01)
    assert len(decisions) >= 5 and all(d.present.all() for d in decisions)


# -- per-frame preprocessing -----------------------------------------------------------------------
@pytest.fixture
def preprocessor() -> Preprocessor:
    return Preprocessor(config=PreprocessConfig(image_size=8, num_points=16, max_cloud_points=1000))


def test_nan_and_inf_depth_pixels_become_invalid_zero(preprocessor):
    depth = np.full((8, 8), 2.0, np.float32)
    depth[0, 0], depth[1, 1], depth[2, 2] = np.nan, np.inf, -np.inf
    metres = preprocessor.convert("depth", numpy_to_image(depth, encoding="32FC1", stamp=1.0))
    assert metres[0, 0] == metres[1, 1] == metres[2, 2] == 0.0
    assert np.all(np.isfinite(metres)) and metres[3, 3] == pytest.approx(2.0)


def test_points_outside_the_sensor_range_are_dropped(preprocessor):
    cloud = np.array([[0, 0, 0.05], [0, 0, 2.0], [0, 0, 20.0], [np.nan, 0, 1.0]], np.float32)
    points = preprocessor.convert("points", xyz_to_pointcloud2(cloud, stamp=1.0))
    np.testing.assert_allclose(points, [[0, 0, 2.0]])


def test_non_square_images_are_centre_cropped_before_resizing(preprocessor):
    image = np.zeros((8, 16, 3), np.uint8)
    image[:, 4:12] = 255                         # the centre square is white, the sides black
    rgb = preprocessor.convert("rgb", numpy_to_image(image, encoding="rgb8", stamp=1.0))
    assert rgb.shape == (8, 8, 3) and np.all(rgb == 255)


def test_cloud_is_cropped_around_the_skeleton_mapped_by_the_extrinsic():
    # The skeleton frame sits 1 m to the left (-x) of the points frame.
    config = PreprocessConfig(image_size=8, num_points=16, crop_margin_m=0.2,
                              camera_extrinsic=(1.0, 0.0, 0.0, 0.0, 0.0, 0.0))
    preprocessor = Preprocessor(config=config)
    joints = np.zeros((2, 25, 3), np.float32)
    joints[0, :, 1] = np.linspace(-0.8, 0.8, 25)
    joints[0, :, 2] = 2.0
    person = np.column_stack([np.full(50, 1.0), np.linspace(-0.7, 0.7, 50), np.full(50, 2.0)])
    clutter = np.column_stack([np.full(50, 0.0), np.linspace(-0.7, 0.7, 50), np.full(50, 2.0)])
    points = np.concatenate([person, clutter]).astype(np.float32)
    kept = preprocessor.crop_points(points, skeleton=(joints, np.array([True, False])))
    assert kept.shape == (16, 3)
    np.testing.assert_allclose(kept[:, 0], 1.0)


def test_extrinsic_from_xyz_roll_pitch_yaw_is_a_rigid_transform():
    matrix = extrinsic_matrix([1.0, 2.0, 3.0, 0.0, 0.0, math.pi / 2])
    np.testing.assert_allclose(matrix @ [1.0, 0.0, 0.0, 1.0], [1.0, 3.0, 3.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(extrinsic_matrix(np.eye(4).reshape(-1)), np.eye(4))


def test_extrinsic_with_a_wrong_number_of_values_is_rejected():
    with pytest.raises(PreprocessConfigError, match="16 finite values .* or 6"):
        extrinsic_matrix([0.0] * 7)


def test_image_message_of_the_wrong_kind_on_depth_is_an_encoding_drop(pipeline):
    msg = numpy_to_image(np.zeros((4, 4, 3), np.uint8), encoding="rgb8", stamp=1.0)
    assert isinstance(msg, Image)
    assert pipeline.ingest("depth", 1.0, msg).reason == "encoding"


def test_offline_replay_decides_every_window_once_the_recording_is_flushed(pipeline, scene):
    for t in np.arange(3, 60) / FPS:      # 0.1 s .. 1.97 s, ingested without stepping
        for stream, msg in scene.messages(float(t)).items():
            pipeline.ingest(stream, message_stamp_s(msg, fallback_s=float(t)), msg)
    decisions = pipeline.step(59 / FPS) + pipeline.flush()
    ends = [d.stamp_s for d in decisions]
    np.testing.assert_allclose(ends, [1.2, 1.4, 1.6, 1.8], atol=1e-6)   # first full window ends at 1.2


def test_empty_marker_array_takes_the_fallback_stamp_and_others_their_header(scene):
    from visualization_msgs.msg import MarkerArray

    assert message_stamp_s(MarkerArray(), fallback_s=7.5) == 7.5
    messages = scene.messages(3.25)
    assert message_stamp_s(messages["skeleton"], fallback_s=0.0) == pytest.approx(3.25)
    assert message_stamp_s(messages["rgb"], fallback_s=0.0) == pytest.approx(3.25)


def test_skeletons_published_250_ms_after_their_images_still_pair_and_keep_g_s_alive(pipeline, scene):
    """Body tracking on a CPU: the skeleton carries its capture stamp but arrives 250 ms after the images.
    Ingest in arrival order on the receiving clock; after a second of learning every window has the skeleton."""
    late_s, poll_s = 0.25, 0.02
    arrivals = []
    for t in np.arange(round(10.0 * FPS), round(13.0 * FPS)) / FPS:
        for stream in STREAMS:
            arrivals.append((float(t) + (late_s if stream == "skeleton" else 0.01), stream, float(t)))
    arrivals.sort()
    decisions, next_poll = [], 10.0
    for arrival, stream, stamp in arrivals:
        while next_poll < arrival:
            decisions += pipeline.step(next_poll)
            next_poll += poll_s
        assert pipeline.ingest(stream, stamp, scene.messages(stamp)[stream], now_s=arrival) is None
    decisions += pipeline.step(arrivals[-1][0] + 1.0)
    settled = [d for d in decisions if d.stamp_s >= 12.0]           # window 1 s, learning in the first second
    assert len(settled) >= 4
    assert all(d.present[1] for d in settled) and all(d.gates[1] > 0 for d in settled)
