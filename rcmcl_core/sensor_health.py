"""Deterministic per-frame sensor-health rules, as a driver watchdog applies them: a frozen camera and a jumping
skeleton tracker are recognised by rule, not learned (docs/RELIABILITY.md, "Sensor-health rules").

- Repeated RGB-D frame: rgb AND depth identical to the previous frame of the stream (largest absolute
  difference <= a tolerance, 0 by default: bit-exact). A live sensor never repeats a frame (photon and
  time-of-flight noise), so a repeat is a frozen camera or a driver republishing its last frame. Both images
  must repeat: noise-free rendered colour of a still scene can repeat, its noisy depth cannot.
- Implausible skeleton motion: a tracked body, compared with its last accepted frame, whose
  * pelvis (spine_base) moved faster than `body_speed_mps`, or
  * any joint moved faster than `joint_speed_mps`, or
  * any bone changed length by more than `bone_change_m` (bones are rigid: a joint that teleports alone
    stretches its bones whatever the frame rate),
  where each speed limit allows `position_noise_m` of tracker noise on top (limit x dt + noise).
  Defaults from human biomechanics: a boxer's fist reaches ~10 m/s and a martial-arts kick's foot ~15-20 m/s,
  so 25 m/s at any joint; a person's pelvis stays under ~4-5 m/s indoors (a fall from standing height lands
  at ~4.4 m/s, a vertical jump takes off at ~3 m/s), so 6 m/s; limb lengths of one person vary by the
  tracker's few centimetres, so 0.25 m. Joints at exactly (0, 0, 0) are lost (not a motion) and not checked.
  Re-acquire: a body rejected `reacquire_frames` frames in a row, each consistent with the one before
  (the same rules, frame to frame), or rejected for `reacquire_s` seconds, is accepted again at its new
  place (it truly moved, or the tracker switched ids): never rejected forever.

A flagged frame counts as not observed: rcmcl_core.windowing's presence rule then decides whether the
modality is present (a window mostly frozen makes RGB-D absent, so its gate is exactly 0 by the model's
masking) and a present modality's flagged frames are filled from the nearest accepted frame. One more rule
(`trusted`), as a watchdog's error rate: a window in which more than `max_rejected_fraction` of a modality's
frames were rejected does not trust that sensor at all (absent), even if the frames in between passed: a
tracker that jumps every other frame is broken for now. `screen_batch` applies all this to clips
(evaluation, calibration); the node applies the streaming checks per synced set (rcmcl_ros/pipeline/runner.py)
and `trusted` per window (rcmcl_ros/pipeline/window.py) with the same code.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from rcmcl_core.config import MODALITIES
from rcmcl_core.geometry.skeleton_layout import NTU_BONES, ROOT_JOINT
from rcmcl_core.windowing import MIN_PRESENCE, is_present, nearest_stamps, window_times

REPEATED = "repeated"
"""Drop reason of a repeated RGB-D frame."""
JUMP = "jump"
"""Drop reason of a skeleton frame with implausible motion."""
BONE_AVERAGING = 0.2
"""Weight of a newly accepted frame in a body's running bone lengths (an exponential average)."""
_CHILD = np.array([child for child, _ in NTU_BONES])
_PARENT = np.array([parent for _, parent in NTU_BONES])


class HealthConfigError(ValueError):
    """A HealthConfig value is impossible; the message names it."""


@dataclass
class HealthConfig:
    """Thresholds of the rules (module docstring). enabled False turns every rule off."""

    enabled: bool = True
    repeat_rgb_tolerance: float = 0.0    # largest |rgb difference| still a repeat (fraction of full scale)
    repeat_depth_tolerance_m: float = 0.0  # largest |depth difference| still a repeat, metres
    joint_speed_mps: float = 25.0        # fastest plausible joint (a kick's foot: 15-20 m/s)
    body_speed_mps: float = 6.0          # fastest plausible pelvis (a fall lands at ~4.4 m/s)
    bone_change_m: float = 0.25          # largest plausible change of a bone's length between frames
    position_noise_m: float = 0.05       # tracker noise allowed on top of speed x dt
    reacquire_frames: int = 3            # consistent rejected frames in a row that are accepted as the new pose
    reacquire_s: float = 0.5             # a body rejected this long (s) is accepted again
    max_rejected_fraction: float = 0.25  # a window whose frames of a modality are rejected more often is not trusted

    def validate(self) -> "HealthConfig":
        checks = (
            (0.0 <= self.repeat_rgb_tolerance < 1.0,
             f"health.repeat_rgb_tolerance must be in [0, 1), got {self.repeat_rgb_tolerance}"),
            (self.repeat_depth_tolerance_m >= 0.0,
             f"health.repeat_depth_tolerance_m must be >= 0 m, got {self.repeat_depth_tolerance_m}"),
            (self.joint_speed_mps > 0.0, f"health.joint_speed_mps must be > 0 m/s, got {self.joint_speed_mps}"),
            (self.body_speed_mps > 0.0, f"health.body_speed_mps must be > 0 m/s, got {self.body_speed_mps}"),
            (self.bone_change_m > 0.0, f"health.bone_change_m must be > 0 m, got {self.bone_change_m}"),
            (self.position_noise_m >= 0.0, f"health.position_noise_m must be >= 0 m, got {self.position_noise_m}"),
            (self.reacquire_frames >= 1, f"health.reacquire_frames must be >= 1, got {self.reacquire_frames}"),
            (self.reacquire_s > 0.0, f"health.reacquire_s must be > 0 s, got {self.reacquire_s}"),
            (0.0 <= self.max_rejected_fraction <= 1.0,
             f"health.max_rejected_fraction must be in [0, 1], got {self.max_rejected_fraction}"),
        )
        for ok, message in checks:
            if not ok:
                raise HealthConfigError(message)
        return self


# -- repeated RGB-D frames --------------------------------------------------------------------------------------
def _same(a: np.ndarray, b: np.ndarray, tolerance: float) -> bool:
    if a.shape != b.shape:
        return False
    if tolerance <= 0.0:
        return bool(np.array_equal(a, b))
    return bool(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))) <= tolerance)


class RepeatedFrames:
    """Streaming check of one RGB-D stream: `check(rgb, depth)` is True when both repeat the previous frame.
    rgb: uint8 (any layout; tolerance scaled by 255) or float in [0, 1]; depth: metres, any layout."""

    def __init__(self, config: HealthConfig) -> None:
        self.config = config.validate()
        self._previous: tuple[np.ndarray, np.ndarray] | None = None

    def reset(self) -> None:
        self._previous = None

    def check(self, rgb: np.ndarray, depth: np.ndarray) -> bool:
        rgb, depth = np.asarray(rgb), np.asarray(depth)
        previous, self._previous = self._previous, (rgb, depth)
        if previous is None:
            return False
        scale = 255.0 if rgb.dtype == np.uint8 else 1.0
        return (_same(rgb, previous[0], self.config.repeat_rgb_tolerance * scale)
                and _same(depth, previous[1], self.config.repeat_depth_tolerance_m))


# -- implausible skeleton motion --------------------------------------------------------------------------------
@dataclass
class _Body:
    """State of one body slot: its last accepted joints and time, and the run of rejected frames since."""

    joints: np.ndarray | None = None        # (25, 3) metres, last accepted
    bones: np.ndarray | None = None         # (24,) metres, running mean of the accepted bone lengths (NaN: unseen)
    stamp_s: float = 0.0
    rejected_since_s: float | None = None
    rejected_run: int = 0                   # consecutive rejected frames, each consistent with the one before
    last_rejected: tuple[float, np.ndarray] | None = field(default=None, repr=False)


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(25, 3) m -> (24,) m per NTU_BONES entry; NaN where a joint is lost (exactly 0)."""
    known = np.any(joints != 0.0, axis=-1)
    length = np.linalg.norm(joints[_CHILD] - joints[_PARENT], axis=-1)
    return np.where(known[_CHILD] & known[_PARENT], length, np.nan)


def motion_violation(reference: np.ndarray, current: np.ndarray, dt_s: float, config: HealthConfig, *,
                     reference_bones: np.ndarray | None = None) -> str | None:
    """Why `current` (25, 3) m cannot follow `reference` (25, 3) m after dt_s seconds, or None when it can.
    Bone lengths are compared with reference_bones (24,) m (NaN: unknown) when given, else with the
    reference's. Joints at exactly 0 in either frame are lost and not checked."""
    known = np.any(reference != 0.0, axis=-1) & np.any(current != 0.0, axis=-1)                  # (25,)
    dt_s = max(float(dt_s), 0.0)
    moved = np.linalg.norm(current - reference, axis=-1)                                           # (25,) m
    if known[ROOT_JOINT]:
        limit = config.body_speed_mps * dt_s + config.position_noise_m
        if moved[ROOT_JOINT] > limit:
            return f"pelvis moved {moved[ROOT_JOINT]:.2f} m in {dt_s:.3f} s (limit {limit:.2f} m)"
    joint_limit = config.joint_speed_mps * dt_s + config.position_noise_m
    fast = known & (moved > joint_limit)
    if fast.any():
        j = int(np.argmax(np.where(fast, moved, -1.0)))
        return f"joint {j} moved {moved[j]:.2f} m in {dt_s:.3f} s (limit {joint_limit:.2f} m)"
    length_ref = bone_lengths(reference) if reference_bones is None else reference_bones
    change = np.nan_to_num(np.abs(bone_lengths(current) - length_ref), nan=0.0)
    if change.max(initial=0.0) > config.bone_change_m:
        k = int(np.argmax(change))
        return (f"bone {int(_PARENT[k])}-{int(_CHILD[k])} changed length by {change[k]:.2f} m "
                f"(limit {config.bone_change_m:.2f} m)")
    return None


class SkeletonMotion:
    """Streaming check of one skeleton stream, frames in stamp order: `check(stamp_s, joints (M, 25, 3) m,
    tracked (M,) bool)` returns None for a plausible frame or the reason of the first implausible body."""

    def __init__(self, config: HealthConfig) -> None:
        self.config = config.validate()
        self._bodies: dict[int, _Body] = {}

    def reset(self) -> None:
        self._bodies = {}

    def check(self, stamp_s: float, joints: np.ndarray, tracked: np.ndarray) -> str | None:
        joints = np.asarray(joints, dtype=np.float64)
        reason = None
        for m in range(joints.shape[0]):
            if not bool(tracked[m]) or not np.any(joints[m]):
                continue          # untracked: the reference stays (a jump right after a lost frame is a jump)
            why = self._check_body(self._bodies.setdefault(m, _Body()), float(stamp_s), joints[m])
            if why is not None and reason is None:
                reason = f"body {m}: {why}"
        return reason

    def _check_body(self, body: _Body, stamp_s: float, joints: np.ndarray) -> str | None:
        cfg = self.config
        why = None if body.joints is None else motion_violation(body.joints, joints, stamp_s - body.stamp_s, cfg,
                                                                reference_bones=body.bones)
        if why is None:
            self._accept(body, stamp_s, joints)
            return None
        if body.rejected_since_s is None:
            body.rejected_since_s, body.rejected_run = stamp_s, 1
        else:
            previous_s, previous = body.last_rejected
            consistent = motion_violation(previous, joints, stamp_s - previous_s, cfg) is None
            body.rejected_run = body.rejected_run + 1 if consistent else 1
        body.last_rejected = (stamp_s, joints)
        if body.rejected_run >= cfg.reacquire_frames or stamp_s - body.rejected_since_s >= cfg.reacquire_s:
            body.bones = None                            # re-acquired: it truly moved, or a new id (new bones)
            self._accept(body, stamp_s, joints)
            return None
        return why

    @staticmethod
    def _accept(body: _Body, stamp_s: float, joints: np.ndarray) -> None:
        body.joints, body.stamp_s = joints.copy(), stamp_s
        body.rejected_since_s, body.rejected_run, body.last_rejected = None, 0, None
        bones = bone_lengths(joints)
        if body.bones is None:
            body.bones = bones
        else:   # a person's bones are constant: average out the tracker's jitter, learn unseen bones at once
            averaged = body.bones + BONE_AVERAGING * (bones - body.bones)
            body.bones = np.where(np.isnan(body.bones), bones, np.where(np.isnan(bones), body.bones, averaged))


def trusted(rejected_fraction: float, config: HealthConfig | None) -> bool:
    """The window-level rule: a modality whose share of rejected frames in a window is at most
    config.max_rejected_fraction (always True when config is None or disabled)."""
    return config is None or not config.enabled or rejected_fraction <= config.max_rejected_fraction + 1e-9


# -- clips --------------------------------------------------------------------------------------------------------
def repeated_frames(rgb: np.ndarray | torch.Tensor, depth: np.ndarray | torch.Tensor, *,
                    config: HealthConfig) -> np.ndarray:
    """One clip: rgb (T, 3, H, W), depth (T, 1, H, W) -> (T,) bool, True where the frame repeats the one before."""
    rgb, depth = _numpy(rgb), _numpy(depth)
    check = RepeatedFrames(config)
    return np.array([check.check(rgb[t], depth[t]) for t in range(len(rgb))], dtype=bool)


def implausible_motion(skeleton: np.ndarray | torch.Tensor, times_s: np.ndarray, *,
                       config: HealthConfig) -> np.ndarray:
    """One clip: skeleton (T, M, 25, 3) metres (untracked bodies all 0), times_s (T,) -> (T,) bool flags."""
    skeleton = _numpy(skeleton).astype(np.float64)
    tracked = np.any(skeleton != 0.0, axis=(-1, -2))                                              # (T, M)
    check = SkeletonMotion(config)
    return np.array([check.check(float(times_s[t]), skeleton[t], tracked[t]) is not None
                     for t in range(len(skeleton))], dtype=bool)


def _numpy(value: np.ndarray | torch.Tensor) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


_TENSORS = {"rgbd": ("rgb", "depth"), "skeleton": ("skeleton",)}


def frame_flags(batch: dict, *, window_s: float, config: HealthConfig) -> dict[str, torch.Tensor]:
    """{'rgbd': (B, T) bool, 'skeleton': (B, T) bool}: frames the rules reject, for present samples only
    (frames evenly spaced over window_s seconds, as rcmcl_core.windowing lays them)."""
    present = batch["present"].cpu()
    clip = next((batch[k] for k in ("rgb", "skeleton", "points") if isinstance(batch.get(k), torch.Tensor)), None)
    b, t = present.shape[0], (clip.shape[1] if clip is not None else 0)
    flags = {m: torch.zeros(b, t, dtype=torch.bool) for m in _TENSORS}
    if not config.enabled or clip is None:
        return flags
    times = window_times(window_s, frames=t, window_s=window_s)
    for i in range(b):
        has_rgbd = batch.get("rgb") is not None and batch.get("depth") is not None
        if bool(present[i, MODALITIES.index("rgbd")]) and has_rgbd:
            flags["rgbd"][i] = torch.from_numpy(repeated_frames(batch["rgb"][i], batch["depth"][i], config=config))
        if bool(present[i, MODALITIES.index("skeleton")]) and batch.get("skeleton") is not None:
            flags["skeleton"][i] = torch.from_numpy(implausible_motion(batch["skeleton"][i], times, config=config))
    return flags


def _bodiless_frames(batch: dict, present: torch.Tensor) -> torch.Tensor:
    """(B, T) bool: skeleton frames of present samples (present (B,) bool) in which every joint of every body
    is exactly zero (the tracker reported nobody; a NaN joint is not nobody)."""
    return ~(batch["skeleton"] != 0).flatten(start_dim=2).any(dim=2).cpu() & present[:, None]


def screen_batch(batch: dict, *, window_s: float, config: HealthConfig,
                 min_presence: float = MIN_PRESENCE) -> tuple[dict, dict[str, torch.Tensor]]:
    """Apply the rules to a batch of clips as the node does: flagged frames are not observed; a modality whose
    observed fraction is below `min_presence`, or whose flagged fraction is above config.max_rejected_fraction,
    becomes absent (present False, its tensors zeroed); a present
    one has every flagged frame replaced by the nearest accepted frame (ties: the earlier). Returns (new batch,
    frame_flags); other keys are shared with `batch`. As the node's windower (skeleton_needs_body), a skeleton
    frame with no tracked body observes nothing either, without counting as rejected."""
    flags = frame_flags(batch, window_s=window_s, config=config)
    out = dict(batch)
    if not config.enabled:
        return out, flags
    present = batch["present"].clone()
    for modality, keys in _TENSORS.items():
        m = MODALITIES.index(modality)
        unobserved = flags[modality]
        if modality == "skeleton" and isinstance(batch.get("skeleton"), torch.Tensor):
            unobserved = unobserved | _bodiless_frames(batch, present[:, m].cpu())
        rows = [i for i in range(present.shape[0]) if bool(unobserved[i].any())]
        if not rows:
            continue
        for key in keys:
            out[key] = out[key].clone()
        for i in rows:
            observed = ~unobserved[i].numpy()
            if not (bool(is_present(observed.mean(), min_presence=min_presence))
                    and trusted(float(flags[modality][i].float().mean()), config)):
                present[i, m] = False
                for key in keys:
                    out[key][i] = 0.0
                continue
            frames = np.arange(len(observed), dtype=np.float64)
            kept = np.flatnonzero(observed)
            source = torch.from_numpy(kept[nearest_stamps(frames[kept], frames)[0]])
            for key in keys:
                out[key][i] = out[key][i][source.to(out[key].device)]
    out["present"] = present.to(batch["present"].device)
    return out, flags
