"""Realistic sensor faults with a severity in [0, 1], defined once for training, evaluation and the demo bag.

Every fault degrades one modality of a batch (shapes as in docs/ARCHITECTURE.md, "Tensor contracts":
rgb (B, T, 3, H, W) in [0, 1], depth (B, T, 1, H, W) metres, skeleton (B, T, M, 25, 3) metres, points
(B, T, N, 3) metres) with a per-sample severity s (B,) in [0, 1]. Severity 0 returns the sample unchanged
(bit for bit), and a larger severity never degrades less. Severity 1 is a sensor that has failed: on the
synthetic test split, the faulted modality on its own keeps at most about half its clean accuracy, except where
the fault leaves part of the modality intact (depth holes keep the colour of RGB-D, overexposure its depth).
The gate calibration (rcmcl_core/evaluation/calibration.py) measures that per fault. The physical meaning of s,
per fault (FAULTS holds the same text):

| fault                  | modality | severity s ->                                                           |
|------------------------|----------|-------------------------------------------------------------------------|
| skeleton_noise         | skeleton | N(0, sigma^2) on every joint coordinate, sigma = 0.20 s m               |
| skeleton_joint_dropout | skeleton | each joint of each frame lost (set to 0) with probability s             |
| skeleton_jumps         | skeleton | round(s T / 4) tracker jumps of JUMP_FRAMES frames: a joint or the body |
|                        |          | teleports by (0.5 + 0.5 s) m in a random direction                      |
| points_sparsity        | points   | keep 1 - 0.9 s of each frame's points (10 % at s = 1)                   |
| points_depth_noise     | points   | N(0, sigma^2) along each point's camera ray, sigma = 0.20 s m           |
| points_flying_pixels   | points   | a share s of the points in the silhouette's outer half (the depth edge; |
|                        |          | 0.5 s of all points) pushed back along their ray by U(0, 1.5) m (mixed  |
|                        |          | pixels)                                                                 |
| rgbd_occlusion         | rgbd     | a box covering 0.8 s of the image at a random place, flat grey colour,  |
|                        |          | at 0.5-1.0 m depth (an object in front of the person)                   |
| rgbd_passer_by         | rgbd     | a vertical band (0.15 + 0.35 s) W wide, 1.0 m deep, walking in from one |
|                        |          | side, standing in front of the image centre for a share s of the window |
|                        |          | and walking out the other side (someone walking past who stops; at s = 1 |
|                        |          | they stand in front for the whole window)                               |
| rgbd_blackout          | rgbd     | the last round(s T) frames black with no valid depth (all zeros)        |
| rgbd_overexposure      | rgbd     | rgb -> clamp(rgb (1 + 4 s) + 0.5 s, 0, 1); depth unchanged              |
| rgbd_frozen            | rgbd     | from frame round((1 - s) (T - 1)) on, rgb and depth repeat that frame   |
| depth_holes            | rgbd     | depth 0 (no return) in 4x4-pixel blocks, each with probability s; the   |
|                        | + points | depth-derived cloud loses the same share s of its points (at s = 1 a    |
|                        |          | sensor returning nothing: no depth, one point left per frame)           |

A fault degrades `Fault.modality` and, where one physical fault reaches two modalities, `Fault.also` (depth
holes: the point cloud is back-projected from the same depth image). Faults act on present samples only
(`present` False rows are returned as they came). All randomness comes from the `generator` argument, so a
fixed seed gives the same faults. `apply_fault` applies one fault;
`sample_faults` draws, per sample, one fault and a severity for training.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch.nn import functional as F

from rcmcl_core.augment.views import normal, tracked_bodies, uniform
from rcmcl_core.config import MODALITIES

JUMP_FRAMES = 2
"""Frames a tracker jump lasts before the tracker snaps back."""
HOLE_BLOCK = 4
"""Side in pixels of the blocks that depth holes are made of."""
_TENSORS = {"rgbd": ("rgb", "depth"), "skeleton": ("skeleton",), "points": ("points",)}


def _per_sample(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, ..., 1) broadcastable against `like`, in its dtype."""
    return value.to(like.dtype).view((-1,) + (1,) * (like.dim() - 1))


# -- physical-parameter operations (per-sample parameters, shapes (B,)) ------------------------------------------
def add_joint_noise(skeleton: torch.Tensor, sigma_m: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """(B, T, M, 25, 3) + N(0, sigma_m[b]^2) metres on tracked bodies; untracked bodies stay 0."""
    noise = normal(skeleton.shape, generator=generator, device=skeleton.device).to(skeleton.dtype)
    tracked = tracked_bodies(skeleton)[..., None, None]
    return torch.where(tracked, skeleton + _per_sample(sigma_m, skeleton) * noise, skeleton)


def drop_joints(skeleton: torch.Tensor, probability: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """Set each joint (all bodies, every frame) to 0 with probability[b]: the tracker lost it."""
    b, t, m, joints, _ = skeleton.shape
    lost = uniform((b, t, m, joints), 0.0, 1.0, generator=generator, device=skeleton.device) \
        < _per_sample(probability, skeleton)[..., 0]
    return skeleton.masked_fill(lost[..., None], 0.0)


def jump_joints(skeleton: torch.Tensor, jumps: torch.Tensor, distance_m: torch.Tensor, *,
                generator: torch.Generator) -> torch.Tensor:
    """jumps[b] tracker jumps per sample: each picks a start frame, a joint or the whole body (1 in 26) and a
    random direction, and moves it by distance_m[b] for JUMP_FRAMES frames. Untracked bodies stay 0."""
    b, t, m, joints, _ = skeleton.shape
    device = skeleton.device
    most = int(jumps.max()) if jumps.numel() else 0
    offset = torch.zeros_like(skeleton)
    frames = torch.arange(t, device=device)
    for event in range(most):
        active = (event < jumps).to(device)                                                 # (B,)
        start = (uniform((b,), 0.0, 1.0, generator=generator, device=device) * t).long()
        target = (uniform((b,), 0.0, 1.0, generator=generator, device=device) * (joints + 1)).long()
        direction = F.normalize(normal((b, 3), generator=generator, device=device), dim=-1)
        in_time = (frames[None] >= start[:, None]) & (frames[None] < (start + JUMP_FRAMES)[:, None])   # (B, T)
        which = (target[:, None] == joints) | (target[:, None] == torch.arange(joints, device=device)[None])
        where = (in_time[:, :, None] & which[:, None, :]) & active[:, None, None]                   # (B, T, 25)
        step = (direction * distance_m.to(device)[:, None]).to(skeleton.dtype)                       # (B, 3)
        offset = offset + where[:, :, None, :, None].to(skeleton.dtype) * step[:, None, None, None, :]
    tracked = tracked_bodies(skeleton)[..., None, None]
    return torch.where(tracked, skeleton + offset, skeleton)


def keep_points(points: torch.Tensor, keep_fraction: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """(B, T, N, 3): per frame keep K[b] = max(1, round(keep_fraction[b] N)) random points and refill the N rows
    by cycling them. Draws the same random numbers as augment_views.keep_random_points, so equal fractions give
    equal results."""
    b, t, n, _ = points.shape
    keep = (keep_fraction.to(torch.float64) * n).round().clamp(1, n).long().to(points.device)   # (B,)
    order = torch.argsort(uniform((b, t, n), 0.0, 1.0, generator=generator, device=points.device), dim=-1)
    slot = torch.arange(n, device=points.device)[None] % keep[:, None]                         # (B, N)
    chosen = torch.gather(order, 2, slot[:, None, :].expand(b, t, n))
    return torch.gather(points, 2, chosen[..., None].expand(b, t, n, 3))


def noise_along_rays(points: torch.Tensor, sigma_m: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """Move each point along its camera ray (the sensor's depth error) by N(0, sigma_m[b]^2) metres."""
    rng = points.norm(dim=-1, keepdim=True)
    ray = points / rng.clamp_min(1e-6)
    error = normal(points.shape[:-1] + (1,), generator=generator, device=points.device).to(points.dtype)
    return points + ray * error * _per_sample(sigma_m, points)


def fly_edge_points(points: torch.Tensor, fraction: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """Flying pixels: among the points in the outer half of each frame's silhouette (distance in x-y from the
    frame's centroid above the median: the depth edge), pick each with probability 2 fraction[b] and push it
    back along its ray by U(0, 1.5) m, as a mixed foreground/background depth return does."""
    b, t, n, _ = points.shape
    xy = points[..., :2] - points[..., :2].mean(dim=2, keepdim=True)
    radius = xy.norm(dim=-1)                                                            # (B, T, N)
    edge = radius > radius.median(dim=-1, keepdim=True).values
    pick = uniform((b, t, n), 0.0, 1.0, generator=generator, device=points.device) \
        < (2.0 * _per_sample(fraction, points)[..., 0]).clamp(max=1.0)
    push = uniform((b, t, n, 1), 0.0, 1.5, generator=generator, device=points.device).to(points.dtype)
    ray = points / points.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    return torch.where((edge & pick)[..., None], points + ray * push, points)


def paste_box(rgb: torch.Tensor, depth: torch.Tensor, area: torch.Tensor, *, generator: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """An occluder covering area[b] of the image (square in relative units, side sqrt(area)), flat grey
    U(0.2, 0.8), depth U(0.5, 1.0) m, at one random place per sample for the whole window."""
    b, _, _, h, w = rgb.shape
    device = rgb.device
    side = area.to(device).clamp(0, 1).sqrt()
    box_h, box_w = (side * h).round().long(), (side * w).round().long()
    top = (uniform((b,), 0.0, 1.0, generator=generator, device=device) * (h - box_h + 1)).long()
    left = (uniform((b,), 0.0, 1.0, generator=generator, device=device) * (w - box_w + 1)).long()
    rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
    inside = (((rows[None] >= top[:, None]) & (rows[None] < (top + box_h)[:, None]))[:, :, None]
              & ((cols[None] >= left[:, None]) & (cols[None] < (left + box_w)[:, None]))[:, None, :])  # (B, H, W)
    grey = uniform((b,), 0.2, 0.8, generator=generator, device=device)
    near = uniform((b,), 0.5, 1.0, generator=generator, device=device)
    inside = inside[:, None, None]
    return (torch.where(inside, _per_sample(grey, rgb), rgb), torch.where(inside, _per_sample(near, depth), depth))


def passer_by_progress(t: int, dwell: torch.Tensor) -> torch.Tensor:
    """(B,) dwell share in [0, 1] -> (B, T) position 0 -> 1 across the image: walk to the middle (0.5) in the
    first (1 - dwell) / 2 of the window at constant speed, stand there for `dwell` of it, walk out in the rest."""
    tau = torch.arange(t, device=dwell.device, dtype=torch.float32)[None] / max(t - 1, 1)  # (1, T) 0 -> 1
    walk = ((1.0 - dwell.float()) / 2.0)[:, None]                                        # (B, 1) share of each walk
    start_out = 1.0 - walk
    safe = walk.clamp_min(1e-6)
    walking_in = torch.where(walk > 1e-6, 0.5 * (tau / safe).clamp(max=1.0), 0.5)
    walking_out = torch.where(walk > 1e-6, 0.5 + 0.5 * ((tau - start_out) / safe).clamp(min=0.0, max=1.0), 0.5)
    return torch.where(tau < start_out, walking_in, walking_out)


def paste_passer_by(rgb: torch.Tensor, depth: torch.Tensor, width: torch.Tensor, *, generator: torch.Generator,
                    dwell: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A vertical band width[b] W wide at 1.0 m, dark colour U(0.05, 0.4), crossing from one image side to the
    other (direction random) during the window and standing in front of the image centre for a share dwell[b]
    of it (passer_by_progress; None: 0, a steady walk); width 0 leaves the frames unchanged."""
    b, t, _, h, w = rgb.shape
    device = rgb.device
    band = width.to(device) * w                                                          # (B,) pixels
    leftwards = uniform((b,), 0.0, 1.0, generator=generator, device=device) < 0.5
    colour = uniform((b,), 0.05, 0.4, generator=generator, device=device)
    dwell = torch.zeros(b, device=device) if dwell is None else dwell.to(device)
    progress = passer_by_progress(t, dwell)                                              # (B, T)
    progress = torch.where(leftwards[:, None], 1.0 - progress, progress)
    left = progress * (w + band[:, None]) - band[:, None]                               # (B, T) band's left edge
    cols = torch.arange(w, device=device, dtype=torch.float32)
    inside = (cols[None, None] >= left[..., None]) & (cols[None, None] < (left + band[:, None])[..., None])
    inside = inside[:, :, None, None, :]                                                 # (B, T, 1, 1, W)
    return (torch.where(inside, _per_sample(colour, rgb), rgb),
            torch.where(inside, torch.ones((), dtype=depth.dtype, device=device), depth))


def black_out_tail(tensor: torch.Tensor, fraction: torch.Tensor) -> torch.Tensor:
    """(B, T, ...) with the last round(fraction[b] T) frames set to 0."""
    t = tensor.shape[1]
    first_dark = t - (fraction.to(torch.float64) * t).round().long().to(tensor.device)    # (B,)
    dark = torch.arange(t, device=tensor.device)[None] >= first_dark[:, None]           # (B, T)
    return tensor.masked_fill(dark.view(dark.shape + (1,) * (tensor.dim() - 2)), 0.0)


def overexpose(rgb: torch.Tensor, severity: torch.Tensor) -> torch.Tensor:
    """rgb (B, T, 3, H, W) -> clamp(rgb (1 + 4 s) + 0.5 s, 0, 1)."""
    s = _per_sample(severity, rgb)
    return (rgb * (1.0 + 4.0 * s) + 0.5 * s).clamp(0.0, 1.0)


def freeze_from(tensor: torch.Tensor, onset: torch.Tensor) -> torch.Tensor:
    """(B, T, ...) where every frame from onset[b] on repeats frame onset[b] (a camera that stopped)."""
    t = tensor.shape[1]
    frames = torch.arange(t, device=tensor.device)[None]
    source = torch.minimum(frames, onset.to(tensor.device).long()[:, None]).clamp(0, t - 1)   # (B, T)
    index = source.view(source.shape + (1,) * (tensor.dim() - 2)).expand(tensor.shape)
    return torch.gather(tensor, 1, index)


def punch_depth_holes(depth: torch.Tensor, probability: torch.Tensor, *, generator: torch.Generator
                      ) -> torch.Tensor:
    """depth (B, T, 1, H, W): 0 (no return) in HOLE_BLOCK-pixel blocks, each with probability[b]."""
    b, t, _, h, w = depth.shape
    coarse = (math.ceil(h / HOLE_BLOCK), math.ceil(w / HOLE_BLOCK))
    draw = uniform((b, t) + coarse, 0.0, 1.0, generator=generator, device=depth.device)
    holes = draw < _per_sample(probability, draw)
    holes = holes.repeat_interleave(HOLE_BLOCK, dim=2).repeat_interleave(HOLE_BLOCK, dim=3)[:, :, :h, :w]
    return depth.masked_fill(holes[:, :, None], 0.0)


# -- the faults, by severity --------------------------------------------------------------------------------------
FaultFn = Callable[[dict, torch.Tensor, torch.Generator], dict]


def _on(batch: dict, **tensors: torch.Tensor) -> dict:
    out = dict(batch)
    out.update(tensors)
    return out


def _skeleton_noise(batch, s, g):
    return _on(batch, skeleton=add_joint_noise(batch["skeleton"], 0.20 * s, generator=g))


def _skeleton_joint_dropout(batch, s, g):
    return _on(batch, skeleton=drop_joints(batch["skeleton"], s, generator=g))


def jump_distance_m(severity: torch.Tensor) -> torch.Tensor:
    """(B,) severity -> (B,) metres a tracker jump moves a joint or body: 0.5 + 0.5 s."""
    return 0.5 + 0.5 * severity


def _skeleton_jumps(batch, s, g):
    t = batch["skeleton"].shape[1]
    jumps = (s.to(torch.float64) * t / 4).round().long()
    return _on(batch, skeleton=jump_joints(batch["skeleton"], jumps, jump_distance_m(s), generator=g))


def _points_sparsity(batch, s, g):
    return _on(batch, points=keep_points(batch["points"], 1.0 - 0.9 * s, generator=g))


def _points_depth_noise(batch, s, g):
    return _on(batch, points=noise_along_rays(batch["points"], 0.20 * s, generator=g))


def _points_flying_pixels(batch, s, g):
    return _on(batch, points=fly_edge_points(batch["points"], 0.5 * s, generator=g))


def _rgbd_occlusion(batch, s, g):
    rgb, depth = paste_box(batch["rgb"], batch["depth"], 0.8 * s, generator=g)
    return _on(batch, rgb=rgb, depth=depth)


def _rgbd_passer_by(batch, s, g):
    rgb, depth = paste_passer_by(batch["rgb"], batch["depth"], torch.where(s > 0, 0.15 + 0.35 * s, 0.0),
                                 generator=g, dwell=s)
    return _on(batch, rgb=rgb, depth=depth)


def _rgbd_blackout(batch, s, g):
    return _on(batch, rgb=black_out_tail(batch["rgb"], s), depth=black_out_tail(batch["depth"], s))


def _rgbd_overexposure(batch, s, g):
    return _on(batch, rgb=overexpose(batch["rgb"], s))


def _rgbd_frozen(batch, s, g):
    t = batch["rgb"].shape[1]
    onset = ((1.0 - s.to(torch.float64)) * (t - 1)).round().long()
    return _on(batch, rgb=freeze_from(batch["rgb"], onset), depth=freeze_from(batch["depth"], onset))


def _depth_holes(batch, s, g):
    return _on(batch, depth=punch_depth_holes(batch["depth"], s, generator=g),
               points=keep_points(batch["points"], 1.0 - s, generator=g))


@dataclass(frozen=True)
class Fault:
    """One fault: the modality it degrades, what severity means physically, and the batch operation."""

    name: str
    modality: str
    severity_means: str
    apply: FaultFn
    also: tuple[str, ...] = ()      # further modalities the same physical fault degrades

    @property
    def modalities(self) -> tuple[str, ...]:
        """Every modality the fault degrades, `modality` first."""
        return (self.modality,) + self.also


FAULTS: dict[str, Fault] = {f.name: f for f in (
    Fault("skeleton_noise", "skeleton", "joint noise sigma = 0.20 s m", _skeleton_noise),
    Fault("skeleton_joint_dropout", "skeleton", "joint lost with probability s per frame", _skeleton_joint_dropout),
    Fault("skeleton_jumps", "skeleton", f"round(s T/4) jumps of {JUMP_FRAMES} frames by (0.5 + 0.5 s) m",
          _skeleton_jumps),
    Fault("points_sparsity", "points", "keep 1 - 0.9 s of the points", _points_sparsity),
    Fault("points_depth_noise", "points", "noise along the ray, sigma = 0.20 s m", _points_depth_noise),
    Fault("points_flying_pixels", "points", "s of the depth-edge points (0.5 s of all) pushed back 0-1.5 m",
          _points_flying_pixels),
    Fault("rgbd_occlusion", "rgbd", "occluding box over 0.8 s of the image", _rgbd_occlusion),
    Fault("rgbd_passer_by", "rgbd", "band (0.15 + 0.35 s) W wide crossing, standing in front for s of the window",
          _rgbd_passer_by),
    Fault("rgbd_blackout", "rgbd", "last round(s T) frames black, depth 0", _rgbd_blackout),
    Fault("rgbd_overexposure", "rgbd", "rgb gain 1 + 4 s, offset 0.5 s, clipped", _rgbd_overexposure),
    Fault("rgbd_frozen", "rgbd", "frames from round((1 - s)(T - 1)) on repeat that frame", _rgbd_frozen),
    Fault("depth_holes", "rgbd", "depth 0 in 4x4 blocks with probability s; the cloud keeps 1 - s of its points",
          _depth_holes, also=("points",)),
)}


def apply_fault(batch: dict, name: str, severity: float | torch.Tensor, *, generator: torch.Generator) -> dict:
    """Fault `name` at `severity` (a float for all samples or (B,) per sample, in [0, 1]) on a new batch dict.
    Samples with severity 0 or with the modality absent come back unchanged; other keys are shared."""
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}; faults are {', '.join(FAULTS)}")
    fault = FAULTS[name]
    present = batch["present"]
    b = present.shape[0]
    s = torch.as_tensor(severity, dtype=torch.float32).cpu()
    s = s.expand(b).clone() if s.dim() == 0 else s
    if s.shape != (b,) or bool(((s < 0) | (s > 1) | torch.isnan(s)).any()):
        raise ValueError(f"severity must be a number or a ({b},) tensor in [0, 1], got {tuple(s.shape)} "
                         f"{s.tolist() if s.numel() <= 8 else '...'}")
    faulted = fault.apply(batch, s, generator)
    out = dict(batch)
    for modality in fault.modalities:
        hit = (s > 0).to(present.device) & present[:, MODALITIES.index(modality)]
        for key in _TENSORS[modality]:
            keep = hit.view((-1,) + (1,) * (batch[key].dim() - 1))
            out[key] = torch.where(keep, faulted[key], batch[key])
    return out


def sample_faults(batch: dict, *, probability: float, generator: torch.Generator,
                  names: Sequence[str] | None = None) -> tuple[dict, torch.Tensor]:
    """Training faults: with `probability` per sample, one fault drawn uniformly from `names` (default all)
    at a severity drawn from U(0, 1). Returns (new batch, severity (B, 3) float in MODALITIES order, 0 where
    the sample's modality was not faulted)."""
    names = list(FAULTS) if names is None else list(names)
    b = batch["present"].shape[0]
    cpu = torch.device("cpu")
    faulted = uniform((b,), 0.0, 1.0, generator=generator, device=cpu) < probability
    choice = (uniform((b,), 0.0, 1.0, generator=generator, device=cpu) * len(names)).long().clamp(max=len(names) - 1)
    level = uniform((b,), 0.0, 1.0, generator=generator, device=cpu)
    severity = torch.zeros(b, len(MODALITIES))
    out = batch
    for index, name in enumerate(names):
        chosen = faulted & (choice == index)
        if not bool(chosen.any()):
            continue
        s = torch.where(chosen, level, torch.zeros_like(level))
        out = apply_fault(out, name, s, generator=generator)
        for modality in FAULTS[name].modalities:
            severity[:, MODALITIES.index(modality)] += s
    return out, severity
