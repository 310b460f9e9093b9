"""Class-specific motion programs and held objects of the synthetic benchmark.

A program edits rest Controls (synthetic_body) over time and may return an object builder that places
held objects from the solved joints. Time inside a program: `u` = seconds from the action's centre
(scaled by the performer's speed: one-shot actions peak at u = 0, placed mid-clip so any window of the
clip that covers its middle sees the event); `tau` = scaled time plus a random phase (periodic actions).
Hand targets are (out, up, fwd) metres from spine_shoulder in the torso frame (see Controls).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from rcmcl_core.data.synthetic.body import (TORSO_RADIUS, Controls, Subject, body_primitives, rest_controls,
                                            solve_joints, torso_axes, _rot_y)
from rcmcl_core.data.synthetic.classes import OBJECT_COLOURS, ActionClass
from rcmcl_core.data.synthetic.primitives import Primitives
from rcmcl_core.geometry.skeleton_layout import JOINT_INDEX as J

STOOL = {"half": (0.2, 0.225, 0.19), "z": -0.25, "colour": (0.45, 0.30, 0.18)}
"""Seat of sit down / stand up: half extents (m), centre z in the body frame, wood colour."""
SIGN_HALF = (0.20, 0.15, 0.01)
BALL_RADIUS = 0.12
BOOK_HALF = (0.16, 0.12, 0.02)
BOOK_TILT_RAD = 0.3
CARRY_BOX_HALF = (0.20, 0.16, 0.18)
HUG_BALL_RADIUS = 0.25
THROW_BALL_RADIUS = 0.07
PUSH_CRATE_HALF = (0.28, 0.30, 0.22)
LIFT_BOX_HALF = (0.17, 0.11, 0.13)
"""Held objects, metres; sizes do not depend on the performer."""


@dataclass
class MotionContext:
    u: np.ndarray          # (F,) seconds from the action centre, speed-scaled
    tau: np.ndarray        # (F,) speed-scaled seconds plus a random phase
    amp: float             # motion amplitude factor (subject style x performance)
    variant: str
    subject: Subject


@dataclass
class Performance:
    """One performance in world coordinates: joints (F, 25, 3) metres NTU-25 order, and what to draw."""

    joints: np.ndarray
    primitives: Primitives
    action: ActionClass
    subject: Subject


def _bump(u: np.ndarray, width: float) -> np.ndarray:
    return np.exp(-(u / width) ** 2)


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _wave(f: float, tau: np.ndarray) -> np.ndarray:
    return np.sin(2 * np.pi * f * tau)


def _set(target: np.ndarray, out=None, up=None, fwd=None) -> None:
    for axis, value in enumerate((out, up, fwd)):
        if value is not None:
            target[:, axis] = value


def _box(centre: np.ndarray, axes: np.ndarray, half, colour) -> Primitives:
    return Primitives.build(boxes=(centre[:, None], axes[:, None], np.array([half]), np.array([colour])))


def _torso_box_axes(joints: np.ndarray) -> np.ndarray:
    left, up, forward = torso_axes(joints)
    return np.stack([left, up, forward], axis=-1)


# -- ordinary actions ------------------------------------------------------------------------------
def wave(c: Controls, m: MotionContext):
    _set(c.hand["right"], out=0.30 + 0.13 * m.amp * _wave(1.5, m.tau), up=0.38, fwd=0.12)
    c.elbow_pole["right"][:] = (1.0, -1.0, -0.5)


def clap(c: Controls, m: MotionContext):
    for side in c.hand:
        _set(c.hand[side], out=0.05 + 0.16 * m.amp * (0.5 + 0.5 * np.cos(2 * np.pi * 1.8 * m.tau)), up=-0.2, fwd=0.38)
        c.elbow_pole[side][:] = (1.0, -1.0, -0.3)


def _stool(joints: np.ndarray, m: MotionContext) -> Primitives:
    frames = len(joints)
    half = np.array(STOOL["half"])
    centre = np.tile([0.0, half[1], STOOL["z"]], (frames, 1))
    return _box(centre, np.tile(np.eye(3), (frames, 1, 1)), half, STOOL["colour"])


def _sitting(c: Controls, m: MotionContext, s: np.ndarray) -> None:
    """Blend standing -> seated on the stool by s in [0, 1] (per frame)."""
    k = m.subject.scale
    seat = 2 * STOOL["half"][1] + 0.09 * k
    c.root[:, 1] = (1 - s) * c.root[:, 1] + s * seat
    c.root[:, 2] = s * (STOOL["z"] + 0.05)
    c.pitch += 0.45 * m.amp * 4 * s * (1 - s) + 0.08 * s   # lean forward while moving
    for side in c.hand:
        c.hand[side] = (1 - s[:, None]) * c.hand[side] + s[:, None] * np.array([0.14, -0.42, 0.30])
    for side in c.ankle:
        c.ankle[side][:, 2] += 0.12 * s


def sit_down(c: Controls, m: MotionContext):
    _sitting(c, m, _smooth((m.u + 0.6) / 1.2))
    return _stool


def stand_up(c: Controls, m: MotionContext):
    _sitting(c, m, 1 - _smooth((m.u + 0.6) / 1.2))
    return _stool


def kick(c: Controls, m: MotionContext):
    b = _bump(m.u, 0.18)
    c.ankle["right"][:, 2] += 0.55 * m.amp * b
    c.ankle["right"][:, 1] += 0.35 * m.amp * b
    c.pitch -= 0.15 * b
    for side in c.hand:
        c.hand[side][:, 0] += 0.10 * b


def jump(c: Controls, m: MotionContext):
    flight = np.clip(1 - (m.u / 0.25) ** 2, 0, None)            # parabola over |u| < 0.25 s
    crouch = _bump(m.u + 0.4, 0.15) + _bump(m.u - 0.4, 0.15)
    lift = 0.25 * m.amp * flight - 0.12 * crouch
    c.root[:, 1] += lift
    for side in c.ankle:
        c.ankle[side][:, 1] += np.maximum(lift, 0)
        _set(c.hand[side], up=-0.62 + 0.8 * flight - 0.1 * crouch, fwd=0.06 + 0.2 * flight)
    c.pitch += 0.25 * crouch


def bow(c: Controls, m: MotionContext):
    b = _bump(m.u, 0.45)
    c.pitch += 0.75 * m.amp * b
    c.root[:, 2] -= 0.06 * b


def punch(c: Controls, m: MotionContext):
    for side, phase in (("right", 0.0), ("left", 0.5)):
        hit = np.maximum(0.0, _wave(1.2, m.tau + phase / 1.2)) ** 2
        _set(c.hand[side], out=0.12, up=-0.12, fwd=0.15 + 0.42 * m.amp * hit)
        c.elbow_pole[side][:] = (1.0, -1.0, 0.0)
    c.twist += 0.15 * _wave(1.2, m.tau)


# -- rgb pairs: same motion and object geometry, object colour = variant ------------------------------
def hold_sign(c: Controls, m: MotionContext):
    _set(c.hand["right"], out=0.24 + 0.04 * _wave(0.7, m.tau), up=0.28 + 0.03 * _wave(0.7, m.tau + 0.3), fwd=0.24)
    c.elbow_pole["right"][:] = (1.0, -1.0, -0.3)

    def objects(joints, m):
        centre = joints[:, J["right_hand"]] + np.array([0.0, 0.05 + SIGN_HALF[1], 0.0])
        return _box(centre, _torso_box_axes(joints), SIGN_HALF, OBJECT_COLOURS[m.variant])
    return objects


def bounce_ball(c: Controls, m: MotionContext):
    _set(c.hand["right"], out=0.25, up=-0.36 + 0.07 * m.amp * np.cos(2 * np.pi * 1.4 * m.tau), fwd=0.35)

    def objects(joints, m):
        hand = joints[:, J["right_hand"]]
        top = hand[:, 1] - 0.04 - BALL_RADIUS
        height = BALL_RADIUS + (top - BALL_RADIUS) * np.abs(np.cos(np.pi * 1.4 * m.tau))
        centre = np.stack([hand[:, 0], height, hand[:, 2]], axis=1)[:, None]
        return Primitives.build(spheres=(centre, np.array([BALL_RADIUS]), np.array([OBJECT_COLOURS[m.variant]])))
    return objects


def read_book(c: Controls, m: MotionContext):
    for side in c.hand:
        _set(c.hand[side], out=0.16, up=-0.18 + 0.03 * _wave(0.5, m.tau), fwd=0.40)
        c.elbow_pole[side][:] = (1.0, -1.0, -0.2)

    def objects(joints, m):
        centre = (joints[:, J["left_hand"]] + joints[:, J["right_hand"]]) / 2
        axes = _torso_box_axes(joints)
        a = -BOOK_TILT_RAD   # cover faces forward and a little up, toward the light
        tilt = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
        return _box(centre + 0.04 * axes[:, :, 2], axes @ tilt, BOOK_HALF, OBJECT_COLOURS[m.variant])
    return objects


# -- skeleton pairs: same arm motion, only hand_tip / thumb joints differ -----------------------------
def thumb(c: Controls, m: MotionContext):
    _set(c.hand["right"], out=0.15, up=-0.08 + 0.02 * _wave(0.8, m.tau), fwd=0.52)
    c.tip["right"][:] = (0.03, -0.02, 0.0)                     # fist
    c.thumb["right"][:] = (0.01, 0.06 if m.variant == "up" else -0.06, 0.0)


def hand_open_close(c: Controls, m: MotionContext):
    _set(c.hand["right"], out=0.20, up=0.02 * _wave(0.6, m.tau), fwd=0.48)
    if m.variant == "pump":                                    # fingertips travel ~7 cm, thumb ~3 cm
        closing = 0.5 + 0.5 * _wave(1.6, m.tau)
        c.tip["right"][:, 0] = 0.09 - 0.07 * closing
        c.thumb["right"][:, 2] = 0.03 * closing


def finger(c: Controls, m: MotionContext):
    _set(c.hand["right"], out=0.18, up=0.22 + 0.02 * _wave(0.6, m.tau), fwd=0.28)
    c.elbow_pole["right"][:] = (1.0, -1.0, 0.0)
    if m.variant == "wag":
        c.tip["right"][:, 2] = 0.05 * _wave(2.2, m.tau)


# -- depth pairs: same motion and colours, a bulky object in the shirt colour or nothing ----------------
def carry(c: Controls, m: MotionContext):
    for side, phase in (("left", 0.0), ("right", 0.5)):
        _set(c.hand[side], out=0.25, up=-0.36, fwd=0.31)
        c.elbow_pole[side][:] = (1.0, -1.0, -0.5)
        c.ankle[side][:, 1] += 0.10 * m.amp * np.maximum(0.0, _wave(0.9, m.tau + phase / 0.9))
    c.root[:, 1] -= 0.015 * np.abs(_wave(0.9, m.tau))

    def objects(joints, m):
        if m.variant != "object":
            return None
        axes = _torso_box_axes(joints)
        k, w = m.subject.scale, m.subject.width
        centre = joints[:, J["spine_mid"]] + (TORSO_RADIUS * k * w + CARRY_BOX_HALF[2]) * axes[:, :, 2] \
            + 0.02 * axes[:, :, 1]
        return _box(centre, axes, CARRY_BOX_HALF, m.subject.shirt)
    return objects


def hug(c: Controls, m: MotionContext):
    for side in c.hand:
        _set(c.hand[side], out=0.28, up=-0.25, fwd=0.40)
        c.elbow_pole[side][:] = (1.0, -0.3, 0.0)
    c.roll += 0.1 * m.amp * _wave(0.5, m.tau)

    def objects(joints, m):
        if m.variant != "object":
            return None
        left, up, forward = torso_axes(joints)
        k, w = m.subject.scale, m.subject.width
        centre = joints[:, J["spine_mid"]] + 0.1 * k * up + (TORSO_RADIUS * k * w + HUG_BALL_RADIUS) * forward
        return Primitives.build(spheres=(centre[:, None], np.array([HUG_BALL_RADIUS]), np.array([m.subject.shirt])))
    return objects


# -- the novel class set (classes.NOVEL_CLASSES): programs no bundled class uses -------------------------
def squat(c: Controls, m: MotionContext):
    """Knees bend until the hips are low, arms reach forward for balance, then back up; no seat."""
    s = _bump(m.u, 0.5) * m.amp
    c.root[:, 1] -= 0.42 * m.subject.scale * s
    c.root[:, 2] -= 0.10 * s
    c.pitch += 0.35 * s
    for side in c.hand:
        c.hand[side] = (1 - s[:, None]) * c.hand[side] + s[:, None] * np.array([0.16, -0.05, 0.48])


def arms_overhead(c: Controls, m: MotionContext):
    """Both arms rise over the head, held there a moment, the torso leaning back a little."""
    s = _smooth(1.6 * _bump(m.u, 0.55))
    for side in c.hand:
        c.hand[side] = (1 - s[:, None]) * c.hand[side] + s[:, None] * np.array([0.14, 0.62 * m.amp, 0.02])
        c.elbow_pole[side][:] = (1.0, 0.2, -0.5)
    c.pitch -= 0.12 * s


def side_step(c: Controls, m: MotionContext):
    """Steps to the left and back to the right: the hips travel sideways, each foot follows in turn."""
    shift = 0.32 * m.amp * _wave(0.55, m.tau)
    c.root[:, 0] += shift
    c.ankle["left"][:, 0] += shift + 0.05 * np.maximum(0.0, np.gradient(shift))
    c.ankle["right"][:, 0] -= shift
    for side in c.ankle:
        c.ankle[side][:, 1] += 0.06 * np.abs(_wave(1.1, m.tau))
    c.roll += 0.8 * shift


def _throw_hand(u: np.ndarray) -> np.ndarray:
    """(F, 3) right-hand target of an overhand throw: wind-up behind the head, release in front at u = 0."""
    back = _smooth((u + 0.7) / 0.4) * (1 - _smooth(u / 0.15 + 1))
    forward = _smooth(u / 0.2 + 1) * (1 - _smooth((u - 0.4) / 0.5))
    rest = np.array([0.25, -0.62, 0.06])
    target = rest + back[:, None] * (np.array([0.22, 0.30, -0.22]) - rest)
    return target + forward[:, None] * (np.array([0.18, 0.05, 0.55]) - target)


def throw(c: Controls, m: MotionContext):
    """An overhand throw with the right arm; the ball leaves the hand at u = 0 and flies forward."""
    c.hand["right"] = _throw_hand(m.u)
    c.elbow_pole["right"][:] = (1.0, 0.5, -1.0)
    c.twist += 0.35 * np.tanh(m.u / 0.2) * m.amp
    c.ankle["left"][:, 2] += 0.20 * _smooth(m.u / 0.3 + 1)

    def objects(joints, m):
        hand = joints[:, J["right_hand"]]
        release = int(np.argmin(np.abs(m.u)))
        centre = hand.copy()
        flight = np.maximum(0.0, m.u - m.u[release])
        forward = torso_axes(joints)[2][release]
        centre[release:] = hand[release] + flight[release:, None] * (5.0 * forward + np.array([0.0, 1.2, 0.0])) \
            - np.array([0.0, 4.9, 0.0]) * flight[release:, None] ** 2
        centre[:, 1] = np.maximum(centre[:, 1], THROW_BALL_RADIUS)
        return Primitives.build(spheres=(centre[:, None], np.array([THROW_BALL_RADIUS]),
                                         np.array([OBJECT_COLOURS["orange"]])))
    return objects


def push(c: Controls, m: MotionContext):
    """Leans into both hands at chest height and walks forward, pushing a crate (variant 'object') or the air."""
    for side, phase in (("left", 0.0), ("right", 0.5)):
        _set(c.hand[side], out=0.18, up=-0.10, fwd=0.42 + 0.04 * _wave(0.8, m.tau + phase))
        c.elbow_pole[side][:] = (1.0, -1.0, -0.6)
        c.ankle[side][:, 1] += 0.08 * m.amp * np.maximum(0.0, _wave(0.8, m.tau + phase / 0.8))
    c.pitch += 0.30
    c.root[:, 2] += 0.20 * m.amp * np.tanh(m.u / 0.8)

    def objects(joints, m):
        if m.variant != "object":
            return None
        axes = _torso_box_axes(joints)
        hands = (joints[:, J["left_hand"]] + joints[:, J["right_hand"]]) / 2
        centre = hands + PUSH_CRATE_HALF[2] * axes[:, :, 2]
        centre[:, 1] = PUSH_CRATE_HALF[1]                              # the crate slides on the floor
        return _box(centre, axes, PUSH_CRATE_HALF, m.subject.shirt)
    return objects


def lift(c: Controls, m: MotionContext):
    """Bends down to a box on the floor and lifts it to the chest; the box colour is the variant."""
    s = _smooth((m.u + 0.5) / 1.0)                                     # 0: bent over the box, 1: upright
    bent = 1 - s
    c.pitch += 0.85 * bent * m.amp
    c.root[:, 1] -= 0.30 * m.subject.scale * bent
    c.root[:, 2] -= 0.12 * bent
    for side in c.hand:
        low, high = np.array([0.15, -0.80, 0.45]), np.array([0.15, -0.22, 0.34])
        c.hand[side] = low + s[:, None] * (high - low)
        c.elbow_pole[side][:] = (1.0, -1.0, -0.3)

    def objects(joints, m):
        centre = (joints[:, J["left_hand"]] + joints[:, J["right_hand"]]) / 2
        centre[:, 1] = np.maximum(centre[:, 1], LIFT_BOX_HALF[1])
        return _box(centre, _torso_box_axes(joints), LIFT_BOX_HALF, OBJECT_COLOURS[m.variant])
    return objects


PROGRAMS: dict[str, Callable] = {f.__name__: f for f in (
    wave, clap, sit_down, stand_up, kick, jump, bow, punch, hold_sign, bounce_ball, read_book, thumb,
    hand_open_close, finger, carry, hug, squat, arms_overhead, side_step, throw, push, lift)}

PERFORMANCE_JITTER = {"speed": 0.1, "amplitude": 0.1, "centre_s": 0.15, "yaw_rad": 0.14, "x_m": 0.1, "z_m": 0.15}
"""Per-performance variation (uniform +-): tempo, size, event time, facing, position on the floor."""


def perform(action: ActionClass, subject: Subject, *, times_s: np.ndarray, centre_s: float,
            rng: np.random.Generator) -> Performance:
    """Run `action`'s program for `subject` at times_s (F,) seconds, its event centred near centre_s."""
    if action.program not in PROGRAMS:
        raise KeyError(f"class {action.name!r}: unknown motion program {action.program!r}")
    j = PERFORMANCE_JITTER
    speed = subject.speed * (1 + rng.uniform(-j["speed"], j["speed"]))
    amp = subject.amplitude * (1 + rng.uniform(-j["amplitude"], j["amplitude"]))
    centre = centre_s + rng.uniform(-j["centre_s"], j["centre_s"])
    phase = rng.uniform(0.0, 10.0)
    yaw = rng.uniform(-j["yaw_rad"], j["yaw_rad"])
    offset = np.array([rng.uniform(-j["x_m"], j["x_m"]), 0.0, rng.uniform(-j["z_m"], j["z_m"])])
    times_s = np.asarray(times_s, dtype=np.float64)
    context = MotionContext(u=(times_s - centre) * speed, tau=times_s * speed + phase, amp=amp,
                            variant=action.variant, subject=subject)
    controls = rest_controls(subject, len(times_s))
    object_builder = PROGRAMS[action.program](controls, context)
    joints, _ = solve_joints(controls, subject)
    primitives = body_primitives(joints, subject)
    if object_builder is not None:
        extra = object_builder(joints, context)
        if extra is not None:
            primitives = primitives.concat(extra)
    rotation = _rot_y(np.array(yaw))
    return Performance(joints=joints @ rotation.T + offset, primitives=primitives.transformed(rotation, offset),
                       action=action, subject=subject)
