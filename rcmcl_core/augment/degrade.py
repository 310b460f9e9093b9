"""Degradations of a batch: sensor failure and corruption (paper Sec. IV-C) and the skeleton
masking of the degradation-simulation loss L_deg (Eq.3).

- drop_modalities / random_modality_dropout: a failed sensor; its tensors become 0 and `present` False.
- skeleton_joint_noise (SJN, sigma 0.05 / 0.10 / 0.15 m) and sparsify_points (PCS, keep 50 % / 30 %), the
  paper's corruptions by their physical parameter; they share their arithmetic with sensor_faults.
- drop_frames (missing frames filled by the nearest kept frame) and occlude (a box of rgb/depth zeroed).
- mask_skeleton: joints and whole frames hidden from the skeleton encoder for L_deg.
Every function returns a new dict and never writes into its input; untouched entries are shared.
Shapes as in docs/ARCHITECTURE.md, "Tensor contracts"; all randomness comes from the `generator` argument.
"""
from __future__ import annotations

from typing import Iterable

import torch

from rcmcl_core.augment.views import uniform
from rcmcl_core.config import MODALITIES
from rcmcl_core.augment.sensor_faults import add_joint_noise, keep_points

_TENSORS = {"rgbd": ("rgb", "depth"), "skeleton": ("skeleton",), "points": ("points",)}


def _zero_where(batch: dict, dropped: torch.Tensor) -> dict:
    """New batch with modality m of sample b zeroed and marked absent where dropped[b, m] (B, 3) bool."""
    out = dict(batch)
    out["present"] = batch["present"] & ~dropped
    for column, modality in enumerate(MODALITIES):
        if not bool(dropped[:, column].any()):
            continue
        for key in _TENSORS[modality]:
            tensor = batch[key]
            keep = ~dropped[:, column].view((-1,) + (1,) * (tensor.dim() - 1))
            out[key] = torch.where(keep, tensor, torch.zeros((), dtype=tensor.dtype, device=tensor.device))
    return out


def drop_modalities(batch: dict, *, absent: Iterable[str]) -> dict:
    """Mark the named modalities ('rgbd', 'skeleton', 'points') absent in every sample and zero them."""
    names = list(absent)
    unknown = [name for name in names if name not in MODALITIES]
    if unknown:
        raise ValueError(f"unknown modalities {unknown}; expected names from {MODALITIES}")
    dropped = torch.zeros_like(batch["present"])
    for name in names:
        dropped[:, MODALITIES.index(name)] = True
    return _zero_where(batch, dropped)


def random_modality_dropout(batch: dict, *, probability: float, generator: torch.Generator) -> dict:
    """With `probability` per sample, drop k of its present modalities, k uniform in 1..(present - 1):
    1 or 2 of 3, and never the last present one, so no sample loses all three."""
    present = batch["present"]
    b, device = present.shape[0], present.device
    count = present.sum(dim=1)
    droppable = (count - 1).clamp(min=0)
    chosen = uniform((b,), 0.0, 1.0, generator=generator, device=device) < probability
    k = 1 + (uniform((b,), 0.0, 1.0, generator=generator, device=device) * droppable).long()  # 1..droppable
    # Rank the present modalities in a random order; the k first ones are dropped.
    scores = uniform((b, 3), 0.0, 1.0, generator=generator, device=device).masked_fill(~present, 2.0)
    rank = scores.argsort(dim=1).argsort(dim=1)
    dropped = (rank < k[:, None]) & present & (chosen & (droppable > 0))[:, None]
    return _zero_where(batch, dropped)


def skeleton_joint_noise(batch: dict, *, sigma_m: float, generator: torch.Generator) -> dict:
    """SJN: add N(0, sigma_m^2) metres to every coordinate of tracked bodies; untracked stay 0."""
    skeleton = batch["skeleton"]
    out = dict(batch)
    out["skeleton"] = add_joint_noise(skeleton, torch.full((skeleton.shape[0],), float(sigma_m)), generator=generator)
    return out


def sparsify_points(batch: dict, *, keep_fraction: float, generator: torch.Generator) -> dict:
    """PCS: per frame keep round(keep_fraction N) random points (D = 1 - keep_fraction dropped) and
    repeat them to refill the N rows, so shapes hold and only the information drops."""
    if not 0.0 < keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    out = dict(batch)
    points = batch["points"]
    out["points"] = keep_points(points, torch.full((points.shape[0],), float(keep_fraction)), generator=generator)
    return out


def drop_frames(batch: dict, *, fraction: float, generator: torch.Generator) -> dict:
    """Drop round(fraction T) random frames per sample (at least one frame is kept) in every modality and
    replace each by the nearest kept frame (the earlier one on a tie), as the node fills gaps."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    rgb = batch["rgb"]
    b, t, device = rgb.shape[0], rgb.shape[1], rgb.device
    drop = min(t - 1, round(fraction * t))
    order = uniform((b, t), 0.0, 1.0, generator=generator, device=device).argsort(dim=1)
    kept = torch.ones(b, t, dtype=torch.bool, device=device)
    kept.scatter_(1, order[:, :drop], False)
    frames = torch.arange(t, device=device)
    distance = (frames[:, None] - frames[None, :]).abs().float()                   # (T, T) |t - s|
    distance = distance[None].expand(b, t, t).masked_fill(~kept[:, None, :], float("inf"))
    source = distance.argmin(dim=2)                                                 # (B, T)
    out = dict(batch)
    for key in ("rgb", "depth", "skeleton", "points"):
        tensor = batch[key]
        index = source.view(b, t, *([1] * (tensor.dim() - 2))).expand(b, t, *tensor.shape[2:])
        out[key] = torch.gather(tensor, 1, index)
    return out


def occlude(batch: dict, *, box_fraction: float, generator: torch.Generator) -> dict:
    """Zero one box of side box_fraction x (H, W) at a random place per sample, in every frame of rgb
    and depth (an object between camera and person)."""
    if not 0.0 <= box_fraction <= 1.0:
        raise ValueError(f"box_fraction must be in [0, 1], got {box_fraction}")
    rgb = batch["rgb"]
    b, _, _, h, w = rgb.shape
    device = rgb.device
    box_h, box_w = round(box_fraction * h), round(box_fraction * w)
    top = (uniform((b,), 0.0, 1.0, generator=generator, device=device) * (h - box_h + 1)).long()
    left = (uniform((b,), 0.0, 1.0, generator=generator, device=device) * (w - box_w + 1)).long()
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
    inside_rows = (rows[None] >= top[:, None]) & (rows[None] < (top + box_h)[:, None])        # (B, H)
    inside_cols = (cols[None] >= left[:, None]) & (cols[None] < (left + box_w)[:, None])      # (B, W)
    visible = ~(inside_rows[:, :, None] & inside_cols[:, None, :])                           # (B, H, W)
    visible = visible[:, None, None]                                                          # (B, 1, 1, H, W)
    out = dict(batch)
    out["rgb"] = rgb * visible.to(rgb.dtype)
    out["depth"] = batch["depth"] * visible.to(batch["depth"].dtype)
    return out


def mask_skeleton(skeleton: torch.Tensor, *, joint_fraction: float, frame_fraction: float,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """L_deg input (Eq.3): per sample and frame hide round(joint_fraction 25) random joints, and hide
    round(frame_fraction T) random whole frames per sample. skeleton (B, T, M, 25, 3) ->
    (masked skeleton with hidden joints set to 0, mask (B, T, 25) bool, True = hidden; all bodies)."""
    for name, value in (("joint_fraction", joint_fraction), ("frame_fraction", frame_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    b, t, _, joints, _ = skeleton.shape
    device = skeleton.device
    joint_rank = uniform((b, t, joints), 0.0, 1.0, generator=generator, device=device).argsort(-1).argsort(-1)
    mask = joint_rank < round(joint_fraction * joints)
    frame_rank = uniform((b, t), 0.0, 1.0, generator=generator, device=device).argsort(-1).argsort(-1)
    mask = mask | (frame_rank < round(frame_fraction * t))[..., None]
    masked = torch.where(mask[:, :, None, :, None], torch.zeros((), dtype=skeleton.dtype, device=device), skeleton)
    return masked, mask
