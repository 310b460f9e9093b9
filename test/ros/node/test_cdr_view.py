"""cdr_view reads Image and PointCloud2 from the CDR bytes of a raw subscription without copying the data,
field for field what deserialize_message gives, and the conversions return the same arrays from either."""
import numpy as np
import pytest
from rclpy.serialization import serialize_message
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from rcmcl_ros.conversions import image_to_rgb, numpy_to_image, pointcloud2_to_xyz, xyz_to_pointcloud2
from rcmcl_ros.node.cdr_view import CdrError, cloud_view, image_view, view_message


@pytest.mark.parametrize("frame_id", ["", "a", "rgb_camera_link", "xyz"])    # every alignment after the string
def test_an_image_view_has_the_deserialised_fields_and_converts_alike(frame_id):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (30, 41, 4), dtype=np.uint8)
    msg = numpy_to_image(pixels, encoding="bgra8", stamp=1234.5678, frame_id=frame_id)
    data = serialize_message(msg)
    view = image_view(data)
    for name in ("height", "width", "encoding", "is_bigendian", "step"):
        assert getattr(view, name) == getattr(msg, name), name
    assert (view.header.stamp.sec, view.header.stamp.nanosec, view.header.frame_id) == (
        msg.header.stamp.sec, msg.header.stamp.nanosec, frame_id)
    assert isinstance(view.data, memoryview) and view.data.obj is data          # a view, not a copy
    assert np.array_equal(image_to_rgb(view, size=16), image_to_rgb(msg, size=16))
    depth = numpy_to_image(rng.integers(0, 5000, (7, 9), dtype=np.uint16), encoding="16UC1", stamp=5.0)
    assert bytes(image_view(serialize_message(depth)).data) == bytes(depth.data)


def test_a_cloud_view_has_the_deserialised_fields_and_converts_alike():
    rng = np.random.default_rng(1)
    xyz = rng.normal(0, 2, (500, 3)).astype(np.float32)
    xyz[::9] = np.nan
    msg = xyz_to_pointcloud2(xyz, stamp=99.125, frame_id="depth_camera_link", layout="azure")
    view = cloud_view(serialize_message(msg))
    assert [(f.name, f.offset, f.datatype, f.count) for f in view.fields] == [
        (f.name, f.offset, f.datatype, f.count) for f in msg.fields]
    for name in ("height", "width", "is_bigendian", "point_step", "row_step", "is_dense"):
        assert getattr(view, name) == getattr(msg, name), name
    assert np.array_equal(pointcloud2_to_xyz(view, max_points=100), pointcloud2_to_xyz(msg, max_points=100))


def test_truncated_bytes_are_an_error_and_other_types_or_encapsulations_are_left_to_rclpy():
    data = serialize_message(xyz_to_pointcloud2(np.ones((50, 3), np.float32), stamp=1.0))
    assert cloud_view(data[:3]) is None                                      # not even an encapsulation
    for cut in (10, 40, len(data) - 100, len(data) - 1):
        with pytest.raises(CdrError):
            cloud_view(data[:cut])
    assert view_message(MarkerArray, serialize_message(MarkerArray())) is None
    assert image_view(b"\x00\x07" + data[2:]) is None                       # not plain CDR: deserialise
    assert deserialize_message(data, PointCloud2).width == view_message(PointCloud2, data).width == 50
    assert view_message(Image, serialize_message(Image())).width == 0
