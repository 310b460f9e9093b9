"""A second person beside the actor: skeleton body 2 filled with another clip's performer (training only).

The node's per-person windows put the nearest other person into skeleton body 2, as NTU's two-body classes
expect (docs/PEOPLE.md). The synthetic clips show one performer, so a model trained on them has only ever
seen an empty body 2 and is thrown by a real neighbour. `add_bystander` gives a share of the samples a
bystander: body 0 of another sample of the batch (another action, another subject), moved so that its mean
spine base stands `BYSTANDER_LATERAL_M` to the left or right of the actor's and up to `BYSTANDER_DEPTH_M`
nearer or farther (camera frame: x right, y down, z forward). The label stays the actor's; RGB-D and points
are not changed (the node crops them around the actor).
"""
from __future__ import annotations

import torch

from rcmcl_core.augment.views import tracked_bodies, uniform
from rcmcl_core.geometry.skeleton_layout import ROOT_JOINT

BYSTANDER_LATERAL_M = (0.7, 1.5)
"""Sideways distance between the two spine bases, metres (either side)."""
BYSTANDER_DEPTH_M = 0.5
"""Largest depth difference between the two spine bases, metres (either way)."""


def add_bystander(batch: dict, *, probability: float, generator: torch.Generator) -> dict:
    """batch skeleton (B, T, M, 25, 3) metres -> a new batch where, with `probability` per sample, an empty
    body 2 (untracked in every frame) of a sample whose skeleton is present and whose body 0 is tracked takes
    body 0 of sample (i + k) mod B (one random k in [1, B) per batch), moved beside the actor. Other keys are
    shared with the input. M < 2, B < 2 or probability 0 return the batch unchanged."""
    skeleton = batch["skeleton"]
    b, _, m = skeleton.shape[:3]
    if probability <= 0 or b < 2 or m < 2:
        return batch
    device = skeleton.device
    tracked = tracked_bodies(skeleton)                                              # (B, T, M)
    shift = int(torch.randint(1, b, (1,), generator=generator, device=generator.device))
    partner = torch.roll(torch.arange(b, device=device), -shift)                    # sample i takes body 0 of i+k
    chosen = (uniform((b,), 0.0, 1.0, generator=generator, device=device) < probability)
    chosen &= batch["present"][:, 1].to(device) & ~tracked[:, :, 1].any(dim=1)
    chosen &= tracked[:, :, 0].any(dim=1) & tracked[partner, :, 0].any(dim=1) & batch["present"][partner, 1].to(device)
    if not bool(chosen.any()):
        return batch
    side = torch.where(uniform((b,), 0.0, 1.0, generator=generator, device=device) < 0.5, -1.0, 1.0)
    offset = torch.zeros(b, 3, device=device, dtype=skeleton.dtype)
    offset[:, 0] = side * uniform((b,), *BYSTANDER_LATERAL_M, generator=generator, device=device)
    offset[:, 2] = uniform((b,), -BYSTANDER_DEPTH_M, BYSTANDER_DEPTH_M, generator=generator, device=device)
    actor_root = _mean_root(skeleton[:, :, 0], tracked[:, :, 0])                    # (B, 3)
    other = skeleton[partner, :, 0]                                                 # (B, T, 25, 3)
    other_tracked = tracked[partner, :, 0]                                          # (B, T)
    moved = other - _mean_root(other, other_tracked)[:, None, None] + (actor_root + offset)[:, None, None]
    moved = torch.where(other_tracked[..., None, None], moved, torch.zeros_like(moved))
    out = skeleton.clone()
    out[:, :, 1] = torch.where(chosen[:, None, None, None], moved, skeleton[:, :, 1])
    return {**batch, "skeleton": out}


def _mean_root(body: torch.Tensor, tracked: torch.Tensor) -> torch.Tensor:
    """body (B, T, 25, 3), tracked (B, T) -> (B, 3) mean spine base over the tracked frames (0 when none)."""
    roots = torch.where(tracked[..., None], body[:, :, ROOT_JOINT], torch.zeros_like(body[:, :, ROOT_JOINT]))
    return roots.sum(dim=1) / tracked.sum(dim=1, keepdim=True).clamp(min=1)
