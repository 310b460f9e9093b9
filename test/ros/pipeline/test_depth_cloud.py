"""points_source: depth — the cloud back-projected from depth_to_rgb + camera_info follows the topic path's
rules (same pixels kept, same range filter) and a missing or inconsistent camera_info is a counted drop."""
from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo

from rcmcl_core.geometry.pinhole import Intrinsics, backproject
from rcmcl_ros.conversions import numpy_to_image, xyz_to_pointcloud2
from rcmcl_ros.pipeline.depth_cloud import CAMERA_INFO_REASON, CameraInfoError, DepthCloudSource, depth_cloud
from rcmcl_ros.pipeline.preprocess import PreprocessConfig, Preprocessor

INTRINSICS = Intrinsics(fx=600.0, fy=605.0, cx=63.5, cy=35.0, width=128, height=72)


def camera_info(intrinsics: Intrinsics = INTRINSICS) -> CameraInfo:
    info = CameraInfo(width=intrinsics.width, height=intrinsics.height)
    info.k = [intrinsics.fx, 0.0, intrinsics.cx, 0.0, intrinsics.fy, intrinsics.cy, 0.0, 0.0, 1.0]
    return info


def depth_mm(seed: int = 0) -> np.ndarray:
    """(72, 128) uint16 mm: a person at 2 m before a wall at 4 m, 20 % holes, a few pixels beyond 8 m."""
    rng = np.random.default_rng(seed)
    depth = np.full((72, 128), 4000, np.uint16)
    depth[:, 50:80] = 2000
    depth[rng.random(depth.shape) < 0.2] = 0
    depth[0, :5] = 9000
    return depth


def organised_cloud(depth: np.ndarray, intrinsics: Intrinsics):
    """What the driver's points2 holds for this depth: one point per pixel, NaN for holes, row-major."""
    z = depth.astype(np.float64) / 1000.0
    v, u = np.mgrid[0:depth.shape[0], 0:depth.shape[1]]
    xyz = np.stack([(u - intrinsics.cx) / intrinsics.fx * z, (v - intrinsics.cy) / intrinsics.fy * z, z], -1)
    xyz[depth == 0] = np.nan
    return xyz_to_pointcloud2(xyz.reshape(-1, 3).astype(np.float32), layout="azure")


def test_all_valid_pixels_back_project_as_rcmcl_core_geometry_does():
    depth = depth_mm()
    source = DepthCloudSource(depth=numpy_to_image(depth, encoding="16UC1", stamp=1.0), info=camera_info())
    cloud = depth_cloud(source, max_points=10 ** 6)
    np.testing.assert_allclose(cloud, backproject(depth / 1000.0, intrinsics=INTRINSICS), atol=1e-5)


@pytest.mark.parametrize("max_cloud_points", [500, 100_000])
def test_depth_path_keeps_the_same_points_as_the_topic_path(max_cloud_points):
    depth = depth_mm(1)
    config = PreprocessConfig(image_size=32, num_points=64, max_cloud_points=max_cloud_points)
    from_depth = Preprocessor(config=config).convert(
        "points", DepthCloudSource(depth=numpy_to_image(depth, encoding="16UC1", stamp=1.0), info=camera_info()))
    from_topic = Preprocessor(config=config).convert("points", organised_cloud(depth, INTRINSICS))
    assert len(from_depth) == len(from_topic) <= max_cloud_points
    np.testing.assert_allclose(from_depth, from_topic, atol=1e-5)
    assert np.linalg.norm(from_depth, axis=1).max() <= config.max_range_m          # the 9 m pixels are gone


def test_missing_or_inconsistent_camera_info_is_a_named_conversion_error():
    image = numpy_to_image(depth_mm(), encoding="16UC1", stamp=1.0)
    preprocessor = Preprocessor(config=PreprocessConfig(image_size=32, num_points=64))
    wrong_size = camera_info(Intrinsics(fx=600.0, fy=600.0, cx=959.5, cy=539.5, width=1920, height=1080))
    zero_focal = camera_info()
    zero_focal.k = [0.0] * 9
    for info, words in ((None, "no camera_info"), (wrong_size, "1920x1080 but the depth image is 128x72"),
                        (zero_focal, "focal lengths must be > 0")):
        with pytest.raises(CameraInfoError, match=words) as caught:
            preprocessor.convert("points", DepthCloudSource(depth=image, info=info))
        assert caught.value.reason == CAMERA_INFO_REASON
