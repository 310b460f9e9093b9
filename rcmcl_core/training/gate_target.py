"""The auxiliary reliability target of gate_mode 'aux_target' (beyond the paper: Eq.1-6 never supervise G_M).

A fault that matters moves the modality's feature: the target says how far, and the gate learns to read it.
For each modality present after degradation, with Z_M the degraded feature and Z'_M the feature of the same
(augmented) clip before faults and dropout:

    spread_M   = mean ||Z'_M,i - Z'_M,j|| over pairs of clips i != j in the batch (how far actions lie apart)
    movement_M = ||Z_M - Z'_M|| / (spread_M + eps)          feature movement in units of that spread, >= 0
    target_M   = exp(-movement_M / gate_aux_scale)          1 = untouched, -> 0 as the feature leaves its place

Measuring the movement against the spread between clips makes the target independent of the feature scale:
a fault that moves Z_M as far as half the distance between two different actions (scale 0.5) gets exp(-1).

With `loss.gate_target: movement_evidence` fine-tuning (where labels exist) also asks how much class evidence the
modality kept on its own, and takes the lower of the two targets:

    evidence_M = p(y | C(Z_M)) / p(y | C(Z'_M)), clipped to [0, 1]   (C: the classifier; Eq.5 over M alone is Z_M)

A fault can cost a modality its evidence while hardly moving its feature (a passer-by, depth holes): the
movement target misses it, the evidence target does not; the minimum never asks a gate to be higher than the
movement target alone would. Pretraining has no labels and keeps the movement target.

The loss is the binary cross-entropy between the unmasked gate G_M and target_M, averaged over the
present (sample, modality) pairs. Z' is computed without gradient, so the target is a fixed label. A
modality dropped as a blank input (augment.blank_dropout: present, all zeros) is where the gate learns that
a sensor delivering nothing deserves ~0 weight, the signal that masked dropout never gives.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

EPS = 1e-6


def feature_movement(z: torch.Tensor, z_reference: torch.Tensor) -> torch.Tensor:
    """(B, M, D), (B, M, D) -> (B, M): ||z - z_ref|| over the mean pairwise distance of z_ref's B clips per
    modality (over ||z_ref|| when B = 1)."""
    z, z_reference = z.float(), z_reference.float()
    b = z.shape[0]
    if b > 1:
        pairwise = torch.cdist(z_reference.transpose(0, 1), z_reference.transpose(0, 1))      # (M, B, B)
        spread = pairwise.sum(dim=(1, 2)) / (b * (b - 1))                                    # (M,)
        spread = spread[None].expand(b, -1)
    else:
        spread = z_reference.norm(dim=-1)
    return (z - z_reference).norm(dim=-1) / (spread + EPS)


def reliability_target(movement: torch.Tensor, *, scale: float) -> torch.Tensor:
    """(B, M) movement -> (B, M) target in (0, 1]: exp(-movement / scale)."""
    return torch.exp(-movement / scale)


@torch.no_grad()
def evidence_target(classifier: torch.nn.Module, z: torch.Tensor, z_reference: torch.Tensor,
                    labels: torch.Tensor) -> torch.Tensor:
    """(B, M, D), (B, M, D), (B,) -> (B, M) in [0, 1]: the true class's probability from each modality alone
    after the fault over the same before it (module docstring), clipped to 1."""
    index = labels[:, None, None].expand(-1, z.shape[1], 1)
    p = torch.softmax(classifier(z.float()), dim=-1).gather(-1, index).squeeze(-1)
    p_reference = torch.softmax(classifier(z_reference.float()), dim=-1).gather(-1, index).squeeze(-1)
    return (p / p_reference.clamp(min=EPS)).clamp(0.0, 1.0)


def gate_target_loss(raw_gates: torch.Tensor, z: torch.Tensor, z_reference: torch.Tensor,
                     present: torch.Tensor, *, scale: float, evidence: torch.Tensor | None = None) -> torch.Tensor:
    """BCE(G_M, target_M) over present pairs. raw_gates (B, M) in (0, 1) before masking; z, z_reference
    (B, M, D); present (B, M) bool; evidence (B, M) from evidence_target or None (movement target alone).
    Returns a scalar (0 with a graph when nothing is present)."""
    target = reliability_target(feature_movement(z.detach(), z_reference.detach()), scale=scale)
    if evidence is not None:
        target = torch.minimum(target, evidence)
    gates = raw_gates.float().clamp(1e-6, 1 - 1e-6)
    if not bool(present.any()):
        return gates.sum() * 0.0
    return F.binary_cross_entropy(gates[present], target[present])
