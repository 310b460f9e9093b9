"""Adaptive Modality Gating (Eq.4) and gate-weighted fusion restricted to present modalities (Eq.5)."""
from __future__ import annotations

import torch
from torch import nn


class AdaptiveModalityGate(nn.Module):
    """Eq.4: G_M = sigmoid(W_G^M Z_M + b_G^M). z (B, M, D) -> gates (B, M) in (0, 1), unmasked.

    `mode` (config.GATE_MODES) picks the variant:
    - paper_shared: the paper's Eq.4 as written, one W_G, b_G applied to every Z_M (one scorer).
    - per_modality (default, the bundled checkpoint): one linear D -> 1 per modality. The Z_M live in different
      feature spaces (their encoders differ), so a direction that signals a degraded skeleton means nothing for
      points; each modality gets its own reliability read-out.
    - detached: per_modality reading Z_M through stop-gradient, so the fusion loss cannot reshape the encoders
      to please the gate (nor the gate's wishes leak into Z).
    - aux_target: per_modality; training adds gate_target.gate_target_loss (beyond the paper).
    """

    def __init__(self, *, feature_dim: int, num_modalities: int = 3, mode: str = "per_modality") -> None:
        super().__init__()
        self.mode = mode
        self.num_modalities = num_modalities
        scorers = 1 if mode == "paper_shared" else num_modalities
        self.scorers = nn.ModuleList(nn.Linear(feature_dim, 1) for _ in range(scorers))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 3 or z.shape[1] != self.num_modalities:
            raise ValueError(f"gate input needs shape (B, {self.num_modalities}, D), got {tuple(z.shape)}")
        if self.mode == "detached":
            z = z.detach()
        if len(self.scorers) == 1:
            return torch.sigmoid(self.scorers[0](z).squeeze(-1))
        logits = torch.cat([scorer(z[:, m]) for m, scorer in enumerate(self.scorers)], dim=1)
        return torch.sigmoid(logits)


def require_any_present(present: torch.Tensor) -> None:
    """present (B, M) bool: raise ValueError naming the samples in which no modality is present."""
    empty = ~present.any(dim=1)
    if bool(empty.any()):
        samples = empty.nonzero().flatten().tolist()
        raise ValueError(f"no modality present in sample(s) {samples} of the batch: at least one of "
                         "rgbd, skeleton, points is needed")


def fuse(z: torch.Tensor, gates: torch.Tensor, present: torch.Tensor, *, eps: float) -> torch.Tensor:
    """Eq.5 over present modalities: sum_m g_m z_m / (sum_m g_m + eps).

    z (B, M, D), gates (B, M) >= 0, present (B, M) bool -> fused (B, D). Absent modalities are excluded
    with torch.where (never multiplied by 0, since 0 * NaN = NaN). Raises ValueError naming the samples
    that have no modality present.
    """
    if present.dtype != torch.bool or present.shape != gates.shape or z.shape[:2] != gates.shape:
        raise ValueError(f"fuse needs z (B, M, D), gates (B, M) and present (B, M) bool; got z {tuple(z.shape)}, "
                         f"gates {tuple(gates.shape)}, present {tuple(present.shape)} {present.dtype}")
    require_any_present(present)
    g = torch.where(present, gates, torch.zeros_like(gates))
    z_present = torch.where(present[..., None], z, torch.zeros_like(z))
    return gate_weighted_mean(z_present, g, eps=eps)


def gate_weighted_mean(z: torch.Tensor, gates: torch.Tensor, *, eps: float) -> torch.Tensor:
    """Eq.5's arithmetic, no checks: z (B, M, D) finite, gates (B, M) already 0 where absent -> (B, D)."""
    return (gates[..., None] * z).sum(dim=1) / (gates.sum(dim=1, keepdim=True) + eps)
