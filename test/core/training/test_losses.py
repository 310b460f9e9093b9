"""Pre-training losses: L_CM (Eq.1), L_IM (Eq.2), L_deg (Eq.3), total (Eq.6)."""
import math

import pytest
import torch

from rcmcl_core.config import LossConfig
from rcmcl_core.training.losses import (LossTerms, barlow_twins, cross_correlation, cross_modal_loss,
                                        degradation_loss, info_nce_pair, intra_modal_loss, total_loss)

TAU = LossConfig().temperature
LAMBDA_OFFDIAG = LossConfig().barlow_offdiag


def _embeddings(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# -- Eq.1 ----------------------------------------------------------------------------------------------
def test_info_nce_matches_the_closed_form_on_a_two_by_two_case():
    h_i = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    h_j = torch.tensor([[1.0, 1.0], [0.0, 2.0]])  # normalised: [1/sqrt2, 1/sqrt2], [0, 1]
    tau = 0.5
    s = 1 / math.sqrt(2)
    # cosine similarities S[k, m] = h_i,k . h_j,m: S00 = s, S01 = 0, S10 = s, S11 = 1
    s00, s01, s10, s11 = s, 0.0, s, 1.0

    def e(x):
        return math.exp(x / tau)

    i_to_j = -math.log(e(s00) / (e(s00) + e(s01))) - math.log(e(s11) / (e(s10) + e(s11)))
    j_to_i = -math.log(e(s00) / (e(s00) + e(s10))) - math.log(e(s11) / (e(s01) + e(s11)))
    expected = (i_to_j + j_to_i) / (2 * 2)
    assert info_nce_pair(h_i, h_j, temperature=tau).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_decreases_when_paired_embeddings_are_made_identical():
    h_i, h_j = _embeddings(8, 16, seed=1), _embeddings(8, 16, seed=2)
    unrelated = info_nce_pair(h_i, h_j, temperature=TAU)
    identical = info_nce_pair(h_i, h_i.clone(), temperature=TAU)
    assert identical < unrelated
    assert identical < 0.1 * unrelated


def test_info_nce_is_symmetric_in_its_two_modalities():
    h_i, h_j = _embeddings(6, 8, seed=3), _embeddings(6, 8, seed=4)
    assert torch.allclose(info_nce_pair(h_i, h_j, temperature=TAU), info_nce_pair(h_j, h_i, temperature=TAU))


def test_info_nce_ignores_invalid_samples_even_when_they_hold_nan():
    h_i, h_j = _embeddings(6, 8, seed=5), _embeddings(6, 8, seed=6)
    valid = torch.tensor([True, False, True, True, False, True])
    reference = info_nce_pair(h_i, h_j, temperature=TAU, valid=valid)
    h_i2, h_j2 = h_i.clone(), h_j.clone()
    h_i2[~valid], h_j2[1] = 100.0 * _embeddings(2, 8, seed=7), float("nan")
    assert torch.equal(info_nce_pair(h_i2, h_j2, temperature=TAU, valid=valid), reference)
    assert torch.allclose(reference, info_nce_pair(h_i[valid], h_j[valid], temperature=TAU))


def test_info_nce_sends_no_gradient_to_invalid_samples():
    h_i = _embeddings(5, 4, seed=8).requires_grad_()
    valid = torch.tensor([True, True, False, True, False])
    info_nce_pair(h_i, _embeddings(5, 4, seed=9), temperature=TAU, valid=valid).backward()
    assert torch.all(h_i.grad[~valid] == 0) and torch.any(h_i.grad[valid] != 0)


def test_info_nce_with_fewer_than_two_valid_samples_is_a_zero_that_backpropagates():
    h_i = _embeddings(4, 4, seed=10).requires_grad_()
    loss = info_nce_pair(h_i, _embeddings(4, 4, seed=11), temperature=TAU,
                         valid=torch.tensor([False, True, False, False]))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(h_i.grad, torch.zeros_like(h_i))


def test_cross_modal_loss_sums_the_three_pairs_over_samples_where_both_are_present():
    h = _embeddings(6, 3, 8, seed=12)
    present = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 1], [1, 1, 0], [1, 1, 1], [1, 0, 1]], dtype=torch.bool)
    loss, parts = cross_modal_loss(h, present, temperature=TAU)
    assert list(parts) == ["rgbd-skeleton", "rgbd-points", "skeleton-points"]
    for (i, j), key in zip([(0, 1), (0, 2), (1, 2)], parts):
        expected = info_nce_pair(h[:, i], h[:, j], temperature=TAU, valid=present[:, i] & present[:, j])
        assert torch.equal(parts[key], expected)
    assert torch.allclose(loss, sum(parts.values()))


def test_cross_modal_loss_rejects_a_present_mask_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"present must be a bool mask of shape \(4, 3\)"):
        cross_modal_loss(_embeddings(4, 3, 8), torch.ones(4, 2, dtype=torch.bool), temperature=TAU)


# -- Eq.2 ----------------------------------------------------------------------------------------------
def _decorrelated_columns():
    """(4, 3): the non-constant columns of a 4x4 Hadamard matrix, scaled and shifted (BN undoes that)."""
    hadamard = torch.tensor([[1.0, 1.0, 1.0], [-1.0, 1.0, -1.0], [1.0, -1.0, -1.0], [-1.0, -1.0, 1.0]])
    return 3.0 * hadamard + torch.tensor([5.0, -2.0, 0.5])


def test_cross_correlation_of_identical_decorrelated_views_is_the_identity():
    h = _decorrelated_columns()
    assert torch.allclose(cross_correlation(h, h.clone()), torch.eye(3), atol=1e-5)


def test_barlow_twins_is_zero_for_an_identity_cross_correlation():
    h = _decorrelated_columns()
    assert barlow_twins(h, h.clone(), offdiag_weight=LAMBDA_OFFDIAG).item() == pytest.approx(0.0, abs=1e-8)


def test_barlow_twins_weights_the_off_diagonal_by_lambda():
    h1, h2 = _embeddings(16, 4, seed=13), _embeddings(16, 4, seed=14)
    c = cross_correlation(h1, h2)
    off = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    on = (1 - torch.diagonal(c)).pow(2).sum()
    assert torch.allclose(barlow_twins(h1, h2, offdiag_weight=0.25), on + 0.25 * off)


def test_a_few_gradient_steps_on_one_view_lower_barlow_twins():
    h1 = _embeddings(32, 8, seed=15)
    h2 = _embeddings(32, 8, seed=16).requires_grad_()
    optimiser = torch.optim.SGD([h2], lr=2.0)
    losses = []
    for _ in range(5):
        loss = barlow_twins(h1, h2, offdiag_weight=LAMBDA_OFFDIAG)
        losses.append(loss.item())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))
    assert losses[-1] < 0.5 * losses[0]


def test_intra_modal_loss_sums_each_modality_over_its_present_samples():
    h1, h2 = _embeddings(6, 3, 8, seed=17), _embeddings(6, 3, 8, seed=18)
    present = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1], [1, 1, 1], [0, 0, 1]], dtype=torch.bool)
    loss, parts = intra_modal_loss(h1, h2, present, offdiag_weight=LAMBDA_OFFDIAG)
    assert list(parts) == ["rgbd", "skeleton", "points"]
    for m, key in enumerate(parts):
        mask = present[:, m]
        assert torch.equal(parts[key], barlow_twins(h1[mask, m], h2[mask, m], offdiag_weight=LAMBDA_OFFDIAG))
    assert torch.allclose(loss, sum(parts.values()))


def test_intra_modal_loss_gives_a_graph_connected_zero_for_a_modality_present_once():
    h1 = _embeddings(4, 3, 8, seed=19).requires_grad_()
    present = torch.tensor([[1, 1, 1], [0, 1, 1], [0, 1, 1], [0, 1, 1]], dtype=torch.bool)
    loss, parts = intra_modal_loss(h1, _embeddings(4, 3, 8, seed=20), present, offdiag_weight=LAMBDA_OFFDIAG)
    assert parts["rgbd"].item() == 0.0 and torch.isfinite(loss)
    loss.backward()
    assert torch.equal(h1.grad[:, 0], torch.zeros(4, 8)) and torch.any(h1.grad[:, 1] != 0)


# -- Eq.3 ----------------------------------------------------------------------------------------------
def test_degradation_loss_is_zero_for_an_exact_reconstruction():
    target = _embeddings(2, 4, 2, 25, 3, seed=21)
    assert degradation_loss(target.clone(), target).item() == 0.0


def test_degradation_loss_is_the_mean_squared_joint_distance_in_square_metres():
    target = _embeddings(2, 4, 2, 25, 3, seed=22)
    reconstruction = target + torch.tensor([0.3, 0.4, 0.0])  # every joint 0.5 m off
    assert degradation_loss(reconstruction, target).item() == pytest.approx(0.25, rel=1e-5)


def test_degradation_loss_ignores_untracked_bodies_even_when_they_hold_nan():
    target = _embeddings(2, 4, 2, 25, 3, seed=23)
    valid = torch.ones(2, 4, 2, dtype=torch.bool)
    valid[:, :, 1] = False  # second body is zero padding
    valid[0, 2, 0] = False  # tracking lost in one frame
    reconstruction = target + torch.tensor([0.0, 0.0, 0.2])
    reconstruction[~valid] = 7.0
    target_with_holes = target.clone()
    target_with_holes[0, 2, 0] = float("nan")
    assert degradation_loss(reconstruction, target_with_holes, valid=valid).item() == pytest.approx(0.04, rel=1e-5)


def test_degradation_loss_accepts_a_per_joint_mask():
    target = torch.zeros(1, 2, 1, 25, 3)
    reconstruction = target.clone()
    reconstruction[..., 0, :] = 1.0  # only joint 0 is wrong, by sqrt(3) m
    valid = torch.ones(1, 2, 1, 25, dtype=torch.bool)
    assert degradation_loss(reconstruction, target, valid=valid).item() == pytest.approx(3.0 / 25)
    valid[..., 0] = False
    assert degradation_loss(reconstruction, target, valid=valid).item() == 0.0


def test_degradation_loss_without_a_valid_joint_is_a_zero_that_backpropagates():
    reconstruction = _embeddings(1, 2, 2, 25, 3, seed=24).requires_grad_()
    loss = degradation_loss(reconstruction, torch.zeros(1, 2, 2, 25, 3),
                            valid=torch.zeros(1, 2, 2, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(reconstruction.grad, torch.zeros_like(reconstruction))


def test_degradation_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(B, T, M, J, 3\).*\(1, 2, 2, 25, 3\) and \(1, 2, 1, 25, 3\)"):
        degradation_loss(torch.zeros(1, 2, 2, 25, 3), torch.zeros(1, 2, 1, 25, 3))


# -- Eq.6 ----------------------------------------------------------------------------------------------
def test_total_loss_weights_the_terms_as_configured():
    config = LossConfig(lambda_cm=2.0, lambda_im=3.0, lambda_deg=5.0)
    total = total_loss(cross_modal=torch.tensor(1.0), intra_modal=torch.tensor(10.0),
                       degradation=torch.tensor(100.0), config=config)
    assert total.item() == pytest.approx(2.0 + 30.0 + 500.0)


def test_loss_terms_combine_the_parts_and_log_them_as_floats():
    h1, h2 = _embeddings(4, 3, 8, seed=25), _embeddings(4, 3, 8, seed=26)
    present = torch.ones(4, 3, dtype=torch.bool)
    config = LossConfig()
    terms = LossTerms.combine(
        cross_modal=cross_modal_loss(h1, present, temperature=config.temperature),
        intra_modal=intra_modal_loss(h1, h2, present, offdiag_weight=config.barlow_offdiag),
        degradation=torch.tensor(0.5), config=config)
    floats = terms.as_floats()
    assert list(floats)[:4] == ["total", "cm", "im", "deg"]
    assert {"cm/rgbd-points", "im/skeleton"} <= set(floats)
    assert all(isinstance(v, float) for v in floats.values())
    assert floats["total"] == pytest.approx(config.lambda_cm * floats["cm"] + config.lambda_im * floats["im"]
                                            + config.lambda_deg * 0.5, rel=1e-6)


def test_losses_are_computed_in_float32_under_autocast():
    h = _embeddings(4, 3, 8, seed=27).to(torch.bfloat16)
    present = torch.ones(4, 3, dtype=torch.bool)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        cm, _ = cross_modal_loss(h, present, temperature=TAU)
        im, _ = intra_modal_loss(h, h, present, offdiag_weight=LAMBDA_OFFDIAG)
    assert cm.dtype == im.dtype == torch.float32
    assert torch.allclose(cm, cross_modal_loss(h.float(), present, temperature=TAU)[0])
