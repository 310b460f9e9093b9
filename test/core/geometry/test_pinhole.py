"""Pinhole back-projection, person cropping and point sampling (rcmcl_core/geometry/pinhole.py)."""
import numpy as np
import pytest
import torch

from rcmcl_core.geometry.pinhole import Intrinsics
from rcmcl_core.geometry.pinhole import (KINECT_V2_DEPTH, backproject, backproject_torch, centre_crop_intrinsics,
                                         crop_to_person, farthest_point_sample, normalise_points, project_points,
                                         sample_points, scale_intrinsics)

INTRINSICS = Intrinsics(fx=50.0, fy=40.0, cx=15.5, cy=11.5, width=32, height=24)


def _depth(seed=0):
    rng = np.random.default_rng(seed)
    depth = rng.uniform(1.0, 4.0, size=(24, 32))
    depth[rng.random(depth.shape) < 0.2] = 0.0
    depth[3, 4] = np.nan
    return depth


def test_backproject_puts_each_valid_pixel_on_its_ray_at_its_depth():
    depth = _depth()
    points = backproject(depth, intrinsics=INTRINSICS)
    valid = np.isfinite(depth) & (depth > 0)
    v, u = np.nonzero(valid)
    assert points.dtype == np.float32 and points.shape == (valid.sum(), 3)
    np.testing.assert_allclose(points[:, 2], depth[valid], rtol=1e-6)
    np.testing.assert_allclose(project_points(points, intrinsics=INTRINSICS), np.stack([u, v], 1), atol=1e-3)


def test_backproject_rescales_intrinsics_for_a_resized_image():
    full = np.full((24, 32), 2.0)
    half = np.full((12, 16), 2.0)
    corners_full = backproject(full, intrinsics=INTRINSICS)[[0, -1]]
    corners_half = backproject(half, intrinsics=INTRINSICS)[[0, -1]]
    # Corner pixels of the half image cover 2x2 full pixels: their rays sit half a full pixel inside.
    pixel = 2.0 / np.array([INTRINSICS.fx, INTRINSICS.fy])
    np.testing.assert_allclose(corners_half[:, :2], corners_full[:, :2] + np.array([[0.5, 0.5], [-0.5, -0.5]]) * pixel,
                               atol=1e-5)


def test_backproject_torch_matches_numpy_with_nan_rows_for_invalid_pixels():
    depths = np.stack([_depth(0), _depth(1)])
    batch = backproject_torch(torch.tensor(depths, dtype=torch.float64), intrinsics=INTRINSICS)
    assert batch.shape == (2, 24 * 32, 3)
    for depth, points in zip(depths, batch.numpy()):
        valid = (np.isfinite(depth) & (depth > 0)).ravel()
        assert np.isnan(points[~valid]).all()
        np.testing.assert_allclose(points[valid], backproject(depth, intrinsics=INTRINSICS), rtol=1e-6)


def test_backproject_rejects_a_batch_where_one_image_is_expected():
    with pytest.raises(ValueError, match=r"depth needs shape \(H, W\), got \(2, 24, 32\)"):
        backproject(np.zeros((2, 24, 32)), intrinsics=INTRINSICS)


def test_centre_crop_of_kinect_intrinsics_keeps_square_pixels_and_centres_the_axis():
    small = centre_crop_intrinsics(KINECT_V2_DEPTH, width=64, height=64)
    assert small.fx == pytest.approx(small.fy) == pytest.approx(365.5 * 64 / 424)
    assert (small.cx, small.cy, small.width, small.height) == (pytest.approx(31.5), pytest.approx(31.5), 64, 64)
    assert scale_intrinsics(KINECT_V2_DEPTH, width=512, height=424) == KINECT_V2_DEPTH


def _person_scene(seed=0):
    """Floor (y = 1.1 below the camera), back wall (z = 4) and a 0.4 x 1.7 x 0.3 m 'person' at z = 2.5."""
    rng = np.random.default_rng(seed)
    floor = np.stack([rng.uniform(-2, 2, 3000), np.full(3000, 1.1), rng.uniform(1.0, 4.0, 3000)], 1)
    wall = np.stack([rng.uniform(-2.5, 2.5, 4000), rng.uniform(-1.5, 1.1, 4000), np.full(4000, 4.0)], 1)
    person = np.stack([rng.uniform(-0.2, 0.2, 800), rng.uniform(-0.6, 1.08, 800), rng.uniform(2.35, 2.65, 800)], 1)
    points = np.concatenate([floor, wall, person]) + rng.normal(0, 0.005, (7800, 3))
    return points.astype(np.float32), np.arange(7800) >= 7000


def test_crop_with_skeleton_keeps_the_padded_box_and_tolerates_a_few_cm_of_misalignment():
    points, is_person = _person_scene()
    joints = np.stack([np.linspace(-0.15, 0.15, 25), np.linspace(-0.55, 1.0, 25), np.full(25, 2.5)], 1)
    shifted = joints + np.array([0.04, 0.0, 0.04])           # skeleton 4 cm off the depth
    kept = crop_to_person(points, skeleton=shifted, margin_m=0.2)
    assert np.isin(points[is_person], kept).all(axis=1).mean() >= 0.99
    assert np.abs(kept[:, 2] - 2.54).max() <= 0.2 and np.abs(kept[:, 0] - 0.04).max() <= 0.35


def test_crop_ignores_untracked_all_zero_bodies():
    points, _ = _person_scene()
    joints = np.stack([np.linspace(-0.15, 0.15, 25), np.linspace(-0.55, 1.0, 25), np.full(25, 2.5)], 1)
    bodies = np.stack([np.zeros((25, 3)), joints])
    np.testing.assert_array_equal(crop_to_person(points, skeleton=bodies, margin_m=0.1),
                                  crop_to_person(points, skeleton=joints, margin_m=0.1))


def test_floor_clearance_drops_the_floor_under_the_feet():
    points, is_person = _person_scene()
    joints = np.stack([np.linspace(-0.15, 0.15, 25), np.linspace(-0.55, 1.05, 25), np.full(25, 2.5)], 1)
    loose = crop_to_person(points, skeleton=joints, margin_m=0.2)
    tight = crop_to_person(points, skeleton=joints, margin_m=0.2, floor_clearance_m=0.03)
    assert (loose[:, 1] > 1.09).sum() > 20 and (tight[:, 1] > 1.09).sum() == 0


def test_crop_without_skeleton_finds_the_person_in_front_of_wall_and_floor():
    points, is_person = _person_scene()
    kept = crop_to_person(points, skeleton=None, margin_m=0.2)
    from_person = np.isin(kept, points[is_person]).all(axis=1)
    assert from_person.mean() > 0.9 and from_person.sum() > 0.8 * is_person.sum()


def _cube_corners_and_inside(seed=0):
    rng = np.random.default_rng(seed)
    corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=np.float64)
    return np.concatenate([corners, rng.uniform(0.3, 0.7, (200, 3))])


def test_farthest_point_sampling_picks_the_cube_corners_first():
    points = _cube_corners_and_inside()
    chosen = farthest_point_sample(points, 8, start_index=0)
    assert sorted(chosen.tolist()) == list(range(8))


def test_farthest_point_sampling_takes_the_farthest_remaining_point_at_every_step():
    points = np.random.default_rng(3).normal(size=(500, 3))   # general position: the greedy answer is unique
    chosen = farthest_point_sample(points, 32, start_index=7)
    assert chosen[0] == 7 and len(set(chosen.tolist())) == 32
    for step in range(1, len(chosen)):
        distance = np.linalg.norm(points[:, None] - points[chosen[:step]][None], axis=-1).min(axis=1)
        assert chosen[step] == int(np.argmax(distance))


def test_farthest_point_sampling_rejects_more_samples_than_points():
    with pytest.raises(ValueError, match="1 <= count <= 10 points, got count=11"):
        farthest_point_sample(np.zeros((10, 3)), 11)


@pytest.mark.parametrize("method", ["random", "fps"])
def test_sampling_a_large_cloud_returns_distinct_input_points(method):
    points = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
    out = sample_points(points, 64, rng=np.random.default_rng(1), method=method)
    assert out.shape == (64, 3) and out.dtype == np.float32
    assert len(np.unique(out, axis=0)) == 64 and np.isin(out, points).all(axis=1).all()


def test_sampling_a_small_cloud_keeps_every_point_and_pads_with_repeats():
    points = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    out = sample_points(points, 12, rng=np.random.default_rng(1))
    assert out.shape == (12, 3)
    np.testing.assert_array_equal(out[:5], points)
    assert np.isin(out[5:], points).all(axis=1).all()


def test_sampling_an_empty_cloud_returns_all_nan_meaning_no_points():
    out = sample_points(np.zeros((0, 3)), 8, rng=np.random.default_rng(0))
    assert out.shape == (8, 3) and np.isnan(out).all()


def test_sampling_with_an_unknown_method_names_the_choices():
    with pytest.raises(ValueError, match=r"one of \('random', 'fps'\), got 'grid'"):
        sample_points(np.zeros((4, 3)), 2, rng=np.random.default_rng(0), method="grid")


def test_farthest_point_sampling_covers_a_cloud_better_than_random_sampling():
    points = np.random.default_rng(0).uniform(-1, 1, size=(2000, 3)).astype(np.float32)

    def coverage(sample):  # the largest distance from any point to its nearest sample
        return np.sqrt(((points[:, None] - sample[None]) ** 2).sum(-1)).min(1).max()

    rng = np.random.default_rng(0)
    assert coverage(sample_points(points, 64, rng=rng, method="fps")) < 0.8 * coverage(
        sample_points(points, 64, rng=rng, method="random"))


def test_normalise_points_centres_each_frame_on_its_nan_mean():
    frames = np.array([[[1.0, 2, 3], [3, 2, 1], [np.nan] * 3], [[0, 0, 0], [2, 2, 2], [4, 4, 4]]])
    centred = normalise_points(frames)
    np.testing.assert_allclose(np.nanmean(centred, axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(centred[1, 0], [-2, -2, -2])
