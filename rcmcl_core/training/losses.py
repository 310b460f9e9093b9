"""Pre-training losses of RCMCL: L_CM (Eq.1), L_IM Barlow Twins (Eq.2), L_deg (Eq.3), total (Eq.6).

Pure functions of tensors. Hyper-parameters are keyword arguments without defaults: callers pass them
from `rcmcl_core.config.LossConfig`, the one home of their values. Modality order is
`rcmcl_core.config.MODALITIES` (R, S, P). Every loss is computed in float32 with autocast disabled, so it
is the same under AMP. A loss that has nothing to compare (too few present samples, no tracked joint)
returns a zero that is still connected to the graph, so callers can always call `.backward()`.
Masked-out samples are removed *before* any arithmetic, so NaN/inf in absent inputs cannot leak into the
value or the gradients.
"""
from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from rcmcl_core.config import MODALITIES, LossConfig

BATCH_NORM_EPS = 1e-5
"""eps added to the batch variance before normalising in Eq.2 (torch.nn.BatchNorm1d's value)."""

MODALITY_PAIRS = tuple(itertools.combinations(range(len(MODALITIES)), 2))
"""Index pairs (i, j), i < j, summed by L_CM: (R,S), (R,P), (S,P)."""


def pair_name(i: int, j: int) -> str:
    """Key of a modality pair in the L_CM parts dict, e.g. 'rgbd-skeleton'."""
    return f"{MODALITIES[i]}-{MODALITIES[j]}"


# -- Eq.1: cross-modal consistency --------------------------------------------------------------------
def info_nce_pair(h_i: torch.Tensor, h_j: torch.Tensor, *, temperature: float,
                  valid: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE between two modalities' projections (Eq.1, L_CM^{i,j}).

    h_i, h_j: (B, P) projections of the same B instances; they are L2-normalised here, so the logits are
    cosine similarities / `temperature`. valid: (B,) bool, samples where both modalities are present;
    rows and columns are both restricted to them (absent samples are neither positives nor negatives).
    Returns a scalar: the mean over the N valid samples of the i->j and j->i cross-entropies, i.e. the
    -1/(2N) sum of Eq.1. Fewer than 2 valid samples give a graph-connected zero (no negatives).
    """
    _check_pair("h_j", h_j, like=("h_i", h_i), layout="(B, P)")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    with _float32(h_i):
        h_i, h_j = h_i.float(), h_j.float()
        if valid is not None:
            _check_mask("valid", valid, (h_i.shape[0],))
            h_i, h_j = h_i[valid], h_j[valid]
        if h_i.shape[0] < 2:
            return _graph_zero(h_i, h_j)
        logits = F.normalize(h_i, dim=1) @ F.normalize(h_j, dim=1).T / temperature
        targets = torch.arange(h_i.shape[0], device=h_i.device)
        return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def cross_modal_loss(h: torch.Tensor, present: torch.Tensor, *,
                     temperature: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_CM = L^{R,S} + L^{R,P} + L^{S,P} (Eq.1 summed over the three modality pairs).

    h: (B, 3, P) projections in MODALITIES order; present: (B, 3) bool. Each pair is computed over the
    samples where both of its modalities are present. Returns (L_CM, {'rgbd-skeleton': ..., ...}).
    """
    _check_modalities("h", h)
    _check_mask("present", present, tuple(h.shape[:2]))
    parts = {pair_name(i, j): info_nce_pair(h[:, i], h[:, j], temperature=temperature,
                                            valid=present[:, i] & present[:, j])
             for i, j in MODALITY_PAIRS}
    return torch.stack(list(parts.values())).sum(), parts


# -- Eq.2: intra-modal Barlow Twins ------------------------------------------------------------------
def cross_correlation(h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
    """C of Eq.2: (P, P) cross-correlation of the two views after batch normalisation.

    h1, h2: (B, P), B >= 2. Each column is shifted to zero mean and scaled to unit (biased) std over the
    batch, eps = BATCH_NORM_EPS inside the square root; C = z1^T z2 / B, so C_aa = 1 for identical views.
    """
    _check_pair("h2", h2, like=("h1", h1), layout="(B, P)")
    if h1.shape[0] < 2:
        raise ValueError(f"Barlow Twins needs a batch of >= 2 samples to normalise over, got {h1.shape[0]}")
    with _float32(h1):
        z1, z2 = _batch_normalise(h1.float()), _batch_normalise(h2.float())
        return z1.T @ z2 / h1.shape[0]


def barlow_twins(h1: torch.Tensor, h2: torch.Tensor, *, offdiag_weight: float) -> torch.Tensor:
    """Eq.2: sum_a (1 - C_aa)^2 + lambda sum_{a != b} C_ab^2, lambda = `offdiag_weight`.

    h1, h2: (B, P) projections of two augmented views of the same B instances. Returns a scalar; it is
    unnormalised over P (as in Eq.2), so it grows with the projection size.
    """
    with _float32(h1):
        c = cross_correlation(h1, h2)
        on_diag = torch.diagonal(c)
        off_diag_sq = c.pow(2).sum() - on_diag.pow(2).sum()
        return (1.0 - on_diag).pow(2).sum() + offdiag_weight * off_diag_sq


def intra_modal_loss(h1: torch.Tensor, h2: torch.Tensor, present: torch.Tensor, *,
                     offdiag_weight: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_IM = sum over modalities of Eq.2 between two views, each over the samples where it is present.

    h1, h2: (B, 3, P) projections of view 1 and view 2; present: (B, 3) bool. A modality with fewer than
    2 present samples contributes a graph-connected zero. Returns (L_IM, {'rgbd': ..., ...}).
    """
    _check_pair("h2", h2, like=("h1", h1), layout="(B, 3, P)")
    _check_modalities("h1", h1)
    _check_mask("present", present, tuple(h1.shape[:2]))
    parts = {}
    for m, name in enumerate(MODALITIES):
        view1, view2 = h1[:, m][present[:, m]], h2[:, m][present[:, m]]
        parts[name] = (barlow_twins(view1, view2, offdiag_weight=offdiag_weight) if view1.shape[0] >= 2
                       else _graph_zero(view1, view2))
    return torch.stack(list(parts.values())).sum(), parts


# -- Eq.3: degradation simulation --------------------------------------------------------------------
DEG_REDUCTIONS = ("mean_joint", "sum")
"""L_deg normalisations: per-joint mean (default, O(1e-2) m^2) or the paper's sum over joints and coordinates
of each sample's skeleton sequence, averaged over samples (Eq.3 as written, O(10) m^2 for T x 25 joints)."""


def degradation_loss(reconstruction: torch.Tensor, target: torch.Tensor, *,
                     valid: torch.Tensor | None = None, reduction: str = "mean_joint") -> torch.Tensor:
    """Eq.3: E ||D_S(Z'_S) - X_S||_2^2, in m^2; `reduction` in DEG_REDUCTIONS ('sum': the squared errors of
    all valid joints of a sample summed, then averaged over the B samples).

    reconstruction, target: (B, T, M, 25, 3) metres. valid: (B, T, M) bool (a tracked body in a frame;
    all its joints count) or (B, T, M, 25) bool (per tracked joint); None counts every slot, zero-padded
    bodies included. Normalisation: the squared L2 distance of each joint (summed over x, y, z) is averaged
    over the valid joints, so the value does not depend on batch size, T, or how many bodies are padded.
    No valid joint gives a graph-connected zero.
    """
    if reconstruction.shape != target.shape or reconstruction.dim() != 5 or reconstruction.shape[-1] != 3:
        raise ValueError(f"reconstruction and target must both be (B, T, M, J, 3), got "
                         f"{tuple(reconstruction.shape)} and {tuple(target.shape)}")
    with _float32(reconstruction):
        reconstruction, target = reconstruction.float(), target.float()
        if reduction not in DEG_REDUCTIONS:
            raise ValueError(f"reduction must be one of {DEG_REDUCTIONS}, got {reduction!r}")
        samples = reconstruction.shape[0]
        if valid is not None:
            if valid.dim() == 3:
                _check_mask("valid", valid, tuple(target.shape[:3]))
            else:
                _check_mask("valid", valid, tuple(target.shape[:4]))
            reconstruction, target = reconstruction[valid], target[valid]
        if reconstruction.numel() == 0:
            return _graph_zero(reconstruction)
        squared = (reconstruction - target).pow(2).sum(-1)
        return squared.sum() / samples if reduction == "sum" else squared.mean()


# -- Eq.6: total -------------------------------------------------------------------------------------
def total_loss(*, cross_modal: torch.Tensor, intra_modal: torch.Tensor, degradation: torch.Tensor,
               config: LossConfig) -> torch.Tensor:
    """Eq.6: lambda_CM L_CM + lambda_IM L_IM + lambda_deg L_deg, weights from `config`."""
    return (config.lambda_cm * cross_modal + config.lambda_im * intra_modal
            + config.lambda_deg * degradation)


@dataclass
class LossTerms:
    """One pre-training step's losses: Eq.6 total, its three terms and their per-pair/-modality parts.

    parts keys: 'cm/rgbd-skeleton', 'cm/rgbd-points', 'cm/skeleton-points', 'im/rgbd', 'im/skeleton',
    'im/points'.
    """

    total: torch.Tensor
    cm: torch.Tensor
    im: torch.Tensor
    deg: torch.Tensor
    parts: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def combine(cls, *, cross_modal: tuple[torch.Tensor, dict[str, torch.Tensor]],
                intra_modal: tuple[torch.Tensor, dict[str, torch.Tensor]], degradation: torch.Tensor,
                config: LossConfig) -> "LossTerms":
        """Weight the outputs of cross_modal_loss, intra_modal_loss and degradation_loss by Eq.6."""
        (cm, cm_parts), (im, im_parts) = cross_modal, intra_modal
        total = total_loss(cross_modal=cm, intra_modal=im, degradation=degradation, config=config)
        parts = {**{f"cm/{k}": v for k, v in cm_parts.items()}, **{f"im/{k}": v for k, v in im_parts.items()}}
        return cls(total=total, cm=cm, im=im, deg=degradation, parts=parts)

    def as_floats(self) -> dict[str, float]:
        """Detached Python floats for logging: total, cm, im, deg, then the parts."""
        values = {"total": self.total, "cm": self.cm, "im": self.im, "deg": self.deg, **self.parts}
        return {name: float(value.detach()) for name, value in values.items()}


# -- helpers -----------------------------------------------------------------------------------------
def _batch_normalise(h: torch.Tensor) -> torch.Tensor:
    """(B, P) -> zero mean, unit biased std per column over the batch (BatchNorm1d without affine)."""
    mean = h.mean(dim=0, keepdim=True)
    var = h.var(dim=0, unbiased=False, keepdim=True)
    return (h - mean) / torch.sqrt(var + BATCH_NORM_EPS)


def _graph_zero(*tensors: torch.Tensor) -> torch.Tensor:
    """A float32 zero connected to `tensors` (already masked: no NaN can flow in) so backward works."""
    return sum((0.0 * t.float().sum() for t in tensors), torch.zeros((), device=tensors[0].device))


def _float32(like: torch.Tensor) -> contextlib.AbstractContextManager:
    """Disable autocast on `like`'s device: exp/log of logits and P x P correlations need float32."""
    return torch.autocast(device_type=like.device.type, enabled=False)


def _check_pair(name: str, tensor: torch.Tensor, *, like: tuple[str, torch.Tensor], layout: str) -> None:
    """`tensor` must have `like`'s shape, and both the `layout` (e.g. '(B, P)')."""
    other_name, other = like
    dims = layout.count(",") + 1
    if other.dim() != dims or tensor.shape != other.shape:
        raise ValueError(f"{other_name} and {name} must both be {layout} with equal shapes, got "
                         f"{tuple(other.shape)} and {tuple(tensor.shape)}")


def _check_modalities(name: str, tensor: torch.Tensor) -> None:
    if tensor.dim() != 3 or tensor.shape[1] != len(MODALITIES):
        raise ValueError(f"{name} must be (B, {len(MODALITIES)}, P) in order {MODALITIES}, "
                         f"got {tuple(tensor.shape)}")


def _check_mask(name: str, mask: torch.Tensor, shape: tuple[int, ...]) -> None:
    if mask.dtype != torch.bool or tuple(mask.shape) != shape:
        raise ValueError(f"{name} must be a bool mask of shape {shape}, got {mask.dtype} {tuple(mask.shape)}")
