"""The full RCMCL model: presence handling, AMG gating and fusion (Eq.4-5), batch validation, training."""
import itertools

import pytest
import torch

from rcmcl_core.config import MODALITIES, preset
from rcmcl_core.models import RCMCL, AdaptiveModalityGate, fuse
from rcmcl_core.models.rcmcl import INPUTS
from clip_factory import tiny_batch as make_batch

CONFIG = preset("tiny")
CLIP = CONFIG.clip
D, K = CONFIG.model.feature_dim, CONFIG.model.num_classes
PATTERNS = [p for p in itertools.product([False, True], repeat=3) if any(p)]   # the 7 presence patterns


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return RCMCL(config=CONFIG).eval()


def _run(model, batch):
    with torch.no_grad():
        return model(batch)


def _corrupt(batch, modality, sample, value):
    corrupted = dict(batch)
    for key in INPUTS[modality]:
        tensor = batch[key].clone()
        tensor[sample] = value if value is not None else torch.randn_like(tensor[sample]) * 50
        corrupted[key] = tensor
    return corrupted


# -- presence patterns -----------------------------------------------------------------------------
@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: "".join("RSP"[i] if on else "-" for i, on in enumerate(p)))
def test_every_presence_pattern_gives_finite_outputs_of_the_contract_shapes(model, pattern):
    out = _run(model, make_batch([pattern, pattern]))
    assert out.logits.shape == (2, K) and out.gates.shape == (2, 3)
    assert out.z.shape == (2, 3, D) and out.fused.shape == (2, D)
    for tensor in (out.logits, out.gates, out.z, out.fused):
        assert torch.isfinite(tensor).all()
    absent = ~torch.tensor(pattern)
    assert (out.gates[:, absent] == 0).all() and (out.z[:, absent] == 0).all()
    assert (out.gates[:, ~absent] > 0).all()


def test_a_batch_mixing_all_seven_patterns_matches_each_sample_run_alone(model):
    batch = make_batch(PATTERNS)
    out = _run(model, batch)
    assert torch.isfinite(out.logits).all()
    for i in (0, 3, 6):
        alone = _run(model, {k: v[i:i + 1] for k, v in batch.items()})
        assert torch.allclose(alone.logits, out.logits[i:i + 1], atol=1e-5)


def test_a_mixed_batch_also_runs_in_training_mode():
    torch.manual_seed(0)
    model = RCMCL(config=CONFIG).train()
    out = model(make_batch([(True, False, True), (False, True, True), (True, True, False)]))
    assert torch.isfinite(out.logits).all()


# -- absent modalities cannot leak -----------------------------------------------------------------------
@pytest.mark.parametrize("value", [None, float("nan"), 1e6], ids=["random", "nan", "huge"])
@pytest.mark.parametrize("modality", MODALITIES)
def test_garbage_in_an_absent_modality_changes_nothing(model, modality, value):
    m = MODALITIES.index(modality)
    present = [(True, True, True), (True, True, True)]
    present[1] = tuple(i != m for i in range(3))              # sample 1 lacks `modality`, sample 0 has all
    batch = make_batch(present)
    clean, dirty = _run(model, batch), _run(model, _corrupt(batch, modality, 1, value))
    assert clean.gates[1, m] == 0 and dirty.gates[1, m] == 0
    assert torch.equal(clean.logits, dirty.logits) and torch.equal(clean.fused, dirty.fused)


def test_modality_absent_from_the_whole_batch_may_be_left_out(model):
    batch = make_batch([(True, False, True)] * 2)
    with_tensor = _run(model, batch)
    without = _run(model, {**batch, "skeleton": None})
    assert torch.equal(with_tensor.logits, without.logits)


def test_all_modalities_absent_raises_naming_the_sample(model):
    with pytest.raises(ValueError, match=r"sample\(s\) \[1\]"):
        model(make_batch([(True, False, False), (False, False, False)]))


# -- gradients -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("absent", MODALITIES)
def test_gradients_reach_present_encoders_and_never_absent_ones(absent):
    torch.manual_seed(0)
    model = RCMCL(config=CONFIG).train()
    a = MODALITIES.index(absent)
    present = [tuple(i != a for i in range(3)), tuple(i != a and i != (a + 1) % 3 for i in range(3))]
    out = model(make_batch(present))
    torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 1])).backward()
    for modality in MODALITIES:
        grads = {name: p.grad for name, p in model.encoders[modality].named_parameters()}
        if modality == absent:
            assert all(g is None for g in grads.values())
        else:
            missing = [name for name, g in grads.items() if g is None or not g.abs().sum() > 0]
            assert not missing, f"{modality} parameters without gradient: {missing}"
    assert all(p.grad is not None for p in model.gate.parameters())


# -- AMG and fusion (Eq.4-5) -----------------------------------------------------------------------
def test_fused_feature_is_the_gate_weighted_mean_of_present_modalities(model):
    out = _run(model, make_batch([(True, False, True)]))
    g, z = out.gates[0], out.z[0]
    expected = (g[0] * z[0] + g[2] * z[2]) / (g[0] + g[2] + CONFIG.model.gate_eps)
    assert torch.allclose(out.fused[0], expected, atol=1e-6)


def test_the_all_present_fast_path_equals_forward(model):
    batch = make_batch([(True, True, True)] * 2, seed=5)
    with torch.no_grad():
        reference, fast = model(batch), model.forward_all_present(batch)
    for field in ("logits", "gates", "z", "fused"):
        torch.testing.assert_close(getattr(fast, field), getattr(reference, field), msg=field)


def test_gate_has_one_linear_read_out_per_modality():
    gate = AdaptiveModalityGate(feature_dim=D)
    z = torch.randn(4, 3, D)
    g = gate(z)
    assert g.shape == (4, 3) and ((g > 0) & (g < 1)).all()
    z2 = z.clone()
    z2[:, 1] += 1.0
    assert torch.equal(gate(z2)[:, [0, 2]], g[:, [0, 2]])


def test_fuse_ignores_nan_features_of_absent_modalities():
    z = torch.randn(2, 3, D)
    z[:, 1] = float("nan")
    present = torch.tensor([[True, False, True], [False, False, True]])
    fused = fuse(z, torch.full((2, 3), 0.5), present, eps=1e-6)
    assert torch.isfinite(fused).all()
    assert torch.allclose(fused[1], z[1, 2] * 0.5 / (0.5 + 1e-6))


def test_fuse_rejects_a_sample_without_modalities():
    with pytest.raises(ValueError, match=r"\[0\]"):
        fuse(torch.randn(1, 3, D), torch.ones(1, 3), torch.zeros(1, 3, dtype=torch.bool), eps=1e-6)


def test_average_fusion_gates_are_the_presence_mask():
    config = preset("tiny")
    config.model.fusion = "average"
    model = RCMCL(config=config).eval()
    out = _run(model, make_batch([(True, False, True), (False, True, False)]))
    assert torch.equal(out.gates, torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))
    assert torch.allclose(out.fused[0], (out.z[0, 0] + out.z[0, 2]) / (2 + config.model.gate_eps))


# -- heads -----------------------------------------------------------------------------------------
def test_projection_keeps_absent_rows_zero_when_given_the_mask(model):
    out = _run(model, make_batch([(True, False, True), (True, True, True)]))
    with torch.no_grad():
        h = model.project(out.z, torch.tensor([[True, False, True], [True, True, True]]))
    assert h.shape == (2, 3, CONFIG.model.projection_dim)
    assert (h[0, 1] == 0).all() and (h[1, 1] != 0).any()


def test_projection_trains_when_a_modality_is_present_in_a_single_sample():
    torch.manual_seed(0)
    model = RCMCL(config=CONFIG).train()
    present = torch.tensor([[True, True, True], [True, False, True], [True, False, False]])
    out = model(make_batch(present.tolist()))
    h = model.project(out.z, present)
    assert torch.isfinite(h).all() and (h[1:, 1] == 0).all() and (h[2, 2] == 0).all()


def test_skeleton_decoder_reconstructs_a_clip_shaped_skeleton(model):
    with torch.no_grad():
        skeleton = model.reconstruct_skeleton(torch.randn(2, D))
    assert skeleton.shape == (2, CLIP.frames, CLIP.max_bodies, 25, 3) and torch.isfinite(skeleton).all()


# -- batch validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, bad, fragment", [
    ("rgb", lambda t: t[:, :, :, :-1], "rgb must have shape (2, 8, 3, 32, 32)"),
    ("depth", lambda t: t.double(), "depth must have shape (2, 8, 1, 32, 32) torch.float32, got (2, 8, 1, 32, 32) "
                                    "torch.float64"),
    ("skeleton", lambda t: t[..., :2], "skeleton must have shape (2, 8, 2, 25, 3)"),
    ("points", lambda t: t[:, :, :10], "points must have shape (2, 8, 64, 3)"),
    ("points", lambda t: None, "points must be a tensor of shape (2, 8, 64, 3)"),
    ("present", lambda t: t.int(), "present must be a (B, 3) torch.bool tensor"),
])
def test_malformed_inputs_are_rejected_naming_tensor_and_expected_shape(model, key, bad, fragment):
    batch = make_batch([(True, True, True)] * 2)
    batch[key] = bad(batch[key])
    with pytest.raises(ValueError) as error:
        model(batch)
    assert fragment in str(error.value)


# -- training and checkpoints ----------------------------------------------------------------------------
def test_supervised_steps_reduce_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = RCMCL(config=CONFIG).train()
    batch = make_batch([(True, True, True)] * 8, seed=3)
    labels = torch.arange(8) % K
    optimiser = torch.optim.AdamW(model.parameters(), lr=CONFIG.optim.lr)
    losses = []
    for _ in range(20):
        loss = torch.nn.functional.cross_entropy(model(batch).logits, labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_state_dict_restores_identical_outputs(model):
    clone = RCMCL(config=preset("tiny"))
    clone.load_state_dict(model.state_dict())
    batch = make_batch([(True, True, True), (False, True, True)])
    assert torch.equal(_run(model, batch).logits, _run(clone.eval(), batch).logits)
