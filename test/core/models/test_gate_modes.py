"""AMG variants behind model.gate_mode (models/gating.py, gate_target.py, objectives.degrade_for_training):
the bundled checkpoint keeps today's per-modality read-out, the paper's shared W_G, stop-gradient, and the
auxiliary reliability target (beyond the paper)."""
import dataclasses

import pytest
import torch

from rcmcl_core.checkpoint import CheckpointError, check_model_compatible, load_checkpoint
from rcmcl_core.config import MODALITIES, RCMCLConfig, preset
from rcmcl_core.training.gate_target import feature_movement, gate_target_loss, reliability_target
from rcmcl_core.models import RCMCL
from rcmcl_core.training.objectives import PretrainObjective, SupervisedObjective, degrade_for_training
from rcmcl_core.augment.sensor_faults import apply_fault
from rcmcl_core.bundled import BUNDLED_CHECKPOINT

from clip_factory import tiny_batch as make_batch


def _config(mode, **augment):
    config = preset("tiny")
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, gate_mode=mode))
    if augment:
        config = dataclasses.replace(config, augment=dataclasses.replace(config.augment, **augment))
    return config.validate()


def test_a_config_from_before_gate_modes_loads_as_the_per_modality_gate():
    older = preset("tiny").to_dict()
    del older["model"]["gate_mode"]
    assert RCMCLConfig.from_dict(older).model.gate_mode == "per_modality"


def test_bundled_checkpoint_uses_the_reliability_target_gate_with_a_per_modality_read_out():
    checkpoint = load_checkpoint(BUNDLED_CHECKPOINT)
    assert checkpoint.config.model.gate_mode == "aux_target"
    model = RCMCL(config=checkpoint.config)
    check_model_compatible(checkpoint.model_state, model)
    model.load_state_dict(checkpoint.model_state)
    model.eval()
    c = checkpoint.config.clip
    g = torch.Generator().manual_seed(0)
    batch = {"rgb": torch.rand(2, c.frames, 3, c.image_size, c.image_size, generator=g),
             "depth": 2 + torch.rand(2, c.frames, 1, c.image_size, c.image_size, generator=g),
             "skeleton": torch.randn(2, c.frames, c.max_bodies, 25, 3, generator=g) * 0.3 + torch.tensor([0, 0, 3.0]),
             "points": torch.randn(2, c.frames, c.num_points, 3, generator=g) * 0.3 + torch.tensor([0, 0, 3.0]),
             "present": torch.ones(2, 3, dtype=torch.bool)}
    with torch.no_grad():
        out = model(batch)
        state = checkpoint.model_state
        expected = torch.stack([torch.sigmoid(out.z[:, m] @ state[f"gate.scorers.{m}.weight"][0]
                                              + state[f"gate.scorers.{m}.bias"][0]) for m in range(3)], dim=1)
    assert torch.allclose(out.gates, expected, atol=1e-6)


def test_paper_shared_gate_is_one_w_g_for_every_modality():
    torch.manual_seed(0)
    model = RCMCL(config=_config("paper_shared")).eval()
    assert len(model.gate.scorers) == 1
    z = torch.randn(1, 1, model.config.model.feature_dim).expand(4, 3, -1)
    gates = model.gate(z)
    assert torch.equal(gates[:, 0], gates[:, 1]) and torch.equal(gates[:, 1], gates[:, 2])


def test_a_per_modality_checkpoint_does_not_load_into_the_paper_gate():
    per_modality = RCMCL(config=_config("per_modality"))
    with pytest.raises(CheckpointError, match="unexpected"):
        check_model_compatible(per_modality.state_dict(), RCMCL(config=_config("paper_shared")))


@pytest.mark.parametrize("mode, reaches_encoders", [("per_modality", True), ("detached", False)])
def test_detached_gate_sends_no_gradient_into_the_encoders(mode, reaches_encoders):
    torch.manual_seed(0)
    model = RCMCL(config=_config(mode)).train()
    out = model(make_batch([(True, True, True)] * 4))
    out.gates.sum().backward()
    encoder_grad = sum(float(p.grad.abs().sum()) for p in model.encoders.parameters() if p.grad is not None)
    assert (encoder_grad > 0) == reaches_encoders
    assert float(model.gate.scorers[0].weight.grad.abs().sum()) > 0


def test_reliability_target_is_one_for_an_unmoved_feature_and_falls_with_movement():
    z = torch.randn(3, 3, 8)
    assert torch.allclose(reliability_target(feature_movement(z, z), scale=0.5), torch.ones(3, 3))
    moved = [float(reliability_target(feature_movement(z * (1 + k), z), scale=0.5).mean()) for k in (0.1, 0.5, 1.0)]
    assert moved[0] > moved[1] > moved[2]


def test_aux_target_blank_dropout_keeps_dropped_modalities_present_as_zeros():
    config = _config("aux_target", modality_dropout=1.0, blank_dropout=1.0, fault_probability=0.0)
    batch = make_batch([(True, True, True)] * 8)
    out = degrade_for_training(batch, config=config, generator=torch.Generator().manual_seed(0))
    assert bool(out["present"].all())
    blank = [not out["skeleton"][b].any() or not out["points"][b].any() or not out["rgb"][b].any() for b in range(8)]
    assert all(blank)
    masked = degrade_for_training(batch, config=_config("per_modality", modality_dropout=1.0, fault_probability=0.0),
                                  generator=torch.Generator().manual_seed(0))
    assert not bool(masked["present"].all())


def test_gate_target_steps_teach_the_gate_to_lower_a_blacked_out_camera():
    torch.manual_seed(0)
    model = RCMCL(config=_config("aux_target")).eval()
    clean = make_batch([(True, True, True)] * 8, seed=1)
    black = apply_fault(clean, "rgbd_blackout", 1.0, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        z_clean, present = model.encode(clean)
        z_black, _ = model.encode(black)
    z = torch.cat([z_clean, z_black])
    reference = torch.cat([z_clean, z_clean])
    optimiser = torch.optim.Adam(model.gate.parameters(), lr=0.2)
    for _ in range(200):
        loss = gate_target_loss(model.gate(z), z, reference, torch.cat([present, present]), scale=0.5)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        rgbd = MODALITIES.index("rgbd")
        assert float(model.gate(z_black)[:, rgbd].mean()) < float(model.gate(z_clean)[:, rgbd].mean()) - 0.3


@pytest.mark.parametrize("mode", ["paper_shared", "per_modality", "detached", "aux_target"])
def test_every_mode_trains_a_pretraining_and_a_fine_tuning_step(mode):
    torch.manual_seed(0)
    config = _config(mode)
    model = RCMCL(config=config).train()
    batch = {**make_batch([(True, True, True)] * 8, seed=2), "label": torch.arange(8)}
    for objective in (PretrainObjective(model=model, config=config),
                      SupervisedObjective(model=model, config=config, frozen_backbone=False)):
        terms = objective(batch, torch.Generator().manual_seed(0))
        terms["total"].backward()
        assert torch.isfinite(terms["total"]) and (("gate" in terms) == (mode == "aux_target"))
        assert model.gate.scorers[0].weight.grad is not None
        model.zero_grad()


def test_the_evidence_target_follows_the_class_evidence_a_modality_kept():
    """gate_target movement_evidence: a fault that leaves a feature nearly in place but takes its class
    evidence away gets a low target from evidence_target, and the loss takes the lower of the two targets."""
    from rcmcl_core.training.gate_target import evidence_target
    torch.manual_seed(0)
    classifier = torch.nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        classifier.weight.copy_(torch.tensor([[10.0, 0, 0, 0], [-10.0, 0, 0, 0]]))   # class 0 iff z[0] > 0
    reference = torch.tensor([[[0.3, 1.0, 1.0, 1.0]] * 3])                            # (1, 3, 4): all say class 0
    z = reference.clone()
    z[0, 2, 0] = -0.3                       # points: a small move that flips its evidence to class 1
    evidence = evidence_target(classifier, z, reference, torch.tensor([0]))
    assert evidence[0, :2].tolist() == [1.0, 1.0] and evidence[0, 2] < 0.01
    movement = reliability_target(feature_movement(z, reference), scale=0.5)
    assert movement[0, 2] > 0.5            # the movement target alone would keep trusting points
    present = torch.ones(1, 3, dtype=torch.bool)
    gates = torch.full((1, 3), 0.5)
    with_evidence = gate_target_loss(gates, z, reference, present, scale=0.5, evidence=evidence)
    target = torch.minimum(movement, evidence)
    assert with_evidence == pytest.approx(float(torch.nn.functional.binary_cross_entropy(gates, target)), rel=1e-5)
