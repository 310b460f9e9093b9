"""The synthetic performer: subjects (proportions, volume, speed, style, clothing) and a 25-joint kinematic
body in NTU-25 order driven by per-frame controls, plus the capsules/spheres that draw it.

Frames: world is Y up, metres, floor at y = 0. The body frame has X = the person's left, Y up, Z forward
(the way the person faces); a performance places it in the world by a yaw and an offset.
Controls hold, per frame, the pelvis (spine_base) position, torso pitch/roll/twist, wrist and ankle
targets (reached by two-bone IK) and the hand-tip/thumb offsets in the hand frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rcmcl_core.data.synthetic.primitives import Primitives
from rcmcl_core.geometry.skeleton_layout import JOINT_INDEX as J

REFERENCE_HEIGHT_M = 1.75
"""Control targets are written for a person this tall and scaled by height / REFERENCE_HEIGHT_M."""

# Segment lengths as fractions of body height (rounded anthropometric tables, Drillis & Contini style).
PROPORTIONS = {
    "spine_low": 0.125, "spine_high": 0.16, "neck": 0.05, "head": 0.075, "shoulder_half": 0.115,
    "upper_arm": 0.172, "forearm": 0.150, "hand": 0.04, "hip_half": 0.05, "thigh": 0.245, "shin": 0.246,
    "ankle": 0.039, "foot": 0.075,
}
SHIRT_PALETTE = ((0.35, 0.38, 0.42), (0.22, 0.25, 0.35), (0.45, 0.40, 0.33), (0.30, 0.36, 0.30),
                 (0.50, 0.50, 0.52), (0.40, 0.30, 0.30), (0.62, 0.58, 0.50), (0.25, 0.30, 0.40))
PANTS_PALETTE = ((0.15, 0.17, 0.25), (0.28, 0.26, 0.24), (0.20, 0.20, 0.20), (0.35, 0.32, 0.28),
                 (0.25, 0.28, 0.33))
SKIN_PALETTE = ((0.87, 0.72, 0.60), (0.76, 0.58, 0.45), (0.58, 0.42, 0.30), (0.40, 0.28, 0.20))
HAIR_PALETTE = ((0.10, 0.08, 0.06), (0.30, 0.20, 0.12), (0.55, 0.45, 0.30), (0.25, 0.25, 0.25))
"""Muted clothing colours, so the saturated held objects (synthetic_classes.OBJECT_COLOURS) stand out."""

TIP_DEFAULT = (0.08, 0.0, 0.0)       # hand tip: (along forearm, toward hand reference, sideways), metres
THUMB_DEFAULT = (0.02, 0.045, 0.0)


@dataclass(frozen=True)
class Subject:
    """One performer. Lengths in metres, `width` scales limb radii (body volume), `speed` scales motion
    tempo, `amplitude` motion size, `arm_out` rest abduction (m), `lean` posture pitch (rad)."""

    subject_id: int
    height: float
    lengths: dict[str, float]
    width: float
    speed: float
    amplitude: float
    arm_out: float
    lean: float
    shirt: tuple[float, float, float]
    pants: tuple[float, float, float]
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]

    @property
    def scale(self) -> float:
        return self.height / REFERENCE_HEIGHT_M

    @property
    def hip_height(self) -> float:
        """Pelvis height when standing with a hint of knee bend."""
        return 0.985 * (self.lengths["thigh"] + self.lengths["shin"]) + self.lengths["ankle"]


def make_subject(subject_id: int, *, seed: int = 0) -> Subject:
    """Subject `subject_id` (>= 1) of dataset seed `seed`; same arguments, same subject."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919, subject_id]))
    height = float(rng.uniform(1.55, 1.90))
    lengths = {k: float(height * v * rng.uniform(0.96, 1.04)) for k, v in PROPORTIONS.items()}

    def colour(palette):
        shade = np.asarray(palette[rng.integers(len(palette))]) * rng.uniform(0.85, 1.15, 3)
        return tuple(float(c) for c in np.clip(shade, 0, 1))

    return Subject(subject_id=subject_id, height=height, lengths=lengths, width=float(rng.uniform(0.85, 1.25)),
                   speed=float(rng.uniform(0.8, 1.25)), amplitude=float(rng.uniform(0.85, 1.15)),
                   arm_out=float(rng.uniform(0.0, 0.08)), lean=float(rng.uniform(-0.04, 0.08)),
                   shirt=colour(SHIRT_PALETTE), pants=colour(PANTS_PALETTE), skin=colour(SKIN_PALETTE),
                   hair=colour(HAIR_PALETTE))


@dataclass
class Controls:
    """Per-frame body controls, F frames. Hand/foot targets are 'mirrored' (out, up, fwd): out points away
    from the midline on either side. Hand targets: wrist, relative to spine_shoulder in the torso frame;
    ankle targets: relative to the body-frame origin on the floor. Both in metres for a
    REFERENCE_HEIGHT_M person (scaled by the subject). Tip/thumb: hand-frame offsets in metres."""

    root: np.ndarray                 # (F, 3) spine_base in the body frame, metres (absolute)
    pitch: np.ndarray                # (F,) forward bend, rad
    roll: np.ndarray                 # (F,) side bend, rad
    twist: np.ndarray                # (F,) torso yaw, rad
    hand: dict[str, np.ndarray]      # side -> (F, 3)
    elbow_pole: dict[str, np.ndarray]
    ankle: dict[str, np.ndarray]
    tip: dict[str, np.ndarray]
    thumb: dict[str, np.ndarray]
    objects: list = field(default_factory=list)

    @property
    def frames(self) -> int:
        return len(self.pitch)


SIDES = {"left": 1.0, "right": -1.0}   # sign of body-frame X for "out"


def rest_controls(subject: Subject, frames: int) -> Controls:
    """Standing still, arms hanging, open hands."""
    k = subject.scale

    def full(v):
        return np.tile(np.asarray(v, dtype=np.float64), (frames, 1))

    hand_out = subject.lengths["shoulder_half"] / k + 0.05 + subject.arm_out
    return Controls(
        root=full([0.0, subject.hip_height, 0.0]), pitch=np.full(frames, subject.lean), roll=np.zeros(frames),
        twist=np.zeros(frames),
        hand={s: full([hand_out, -0.62, 0.06]) for s in SIDES},
        elbow_pole={s: full([0.3, -0.3, -1.0]) for s in SIDES},
        ankle={s: full([0.10, subject.lengths["ankle"] / k, 0.03]) for s in SIDES},
        tip={s: full(TIP_DEFAULT) for s in SIDES}, thumb={s: full(THUMB_DEFAULT) for s in SIDES})


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _rot_x(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _rot_y(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def two_bone_ik(base: np.ndarray, target: np.ndarray, pole: np.ndarray, *, first: float,
                second: float) -> tuple[np.ndarray, np.ndarray]:
    """(F, 3) base, target, pole direction -> (middle joint, end joint), each (F, 3). The end reaches the
    target, clamped to the chain's reach; the middle joint bends toward `pole`."""
    offset = target - base
    dist = np.linalg.norm(offset, axis=-1, keepdims=True)
    direction = offset / np.maximum(dist, 1e-9)
    dist = np.clip(dist, abs(first - second) + 1e-4, (first + second) * 0.999)
    cos_a = (first ** 2 + dist ** 2 - second ** 2) / (2 * first * dist)
    bend = _unit(pole - np.sum(pole * direction, -1, keepdims=True) * direction)
    middle = base + first * (cos_a * direction + np.sqrt(np.clip(1 - cos_a ** 2, 0, 1)) * bend)
    return middle, base + dist * direction


def solve_joints(controls: Controls, subject: Subject) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Controls -> ((F, 25, 3) body-frame joints in NTU-25 order, {'rotation': (F, 3, 3) torso frame})."""
    n, k, lengths = controls.frames, subject.scale, subject.lengths
    joints = np.zeros((n, 25, 3))
    up = np.array([0.0, 1.0, 0.0])
    twist = _rot_y(controls.twist)
    lower = twist @ _rot_x(controls.pitch / 2) @ _rot_z(-controls.roll / 2)
    torso = twist @ _rot_x(controls.pitch) @ _rot_z(-controls.roll)
    root = controls.root
    joints[:, J["spine_base"]] = root
    joints[:, J["spine_mid"]] = root + lower @ (up * lengths["spine_low"])
    joints[:, J["spine_shoulder"]] = joints[:, J["spine_mid"]] + torso @ (up * lengths["spine_high"])
    joints[:, J["neck"]] = joints[:, J["spine_shoulder"]] + torso @ (up * lengths["neck"])
    joints[:, J["head"]] = joints[:, J["neck"]] + torso @ (np.array([0.0, 1.0, 0.15]) * lengths["head"])
    forward = torso @ np.array([0.0, 0.0, 1.0])
    for side, sign in SIDES.items():
        mirror = np.array([sign, 1.0, 1.0])
        shoulder = joints[:, J["spine_shoulder"]] + torso @ (
            np.array([sign * lengths["shoulder_half"], -0.03 * k, -0.01]))
        wrist_target = joints[:, J["spine_shoulder"]] + np.einsum("fij,fj->fi", torso, controls.hand[side] * mirror * k)
        pole = np.einsum("fij,fj->fi", torso, controls.elbow_pole[side] * mirror)
        elbow, wrist = two_bone_ik(shoulder, wrist_target, pole, first=lengths["upper_arm"], second=lengths["forearm"])
        along = _unit(wrist - elbow)
        hand = wrist + along * lengths["hand"]
        vertical = np.abs(along @ up)[:, None]
        reference = _unit(up * (1 - vertical) + forward * vertical)
        reference = _unit(reference - np.sum(reference * along, -1, keepdims=True) * along)
        sideways = np.cross(along, reference) * sign

        def frame(offsets):
            return k * (offsets[:, :1] * along + offsets[:, 1:2] * reference + offsets[:, 2:] * sideways)

        prefix = side
        joints[:, J[f"{prefix}_shoulder"]], joints[:, J[f"{prefix}_elbow"]] = shoulder, elbow
        joints[:, J[f"{prefix}_wrist"]], joints[:, J[f"{prefix}_hand"]] = wrist, hand
        joints[:, J[f"{prefix}_hand_tip"]] = hand + frame(controls.tip[side])
        joints[:, J[f"{prefix}_thumb"]] = hand + frame(controls.thumb[side])

        hip = root + np.array([sign * lengths["hip_half"], -0.03 * k, 0.0])
        ankle_target = controls.ankle[side] * mirror * k
        knee_pole = np.tile(np.array([0.1 * sign, 0.0, 1.0]), (n, 1))
        knee, ankle = two_bone_ik(hip, ankle_target, knee_pole, first=lengths["thigh"], second=lengths["shin"])
        joints[:, J[f"{prefix}_hip"]], joints[:, J[f"{prefix}_knee"]] = hip, knee
        joints[:, J[f"{prefix}_ankle"]] = ankle
        # NTU/Kinect put the foot joint on top of the forefoot, a few cm above the floor.
        joints[:, J[f"{prefix}_foot"]] = ankle + np.array([0.0, -0.15, 0.75]) * lengths["foot"]
    return joints, {"rotation": torso}


# (joint a, joint b, radius at width 1 for a 1.75 m person, colour part, scales with width)
LIMBS = (
    ("spine_shoulder", "neck", 0.045, "skin", False),
    ("left_hip", "right_hip", 0.095, "pants", True),
    ("left_shoulder", "left_elbow", 0.048, "shirt", True), ("right_shoulder", "right_elbow", 0.048, "shirt", True),
    ("left_elbow", "left_wrist", 0.038, "shirt", True), ("right_elbow", "right_wrist", 0.038, "shirt", True),
    ("left_wrist", "left_hand", 0.033, "skin", False), ("right_wrist", "right_hand", 0.033, "skin", False),
    ("left_hip", "left_knee", 0.072, "pants", True), ("right_hip", "right_knee", 0.072, "pants", True),
    ("left_knee", "left_ankle", 0.052, "pants", True), ("right_knee", "right_ankle", 0.052, "pants", True),
    ("left_ankle", "left_foot", 0.042, "hair", False), ("right_ankle", "right_foot", 0.042, "hair", False),
)
TORSO_RADIUS = 0.105
"""Each torso half is a capsule of this radius (x width); its front surface is ~ this far ahead of the
spine, which places chest-held objects."""


def body_primitives(joints: np.ndarray, subject: Subject) -> Primitives:
    """Capsules and spheres of the body for (F, 25, 3) joints (any frame). Hands are spheres at the hand
    joint that ignore hand_tip/thumb: finger detail is below what a depth/RGB sensor resolves."""
    k, w = subject.scale, subject.width
    colours = {"skin": subject.skin, "shirt": subject.shirt, "pants": subject.pants, "hair": subject.hair}
    a = [joints[:, J[x]] for x, *_ in LIMBS]
    b = [joints[:, J[y]] for _, y, *_ in LIMBS]
    radius = [r * k * (w if scaled else 1.0) for _, _, r, _, scaled in LIMBS]
    colour = [colours[part] for *_, part, _ in LIMBS]
    across = _unit(joints[:, J["left_shoulder"]] - joints[:, J["right_shoulder"]])
    spine_up = _unit(joints[:, J["spine_shoulder"]] - joints[:, J["spine_base"]])
    for sign in (1.0, -1.0):  # two torso capsules side by side: wider than deep
        a.append(joints[:, J["spine_base"]] + k * (sign * 0.07 * across + 0.06 * spine_up))
        b.append(joints[:, J["spine_shoulder"]] + k * (sign * 0.085 * across - 0.05 * spine_up))
        radius.append(TORSO_RADIUS * k * w)
        colour.append(subject.shirt)
    forward = _unit(np.cross(across, spine_up))
    head = joints[:, J["head"]]
    centres = [head, head + k * (0.025 * spine_up - 0.03 * forward), joints[:, J["left_hand"]],
               joints[:, J["right_hand"]]]
    return Primitives.build(
        capsules=(np.stack(a, 1), np.stack(b, 1), np.array(radius), np.array(colour)),
        spheres=(np.stack(centres, 1), np.array([0.1, 0.095, 0.045, 0.045]) * k,
                 np.array([subject.skin, subject.hair, subject.skin, subject.skin])))


def torso_axes(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F, 25, 3) -> (left, up, forward) unit vectors of the torso, each (F, 3)."""
    left = _unit(joints[:, J["left_shoulder"]] - joints[:, J["right_shoulder"]])
    up = _unit(joints[:, J["spine_shoulder"]] - joints[:, J["spine_mid"]])
    up = _unit(up - np.sum(up * left, -1, keepdims=True) * left)
    return left, up, np.cross(left, up)
