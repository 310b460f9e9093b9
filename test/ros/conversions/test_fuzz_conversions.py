"""Issue 8 fuzz: hypothesis drives every converter, the per-frame preprocessing and Pipeline.ingest with hostile
messages. Each call must return a well-formed array or raise ConversionError with a known reason and a
message; nothing else (no IndexError, no MemoryError, no giant allocation, no NaN leaking out).

Messages are real rclpy message classes (what DDS can deliver: typed fields, any values), plus numpy `data`
fields as rosbags deserialises them.
"""
from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sensor_msgs.msg import Image, PointCloud2, PointField
from visualization_msgs.msg import Marker, MarkerArray

from rcmcl_core.geometry.skeleton_layout import NUM_JOINTS
from rcmcl_ros import conversions as cv
from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig
from rcmcl_ros.pipeline.preprocess import PREPROCESS_REASONS, PreprocessConfig, Preprocessor
from rcmcl_ros.pipeline.window import WindowConfig

HUGE = 2**32 - 1
STAMP_REASONS = ("stamp_unset", "stamp_future", "stamp_past")
KNOWN_REASONS = set(cv.REASONS) | set(PREPROCESS_REASONS)
IMAGE_SIZE, NUM_POINTS = 8, 16
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

dimension = st.one_of(st.integers(0, 12), st.integers(0, HUGE))
specials = st.floats(width=32, allow_nan=True, allow_infinity=True)


@pytest.fixture(scope="module")
def preprocessor() -> Preprocessor:
    return Preprocessor(config=PreprocessConfig(image_size=IMAGE_SIZE, num_points=NUM_POINTS, max_cloud_points=500))


def converts_or_refuses(call) -> object | None:
    """The call's result, or None after checking the ConversionError it raised."""
    try:
        return call()
    except cv.ConversionError as error:
        assert error.reason in KNOWN_REASONS, error.reason
        assert str(error), "a ConversionError must say what was expected"
        return None


def as_numpy_data(msg, use_numpy: bool):
    """rosbags hands `data` over as a numpy uint8 array; rclpy as array.array."""
    if use_numpy:
        msg.data = np.frombuffer(bytes(msg.data), np.uint8)     # pass-through setter keeps the numpy array
    return msg


# -- images ----------------------------------------------------------------------------------------------
IMAGE_LIES = ("none", "encoding", "height", "width", "step", "data", "huge")


@st.composite
def hostile_images(draw) -> Image:
    """A consistent image (any supported encoding, random bytes or float32 NaN/inf, padded rows, either byte
    order) with one lie: another encoding (any string), a header size (small or up to 2**32 - 1) or a data
    length that disagrees with the rest, or all of them huge."""
    encoding = draw(st.sampled_from(list(cv.ENCODINGS)))
    channels, base = cv.ENCODINGS[encoding]
    height, width = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    step = width * channels * np.dtype(base).itemsize + draw(st.sampled_from([0, 0, 3]))
    if base == "f4" and draw(st.booleans()):
        values = draw(st.lists(specials, min_size=step * height // 4, max_size=step * height // 4))
        data = np.array(values, np.float32).tobytes() + bytes(step * height % 4)
    else:
        data = draw(st.binary(min_size=step * height, max_size=step * height))
    lie = draw(st.sampled_from(IMAGE_LIES))
    if lie == "encoding":
        encoding = draw(st.one_of(st.sampled_from(list(cv.ENCODINGS) + ["", "yuv422", "8UC3", "16SC1"]),
                                  st.text(max_size=8)))
    elif lie in ("height", "width", "step"):
        value = draw(dimension)
        height, width, step = (value if lie == "height" else height, value if lie == "width" else width,
                               value if lie == "step" else step)
    elif lie == "data":
        data = draw(st.binary(max_size=256))
    elif lie == "huge":
        height, width, step = draw(st.integers(0, HUGE)), draw(st.integers(0, HUGE)), draw(st.integers(0, HUGE))
    msg = Image(encoding=encoding, height=height, width=width, step=step, is_bigendian=draw(st.integers(0, 1)),
                data=data)
    return as_numpy_data(msg, draw(st.booleans()))


@FUZZ
@given(msg=hostile_images(), size=st.sampled_from([None, 1, 5, (3, 7)]))
def test_hostile_images_give_a_finite_array_or_a_conversion_error(msg, size, preprocessor):
    out = converts_or_refuses(lambda: cv.image_to_numpy(msg))
    assert out is None or (isinstance(out, np.ndarray) and out.shape[:2] == (msg.height, msg.width))
    rgb = converts_or_refuses(lambda: cv.image_to_rgb(msg, size=size))
    assert rgb is None or (rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3)
    metres = converts_or_refuses(lambda: cv.depth_to_metres(msg, size=size))
    assert metres is None or (metres.dtype == np.float32 and np.isfinite(metres).all() and (metres >= 0).all())
    for stream in ("rgb", "depth"):
        frame = converts_or_refuses(lambda: preprocessor.convert(stream, msg))
        if frame is not None:
            assert frame.shape[:2] == (IMAGE_SIZE, IMAGE_SIZE) and np.isfinite(frame).all()


@FUZZ
@given(height=st.integers(1, 6), width=st.integers(1, 6), values=st.data())
def test_float_depth_full_of_nan_and_inf_becomes_finite_metres_or_a_nan_drop(height, width, values):
    depth = np.array(values.draw(st.lists(specials, min_size=height * width, max_size=height * width)),
                     np.float32).reshape(height, width)
    metres = converts_or_refuses(lambda: cv.depth_to_metres(cv.numpy_to_image(depth, encoding="32FC1")))
    usable = np.isfinite(depth) & (depth > 0)
    if not usable.any():
        assert metres is None, "a frame without one valid pixel is a 'nan' drop"
    else:
        np.testing.assert_array_equal(metres, np.where(usable, depth, 0.0))


@pytest.mark.parametrize("encoding", ["bgra8", "16UC1", "32FC1"])
def test_huge_image_dimensions_are_refused_by_the_limits_without_allocating(encoding, preprocessor):
    msg = Image(encoding=encoding, height=HUGE, width=HUGE, step=HUGE, data=bytes(64))
    tracemalloc.start()
    try:
        for stream in ("rgb", "depth"):
            with pytest.raises(cv.ConversionError, match="more than the limit") as error:
                preprocessor.convert(stream, msg)
            assert error.value.reason == "limits"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"refusing a lying header allocated {peak} bytes"


def test_configured_limits_refuse_an_image_a_looser_node_accepts():
    msg = cv.numpy_to_image(np.zeros((30, 40, 4), np.uint8), encoding="bgra8", stamp=1.0)
    loose = Preprocessor(config=PreprocessConfig(image_size=IMAGE_SIZE))
    tight = Preprocessor(config=PreprocessConfig(image_size=IMAGE_SIZE, max_image_pixels=30 * 40 - 1))
    assert loose.convert("rgb", msg).shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    with pytest.raises(cv.ConversionError, match="limit 1199") as error:
        tight.convert("rgb", msg)
    assert error.value.reason == "limits"


# -- point clouds ----------------------------------------------------------------------------------------
fields = st.lists(st.builds(lambda name, offset, datatype, count: PointField(name=name, offset=offset,
                                                                             datatype=datatype, count=count),
                            st.sampled_from(["x", "y", "z", "rgb", "intensity", "", "X"]),
                            st.one_of(st.integers(0, 40), st.integers(0, HUGE)),
                            st.one_of(st.just(PointField.FLOAT32), st.integers(0, 255)), st.integers(0, 3)),
                  max_size=6)


CLOUD_LIES = ("none", "fields", "height", "width", "point_step", "row_step", "data", "huge")


@st.composite
def hostile_clouds(draw) -> PointCloud2:
    """A consistent cloud (x, y, z anywhere in the point, padded rows, NaN/inf/huge coordinates, either byte
    order) with one lie: a field list with missing, duplicated, mistyped or misplaced fields, a size (small
    or up to 2**32 - 1) or data length that disagrees, or all sizes huge."""
    point_step = draw(st.integers(12, 24))
    offsets = draw(st.permutations([0, 4, 8])) if draw(st.booleans()) else [
        draw(st.integers(0, point_step - 4)) for _ in range(3)]
    cloud_fields = [PointField(name=a, offset=o, datatype=PointField.FLOAT32, count=1) for a, o in zip("xyz", offsets)]
    height, width = draw(st.integers(0, 4)), draw(st.integers(0, 8))
    row_step = width * point_step + draw(st.sampled_from([0, 0, 5]))
    count = row_step * height // 4
    coordinate = st.one_of(st.floats(-4.0, 4.0, width=32), specials)
    data = np.array(draw(st.lists(coordinate, min_size=count, max_size=count)), np.float32).tobytes()
    data += bytes(row_step * height - len(data))
    lie = draw(st.sampled_from(CLOUD_LIES))
    if lie == "fields":
        cloud_fields = draw(fields)
    elif lie in ("height", "width", "point_step", "row_step"):
        value = draw(st.one_of(st.integers(0, 40), st.integers(0, HUGE)))
        height, width, point_step, row_step = (value if lie == name else old for name, old in (
            ("height", height), ("width", width), ("point_step", point_step), ("row_step", row_step)))
    elif lie == "data":
        data = draw(st.binary(max_size=256))
    elif lie == "huge":
        height, width, point_step, row_step = (draw(st.integers(0, HUGE)) for _ in range(4))
    msg = PointCloud2(height=height, width=width, fields=cloud_fields, point_step=point_step, row_step=row_step,
                      data=data, is_bigendian=draw(st.booleans()), is_dense=draw(st.booleans()))
    return as_numpy_data(msg, draw(st.booleans()))


@FUZZ
@given(msg=hostile_clouds(), max_points=st.sampled_from([None, 0, 1, 7]))
def test_hostile_clouds_give_finite_points_or_a_conversion_error(msg, max_points, preprocessor):
    xyz = converts_or_refuses(lambda: cv.pointcloud2_to_xyz(msg, max_points=max_points))
    if xyz is not None:
        assert xyz.dtype == np.float32 and xyz.ndim == 2 and xyz.shape[1] == 3 and np.isfinite(xyz).all()
        assert max_points is None or len(xyz) <= max_points
    rgb = converts_or_refuses(lambda: cv.pointcloud2_to_rgb(msg))
    assert rgb is None or (rgb.dtype == np.uint8 and rgb.shape == (msg.height * msg.width, 3))
    points = converts_or_refuses(lambda: preprocessor.convert("points", msg))
    if points is not None:
        assert len(points) >= 1 and np.isfinite(points).all()
        sampled = preprocessor.crop_points(points, skeleton=None)
        rows = np.isfinite(sampled).all(axis=1)
        assert sampled.shape == (NUM_POINTS, 3) and (rows.all() or np.isnan(sampled).all()), \
            "sampling gives N real points, or all-NaN rows when the crop left nothing"


@FUZZ
@given(points=st.lists(st.tuples(specials, specials, specials), max_size=40),
       layout=st.sampled_from(list(cv.CLOUD_LAYOUTS)), big_endian=st.booleans())
def test_empty_single_and_nan_clouds_keep_exactly_the_finite_in_range_points(points, layout, big_endian,
                                                                             preprocessor):
    xyz = np.array(points, np.float32).reshape(-1, 3)
    msg = cv.xyz_to_pointcloud2(xyz, stamp=1.0, layout=layout, big_endian=big_endian)
    finite = xyz[np.isfinite(xyz).all(axis=1)]
    np.testing.assert_array_equal(cv.pointcloud2_to_xyz(msg), finite)
    config = preprocessor.config
    with np.errstate(over="ignore"):
        distance = np.linalg.norm(finite.astype(np.float64), axis=1)
    expected = finite[(distance >= config.min_range_m) & (distance <= config.max_range_m)]
    kept = converts_or_refuses(lambda: preprocessor.convert("points", msg))
    if len(expected) == 0:
        assert kept is None, "a cloud with no point in range is a 'no_points_in_range' drop"
    else:
        np.testing.assert_array_equal(kept, expected)


def test_huge_cloud_dimensions_are_refused_by_the_limits_without_allocating(preprocessor):
    msg = PointCloud2(height=HUGE, width=HUGE, point_step=16, row_step=HUGE, data=bytes(64),
                      fields=[PointField(name=a, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                              for i, a in enumerate("xyz")])
    tracemalloc.start()
    try:
        with pytest.raises(cv.ConversionError, match="exceeds the limits") as error:
            preprocessor.convert("points", msg)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error.value.reason == "limits" and peak < 1 << 20


# -- skeleton markers ------------------------------------------------------------------------------------
@st.composite
def hostile_markers(draw) -> MarkerArray:
    """Joint ids of unknown joints and bodies (negative, > 31, up to int32), 0-6 bodies, any action, and
    positions that are NaN, inf or astronomically far."""
    ids = st.one_of(st.builds(lambda body, joint: body * 100 + joint, st.integers(-1, 6), st.integers(0, 40)),
                    st.integers(-2**31, 2**31 - 1))
    position = st.floats(allow_nan=True, allow_infinity=True)
    markers = []
    for marker_id, action, (x, y, z) in draw(st.lists(st.tuples(ids, st.sampled_from([0, 0, 0, 2, 3]),
                                                                st.tuples(position, position, position)),
                                                      max_size=80)):
        marker = Marker(id=marker_id, action=action)
        marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = x, y, z
        markers.append(marker)
    return MarkerArray(markers=markers)


@st.composite
def crowded_scenes(draw) -> MarkerArray:
    """1-6 complete bodies (so > 2 bodies happens), a few joints broken."""
    count = draw(st.integers(1, 6))
    joints = np.zeros((count, 32, 3))
    joints[..., 2] = np.array(draw(st.lists(st.floats(0.5, 6.0), min_size=count, max_size=count)))[:, None]
    for _ in range(draw(st.integers(0, 3))):
        joints[draw(st.integers(0, count - 1)), draw(st.integers(0, 31))] = draw(st.sampled_from(
            [math.nan, math.inf, 1e9, 20.0]))
    return cv.skeleton_to_markers(joints, body_ids=tuple(draw(st.permutations(range(1, count + 1)))))


@FUZZ
@given(msg=st.one_of(hostile_markers(), crowded_scenes()), layout=st.sampled_from(list(cv.SKELETON_LAYOUTS)),
       max_bodies=st.integers(1, 3))
def test_hostile_markers_give_at_most_max_bodies_finite_skeletons_or_a_conversion_error(msg, layout, max_bodies,
                                                                                        preprocessor):
    joints, valid, stats = cv.markers_to_skeleton(msg, layout=layout, max_bodies=max_bodies)
    assert joints.shape == (max_bodies, NUM_JOINTS, 3) and valid.shape == (max_bodies,)
    assert np.isfinite(joints).all() and not joints[~valid].any()
    assert stats.bodies == int(valid.sum()) == len(stats.body_ids) and list(stats.body_ids) == sorted(stats.body_ids)
    frame = converts_or_refuses(lambda: preprocessor.convert("skeleton", msg))
    if frame is not None:
        kept, tracked = frame
        assert kept.shape == (2, NUM_JOINTS, 3) and np.isfinite(kept).all()
        assert np.abs(kept[tracked]).max(initial=0.0) <= preprocessor.config.max_joint_range_m


def test_too_many_markers_are_refused_by_the_configured_limit():
    msg = cv.skeleton_to_markers(np.ones((3, 32, 3)))
    with pytest.raises(cv.ConversionError, match="more than the limit 95") as error:
        Preprocessor(config=PreprocessConfig(max_markers=95)).convert("skeleton", msg)
    assert error.value.reason == "limits"


# -- stamps through Pipeline.ingest ----------------------------------------------------------------------
FPS = 30.0


@pytest.fixture(scope="module")
def pipeline(tiny_checkpoint) -> Pipeline:
    torch.set_num_threads(1)
    config = PipelineConfig(device="cpu", window=WindowConfig(stride_s=0.25))
    return Pipeline.from_checkpoint(tiny_checkpoint(window_s=0.5), config=config)


stamp_events = st.lists(st.tuples(
    st.sampled_from(["rgb", "depth", "points", "skeleton"]),
    st.sampled_from(["zero", "negative", "far_future", "near_future", "far_past", "backwards", "duplicate",
                     "nanosec_overflow", "now"]),
    st.floats(0.0, 0.5)), min_size=1, max_size=40)


def hostile_stamp(kind: str, now: float, last: float, jitter: float) -> float:
    return {"zero": 0.0, "negative": -1.0 - jitter, "far_future": now + 1e6 * (1 + jitter),
            "near_future": now + jitter, "far_past": now - 60.0 - jitter, "backwards": now - 1.5 - 5 * jitter,
            "duplicate": last, "nanosec_overflow": now + 4.29, "now": now - jitter}[kind]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(events=stamp_events, start=st.floats(10.0, 1e6))
def test_hostile_stamps_are_dropped_by_reason_and_clean_traffic_decides_again(events, start, pipeline, scene):
    """Stamps 0, negative, far future / past, backwards, duplicated, interleaved with good frames: ingest
    never raises, drops carry a stamp or content reason (never 'internal'), and 2 s of clean traffic
    afterwards yield decisions with every modality present."""
    pipeline.reset()
    now, last = start, start
    for stream, kind, jitter in events:
        now += 1.0 / FPS
        good = scene.messages(now)
        for name, msg in good.items():
            pipeline.ingest(name, now, msg, now_s=now)
        stamp = hostile_stamp(kind, now, last, jitter)
        drop = pipeline.ingest(stream, stamp, scene.messages(max(stamp, 0.0) % 1e6)[stream], now_s=now)
        assert drop is None or (drop.reason in KNOWN_REASONS | set(STAMP_REASONS) and drop.detail), drop
        last = now
        for decision in pipeline.step(now):
            assert np.isfinite(decision.scores).all() and np.isfinite(decision.gates).all()
    decisions = []
    for k in range(1, int(2.0 * FPS)):
        t = now + k / FPS
        for name, msg in scene.messages(t).items():
            assert pipeline.ingest(name, t, msg, now_s=t + 0.01) is None
        decisions += pipeline.step(t + 0.01)
    assert len(decisions) >= 3 and decisions[-1].present.all(), [d.present for d in decisions]
    assert "internal" not in {key.split("/")[1] for key in pipeline.stats.drops}
