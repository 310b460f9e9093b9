"""InputGate keeps the first usable message per stream and 1 / rate slot; serialized_stamp_s reads the header
stamp from the CDR bytes rclpy's raw subscriptions deliver."""
from __future__ import annotations

import numpy as np
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
