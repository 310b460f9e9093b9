"""Views (L_IM) and degradations (dropout, SJN, PCS, frame drops, occlusion, L_deg masking)."""
import dataclasses

import pytest
import torch

import rcmcl_core.augment.batch as augment
from rcmcl_core.config import AugmentConfig
from rcmcl_core.geometry.skeleton_layout import LEFT_RIGHT_PAIRS, NTU_BONES

B, T, H, W, M, N = 4, 6, 16, 16, 2, 32


def _generator(seed=0):
    return torch.Generator().manual_seed(seed)


def _batch(b=B, t=T, seed=1):
    g = torch.Generator().manual_seed(seed)
    skeleton = torch.randn(b, t, M, 25, 3, generator=g) * 0.3 + torch.tensor([0.0, 0.0, 3.0])
    skeleton[:, :, 1] = 0.0                                  # second body untracked everywhere
    skeleton[0, 2:, 0] = 0.0                                 # first body lost for a while in sample 0
    points = torch.randn(b, t, N, 3, generator=g) * 0.4 + torch.tensor([0.0, 0.0, 2.5])
    return {"rgb": torch.rand(b, t, 3, H, W, generator=g), "depth": torch.rand(b, t, 1, H, W, generator=g) * 4,
            "skeleton": skeleton, "points": points, "present": torch.ones(b, 3, dtype=torch.bool),
            "label": torch.arange(b)}


def _config(**changes):
    return dataclasses.replace(AugmentConfig(), **changes)


def _clone(batch):
    return {k: v.clone() for k, v in batch.items()}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_views_differ_from_input_but_keep_shapes_dtypes_and_ranges():
    batch = _batch()
    view1, view2 = augment.make_views(batch, config=AugmentConfig(), generator=_generator())
    for view in (view1, view2):
        for key in ("rgb", "depth", "skeleton", "points"):
            assert view[key].shape == batch[key].shape and view[key].dtype == batch[key].dtype
            assert not torch.allclose(view[key], batch[key]), key
        assert 0.0 <= float(view["rgb"].min()) and float(view["rgb"].max()) <= 1.0
        assert float(view["depth"].min()) >= 0.0
        assert torch.equal(view["present"], batch["present"]) and view["label"] is batch["label"]
    assert not torch.allclose(view1["skeleton"], view2["skeleton"]), "the two views are drawn independently"


def test_rgb_and_depth_get_the_same_crop_and_flip():
    ramp = torch.linspace(0.0, 1.0, W).view(1, 1, 1, 1, W).expand(B, T, 1, H, W)   # value = column
    batch = _batch()
    batch["rgb"], batch["depth"] = ramp.expand(B, T, 3, H, W).clone(), ramp.clone()
    config = _config(view_color_jitter=0.0, view_crop_scale=0.5, view_flip=0.5)
    flipped = 0
    for seed in range(4):
        view = augment.make_view(batch, config=config, generator=_generator(seed))
        # bilinear (rgb) and nearest (depth) of one ramp agree within half a pixel step
        assert (view["rgb"][:, :, 0] - view["depth"][:, :, 0]).abs().max() <= 0.5 / (W - 1) + 1e-5
        flipped += int((view["rgb"][:, 0, 0, 0, -1] < view["rgb"][:, 0, 0, 0, 0]).sum())
    assert 0 < flipped < 4 * B


def test_skeleton_rotation_preserves_bone_lengths_and_untracked_bodies_stay_zero():
    batch = _batch()
    config = _config(view_shear=0.0, view_joint_jitter_m=0.0, view_flip=0.0, view_rotation_deg=30.0)
    out = augment.skeleton_view(batch["skeleton"], config=config, generator=_generator())
    child, parent = zip(*NTU_BONES)

    def lengths(s):
        return (s[..., list(child), :] - s[..., list(parent), :]).norm(dim=-1)

    tracked = batch["skeleton"].abs().sum(dim=(-1, -2)) > 0
    torch.testing.assert_close(lengths(out)[tracked], lengths(batch["skeleton"])[tracked], atol=1e-5, rtol=0)
    assert not torch.allclose(out[tracked], batch["skeleton"][tracked])
    assert torch.equal(out[~tracked], torch.zeros_like(out[~tracked]))
    # rotation about the vertical (optical y): heights are unchanged
    torch.testing.assert_close(out[..., 1][tracked], batch["skeleton"][..., 1][tracked])


def test_skeleton_flip_mirrors_x_and_swaps_left_and_right_joints():
    batch = _batch(b=1)
    batch["skeleton"][0, :, 0] = batch["skeleton"][0, 0, 0]        # tracked in all frames, static
    config = _config(view_shear=0.0, view_joint_jitter_m=0.0, view_flip=1.0, view_rotation_deg=0.0)
    out = augment.skeleton_view(batch["skeleton"], config=config, generator=_generator())
    original = batch["skeleton"][0, 0, 0]
    centre_x = original[0, 0]                                        # root joint's x (the only tracked body)
    for left, right in LEFT_RIGHT_PAIRS:
        torch.testing.assert_close(out[0, 0, 0, left, 0], 2 * centre_x - original[right, 0])
        torch.testing.assert_close(out[0, 0, 0, left, 1:], original[right, 1:])


def test_point_dropout_keeps_n_rows_made_of_kept_input_points():
    batch = _batch()
    config = _config(view_rotation_deg=0.0, view_point_jitter_m=0.0, view_flip=0.0, view_point_dropout=0.25)
    out = augment.points_view(batch["points"], batch["present"][:, 2], config=config, generator=_generator())
    assert out.shape == batch["points"].shape
    for b in range(B):
        for t in range(T):
            source = torch.cdist(out[b, t], batch["points"][b, t]).argmin(dim=1)   # identity map up to rounding
            torch.testing.assert_close(out[b, t], batch["points"][b, t][source])
            assert len(set(source.tolist())) == N - round(0.25 * N)


def test_points_view_leaves_absent_points_untouched():
    batch = _batch()
    batch["points"][1] = 0.0
    batch["present"][1, 2] = False
    view = augment.make_view(batch, config=AugmentConfig(), generator=_generator())
    assert torch.equal(view["points"][1], torch.zeros(T, N, 3))


def test_views_are_deterministic_for_a_seeded_generator():
    batch = _batch()
    first = augment.make_views(batch, config=AugmentConfig(), generator=_generator(7))
    second = augment.make_views(batch, config=AugmentConfig(), generator=_generator(7))
    for a, b in zip(first, second):
        _assert_same(a, b)


def test_no_function_modifies_its_input():
    batch = _batch()
    before = _clone(batch)
    g = _generator()
    augment.make_views(batch, config=AugmentConfig(), generator=g)
    augment.drop_modalities(batch, absent=["rgbd", "points"])
    augment.random_modality_dropout(batch, probability=1.0, generator=g)
    augment.skeleton_joint_noise(batch, sigma_m=0.1, generator=g)
    augment.sparsify_points(batch, keep_fraction=0.3, generator=g)
    augment.drop_frames(batch, fraction=0.5, generator=g)
    augment.occlude(batch, box_fraction=0.5, generator=g)
    augment.mask_skeleton(batch["skeleton"], joint_fraction=0.3, frame_fraction=0.2, generator=g)
    _assert_same(batch, before)


def test_drop_modalities_zeroes_the_tensors_and_clears_present():
    out = augment.drop_modalities(_batch(), absent=["rgbd", "skeleton"])
    assert out["present"].tolist() == [[False, False, True]] * B
    assert not out["rgb"].any() and not out["depth"].any() and not out["skeleton"].any()
    assert out["points"].abs().sum() > 0
    with pytest.raises(ValueError, match="unknown modalities \\['rgb'\\]"):
        augment.drop_modalities(_batch(), absent=["rgb"])


def test_random_modality_dropout_drops_one_or_two_but_never_all_three():
    batch = _batch(b=400, t=2)
    batch["present"][:50] = torch.tensor([False, True, False])      # only the skeleton left: must stay
    out = augment.random_modality_dropout(batch, probability=1.0, generator=_generator())
    present = out["present"]
    assert bool(present.any(dim=1).all())
    assert bool(present[:50, 1].all())
    dropped = (batch["present"] & ~present)[50:].sum(dim=1)
    assert set(dropped.tolist()) == {1, 2}
    for column, keys in ((0, ("rgb", "depth")), (1, ("skeleton",)), (2, ("points",))):
        for key in keys:
            flat = out[key].flatten(1)
            dropped_here = batch["present"][:, column] & ~present[:, column]
            assert not flat[dropped_here].any(), f"{key} of dropped samples is zero"
            assert torch.equal(flat[present[:, column]], batch[key].flatten(1)[present[:, column]])
    untouched = augment.random_modality_dropout(batch, probability=0.0, generator=_generator())
    assert torch.equal(untouched["present"], batch["present"])


def test_skeleton_joint_noise_has_the_requested_std_on_tracked_joints_only():
    batch = _batch(b=8, t=16)
    for sigma in (0.05, 0.10):
        out = augment.skeleton_joint_noise(batch, sigma_m=sigma, generator=_generator())
        tracked = batch["skeleton"].abs().sum(dim=(-1, -2)) > 0
        noise = (out["skeleton"] - batch["skeleton"])[tracked]
        assert abs(float(noise.std()) - sigma) < 0.05 * sigma and abs(float(noise.mean())) < 0.05 * sigma
        assert not out["skeleton"][~tracked].any()


@pytest.mark.parametrize("keep, distinct", [(0.5, 16), (0.3, 10)])
def test_sparsify_points_keeps_exactly_the_right_number_of_distinct_points(keep, distinct):
    batch = _batch()
    out = augment.sparsify_points(batch, keep_fraction=keep, generator=_generator())
    assert out["points"].shape == batch["points"].shape
    for b in range(B):
        for t in range(T):
            rows = {tuple(p) for p in out["points"][b, t].tolist()}
            assert len(rows) == distinct and rows <= {tuple(p) for p in batch["points"][b, t].tolist()}


def test_drop_frames_fills_each_dropped_frame_with_the_nearest_kept_one():
    batch = _batch(t=10)
    batch["rgb"] = torch.arange(10.0).view(1, 10, 1, 1, 1).expand(B, 10, 3, H, W) / 10
    out = augment.drop_frames(batch, fraction=0.4, generator=_generator())
    for b in range(B):
        source = (out["rgb"][b, :, 0, 0, 0] * 10).round().long().tolist()
        kept = sorted(set(source))
        assert len(kept) == 6
        for t, s in enumerate(source):
            assert abs(t - s) == min(abs(t - k) for k in kept)
            assert torch.equal(out["skeleton"][b, t], batch["skeleton"][b, s])
            assert torch.equal(out["points"][b, t], batch["points"][b, s])


def test_occlude_zeroes_one_box_in_every_rgb_and_depth_frame():
    batch = _batch()
    batch["rgb"], batch["depth"] = torch.ones(B, T, 3, H, W), torch.full((B, T, 1, H, W), 2.0)
    out = augment.occlude(batch, box_fraction=0.25, generator=_generator())
    zeros = (out["rgb"] == 0).all(dim=2)                               # (B, T, H, W)
    assert zeros.sum(dim=(-1, -2)).eq(4 * 4).all()
    assert torch.equal(zeros, (out["depth"] == 0)[:, :, 0])
    assert torch.equal(zeros, zeros[:, :1].expand_as(zeros)), "the same box in every frame"


def test_mask_skeleton_hides_the_requested_joints_and_frames():
    skeleton = _batch(t=10)["skeleton"]
    masked, mask = augment.mask_skeleton(skeleton, joint_fraction=0.3, frame_fraction=0.2, generator=_generator())
    assert mask.shape == (B, 10, 25) and mask.dtype == torch.bool
    whole_frames = mask.all(dim=-1)
    assert whole_frames.sum(dim=1).eq(2).all()
    assert mask[~whole_frames].sum(dim=-1).eq(round(0.3 * 25)).all()
    hidden = mask[:, :, None, :, None].expand_as(skeleton)
    assert not masked[hidden].any()
    assert torch.equal(masked[~hidden], skeleton[~hidden])
