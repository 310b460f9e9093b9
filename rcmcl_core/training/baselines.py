"""Baselines and ablations in the same harness as RCMCL (same encoders, data, evaluation).

- Supervised late fusion (Table II 'Supervised SOTA', Table IV config 1): the same encoders, features
  averaged over present modalities (fusion='average'), trained from scratch with cross-entropy only: no
  modality dropout, no sensor faults (`objectives.degrade_for_training` leaves its batches as they are) and
  no gate target. It does get the scene augmentation every stage gets (`augment.bystander`, when set).
- CMC-CMKM-style contrastive baseline (Brinzea et al., IJCNN 2022; seeds 003/004): Contrastive Multiview
  Coding between every modality pair, with Cross-Modal Knowledge Mining: for an anchor of modality a, the
  clips that modality a itself finds most similar are extra positives in the a->b InfoNCE, and the next
  most similar are removed from the negatives (likely false negatives). The original mines with frozen
  unimodal encoders; we mine with the current encoder's detached embeddings (no extra pretraining stage).
  Average fusion, no L_IM, no L_deg, no AMG (and so no gate target).
- Ablations 1-7 of Table IV as config transformations.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn import functional as F

import rcmcl_core.augment.batch as augment
from rcmcl_core.config import RCMCLConfig
from rcmcl_core.models.rcmcl import RCMCL

PAIRS = ((0, 1), (0, 2), (1, 2))


def _with(config: RCMCLConfig, **sections) -> RCMCLConfig:
    """Copy of `config` with fields of sections replaced, e.g. _with(c, loss={'lambda_im': 0})."""
    replaced = {name: dataclasses.replace(getattr(config, name), **fields) for name, fields in sections.items()}
    return dataclasses.replace(config, **replaced).validate()


def supervised_fusion_config(config: RCMCLConfig) -> RCMCLConfig:
    """Table IV config 1 / Table II 'Supervised': average fusion, trained without modality dropout, sensor
    faults or the gate's reliability target (the module doc)."""
    return _with(config, model={"fusion": "average", "gate_mode": "per_modality"},
                 augment={"modality_dropout": 0.0, "fault_probability": 0.0})


ABLATIONS = {
    1: ("Supervised Fusion Baseline", None),
    2: ("Uni-Modal CL Baseline (best S)", {"loss": {"lambda_cm": 0.0, "lambda_deg": 0.0, "lambda_fusion": 0.0},
                                           "model": {"fusion": "average"}}),
    3: ("L_CM only", {"loss": {"lambda_im": 0.0, "lambda_deg": 0.0, "lambda_fusion": 0.0},
                      "model": {"fusion": "average"}}),
    4: ("L_CM + L_IM", {"loss": {"lambda_deg": 0.0, "lambda_fusion": 0.0}, "model": {"fusion": "average"}}),
    5: ("L_CM + L_IM + L_deg", {"loss": {"lambda_fusion": 0.0}, "model": {"fusion": "average"}}),
    6: ("L_CM + L_IM + AMG (w/o L_deg)", {"loss": {"lambda_deg": 0.0}}),
    7: ("Full RCMCL", {}),
}
"""Table IV rows: number -> (name, config changes). Config 1 is trained supervised, the others pretrained
then linear-probed; config 2 is evaluated on the skeleton alone."""


def ablation_config(config: RCMCLConfig, number: int) -> RCMCLConfig:
    if number not in ABLATIONS:
        raise ValueError(f"ablation must be one of {sorted(ABLATIONS)}, got {number}")
    name, changes = ABLATIONS[number]
    if changes is None:
        return supervised_fusion_config(config)
    if changes.get("model", {}).get("fusion") == "average":      # no AMG in the row: no gate target either
        changes = {**changes, "model": {**changes["model"], "gate_mode": "per_modality"}}
    return _with(config, **changes)


def mined_info_nce(anchor: torch.Tensor, other: torch.Tensor, *, anchor_similarity: torch.Tensor,
                   temperature: float, positives_k: int, exclude_k: int) -> torch.Tensor:
    """Multi-positive InfoNCE anchor -> other with knowledge mining.

    anchor, other: (B, P) embeddings of two modalities of the same clips; anchor_similarity: (B, B)
    similarities within the anchor's modality (detached). Positives of row i: i itself plus its
    `positives_k` most similar clips; the next `exclude_k` are dropped from the denominator.
    """
    batch = anchor.shape[0]
    logits = F.normalize(anchor, dim=1) @ F.normalize(other, dim=1).T / temperature
    similarity = anchor_similarity.clone()
    similarity.fill_diagonal_(float("-inf"))
    ranked = similarity.argsort(dim=1, descending=True)
    eye = torch.eye(batch, dtype=torch.bool, device=anchor.device)
    positives, excluded = eye.clone(), torch.zeros_like(eye)
    k_pos, k_ex = min(positives_k, batch - 1), min(exclude_k, max(0, batch - 1 - positives_k))
    rows = torch.arange(batch, device=anchor.device)[:, None]
    positives[rows, ranked[:, :k_pos]] = True
    excluded[rows, ranked[:, k_pos:k_pos + k_ex]] = True
    logits = logits.masked_fill(excluded, float("-inf"))
    log_denominator = torch.logsumexp(logits, dim=1)
    log_numerator = torch.logsumexp(logits.masked_fill(~positives, float("-inf")), dim=1)
    return (log_denominator - log_numerator).mean()


class CMKMObjective(nn.Module):
    """CMC with cross-modal knowledge mining over the three modality pairs (both directions).
    forward(batch, generator) -> {'total', 'cmkm'}; only clips with both modalities present take part."""

    def __init__(self, *, model: RCMCL, config: RCMCLConfig, positives_k: int = 1, exclude_k: int = 2) -> None:
        super().__init__()
        self.model, self.config = model, config
        self.positives_k, self.exclude_k = positives_k, exclude_k

    def forward(self, batch: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
        view, _ = augment.make_views(batch, config=self.config.augment, generator=generator)
        z, present = self.model.encode(view)
        h = self.model.project(z, present)
        total = h.sum() * 0.0
        for i, j in PAIRS:
            both = present[:, i] & present[:, j]
            if int(both.sum()) < 2:
                continue
            hi, hj = h[both, i], h[both, j]
            with torch.no_grad():
                sim_i = F.normalize(hi, dim=1) @ F.normalize(hi, dim=1).T
                sim_j = F.normalize(hj, dim=1) @ F.normalize(hj, dim=1).T
            tau = self.config.loss.temperature
            total = total + 0.5 * (
                mined_info_nce(hi, hj, anchor_similarity=sim_i, temperature=tau, positives_k=self.positives_k,
                               exclude_k=self.exclude_k)
                + mined_info_nce(hj, hi, anchor_similarity=sim_j, temperature=tau, positives_k=self.positives_k,
                                 exclude_k=self.exclude_k))
        return {"total": total, "cmkm": total.detach()}


def cmkm_config(config: RCMCLConfig) -> RCMCLConfig:
    """The CMKM baseline's model: average fusion (no AMG, so no gate target either)."""
    return _with(config, model={"fusion": "average", "gate_mode": "per_modality"})
