"""Two augmented views of a batch for the intra-modal loss L_IM (Eq.2), one per call of `make_view`.

Views are drawn independently per modality (L_IM compares a modality with itself; L_CM aligns the
modalities of one view): RGB-D gets a random resized crop (the same crop for rgb and depth, back to the
input size), a horizontal flip and colour jitter (rgb only); the skeleton a rotation about the vertical
axis, a shear, joint jitter and a mirror flip (x negated and left/right joints swapped, so labels stay
anatomical); points a rotation, a mirror flip, jitter and point dropout. Rotations, shears and flips act
about each sample's own centre so a body stays where it is in the camera frame. Vertical is the optical
frame's y axis (REP-103 optical). All randomness comes from the `generator` passed in.

Shapes (docs/ARCHITECTURE.md, "Tensor contracts"): rgb (B, T, 3, H, W) [0, 1]; depth (B, T, 1, H, W) m; skeleton
(B, T, M, 25, 3) m; points (B, T, N, 3) m; present (B, 3) bool.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from rcmcl_core.config import AugmentConfig
from rcmcl_core.geometry.skeleton_layout import LEFT_RIGHT_PAIRS, NUM_JOINTS

POINTS = 2   # the points column of `present` (config.MODALITIES order)


def uniform(shape: tuple[int, ...], low: float, high: float, *, generator: torch.Generator,
            device: torch.device) -> torch.Tensor:
    """U(low, high) drawn on the generator's device (so one CPU generator serves GPU batches), moved."""
    values = torch.rand(shape, generator=generator, device=generator.device)
    return (values * (high - low) + low).to(device)


def normal(shape: tuple[int, ...], *, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


def tracked_bodies(skeleton: torch.Tensor) -> torch.Tensor:
    """(B, T, M, 25, 3) -> (B, T, M) bool: a body is tracked in a frame when any coordinate is non-zero."""
    return skeleton.abs().sum(dim=(-1, -2)) > 0


def make_view(batch: dict, *, config: AugmentConfig, generator: torch.Generator) -> dict:
    """One augmented copy of `batch` (other keys are shared, not copied)."""
    view = dict(batch)
    view["rgb"], view["depth"] = rgbd_view(batch["rgb"], batch["depth"], config=config, generator=generator)
    view["skeleton"] = skeleton_view(batch["skeleton"], config=config, generator=generator)
    view["points"] = points_view(batch["points"], batch["present"][:, POINTS], config=config, generator=generator)
    return view


def rgbd_view(rgb: torch.Tensor, depth: torch.Tensor, *, config: AugmentConfig, generator: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Same random resized crop + flip for rgb and depth (bilinear / nearest), then brightness and
    contrast jitter on rgb, one draw per sample for all its frames. Absent (zero) inputs stay zero."""
    b, t, _, h, w = rgb.shape
    device = rgb.device
    side = uniform((b,), config.view_crop_scale, 1.0, generator=generator, device=device)   # crop side fraction
    centre = uniform((b, 2), -1.0, 1.0, generator=generator, device=device) * (1.0 - side)[:, None]
    flip = uniform((b,), 0.0, 1.0, generator=generator, device=device) < config.view_flip
    theta = torch.zeros(b, 2, 3, device=device, dtype=rgb.dtype)
    theta[:, 0, 0] = side * torch.where(flip, -1.0, 1.0).to(rgb.dtype)
    theta[:, 1, 1] = side
    theta[:, :, 2] = centre
    theta = theta.repeat_interleave(t, dim=0)                                             # (B*T, 2, 3)
    grid = F.affine_grid(theta, [b * t, 1, h, w], align_corners=False)
    rgb_out = F.grid_sample(rgb.reshape(b * t, 3, h, w), grid, mode="bilinear", align_corners=False)
    depth_out = F.grid_sample(depth.reshape(b * t, 1, h, w), grid, mode="nearest", align_corners=False)
    rgb_out, depth_out = rgb_out.reshape(rgb.shape), depth_out.reshape(depth.shape)
    jitter = config.view_color_jitter
    brightness = uniform((b,), 1.0 - jitter, 1.0 + jitter, generator=generator, device=device)
    contrast = uniform((b,), 1.0 - jitter, 1.0 + jitter, generator=generator, device=device)
    mean = rgb_out.mean(dim=(1, 2, 3, 4), keepdim=True)
    rgb_out = ((rgb_out - mean) * contrast.view(b, 1, 1, 1, 1) + mean) * brightness.view(b, 1, 1, 1, 1)
    return rgb_out.clamp(0.0, 1.0), depth_out


def rotation_about_vertical(angle: torch.Tensor) -> torch.Tensor:
    """(B,) radians -> (B, 3, 3) rotations about the optical y axis."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    return torch.stack([torch.stack([cos, zero, sin], -1), torch.stack([zero, one, zero], -1),
                        torch.stack([-sin, zero, cos], -1)], dim=-2)


def _linear_maps(b: int, *, rotation_deg: float, shear: float, flip_probability: float,
                 generator: torch.Generator, device: torch.device, dtype: torch.dtype
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, 3) rotation @ shear @ mirror matrices and the (B,) bool flip draw."""
    limit = math.radians(rotation_deg)
    rotation = rotation_about_vertical(uniform((b,), -limit, limit, generator=generator, device=device))
    off_diagonal = uniform((b, 3, 3), -shear, shear, generator=generator, device=device)
    eye = torch.eye(3, device=device)
    shear_matrix = eye + off_diagonal * (1.0 - eye)
    flip = uniform((b,), 0.0, 1.0, generator=generator, device=device) < flip_probability
    mirror = torch.diag_embed(torch.stack([torch.where(flip, -1.0, 1.0), torch.ones(b, device=device),
                                           torch.ones(b, device=device)], dim=-1))
    return (rotation @ shear_matrix @ mirror).to(dtype), flip


def _about_centre(xyz: torch.Tensor, matrices: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """xyz (B, ..., 3) -> (xyz - centre) @ A^T + centre per sample; matrices (B, 3, 3), centre (B, 3)."""
    shape = (xyz.shape[0],) + (1,) * (xyz.dim() - 2) + (3,)
    c = centre.view(shape)
    flat = (xyz - c).reshape(xyz.shape[0], -1, 3) @ matrices.transpose(1, 2)
    return flat.reshape(xyz.shape) + c


def _mirror_permutation() -> list[int]:
    order = list(range(NUM_JOINTS))
    for left, right in LEFT_RIGHT_PAIRS:
        order[left], order[right] = right, left
    return order


def skeleton_view(skeleton: torch.Tensor, *, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Rotation about the vertical through the tracked roots' mean, shear, mirror flip (left/right joints
    swapped) and N(0, view_joint_jitter_m) joint jitter. Untracked bodies stay exactly zero."""
    b = skeleton.shape[0]
    tracked = tracked_bodies(skeleton)                                    # (B, T, M)
    weight = tracked.to(skeleton.dtype)[..., None]
    centre = (skeleton[..., 0, :] * weight).sum(dim=(1, 2)) / weight.sum(dim=(1, 2)).clamp(min=1.0)
    matrices, flip = _linear_maps(b, rotation_deg=config.view_rotation_deg, shear=config.view_shear,
                                  flip_probability=config.view_flip, generator=generator,
                                  device=skeleton.device, dtype=skeleton.dtype)
    moved = _about_centre(skeleton, matrices, centre)
    moved = torch.where(flip.view(b, 1, 1, 1, 1), moved[..., _mirror_permutation(), :], moved)
    moved = moved + config.view_joint_jitter_m * normal(skeleton.shape, generator=generator, device=skeleton.device)
    return torch.where(tracked[..., None, None], moved, torch.zeros_like(moved))


def points_view(points: torch.Tensor, present: torch.Tensor, *, config: AugmentConfig,
                generator: torch.Generator) -> torch.Tensor:
    """Rotation about the vertical through the sample's centroid, mirror flip, N(0, view_point_jitter_m)
    jitter and dropout of view_point_dropout of each frame's points (refilled by repeating kept points,
    so N holds). Samples whose points are absent (`present` False) are returned unchanged."""
    b = points.shape[0]
    centre = points.mean(dim=(1, 2))
    matrices, _ = _linear_maps(b, rotation_deg=config.view_rotation_deg, shear=0.0,
                               flip_probability=config.view_flip, generator=generator,
                               device=points.device, dtype=points.dtype)
    moved = _about_centre(points, matrices, centre)
    moved = moved + config.view_point_jitter_m * normal(points.shape, generator=generator, device=points.device)
    moved = keep_random_points(moved, keep_fraction=1.0 - config.view_point_dropout, generator=generator)
    return torch.where(present.view(b, 1, 1, 1), moved, points)


def keep_random_points(points: torch.Tensor, *, keep_fraction: float, generator: torch.Generator) -> torch.Tensor:
    """(B, T, N, 3) -> same shape: per frame keep K = max(1, round(keep_fraction N)) random points and
    refill the N rows by cycling them (each kept point appears N/K times, +-1)."""
    b, t, n, _ = points.shape
    keep = max(1, min(n, round(keep_fraction * n)))
    order = torch.argsort(uniform((b, t, n), 0.0, 1.0, generator=generator, device=points.device), dim=-1)
    chosen = order[..., torch.arange(n, device=points.device) % keep]     # (B, T, N) indices into N
    return torch.gather(points, 2, chosen[..., None].expand(b, t, n, 3))
