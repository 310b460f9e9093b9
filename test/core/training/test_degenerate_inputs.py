"""Degenerate inputs in training and evaluation give a defined (finite) gate and loss: an all-zero frame, a
NaN joint, an empty (all-zero) point cloud, under every gate mode, and the training faults on top of them."""
import dataclasses

import pytest
import torch

from rcmcl_core.config import GATE_MODES, preset
from rcmcl_core.evaluation.robustness import evaluate
from rcmcl_core.models import RCMCL
from rcmcl_core.training.objectives import PretrainObjective, SupervisedObjective
from rcmcl_core.augment.sensor_faults import FAULTS, apply_fault

from clip_factory import tiny_batch as make_batch


def _zero_frame(batch):
    batch = dict(batch, rgb=batch["rgb"].clone(), depth=batch["depth"].clone())
    batch["rgb"][0, 3], batch["depth"][0, 3] = 0.0, 0.0
    batch["rgb"][1], batch["depth"][1] = 0.0, 0.0            # and a whole black window
    return batch


def _nan_joint(batch):
    batch = dict(batch, skeleton=batch["skeleton"].clone())
    batch["skeleton"][0, 2, 0, 5, 1] = float("nan")
    batch["skeleton"][1, :, 0, 7] = float("nan")             # a joint NaN in every frame
    return batch


def _empty_cloud(batch):
    batch = dict(batch, points=batch["points"].clone())
    batch["points"][0] = 0.0
    return batch


CASES = {"all-zero frame": _zero_frame, "NaN joint": _nan_joint, "empty cloud": _empty_cloud}


def _model(mode):
    config = preset("tiny")
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, gate_mode=mode)).validate()
    torch.manual_seed(0)
    return RCMCL(config=config), config


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("mode", GATE_MODES)
def test_evaluation_forward_gives_finite_gates_in_0_1(case, mode):
    model, _ = _model(mode)
    batch = CASES[case](make_batch([(True, True, True)] * 4))
    with torch.no_grad():
        out = model.eval()(batch)
    assert torch.isfinite(out.gates).all() and ((out.gates >= 0) & (out.gates <= 1)).all()
    assert torch.isfinite(out.logits).all()


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("mode", ["per_modality", "aux_target"])
def test_training_steps_give_finite_losses_and_gradients(case, mode):
    model, config = _model(mode)
    batch = {**CASES[case](make_batch([(True, True, True)] * 8, seed=4)), "label": torch.arange(8)}
    for objective in (PretrainObjective(model=model, config=config),
                      SupervisedObjective(model=model, config=config, frozen_backbone=False)):
        terms = objective(batch, torch.Generator().manual_seed(1))
        terms["total"].backward()
        assert all(torch.isfinite(v).all() for v in terms.values()), terms
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        model.zero_grad()


@pytest.mark.parametrize("case", list(CASES))
def test_every_fault_on_a_degenerate_input_keeps_the_gates_finite(case):
    model, _ = _model("per_modality")
    batch = CASES[case](make_batch([(True, True, True)] * 4))
    with torch.no_grad():
        for name in FAULTS:
            faulted = apply_fault(batch, name, 1.0, generator=torch.Generator().manual_seed(0))
            assert torch.isfinite(model.eval()(faulted).gates).all(), name


class _Clips(torch.utils.data.Dataset):
    def __init__(self, batch):
        self.batch = batch

    def __len__(self):
        return self.batch["present"].shape[0]

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.batch.items()}


def test_the_evaluation_suite_reports_finite_gates_on_degenerate_clips():
    model, _ = _model("per_modality")
    batch = _empty_cloud(_nan_joint(_zero_frame(make_batch([(True, True, True)] * 4))))
    batch["label"] = torch.arange(4)
    results = evaluate(model, _Clips(batch), batch_size=4, progress=False)
    for name, result in results.items():
        assert all(g == g and 0.0 <= g <= 1.0 for g in result.mean_gates), name
