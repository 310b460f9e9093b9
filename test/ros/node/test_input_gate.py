"""InputGate keeps the first usable message per stream and 1 / rate slot; serialized_stamp_s reads the header
stamp from the CDR bytes rclpy's raw subscriptions deliver."""
from __future__ import annotations

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from visualization_msgs.msg import MarkerArray

from rcmcl_ros.conversions import numpy_to_image, seconds_to_stamp, skeleton_to_markers, xyz_to_pointcloud2
from rcmcl_ros.node.input_gate import InputGate, serialized_stamp_s


def test_serialized_stamp_matches_the_header_of_images_clouds_and_markers():
    image = numpy_to_image(np.zeros((4, 6, 4), np.uint8), encoding="bgra8", stamp=1234.5678)
    cloud = xyz_to_pointcloud2(np.ones((5, 3), np.float32), stamp=99.125)
    markers = skeleton_to_markers(np.zeros((1, 32, 3)), layout="azure32", frame_id="depth_camera_link")
    for marker in markers.markers:
        marker.header.stamp = seconds_to_stamp(7.75)
    assert abs(serialized_stamp_s(serialize_message(image)) - 1234.5678) < 1e-6
    assert serialized_stamp_s(serialize_message(cloud)) == 99.125
    assert serialized_stamp_s(serialize_message(markers), markers=True) == 7.75
    assert serialized_stamp_s(serialize_message(MarkerArray()), markers=True) is None   # nobody tracked
    assert serialized_stamp_s(b"\x00\x01\x00") is None


def test_gate_keeps_one_used_frame_per_slot_on_the_same_grid_for_every_stream():
    gate = InputGate(10.0)
    kept = {"rgb": [], "points": []}
    for tick in range(30):                              # 1 s of 30 Hz stamps, both streams stamped alike
        stamp = 100.005 + tick / 30.0                  # off the slot edges (float rounding)
        for stream in kept:
            if gate.keep(stream, stamp):
                gate.used(stream, stamp)
                kept[stream].append(tick)
    assert kept["rgb"] == kept["points"]                # still pair in the synchroniser
    assert 9 <= len(kept["rgb"]) <= 11 and np.all(np.diff(kept["rgb"]) == 3)


def test_a_dropped_message_does_not_close_its_slot_and_time_going_back_restarts():
    gate = InputGate(10.0)
    assert gate.keep("rgb", 100.01)                     # converted but dropped (malformed): not `used`
    assert gate.keep("rgb", 100.02)                     # so the good frame of that slot is still taken
    gate.used("rgb", 100.02)
    assert not gate.keep("rgb", 100.05)
    assert gate.keep("rgb", 50.0)                       # a bag loop: an earlier slot is a new slot
    assert gate.keep("rgb", None) and gate.keep("rgb", float("nan"))   # unreadable stamps are never skipped
    off = InputGate(0.0)
    off.used("rgb", 100.0)
    assert off.keep("rgb", 100.0)


def test_with_the_stride_the_slots_start_at_window_ends_and_round_the_rate_to_a_whole_fraction_of_it():
    from rcmcl_ros.node.input_gate import gate_period_s

    assert gate_period_s(7.5, stride_s=0.1333) == 0.1333                # one frame per window end
    assert gate_period_s(10.0, stride_s=0.1333) == 0.1333               # 1.33 per stride rounds to 1
    assert abs(gate_period_s(15.0, stride_s=0.1333) - 0.1333 / 2) < 1e-12
    assert gate_period_s(2.0, stride_s=0.1333) == 0.1333                # never fewer than one per window end
    assert gate_period_s(10.0) == 0.1 and gate_period_s(0.0, stride_s=0.1333) == 0.0
    gate = InputGate(7.5, stride_s=0.1333)
    kept = []
    for tick in range(90):                               # 3 s of 30 Hz stamps, off the 0.1333 s grid
        stamp = 200.011 + tick / 30.0
        if gate.keep("rgb", stamp):
            gate.used("rgb", stamp)
            kept.append(stamp)
    ends = np.arange(np.ceil(kept[0] / 0.1333), np.floor(kept[-1] / 0.1333) + 1) * 0.1333
    first_after = [min(s for s in kept if s >= end - 1e-9) for end in ends]
    assert all(0.0 <= s - end < 1 / 30.0 for s, end in zip(first_after, ends))   # each end's first frame is kept
    assert len(kept) <= len(ends) + 1                    # and nothing else (the first frame may precede an end)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("aligned", [True, False])
def test_a_gate_aligned_with_the_window_ends_completes_each_window_with_its_newest_frame(tiny_checkpoint, scene,
                                                                                         aligned):
    """Aligned: the frame that completes a window is the newest one it uses, so no decision waits for a later,
    unrelated frame (stage wait_completing_s is 0). A plain 10 Hz grid completes some windows only with the
    next kept frame, up to one period after the frame they use."""
    import time

    from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig
    from rcmcl_ros.pipeline.window import WindowConfig

    stride = 0.1333
    pipeline = Pipeline.from_checkpoint(tiny_checkpoint(window_s=1.0),
                                        config=PipelineConfig(device="cpu", window=WindowConfig(stride_s=stride)))
    gate = InputGate(10.0, stride_s=stride if aligned else None)
    windows = []
    for tick in range(90):
        t = 100.004 + tick / 30.0
        messages = scene.messages(t)
        for stream in ("rgb", "depth", "points", "skeleton"):
            if gate.keep(stream, t):
                drop = pipeline.ingest(stream, t, messages[stream], now_s=t + 0.01, received=time.perf_counter())
                assert drop is None
                gate.used(stream, t)
                windows += pipeline.ready_windows(t + 0.01)
    assert len(windows) >= 10
    waits = []
    for window in windows:
        decision = pipeline.infer(window)
        stages = pipeline.record_stages(window, decision, published=time.perf_counter())
        assert abs(sum(v for k, v in stages.items() if k != "node_adds_s") - stages["node_adds_s"]) < 1e-9
        assert all(v >= 0 for v in stages.values()), stages
        waits.append(window.closed_by_s - window.newest_frame_s)
    if aligned:
        assert max(waits) < 1e-9                          # completed by the frame it uses last
    else:
        assert max(waits) > 0.05                          # some windows waited for a later frame
    assert "node_adds_s" in pipeline.snapshot(110.0)["latency"]
