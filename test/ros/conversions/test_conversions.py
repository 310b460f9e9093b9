"""Image / PointCloud2 / MarkerArray <-> numpy: round trips, resizing, malformed messages, header fuzz."""
import importlib.util

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import Image, PointCloud2, PointField
from visualization_msgs.msg import Marker, MarkerArray

from rcmcl_core.geometry.skeleton_layout import AZURE_TO_NTU, azure_to_ntu
from rcmcl_ros import conversions as cv
from rcmcl_ros.conversions.image import RGB_CHANNELS

HAS_CV_BRIDGE = importlib.util.find_spec("cv_bridge") is not None
HAS_SENSOR_MSGS_PY = importlib.util.find_spec("sensor_msgs_py") is not None
rng = np.random.default_rng(0)


def random_image(encoding: str, height: int = 5, width: int = 7) -> np.ndarray:
    channels, base = cv.ENCODINGS[encoding]
    shape = (height, width) if channels == 1 else (height, width, channels)
    if base == "f4":
        return rng.uniform(0.3, 6.0, shape).astype(np.float32)
    return rng.integers(0, np.iinfo(base).max, shape, endpoint=True).astype(base)


# -- images -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", list(cv.ENCODINGS))
@pytest.mark.parametrize("padding", [0, 6])
@pytest.mark.parametrize("big_endian", [False, True])
def test_image_round_trips_through_every_encoding_with_padding_and_byte_order(encoding, padding, big_endian):
    array = random_image(encoding)
    row_bytes = array.shape[1] * array[0, 0].nbytes
    msg = cv.numpy_to_image(array, encoding=encoding, stamp=12.25, frame_id="cam", big_endian=big_endian,
                            step=row_bytes + padding)
    assert (msg.step, msg.is_bigendian, msg.header.frame_id) == (row_bytes + padding, int(big_endian), "cam")
    assert cv.stamp_to_seconds(msg.header) == 12.25
    np.testing.assert_array_equal(cv.image_to_numpy(msg), array)


def test_native_image_comes_back_as_a_read_only_view_of_the_message_buffer():
    msg = cv.numpy_to_image(random_image("bgra8"), encoding="bgra8")
    view = cv.image_to_numpy(msg)
    assert not view.flags.writeable
    assert np.shares_memory(view, np.frombuffer(msg.data, np.uint8))


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_image_to_rgb_without_resizing_returns_rgb_channel_order(encoding):
    array = random_image(encoding)
    rgb = cv.image_to_rgb(cv.numpy_to_image(array, encoding=encoding), size=None, interpolation="nearest")
    order = RGB_CHANNELS[encoding]
    expected = np.repeat(array[..., None], 3, axis=2) if encoding == "mono8" else array[..., list(order)]
    np.testing.assert_array_equal(rgb, expected)


def test_area_resize_of_whole_blocks_is_the_rounded_block_mean():
    array = random_image("bgra8", height=16, width=24)
    rgb = cv.image_to_rgb(cv.numpy_to_image(array, encoding="bgra8", step=24 * 4 + 12), size=(4, 6),
                          interpolation="area")
    means = array.reshape(4, 4, 6, 4, 4).astype(np.float64).mean(axis=(1, 3))[..., [2, 1, 0]]
    np.testing.assert_array_equal(rgb, np.floor(means + 0.5).astype(np.uint8))
    assert rgb.flags.c_contiguous


def test_nearest_resize_samples_cell_centres():
    array = random_image("rgb8", height=8, width=8)
    rgb = cv.image_to_rgb(cv.numpy_to_image(array, encoding="rgb8"), size=4, interpolation="nearest")
    np.testing.assert_array_equal(rgb, array[1::2, 1::2])


def test_roi_crops_before_resizing_and_centre_square_roi_keeps_the_aspect_ratio():
    assert cv.centre_square_roi(width=1280, height=720) == (280, 0, 720, 720)
    array = random_image("bgr8", height=6, width=10)
    msg = cv.numpy_to_image(array, encoding="bgr8")
    rgb = cv.image_to_rgb(msg, roi=cv.centre_square_roi(width=10, height=6), interpolation="nearest")
    np.testing.assert_array_equal(rgb, array[:, 2:8, ::-1])
    with pytest.raises(cv.ConversionError, match="inside the 10x6 image") as error:
        cv.image_to_rgb(msg, roi=(8, 0, 4, 4))
    assert error.value.reason == "size"


def test_16uc1_depth_becomes_metres_with_zero_kept_invalid():
    depth_mm = np.array([[0, 1000, 2500], [65535, 1, 0]], np.uint16)
    metres = cv.depth_to_metres(cv.numpy_to_image(depth_mm, encoding="16UC1", big_endian=True))
    assert metres.dtype == np.float32
    np.testing.assert_allclose(metres, depth_mm.astype(np.float64) / 1000, rtol=1e-6)


def test_32fc1_nan_inf_and_negative_depth_become_zero():
    depth_m = np.array([[np.nan, 1.5, np.inf], [-0.2, 0.0, 3.25]], np.float32)
    metres = cv.depth_to_metres(cv.numpy_to_image(depth_m, encoding="32FC1", step=40))
    np.testing.assert_array_equal(metres, [[0, 1.5, 0], [0, 0, 3.25]])


def test_depth_resize_is_nearest_and_never_mixes_values_across_an_edge():
    depth_mm = np.full((40, 40), 1000, np.uint16)
    depth_mm[:, 20:] = 4000                        # a sharp foreground/background edge
    metres = cv.depth_to_metres(cv.numpy_to_image(depth_mm, encoding="16UC1"), size=7)
    assert metres.shape == (7, 7) and set(np.unique(metres)) == {np.float32(1.0), np.float32(4.0)}


def test_rgb_and_depth_resized_to_the_same_size_sample_the_same_pixels():
    index = np.arange(30 * 50).reshape(30, 50)
    rgb = np.stack([index % 256, index // 256, np.zeros_like(index)], axis=2).astype(np.uint8)
    rgb_small = cv.image_to_rgb(cv.numpy_to_image(rgb, encoding="rgb8"), size=8, interpolation="nearest")
    depth = cv.depth_to_metres(cv.numpy_to_image(index.astype(np.float32) + 1, encoding="32FC1"), size=8)
    np.testing.assert_array_equal(rgb_small[..., 0].astype(int) + 256 * rgb_small[..., 1].astype(int), depth - 1)
    roi = cv.centre_square_roi(width=50, height=30)
    rgb_crop = cv.image_to_rgb(cv.numpy_to_image(rgb, encoding="rgb8"), size=6, roi=roi, interpolation="nearest")
    depth_crop = cv.depth_to_metres(cv.numpy_to_image(index.astype(np.float32) + 1, encoding="32FC1"), size=6,
                                    roi=roi)
    np.testing.assert_array_equal(rgb_crop[..., 0].astype(int) + 256 * rgb_crop[..., 1].astype(int), depth_crop - 1)


def test_depth_frame_without_any_valid_pixel_is_rejected_as_nan():
    msg = cv.numpy_to_image(np.full((4, 4), np.nan, np.float32), encoding="32FC1")
    with pytest.raises(cv.ConversionError) as error:
        cv.depth_to_metres(msg)
    assert error.value.reason == "nan"


def test_data_shorter_than_the_header_says_is_rejected_with_both_sizes():
    msg = Image(height=576, width=640, encoding="16UC1", step=1280, data=bytes(1000))
    with pytest.raises(cv.ConversionError, match="depth image 640x576 16UC1 needs 737280 bytes, got 1000") as e:
        cv.depth_to_metres(msg)
    assert e.value.reason == "size"


@pytest.mark.parametrize("header, reason", [
    ({"encoding": "yuv422", "step": 8}, "encoding"),
    ({"encoding": "bgra8", "step": 7}, "size"),                      # step < width * 4
    ({"encoding": "bgra8", "step": 8, "height": 3}, "size"),         # 3 rows need 24 bytes
    ({"encoding": "bgra8", "step": 8, "width": 100_000, "height": 100_000}, "limits"),
    ({"encoding": "bgra8", "step": 8, "height": -1}, "size"),
])
def test_malformed_image_headers_raise_conversion_error_with_a_reason(header, reason):
    fields = {"height": 2, "width": 2, "data": bytes(16), **header}
    with pytest.raises(cv.ConversionError) as error:
        cv.image_to_numpy(Image(**fields))
    assert error.value.reason == reason


def test_reading_the_wrong_kind_of_image_is_an_encoding_error():
    depth = cv.numpy_to_image(np.ones((2, 2), np.uint16), encoding="16UC1")
    colour = cv.numpy_to_image(np.ones((2, 2, 3), np.uint8), encoding="rgb8")
    for call in (lambda: cv.image_to_rgb(depth), lambda: cv.depth_to_metres(colour),
                 lambda: cv.numpy_to_image(np.ones((2, 2), np.float64), encoding="32FC1")):
        with pytest.raises(cv.ConversionError) as error:
            call()
        assert error.value.reason == "encoding"


def test_a_tighter_pixel_limit_rejects_a_frame_the_default_accepts():
    msg = cv.numpy_to_image(random_image("mono8", 10, 10), encoding="mono8")
    assert cv.image_to_numpy(msg).shape == (10, 10)
    with pytest.raises(cv.ConversionError, match="limit 99"):
        cv.image_to_numpy(msg, limits=cv.ConversionLimits(max_pixels=99))


image_headers = st.fixed_dictionaries({
    "encoding": st.sampled_from(list(cv.ENCODINGS) + ["", "8UC3", "bgra16"]),
    "height": st.integers(-2, 6), "width": st.integers(-2, 6), "step": st.integers(-1, 30),
    "is_bigendian": st.integers(0, 1),
})


@st.composite
def fuzzed_images(draw):
    """Headers within small sizes; data of the length they imply half of the time, random otherwise."""
    header = draw(image_headers)
    implied = header["step"] * header["height"]
    if draw(st.booleans()) and implied >= 0:
        header["data"] = draw(st.binary(min_size=implied, max_size=implied))
    else:
        header["data"] = draw(st.binary(max_size=120))
    return Image(**header)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msg=fuzzed_images(), size=st.sampled_from([None, 1, 3, (2, 5)]))
def test_fuzzed_image_headers_give_an_array_or_a_conversion_error(msg, size):
    for read in (cv.image_to_numpy, lambda m: cv.image_to_rgb(m, size=size),
                 lambda m: cv.depth_to_metres(m, size=size)):
        try:
            out = read(msg)
        except cv.ConversionError as error:
            assert error.reason in cv.REASONS
        else:
            assert isinstance(out, np.ndarray)


@pytest.mark.skipif(not HAS_CV_BRIDGE, reason="cv_bridge not installed")
@pytest.mark.parametrize("encoding", list(cv.ENCODINGS))
def test_image_to_numpy_matches_cv_bridge(encoding):
    from cv_bridge import CvBridge

    msg = cv.numpy_to_image(random_image(encoding), encoding=encoding, step=None)
    np.testing.assert_array_equal(cv.image_to_numpy(msg), CvBridge().imgmsg_to_cv2(msg))


# -- point clouds -------------------------------------------------------------------------------------
def finite_rows(points: np.ndarray) -> np.ndarray:
    return points[np.isfinite(points).all(axis=1)]


def cloud_points(count: int = 200, nan_fraction: float = 0.1) -> np.ndarray:
    points = rng.normal(size=(count, 3)).astype(np.float32)
    points[rng.random(count) < nan_fraction, rng.integers(0, 3)] = np.nan
    points[3, 1] = np.inf
    return points


def custom_cloud(points: np.ndarray, *, offsets, point_step: int, height: int = 1, row_pad: int = 0,
                 big_endian: bool = False) -> PointCloud2:
    """A cloud with x, y, z at arbitrary byte offsets, organised in `height` rows padded by row_pad."""
    width = len(points) // height
    row_step = width * point_step + row_pad
    data = np.zeros((height, row_step), np.uint8)
    cells = data[:, :width * point_step].reshape(height, width, point_step)
    grid = points.reshape(height, width, 3).astype(">f4" if big_endian else "<f4")
    for axis, offset in enumerate(offsets):
        cells[:, :, offset:offset + 4] = grid[:, :, axis:axis + 1].view(np.uint8)
    fields = [PointField(name=n, offset=o, datatype=PointField.FLOAT32, count=1) for n, o in zip("xyz", offsets)]
    return PointCloud2(height=height, width=width, fields=fields, is_bigendian=big_endian,
                       point_step=point_step, row_step=row_step, data=data.tobytes(), is_dense=False)


@pytest.mark.parametrize("layout", list(cv.CLOUD_LAYOUTS))
@pytest.mark.parametrize("with_rgb", [False, True])
def test_cloud_round_trip_drops_non_finite_points_and_keeps_order(layout, with_rgb):
    points = cloud_points()
    colours = rng.integers(0, 256, (len(points), 3), dtype=np.uint8) if with_rgb else None
    msg = cv.xyz_to_pointcloud2(points, stamp=3.5, frame_id="rgb_camera_link", rgb=colours, layout=layout)
    assert msg.point_step == {("compact", False): 12, ("compact", True): 16, ("azure", False): 16,
                              ("azure", True): 32}[(layout, with_rgb)]
    assert not msg.is_dense
    xyz = cv.pointcloud2_to_xyz(msg)
    assert xyz.dtype == np.float32 and xyz.flags.c_contiguous
    np.testing.assert_array_equal(xyz, finite_rows(points))
    if with_rgb:
        np.testing.assert_array_equal(cv.pointcloud2_to_rgb(msg), colours)


def test_big_endian_cloud_reads_the_same_points():
    points = cloud_points()
    msg = cv.xyz_to_pointcloud2(points, layout="azure", big_endian=True)
    np.testing.assert_array_equal(cv.pointcloud2_to_xyz(msg), finite_rows(points))


@pytest.mark.parametrize("offsets, point_step", [
    ((1, 5, 9), 13),            # unaligned, consecutive
    ((8, 0, 20), 24),           # shuffled and spread beyond one 16-byte window
    ((4, 8, 12), 16),           # the window would run past the last point
    ((0, 4, 8), 32),            # Azure-like
])
@pytest.mark.parametrize("big_endian", [False, True])
def test_organised_cloud_with_row_padding_and_any_offsets_reads_in_row_major_order(offsets, point_step,
                                                                                   big_endian):
    points = cloud_points(count=4 * 6)
    msg = custom_cloud(points, offsets=offsets, point_step=point_step, height=4, row_pad=5,
                       big_endian=big_endian)
    np.testing.assert_array_equal(cv.pointcloud2_to_xyz(msg), finite_rows(points))


def test_max_points_keeps_evenly_spaced_valid_points_deterministically():
    points = np.arange(100, dtype=np.float32).repeat(3).reshape(100, 3)
    msg = cv.xyz_to_pointcloud2(points)
    kept = cv.pointcloud2_to_xyz(msg, max_points=10)
    np.testing.assert_array_equal(kept[:, 0], np.arange(0, 100, 10))
    np.testing.assert_array_equal(cv.pointcloud2_to_xyz(msg, max_points=10), kept)
    assert len(cv.pointcloud2_to_xyz(msg, max_points=1000)) == 100


def test_max_points_on_a_large_cloud_keeps_valid_points_spread_over_all_of_it():
    rng = np.random.default_rng(3)
    points = np.repeat(np.arange(4000, dtype=np.float32), 3).reshape(4000, 3)   # x = point index
    points[rng.random(4000) < 0.3] = np.nan                    # the subgrid of every 20th point suffices
    kept = cv.pointcloud2_to_xyz(cv.xyz_to_pointcloud2(points, layout="azure"), max_points=100)
    index = kept[:, 0].astype(int)
    assert len(kept) == 100 and np.isfinite(kept).all() and np.all(np.diff(index) > 0)
    np.testing.assert_array_equal(kept, points[index])
    assert index[0] < 100 and index[-1] > 3800 and np.diff(index).max() < 120


def test_max_points_falls_back_to_every_point_when_the_subgrid_is_mostly_invalid():
    points = np.repeat(np.arange(4000, dtype=np.float32), 3).reshape(4000, 3)
    points[::2] = np.nan                                       # the subgrid (every 20th point) is all NaN
    kept = cv.pointcloud2_to_xyz(cv.xyz_to_pointcloud2(points), max_points=100)
    np.testing.assert_array_equal(kept[:, 0], np.arange(1, 4000, 40))


def test_all_nan_cloud_gives_an_empty_array():
    msg = cv.xyz_to_pointcloud2(np.full((5, 3), np.nan, np.float32), layout="azure")
    assert cv.pointcloud2_to_xyz(msg).shape == (0, 3)


def field(name, offset=0, datatype=PointField.FLOAT32):
    return PointField(name=name, offset=offset, datatype=datatype, count=1)


@pytest.mark.parametrize("change, reason, text", [
    ({"fields": [field("x", 0), field("y", 4)]}, "fields", "missing z"),
    ({"fields": [field("x", 0), field("y", 4), field("z", 8, PointField.FLOAT64)]}, "encoding", "FLOAT32"),
    ({"fields": [field("x", 0), field("y", 4), field("z", 8), field("y", 12)]}, "fields", "unique"),
    ({"fields": [field("x", 0), field("y", 4), field("z", 14)]}, "fields", "does not fit"),
    ({"data": bytes(100)}, "size", "needs 64 bytes, got 100"),
    ({"row_step": 60}, "size", "row_step >= "),
    ({"width": 1 << 20, "height": 1 << 20}, "limits", "exceeds the limits"),
])
def test_malformed_clouds_raise_conversion_error_with_a_reason(change, reason, text):
    good = {"height": 1, "width": 4, "point_step": 16, "row_step": 64, "data": bytes(64),
            "fields": [field("x", 0), field("y", 4), field("z", 8)]}
    with pytest.raises(cv.ConversionError, match=text) as error:
        cv.pointcloud2_to_xyz(PointCloud2(**{**good, **change}))
    assert error.value.reason == reason


cloud_fields = st.lists(st.builds(lambda n, o, d: field(n, o, d), st.sampled_from(["x", "y", "z", "rgb"]),
                                  st.integers(-1, 20), st.sampled_from([PointField.FLOAT32, PointField.UINT8])),
                        max_size=5)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=cloud_fields, height=st.integers(-1, 3), width=st.integers(-1, 4), point_step=st.integers(-1, 24),
       row_step=st.integers(-1, 80), exact=st.booleans(), seed=st.integers(0, 2**16), big_endian=st.booleans(),
       max_points=st.sampled_from([None, 0, 2]))
def test_fuzzed_cloud_headers_give_points_or_a_conversion_error(fields, height, width, point_step, row_step,
                                                                exact, seed, big_endian, max_points):
    implied = row_step * height
    length = implied if exact and implied >= 0 else seed % 161
    data = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8).tobytes()
    msg = PointCloud2(height=height, width=width, fields=fields, point_step=point_step, row_step=row_step,
                      data=data, is_bigendian=big_endian)
    try:
        xyz = cv.pointcloud2_to_xyz(msg, max_points=max_points)
    except cv.ConversionError as error:
        assert error.reason in cv.REASONS
    else:
        assert xyz.dtype == np.float32 and xyz.ndim == 2 and xyz.shape[1] == 3
        assert np.isfinite(xyz).all()


@pytest.mark.skipif(not HAS_SENSOR_MSGS_PY, reason="sensor_msgs_py not installed")
def test_pointcloud2_to_xyz_matches_sensor_msgs_py():
    from sensor_msgs_py import point_cloud2

    msg = cv.xyz_to_pointcloud2(cloud_points(), layout="azure", rgb=np.zeros((200, 3), np.uint8))
    theirs = point_cloud2.read_points_numpy(msg, field_names=("x", "y", "z"), skip_nans=True)
    # The project drops every non-finite row (inf too); sensor_msgs_py's skip_nans keeps rows with inf.
    theirs = theirs[np.isfinite(theirs).all(axis=1)]
    np.testing.assert_array_equal(cv.pointcloud2_to_xyz(msg), theirs)


# -- skeleton markers ----------------------------------------------------------------------------------
def random_bodies(count: int, joints: int = 25) -> np.ndarray:
    return rng.uniform(-1.0, 3.0, (count, joints, 3)).astype(np.float32)


@pytest.mark.parametrize("layout", list(cv.SKELETON_LAYOUTS))
def test_skeleton_round_trips_through_markers(layout):
    bodies = random_bodies(2)
    msg = cv.skeleton_to_markers(bodies, layout=layout, stamp=4.0, body_ids=(3, 7))
    assert {m.ns for m in msg.markers} == {"joints"} and {m.type for m in msg.markers} == {Marker.SPHERE}
    assert msg.markers[0].header.frame_id == cv.SKELETON_FRAME
    joints, valid, stats = cv.markers_to_skeleton(msg, layout=layout, max_bodies=2)
    np.testing.assert_allclose(joints, bodies, rtol=1e-6)
    assert valid.tolist() == [True, True] and stats.body_ids == (3, 7)


def test_azure_32_joint_markers_map_to_ntu_order():
    azure = random_bodies(1, joints=32)
    msg = cv.skeleton_to_markers(azure, layout="azure32")
    assert sorted(m.id for m in msg.markers) == [100 + j for j in range(32)]
    joints, _, _ = cv.markers_to_skeleton(msg, layout="azure32")
    np.testing.assert_allclose(joints[0], azure_to_ntu(azure[0]), rtol=1e-6)
    assert {m.id % 100 for m in cv.skeleton_to_markers(azure_to_ntu(azure), layout="azure32").markers} == set(
        AZURE_TO_NTU.tolist())


def test_bodies_are_ordered_by_id_and_extra_bodies_are_dropped_and_counted():
    bodies = random_bodies(3)
    msg = cv.skeleton_to_markers(bodies, layout="ntu25", body_ids=(9, 2, 5))
    joints, valid, stats = cv.markers_to_skeleton(msg, layout="ntu25", max_bodies=2)
    np.testing.assert_allclose(joints, bodies[[1, 2]], rtol=1e-6)
    assert stats.body_ids == (2, 5) and stats.extra_bodies == 1 and valid.all()


def test_missing_bodies_are_zero_padded_and_invalid():
    joints, valid, stats = cv.markers_to_skeleton(cv.skeleton_to_markers(random_bodies(1), layout="ntu25"),
                                                  layout="ntu25", max_bodies=3)
    assert valid.tolist() == [True, False, False] and not joints[1:].any() and stats.bodies == 1


def test_incomplete_nan_and_unknown_joint_markers_are_dropped_and_counted():
    bodies = random_bodies(3)
    bodies[2, 4, 1] = np.nan
    msg = cv.skeleton_to_markers(bodies, layout="ntu25")
    msg.markers = [m for m in msg.markers if m.id != 100 + 7]           # body 1 loses a joint
    stray = Marker(id=2 * 100 + 60, action=Marker.ADD)                 # joint 60 does not exist
    msg.markers.append(stray)
    joints, valid, stats = cv.markers_to_skeleton(msg, layout="ntu25", max_bodies=2)
    assert (stats.incomplete_bodies, stats.nan_bodies, stats.unknown_joints) == (1, 1, 1)
    assert stats.body_ids == (2,) and valid.tolist() == [True, False]
    np.testing.assert_allclose(joints[0], bodies[1], rtol=1e-6)


def test_delete_markers_are_ignored_and_duplicate_joints_counted():
    msg = cv.skeleton_to_markers(random_bodies(1), layout="ntu25")
    msg.markers.append(Marker(id=100, action=Marker.DELETE))
    msg.markers.append(Marker(action=Marker.DELETEALL))
    msg.markers.append(msg.markers[0])
    joints, valid, stats = cv.markers_to_skeleton(msg, layout="ntu25")
    assert (stats.ignored_actions, stats.duplicate_joints, stats.bodies) == (2, 1, 1) and valid[0]


def test_unknown_skeleton_layout_and_too_many_markers_are_rejected():
    with pytest.raises(ValueError, match="azure32"):
        cv.markers_to_skeleton(MarkerArray(), layout="kinect")
    msg = MarkerArray(markers=[Marker() for _ in range(5)])
    with pytest.raises(cv.ConversionError) as error:
        cv.markers_to_skeleton(msg, limits=cv.ConversionLimits(max_markers=4))
    assert error.value.reason == "limits"


# -- stamps ---------------------------------------------------------------------------------------------
def test_stamps_convert_between_seconds_and_time_without_losing_nanoseconds():
    stamp = cv.seconds_to_stamp(1_700_000_000.123456789)
    assert stamp.sec == 1_700_000_000 and abs(stamp.nanosec - 123456789) < 300
    assert cv.seconds_to_stamp(2.9999999999).nanosec < 1_000_000_000
    assert cv.stamp_to_seconds(cv.seconds_to_stamp(12.5)) == 12.5


def test_supersampled_training_frames_equal_what_the_node_makes_of_the_camera_frame():
    """The compact benchmark renders 4x and shrinks (generate.shrink_images); the node shrinks a camera image
    (image_to_rgb, depth_to_metres). Both must give the same pixels, or the model trains on another camera."""
    from rcmcl_core.data.synthetic.generate import shrink_images

    rgb = random_image("rgb8", height=32, width=32)
    depth_mm = random_image("16UC1", height=32, width=32)
    shrunk = shrink_images(rgb[None], depth_mm[None], factor=4)
    node_rgb = cv.image_to_rgb(cv.numpy_to_image(rgb[..., ::-1].copy(), encoding="bgr8"), size=8, interpolation="area")
    node_depth = cv.depth_to_metres(cv.numpy_to_image(depth_mm, encoding="16UC1"), size=8)
    np.testing.assert_array_equal(shrunk["rgb"][0], node_rgb)
    np.testing.assert_allclose(shrunk["depth_mm"][0].astype(np.float32) / 1000.0, node_depth, rtol=1e-6)
