"""Several performers in one synthetic scene, each doing their own action, with mutual occlusion.

Reuses the single-person pieces: `perform` (synthetic_motion) drives each body, their primitives are
merged and ray-cast once (`render`), so a nearer person hides parts of a farther one in RGB, depth and
points; each body gets its own skeleton tracker (own jitter and lost frames, as the Azure body tracker
loses people independently). Person k stands at SCENE_SLOTS[n][k] (x, z) metres on the floor, offset
from the single-person spot; in the 2- and 3-person layouts one person stands half in front of another.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from rcmcl_core.data.synthetic.generate import SYNTHETIC_PRESETS, SyntheticConfig
from rcmcl_core.data.synthetic.body import Subject, make_subject
from rcmcl_core.data.synthetic.classes import DEFAULT_CLASS_SET, class_set as named_class_set
from rcmcl_core.data.synthetic.motion import Performance, perform
from rcmcl_core.data.synthetic.render import CameraPose, render
from rcmcl_core.data.synthetic.sensors import depth_sensor, rgb_sensor, skeleton_tracker
from rcmcl_core.geometry.pinhole import Intrinsics

MAX_SCENE_PEOPLE = 3
SCENE_SLOTS: dict[int, tuple[tuple[float, float], ...]] = {
    1: ((0.0, 0.0),),
    2: ((-0.45, -0.2), (0.35, 0.55)),
    3: ((-0.8, 0.0), (0.05, -0.45), (0.4, 0.5)),
}
"""People -> (x, z) world offsets in metres (x to the camera's right for camera 1, z toward it). The
second slot of 2 and the third of 3 stand nearer the camera and overlap the person behind them."""


def place(performance: Performance, offset_xz: tuple[float, float]) -> Performance:
    """The same performance moved on the floor by (x, z) metres."""
    offset = np.array([offset_xz[0], 0.0, offset_xz[1]])
    return Performance(joints=performance.joints + offset,
                       primitives=performance.primitives.transformed(np.eye(3), offset),
                       action=performance.action, subject=performance.subject)


def make_scene_clip(class_indices: Sequence[int], subjects: Sequence[Subject | int], *, camera: CameraPose | int,
                    seed: int | Sequence[int], intrinsics: Intrinsics, fps: float, frames: int,
                    synthetic: SyntheticConfig = SYNTHETIC_PRESETS["lite"], start_s: float = 0.0,
                    class_set: str = DEFAULT_CLASS_SET) -> dict[str, np.ndarray]:
    """One clip of P = len(class_indices) people (1 <= P <= MAX_SCENE_PEOPLE), person k doing class
    class_indices[k]. Returns rgb (F, H, W, 3) uint8, depth_mm (F, H, W) uint16, skeleton (F, P, 25, 3)
    float32 metres camera frame (row k = person k, zeros where lost), skeleton_valid (F, P) bool."""
    people = len(class_indices)
    if not 1 <= people <= MAX_SCENE_PEOPLE:
        raise ValueError(f"a scene holds 1 to {MAX_SCENE_PEOPLE} people, got {people}")
    if len(subjects) != people:
        raise ValueError(f"need one subject per person: {people} classes, {len(subjects)} subjects")
    table = named_class_set(class_set)
    for index in class_indices:
        if not 0 <= index < len(table.classes):
            raise ValueError(f"class index must be in [0, {len(table.classes)}) for class set {class_set!r}, "
                             f"got {index}")
    seed = [int(seed)] if np.isscalar(seed) else [int(s) for s in seed]
    pose = camera if isinstance(camera, CameraPose) else synthetic.camera(int(camera))
    times = start_s + np.arange(frames) / fps
    performances = []
    for k, (class_index, subject) in enumerate(zip(class_indices, subjects)):
        subject = subject if isinstance(subject, Subject) else make_subject(int(subject))
        key = table.seed_base + class_index
        rng = np.random.default_rng(np.random.SeedSequence([*seed, 1, k, key, subject.subject_id]))
        performance = perform(table.classes[class_index], subject, times_s=times, centre_s=start_s + frames / fps / 2,
                              rng=rng)
        performances.append(place(performance, SCENE_SLOTS[people][k]))
    primitives = performances[0].primitives
    for performance in performances[1:]:
        primitives = primitives.concat(performance.primitives)
    sensor_rng = np.random.default_rng(np.random.SeedSequence([*seed, 2, people]))
    rgb, depth_m = render(primitives, camera=pose, intrinsics=intrinsics, room=synthetic.room)
    depth_mm = depth_sensor(depth_m, intrinsics=intrinsics, model=synthetic.sensors, rng=sensor_rng)
    skeleton = np.zeros((frames, people, 25, 3), np.float32)
    valid = np.zeros((frames, people), bool)
    for k, performance in enumerate(performances):
        joints, tracked = skeleton_tracker(pose.to_camera(performance.joints), max_bodies=1,
                                           model=synthetic.sensors, rng=sensor_rng)
        skeleton[:, k], valid[:, k] = joints[:, 0], tracked[:, 0]
    return {"rgb": rgb_sensor(rgb, model=synthetic.sensors, rng=sensor_rng), "depth_mm": depth_mm,
            "skeleton": skeleton, "skeleton_valid": valid}
