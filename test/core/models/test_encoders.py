"""The three modality encoders (E_R, E_S, E_P), their input normalisation and the PointNet++ ops."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from rcmcl_core.config import preset
from rcmcl_core.geometry.point_ops import ball_query, farthest_point_sample, gather_points, replace_missing_points
from rcmcl_core.models.pointnet import PointEncoder
from rcmcl_core.models.rgbd import Conv2Plus1D, RGBDEncoder, normalise_rgbd, parameter_matched_midplanes
from rcmcl_core.models.stgcn import GraphConv, SkeletonEncoder, bone_vectors, centre_skeleton
from rcmcl_core.geometry.skeleton_layout import centre_on_root

CONFIG = preset("tiny")
CLIP = CONFIG.clip
D = CONFIG.model.feature_dim
B = 3


def _rgbd(batch=B, seed=0):
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(batch, CLIP.frames, 3, CLIP.image_size, CLIP.image_size, generator=g)
    depth = 1.5 + torch.rand(batch, CLIP.frames, 1, CLIP.image_size, CLIP.image_size, generator=g)
    depth[..., :4, :] = 0.0                                   # a band of invalid pixels
    return rgb, depth


def _skeleton(batch=B, seed=0):
    g = torch.Generator().manual_seed(seed)
    skeleton = torch.randn(batch, CLIP.frames, CLIP.max_bodies, 25, 3, generator=g) * 0.3
    skeleton[..., 2] += 3.0                                   # metres in front of the camera
    skeleton[:, :, 1] = 0.0                                   # second body untracked
    return skeleton


def _points(batch=B, seed=0):
    g = torch.Generator().manual_seed(seed)
    points = torch.randn(batch, CLIP.frames, CLIP.num_points, 3, generator=g) * 0.3
    points[..., 2] += 3.0
    return points


@pytest.fixture(scope="module")
def encoders():
    torch.manual_seed(0)
    return {
        "rgbd": RGBDEncoder(config=CONFIG.rgbd, clip=CLIP, feature_dim=D).eval(),
        "skeleton": SkeletonEncoder(config=CONFIG.skeleton, clip=CLIP, feature_dim=D).eval(),
        "points": PointEncoder(config=CONFIG.points, clip=CLIP, feature_dim=D).eval(),
    }


# -- E_R -------------------------------------------------------------------------------------------
def test_midplanes_follow_the_r2plus1d_formula():
    assert parameter_matched_midplanes(64, 64, temporal_kernel=3, spatial_kernel=3) == 144  # R(2+1)D-18 value


def test_conv2plus1d_has_about_as_many_weights_as_the_3d_conv_it_replaces():
    conv = Conv2Plus1D.matched(in_planes=32, out_planes=64)
    weights = sum(p.numel() for p in conv.parameters() if p.dim() == 5)
    assert abs(weights - 3 * 3 * 3 * 32 * 64) / (3 * 3 * 3 * 32 * 64) < 0.02


def test_rgbd_encoder_gives_finite_features_of_size_d(encoders):
    rgb, depth = _rgbd()
    with torch.no_grad():
        z = encoders["rgbd"](rgb, depth)
    assert z.shape == (B, D) and torch.isfinite(z).all()


def test_inference_convolutions_match_the_training_path_at_batch_one(encoders):
    rgb, depth = _rgbd(batch=1, seed=4)
    encoder = encoders["rgbd"]
    with torch.inference_mode():                       # rgbd.Conv3d calls oneDNN directly here
        fast = encoder(rgb, depth)
    with torch.enable_grad():                          # nn.Conv3d's own choice of kernel
        stock = encoder(rgb, depth).detach()
    torch.testing.assert_close(fast, stock, rtol=1e-5, atol=1e-5)
    conv = Conv2Plus1D.matched(in_planes=4, out_planes=8, temporal_stride=2, spatial_stride=2).eval()
    clip = torch.randn(1, 4, 5, 9, 11)                 # odd sizes: padding and strides line up
    spatial, temporal = conv[0], conv[3]
    with torch.no_grad():
        middle = spatial(clip)
        torch.testing.assert_close(middle, F.conv3d(clip, spatial.weight, stride=(1, 2, 2), padding=(0, 1, 1)),
                                   rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(temporal(middle), F.conv3d(middle, temporal.weight, stride=(2, 1, 1),
                                                              padding=(1, 0, 0)), rtol=1e-5, atol=1e-5)


def test_depth_channel_is_relative_to_clip_mean_and_invalid_pixels_stay_zero():
    rgb, depth = _rgbd()
    x = normalise_rgbd(rgb, depth)
    assert x.shape == (B, 4, CLIP.frames, CLIP.image_size, CLIP.image_size)
    depth_n = x[:, 3]
    invalid = depth[:, :, 0] == 0
    assert (depth_n[invalid] == 0).all()
    assert depth_n[~invalid].mean().abs() < 1e-5


def test_rgbd_features_do_not_change_when_the_person_steps_back(encoders):
    rgb, depth = _rgbd()
    farther = torch.where(depth > 0, depth + 0.7, depth)
    with torch.no_grad():
        assert torch.allclose(encoders["rgbd"](rgb, depth), encoders["rgbd"](rgb, farther), atol=1e-4)


# -- E_S -------------------------------------------------------------------------------------------
def test_skeleton_is_centred_on_the_mean_spine_base_of_body_zero():
    skeleton = _skeleton()
    centred, tracked = centre_skeleton(skeleton)
    assert tracked[:, :, 0].all() and not tracked[:, :, 1].any()
    assert centred[:, :, 0, 0].mean(dim=1).abs().max() < 1e-5
    assert (centred[:, :, 1] == 0).all()


def test_skeleton_encoder_gives_finite_features_of_size_d(encoders):
    with torch.no_grad():
        z = encoders["skeleton"](_skeleton())
    assert z.shape == (B, D) and torch.isfinite(z).all()


def test_skeleton_features_do_not_depend_on_where_the_person_stands(encoders):
    skeleton = _skeleton()
    moved = torch.where(skeleton != 0, skeleton + torch.tensor([0.5, -0.2, 1.0]), skeleton)
    with torch.no_grad():
        assert torch.allclose(encoders["skeleton"](skeleton), encoders["skeleton"](moved), atol=1e-4)


def test_skeleton_without_any_tracked_body_gives_finite_features(encoders):
    with torch.no_grad():
        z = encoders["skeleton"](torch.zeros(2, CLIP.frames, CLIP.max_bodies, 25, 3))
    assert torch.isfinite(z).all()


def test_second_tracked_body_changes_the_features(encoders):
    skeleton = _skeleton()
    two = skeleton.clone()
    two[:, :, 1] = skeleton[:, :, 0].flip(1) + 0.4
    with torch.no_grad():
        assert not torch.allclose(encoders["skeleton"](skeleton), encoders["skeleton"](two), atol=1e-4)


def test_learned_links_start_at_zero_and_receive_gradient():
    torch.manual_seed(0)
    encoder = SkeletonEncoder(config=CONFIG.skeleton, clip=CLIP, feature_dim=D)
    links = [m.learned_links for m in encoder.modules() if isinstance(m, GraphConv)]
    assert len(links) == len(CONFIG.skeleton.block_channels)
    assert all(link.shape == (3, 25, 25) and (link == 0).all() for link in links)
    encoder(_skeleton()).pow(2).sum().backward()
    assert all(link.grad is not None and link.grad.abs().sum() > 0 for link in links)


def test_learned_links_can_be_switched_off():
    config = preset("tiny").skeleton
    config.learned_links = False
    encoder = SkeletonEncoder(config=config, clip=CLIP, feature_dim=D)
    assert all(m.learned_links is None for m in encoder.modules() if isinstance(m, GraphConv))


def test_bone_vectors_are_each_joint_minus_its_parent():
    from rcmcl_core.geometry.skeleton_layout import JOINT_INDEX
    skeleton = _skeleton()
    centred, _ = centre_skeleton(skeleton)
    bones = bone_vectors(centred)
    tip, hand = JOINT_INDEX["right_hand_tip"], JOINT_INDEX["right_hand"]
    assert torch.equal(bones[..., tip, :], centred[..., tip, :] - centred[..., hand, :])
    assert (bones[..., 0, :] == 0).all()                    # the root is its own parent
    assert (bones[:, :, 1] == 0).all()                      # an untracked body stays zero


def test_bone_input_makes_a_hand_tip_offset_reach_the_features():
    """With bone_input the encoder reads 6 channels per joint, stays translation-invariant, and a 3 cm move of
    one hand tip changes its features (the skeleton-pair classes differ by such offsets)."""
    torch.manual_seed(0)
    config = preset("tiny").skeleton
    config.bone_input = True
    encoder = SkeletonEncoder(config=config, clip=CLIP, feature_dim=D).eval()
    assert encoder.data_bn.num_features == CLIP.max_bodies * 25 * 6
    skeleton = _skeleton()
    moved = torch.where(skeleton != 0, skeleton + torch.tensor([0.5, -0.2, 1.0]), skeleton)
    tip = skeleton.clone()
    tip[:, :, 0, 23] += torch.tensor([0.03, 0.0, 0.0])
    with torch.no_grad():
        z = encoder(skeleton)
        assert torch.allclose(z, encoder(moved), atol=1e-4)
        assert not torch.allclose(z, encoder(tip), atol=1e-4)


# -- PointNet++ ops ------------------------------------------------------------------------------------
def _greedy_fps(xyz: np.ndarray, count: int) -> list[int]:
    chosen = [0]
    nearest = np.full(len(xyz), np.inf)
    for _ in range(count - 1):
        nearest = np.minimum(nearest, ((xyz - xyz[chosen[-1]]) ** 2).sum(axis=1))
        chosen.append(int(np.argmax(nearest)))
    return chosen


def test_farthest_point_sampling_equals_brute_force_greedy():
    cloud = torch.rand(2, 200, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    idx = farthest_point_sample(cloud, 32)
    for b in range(2):
        assert idx[b].tolist() == _greedy_fps(cloud[b].numpy(), 32)


def test_ball_query_returns_the_lowest_index_neighbours_inside_the_radius():
    cloud = torch.rand(2, 150, 3, generator=torch.Generator().manual_seed(2))
    centroids = gather_points(cloud, farthest_point_sample(cloud, 10))
    idx = ball_query(cloud, centroids, radius_m=0.2, neighbours=8)
    assert idx.shape == (2, 10, 8)
    dist = (gather_points(cloud, idx) - centroids[:, :, None]).norm(dim=-1)
    assert (dist <= 0.2 + 1e-5).all()
    for b in range(2):
        for s in range(10):
            inside = ((cloud[b] - centroids[b, s]).norm(dim=-1) <= 0.2).nonzero().flatten().tolist()[:8]
            expected = inside + [inside[0]] * (8 - len(inside))
            assert idx[b, s].tolist() == expected


def test_missing_points_are_replaced_by_a_valid_point_of_their_frame():
    cloud = torch.rand(3, 10, 3)
    cloud[0, :4] = float("nan")
    cloud[2] = float("nan")
    filled, has_points = replace_missing_points(cloud)
    assert has_points.tolist() == [True, True, False]
    assert torch.equal(filled[0, :4], cloud[0, 4:5].expand(4, 3))
    assert torch.equal(filled[1], cloud[1]) and (filled[2] == 0).all()


# -- E_P -------------------------------------------------------------------------------------------
def test_point_encoder_gives_finite_features_of_size_d(encoders):
    with torch.no_grad():
        z = encoders["points"](_points())
    assert z.shape == (B, D) and torch.isfinite(z).all()


def test_nan_padding_rows_and_empty_frames_keep_point_features_finite(encoders):
    points = _points()
    points[0, :, -20:] = float("nan")                         # padding rows
    points[1, 2] = float("nan")                               # a frame without any point
    points[2] = float("nan")                                  # a clip without any point
    with torch.no_grad():
        z = encoders["points"](points)
    assert torch.isfinite(z).all()


def test_point_features_do_not_depend_on_where_the_person_stands(encoders):
    points = _points()
    with torch.no_grad():
        assert torch.allclose(encoders["points"](points), encoders["points"](points + torch.tensor([0.3, 0.1, 1.2])),
                              atol=1e-4)


def test_a_frame_without_points_gives_zero_frame_features(encoders):
    points = _points(batch=1)
    points[0, 3] = float("nan")
    with torch.no_grad():
        frames, has_points = encoders["points"].frame_features(points)
    assert has_points[0].tolist() == [i != 3 for i in range(CLIP.frames)]
    assert (frames[0, 3] == 0).all() and (frames[0, 2] != 0).any()


def test_torch_centring_matches_the_numpy_reference_in_rcmcl_core_skeleton():
    skeleton = _skeleton(batch=1)
    skeleton[0, 2:4, 0] = 0.0                                 # body 0 lost for two frames
    skeleton[0, 5, 1] = skeleton[0, 5, 0] + 0.5               # body 1 seen once
    centred, _ = centre_skeleton(skeleton)
    assert np.allclose(centred[0].numpy(), centre_on_root(skeleton[0].numpy()), atol=1e-6)
