"""Cross-entropy over every proper subset of the present modalities (beyond the paper, `loss.lambda_subset`).

Why: a missing sensor leaves the classifier a gate-weighted mean of the remaining Z_M (Eq.5). Modality
dropout shows the classifier such a mean only for the samples it drops, and then the dropped encoder gets no
gradient. Here the encoders run once on the full input and the cheap part (Eq.5 + the linear classifier) runs
again for each subset, so every step trains every fallback: with RGB-D gone, skeleton + points must still
name the action. The paper's fine-tuning has no such term; lambda_subset 0 (the default) is the paper.
"""
from __future__ import annotations

import itertools

import torch
from torch.nn import functional as F

from rcmcl_core.models.gating import gate_weighted_mean

NUM_MODALITIES = 3
PROPER_SUBSETS = tuple(mask for size in range(1, NUM_MODALITIES)
                       for mask in itertools.combinations(range(NUM_MODALITIES), size))
"""The six non-empty proper subsets of (rgbd, skeleton, points) as index tuples."""


def subset_cross_entropy(classifier: torch.nn.Module, z: torch.Tensor, gates: torch.Tensor, present: torch.Tensor,
                         labels: torch.Tensor, *, eps: float) -> torch.Tensor:
    """Mean cross-entropy of classifier(Eq.5 over S) for every sample and every non-empty subset S of its
    present modalities smaller than the whole. z (B, 3, D), gates (B, 3) (0 where absent), present (B, 3)
    bool, labels (B,) -> scalar. Samples with one modality present have no such subset and add nothing; a
    batch with none gives 0 (with gradient, so every caller can add it)."""
    logits, targets = [], []
    for subset in PROPER_SUBSETS:
        keep = torch.zeros_like(present)
        keep[:, list(subset)] = True
        kept = present & keep
        rows = (present | ~keep).all(dim=1) & (kept != present).any(dim=1)   # within what is present, smaller
        if not bool(rows.any()):
            continue
        g = torch.where(kept, gates, torch.zeros_like(gates))[rows]
        z_kept = torch.where(kept[..., None], z, torch.zeros_like(z))[rows]
        logits.append(classifier(gate_weighted_mean(z_kept, g, eps=eps)))
        targets.append(labels[rows])
    if not logits:
        return z.sum() * 0.0
    return F.cross_entropy(torch.cat(logits), torch.cat(targets))
