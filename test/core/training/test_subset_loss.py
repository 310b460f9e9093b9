"""The modality-subset cross-entropy (rcmcl_core/training/subset_loss.py, loss.lambda_subset): what it
averages, where it adds nothing, and that it trains the fallbacks on a real tiny fine-tuning run."""
import dataclasses

import pytest
import torch
from torch.nn import functional as F

from rcmcl_core.training.curves import read_curves
from rcmcl_core.data.dataset import ClipDataset
from rcmcl_core.training.loop import train_stage
from rcmcl_core.training.subset_loss import PROPER_SUBSETS, subset_cross_entropy


def test_it_is_the_mean_cross_entropy_over_each_proper_subset_of_what_is_present():
    torch.manual_seed(0)
    classifier = torch.nn.Linear(4, 3)
    z = torch.randn(2, 3, 4)
    gates = torch.rand(2, 3) + 0.1
    present = torch.tensor([[True, True, True], [True, False, True]])
    gates = torch.where(present, gates, torch.zeros_like(gates))
    labels = torch.tensor([2, 0])
    expected = []
    for row, subsets in ((0, PROPER_SUBSETS), (1, [(0,), (2,)])):     # row 1: only {R} and {P} are proper
        for subset in subsets:
            idx = list(subset)
            fused = (gates[row, idx, None] * z[row, idx]).sum(0) / (gates[row, idx].sum() + 1e-6)
            expected.append(F.cross_entropy(classifier(fused)[None], labels[row, None]))
    loss = subset_cross_entropy(classifier, z, gates, present, labels, eps=1e-6)
    assert loss.item() == pytest.approx(torch.stack(expected).mean().item(), rel=1e-5)


def test_samples_with_one_modality_add_nothing_and_a_batch_of_them_gives_zero_with_a_graph():
    classifier = torch.nn.Linear(4, 3)
    z = torch.randn(2, 3, 4, requires_grad=True)
    present = torch.tensor([[False, True, False], [False, False, True]])
    gates = present.float()
    loss = subset_cross_entropy(classifier, z, gates, present, torch.tensor([0, 1]), eps=1e-6)
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()                                       # callers may always add it


def test_absent_garbage_never_reaches_the_loss():
    classifier = torch.nn.Linear(4, 3)
    z = torch.randn(1, 3, 4)
    present = torch.tensor([[True, True, False]])
    gates = torch.tensor([[0.5, 0.7, 0.0]])
    clean = subset_cross_entropy(classifier, z, gates, present, torch.tensor([1]), eps=1e-6)
    z[0, 2] = float("nan")
    assert subset_cross_entropy(classifier, z, gates, present, torch.tensor([1]), eps=1e-6).item() == clean.item()


def test_fine_tuning_with_it_logs_the_term_at_its_weight(root, config, tmp_path):
    config = dataclasses.replace(config, loss=dataclasses.replace(config.loss, lambda_subset=0.5))
    train = ClipDataset(root, split="xsub", subset="train", config=config, train=True)
    train_stage(stage="finetune", config=config, dataset=train, labels=train.class_names, out_dir=tmp_path,
                device="cpu", progress=False)
    rows = read_curves(tmp_path)
    assert rows and all(r["loss_subset"] > 0 for r in rows)
    for r in rows:
        assert r["weighted_subset"] == pytest.approx(0.5 * r["loss_subset"])
        assert r["total"] == pytest.approx(sum(r[k] for k in r if k.startswith("weighted_")), rel=1e-4)
