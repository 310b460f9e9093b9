"""Severity-driven sensor faults (rcmcl_core/augment/sensor_faults.py): identity at severity 0, the defining effect of
each fault at full severity, an effect that grows with severity, per-sample severities, seeding."""
import pytest
import torch

import rcmcl_core.augment.sensor_faults as sensor_faults
from rcmcl_core.config import MODALITIES
from rcmcl_core.augment.sensor_faults import FAULTS, apply_fault, sample_faults

B, T, H, W, M, N = 4, 8, 16, 16, 2, 32


def _batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    skeleton = torch.randn(B, T, M, 25, 3, generator=g) * 0.3 + torch.tensor([0.0, 0.0, 3.0])
    skeleton[:, :, 1] = 0.0                                   # second body untracked
    points = torch.randn(B, T, N, 3, generator=g) * 0.4 + torch.tensor([0.0, 0.0, 2.5])
    return {"rgb": torch.rand(B, T, 3, H, W, generator=g) * 0.5,
            "depth": torch.rand(B, T, 1, H, W, generator=g) * 3 + 1, "skeleton": skeleton, "points": points,
            "present": torch.ones(B, 3, dtype=torch.bool), "label": torch.arange(B)}


def _apply(name, severity, seed=0, batch=None):
    return apply_fault(_batch() if batch is None else batch, name, severity,
                       generator=torch.Generator().manual_seed(seed))


def _change(name, severity):
    """Mean absolute change of the fault's modality tensors, averaged over 3 seeds."""
    clean = _batch()
    keys = {"rgbd": ("rgb", "depth"), "skeleton": ("skeleton",), "points": ("points",)}[FAULTS[name].modality]
    total = 0.0
    for seed in range(3):
        out = _apply(name, severity, seed=seed, batch=clean)
        total += sum(float((out[k] - clean[k]).abs().mean()) for k in keys)
    return total / 3


@pytest.mark.parametrize("name", list(FAULTS))
def test_severity_zero_is_the_identity(name):
    clean = _batch()
    out = _apply(name, 0.0, batch=clean)
    for key in ("rgb", "depth", "skeleton", "points"):
        assert torch.equal(out[key], clean[key]), key


@pytest.mark.parametrize("name", list(FAULTS))
def test_effect_grows_with_severity(name):
    changes = [_change(name, s) for s in (0.0, 0.25, 0.5, 1.0)]
    assert changes[0] == 0.0 and changes[-1] > 0.0
    for weaker, stronger in zip(changes, changes[1:]):
        assert stronger >= weaker * 0.9, changes              # 10 % slack for the random draws


@pytest.mark.parametrize("name", list(FAULTS))
def test_only_the_faulted_modality_changes_and_the_input_is_untouched(name):
    clean = _batch()
    before = {k: v.clone() for k, v in clean.items()}
    out = _apply(name, 1.0, batch=clean)
    degraded = FAULTS[name].modalities
    for other, keys in (("rgbd", ("rgb", "depth")), ("skeleton", ("skeleton",)), ("points", ("points",))):
        if other not in degraded:
            assert all(out[k] is clean[k] for k in keys)
        else:
            assert any(not torch.equal(out[k], clean[k]) for k in keys), other
    for key, value in before.items():
        assert torch.equal(clean[key], value)


def test_blackout_gives_zeros_and_frozen_repeats_one_frame():
    black = _apply("rgbd_blackout", 1.0)
    assert not black["rgb"].any() and not black["depth"].any()
    frozen = _apply("rgbd_frozen", 1.0)
    assert torch.equal(frozen["rgb"], frozen["rgb"][:, :1].expand_as(frozen["rgb"]))
    assert torch.equal(frozen["depth"], frozen["depth"][:, :1].expand_as(frozen["depth"]))
    half = _apply("rgbd_frozen", 0.5)["rgb"]                    # onset frame round(0.5 * 7) = 4
    assert torch.equal(half[:, 4:], half[:, 4:5].expand_as(half[:, 4:])) and not torch.equal(half[:, 3], half[:, 4])


def test_sparsity_keeps_ten_percent_at_full_severity():
    out = _apply("points_sparsity", 1.0)["points"]
    distinct = {len(torch.unique(out[b, t], dim=0)) for b in range(B) for t in range(T)}
    assert distinct == {round(0.1 * N)}


def test_skeleton_noise_sigma_is_a_fifth_of_a_metre_at_full_severity():
    clean = _batch()
    out = apply_fault(clean, "skeleton_noise", 1.0, generator=torch.Generator().manual_seed(0))
    difference = (out["skeleton"] - clean["skeleton"])[:, :, 0]
    assert abs(float(difference.std()) - 0.20) < 0.01
    assert not out["skeleton"][:, :, 1].any()                  # untracked body stays zero


def test_jumps_teleport_a_joint_or_body_for_a_few_frames_then_snap_back():
    clean = _batch()
    out = apply_fault(clean, "skeleton_jumps", 1.0, generator=torch.Generator().manual_seed(0))
    moved = (out["skeleton"] - clean["skeleton"])[:, :, 0].norm(dim=-1)        # (B, T, 25) metres
    assert float(moved.max()) >= 0.99                                           # (0.5 + 0.5) m per jump
    assert bool((moved < 1e-6).any(dim=(1, 2)).all())                          # every sample has untouched joints


def test_occluder_and_passer_by_sit_in_front_of_the_person():
    for name in ("rgbd_occlusion", "rgbd_passer_by"):
        clean = _batch()
        out = _apply(name, 1.0, batch=clean)
        changed = out["depth"] != clean["depth"]
        assert changed.any() and float(out["depth"][changed].max()) <= 1.0   # clean depth is >= 1 m


def test_depth_holes_reach_the_depth_derived_cloud_but_not_colour():
    clean = _batch()
    half = _apply("depth_holes", 0.5, batch=clean)
    assert 0.35 < float((half["depth"] == 0).float().mean()) < 0.65 and torch.equal(half["rgb"], clean["rgb"])
    kept = [len(torch.unique(half["points"][b, t], dim=0)) for b in range(B) for t in range(T)]
    assert set(kept) == {N // 2}                                # the cloud keeps 1 - s of its points
    dead = _apply("depth_holes", 1.0, batch=clean)              # a depth sensor returning nothing
    assert not dead["depth"].any()
    assert {len(torch.unique(dead["points"][b, t], dim=0)) for b in range(B) for t in range(T)} == {1}


def test_passer_by_stands_in_front_for_a_share_of_the_window():
    from rcmcl_core.augment.sensor_faults import passer_by_progress
    progress = passer_by_progress(9, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(progress[0], torch.linspace(0, 1, 9))              # a steady walk across
    assert torch.allclose(progress[2], torch.full((9,), 0.5))                # standing in front all the time
    assert torch.allclose(progress[1, 2:7], torch.full((5,), 0.5)) and progress[1, 0] == 0 and progress[1, -1] == 1
    clean = _batch()
    out = _apply("rgbd_passer_by", 1.0, batch=clean)
    centre = (out["depth"] != clean["depth"])[..., W // 2]                   # (B, T, 1, H) centre column
    assert bool(centre.all())                                                # covered in every frame


def test_flying_pixels_reach_every_edge_point_at_full_severity():
    clean = _batch()
    out = _apply("points_flying_pixels", 1.0, batch=clean)
    moved = (out["points"] - clean["points"]).norm(dim=-1) > 0                # (B, T, N)
    assert 0.45 < float(moved.float().mean()) <= 0.5                           # the outer half, all of it


def test_per_sample_severity_and_absent_samples():
    clean = _batch()
    clean["present"][2, MODALITIES.index("rgbd")] = False
    out = apply_fault(clean, "rgbd_blackout", torch.tensor([0.0, 1.0, 1.0, 0.5]),
                      generator=torch.Generator().manual_seed(0))
    assert torch.equal(out["rgb"][0], clean["rgb"][0]) and not out["rgb"][1].any()
    assert torch.equal(out["rgb"][2], clean["rgb"][2])        # modality absent: untouched
    assert not out["rgb"][3, 4:].any() and torch.equal(out["rgb"][3, :4], clean["rgb"][3, :4])


def test_bad_severity_and_unknown_fault_are_refused():
    with pytest.raises(ValueError, match="severity"):
        _apply("rgbd_blackout", 1.5)
    with pytest.raises(ValueError, match="unknown fault"):
        _apply("lens_flare", 0.5)


def test_sample_faults_is_seeded_and_reports_the_severity_per_modality():
    def draw(seed):
        return sample_faults(_batch(), probability=1.0, generator=torch.Generator().manual_seed(seed))
    (first, severity), (again, severity_again) = draw(5), draw(5)
    assert torch.equal(severity, severity_again)
    for key in ("rgb", "depth", "skeleton", "points"):
        assert torch.equal(first[key], again[key])
    assert severity.shape == (B, 3) and bool((severity > 0).any(dim=1).all())
    level = severity.max(dim=1).values
    for row in severity:                     # one fault per sample: its modalities carry its severity, no other
        assert set(row[row > 0].tolist()) == {float(row.max())}
    assert bool(((severity > 0).sum(dim=1) <= 2).all()) and bool((level <= 1).all())
    only_holes, holes = sample_faults(_batch(), probability=1.0, generator=torch.Generator().manual_seed(5),
                                      names=["depth_holes"])
    assert bool((holes[:, [0, 2]] > 0).all()) and not holes[:, 1].any()    # depth holes reach the cloud too
    none, zero = sample_faults(_batch(), probability=0.0, generator=torch.Generator().manual_seed(5))
    assert not zero.any() and torch.equal(none["rgb"], _batch()["rgb"])


def test_every_fault_is_documented_with_a_modality():
    for fault in FAULTS.values():
        assert fault.modality in MODALITIES and fault.severity_means
        assert set(fault.also) <= set(MODALITIES) - {fault.modality}
        assert fault.name in sensor_faults.__doc__
