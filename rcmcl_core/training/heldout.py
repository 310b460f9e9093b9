"""Held-out accuracy for learning curves, cheap enough to run after every epoch.

- Supervised stages (finetune, probe): top-1 (%) of the classifier on the clean held-out clips.
- Pretraining has no trained classifier yet: k-nearest-neighbour top-1 (%) of the AMG-fused features,
  held-out clips queried against the training clips (cosine similarity, k = KNN_K, votes weighted by
  exp(similarity / KNN_TEMPERATURE), the usual monitor of self-supervised runs).
Both run in eval mode without gradient and put every submodule back in the mode it was in (a probe keeps
its frozen backbone in eval mode and only the classifier in train mode).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from rcmcl_core.data.dataset import collate
from rcmcl_core.models.rcmcl import RCMCL

KNN_K = 10
KNN_TEMPERATURE = 0.1


@contextmanager
def _evaluating(model: torch.nn.Module) -> Iterator[None]:
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


@torch.no_grad()
def _fused_and_logits(model: RCMCL, dataset: Dataset, *, batch_size: int, device: torch.device
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> fused (C, D), logits (C, K), label (C,) over every clip of `dataset`, in order."""
    fused, logits, labels = [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate):
        batch = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        output = model(batch)
        fused.append(output.fused.float().cpu())
        logits.append(output.logits.float().cpu())
        labels.append(batch["label"].cpu())
    return torch.cat(fused), torch.cat(logits), torch.cat(labels)


def classifier_accuracy(model: RCMCL, dataset: Dataset, *, batch_size: int, device: torch.device) -> float:
    """Top-1 (%) of model's classifier on the clean clips of `dataset`."""
    with _evaluating(model):
        _, logits, labels = _fused_and_logits(model, dataset, batch_size=batch_size, device=device)
    return 100.0 * float((logits.argmax(dim=1) == labels).float().mean())


def knn_accuracy(model: RCMCL, train: Dataset, heldout: Dataset, *, batch_size: int, device: torch.device,
                 num_classes: int, k: int = KNN_K) -> float:
    """Weighted kNN top-1 (%) of held-out fused features against the training clips' fused features."""
    with _evaluating(model):
        bank, _, bank_labels = _fused_and_logits(model, train, batch_size=batch_size, device=device)
        query, _, labels = _fused_and_logits(model, heldout, batch_size=batch_size, device=device)
    similarity = F.normalize(query, dim=1) @ F.normalize(bank, dim=1).T              # (Q, N)
    top, index = similarity.topk(min(k, bank.shape[0]), dim=1)
    votes = torch.zeros(query.shape[0], num_classes).scatter_add_(1, bank_labels[index],
                                                                  (top / KNN_TEMPERATURE).exp())
    return 100.0 * float((votes.argmax(dim=1) == labels).float().mean())
