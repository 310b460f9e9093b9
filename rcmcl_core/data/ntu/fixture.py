"""Format-faithful NTU RGB+D fixtures for tests and benchmarks (issue 28): there is no NTU data here, so this
writes the official formats at their real sizes, for procedural people.

- `nturgb+d_skeletons/<name>.skeleton`: the Kinect SDK text as NTU ships it (CRLF lines, frame count, per frame
  the body count, per body a 10-value info line, 25, and 25 joint lines of 12 values: camera-space x y z in
  metres, depthX depthY in the 512x424 depth map, colorX colorY in the 1920x1080 frame, orientation w x y z,
  tracking state), mirrored as Kinect v2 frames are (depthX grows with camera X).
- `nturgb+d_depth_masked/<name>/MDepth-XXXXXXXX.png`: 512x424 16-bit millimetres, 0 outside the people (masked).
- `nturgb+d_rgb/<name>_rgb.avi`: 1920x1080 at 30 fps (OpenCV, MJPG).

People: a standing body of the synthetic benchmark (data/synthetic/body.py) 3 m in front of the camera whose
right arm swings with a frequency and amplitude set by the action id, so a model can tell classes apart; the
interaction classes (NTU-60 A050-A060, NTU-120 A106-A120) have a second person beside the first.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rcmcl_core.data.ntu import media
from rcmcl_core.geometry.skeleton_layout import JOINT_INDEX, NTU_BONES

FIXTURE_FRAMES = 90
"""Frames per sample (3 s at 30 fps, about NTU's typical clip length)."""
TWO_PERSON_ACTIONS = frozenset(range(50, 61)) | frozenset(range(106, 121))
"""NTU's mutual-action classes (1-based action ids): two people in every sample."""
MODALITIES = ("skeleton", "depth", "rgb")
PERSON_DISTANCE_M = 3.0
CAMERA_HEIGHT_M = 1.0
LIMB_RADIUS_M = 0.07
RIGHT_ARM = [JOINT_INDEX[n] for n in ("right_elbow", "right_wrist", "right_hand", "right_hand_tip", "right_thumb")]


def is_two_person(action: int) -> bool:
    return int(action) in TWO_PERSON_ACTIONS


def sample_names(version: int, count: int, *, seed: int = 0) -> list[str]:
    """`count` distinct SsssCcccPpppRrrrAaaa names of NTU-`version` (every action in turn; setups, cameras,
    performers and replications spread so that the official splits have both sides)."""
    actions, setups, performers = (60, 17, 40) if version == 60 else (120, 32, 106)
    rng = np.random.default_rng(seed)
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        i = len(names)
        name = (f"S{1 + int(rng.integers(setups)):03d}C{1 + i % 3:03d}P{1 + int(rng.integers(performers)):03d}"
                f"R{1 + (i // 3) % 2:03d}A{1 + i % actions:03d}")
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def person_joints(action: int, frames: int, *, subject: int, offset_x_m: float) -> np.ndarray:
    """(frames, 25, 3) Kinect camera-space metres (X to the sensor's left, Y up, Z forward): a body facing the
    camera, its right arm swinging by an action-specific rhythm."""
    from rcmcl_core.data.synthetic.body import make_subject, rest_controls, solve_joints

    body = make_subject(subject)
    joints, _ = solve_joints(rest_controls(body, frames), body)       # body frame: x left, y up, z forward
    t = np.arange(frames) / media.NTU_FPS
    frequency, amplitude = 0.5 + 0.25 * (action % 6), 0.1 + 0.05 * (action % 4)
    swing = amplitude * np.sin(2 * np.pi * frequency * t + action)
    joints[:, RIGHT_ARM, 1] += swing[:, None] * np.linspace(0.5, 1.0, len(RIGHT_ARM))
    joints[:, RIGHT_ARM, 2] += 0.5 * swing[:, None]
    camera = np.empty_like(joints)
    camera[..., 0] = -joints[..., 0] + offset_x_m                   # facing the camera: a turn about Y
    camera[..., 1] = joints[..., 1] - CAMERA_HEIGHT_M
    camera[..., 2] = PERSON_DISTANCE_M - joints[..., 2]
    return camera.astype(np.float32)


def project(joints: np.ndarray, intrinsics) -> np.ndarray:
    """(..., 3) Kinect camera space -> (..., 2) pixels of a mirrored Kinect v2 image (u grows with X)."""
    u = intrinsics.cx + intrinsics.fx * joints[..., 0] / joints[..., 2]
    v = intrinsics.cy - intrinsics.fy * joints[..., 1] / joints[..., 2]
    return np.stack([u, v], axis=-1)


def _number(value: float) -> str:
    return repr(float(np.float32(value)))


def skeleton_text(bodies: list[np.ndarray], body_ids: list[int]) -> str:
    """The .skeleton text of people `bodies` [(F, 25, 3) camera space], every body tracked in every frame."""
    frames = len(bodies[0])
    depth = [project(b, media.NTU_DEPTH_INTRINSICS) for b in bodies]
    colour = [project(b, media.KINECT_V2_COLOR) for b in bodies]
    lines = [str(frames)]
    for f in range(frames):
        lines.append(str(len(bodies)))
        for k, body_id in enumerate(body_ids):
            lines += [f"{body_id} 0 1 1 1 1 0 {_number(0.01 * k)} {_number(-0.02)} 2", "25"]
            for j in range(25):
                x, y, z = bodies[k][f, j]
                values = (x, y, z, *depth[k][f, j], *colour[k][f, j], 0.9, 0.1, -0.2, 0.3)
                lines.append(" ".join(_number(v) for v in values) + " 2")
    return "\r\n".join(lines) + "\r\n"


def _draw_people(canvas: np.ndarray, bodies_px: list[np.ndarray], radii_px: list[np.ndarray],
                 values: list, frame: int) -> None:
    """Bones as thick lines and joints as discs on `canvas` (OpenCV, in place)."""
    import cv2

    for pixels, radius, value in zip(bodies_px, radii_px, values):
        points = np.round(pixels[frame]).astype(np.int32)
        for a, b in NTU_BONES:
            thickness = max(1, int(2 * radius[frame, a]))
            cv2.line(canvas, tuple(map(int, points[a])), tuple(map(int, points[b])), value(a), thickness)
        for j, (u, v) in enumerate(points):
            cv2.circle(canvas, (int(u), int(v)), max(1, int(radius[frame, j])), value(j), -1)


def write_sample(root: Path, name: str, *, frames: int = FIXTURE_FRAMES,
                 modalities: tuple[str, ...] = MODALITIES, seed: int = 0) -> None:
    """One sample of the official layout under `root` (skeleton always; depth and rgb when asked)."""
    from PIL import Image

    action, performer = int(name[17:20]), int(name[9:12])
    people = 2 if is_two_person(action) else 1
    offsets = [0.0] if people == 1 else [-0.45, 0.45]
    bodies = [person_joints(action, frames, subject=performer + 200 * k, offset_x_m=offsets[k])
              for k in range(people)]
    ids = [72057594037930000 + 1000 * k + int(name[1:4]) for k in range(people)]
    skeletons = root / "nturgb+d_skeletons"
    skeletons.mkdir(parents=True, exist_ok=True)
    (skeletons / f"{name}.skeleton").write_text(skeleton_text(bodies, ids), newline="")
    if "depth" in modalities:
        k = media.NTU_DEPTH_INTRINSICS
        folder = root / "nturgb+d_depth_masked" / name
        folder.mkdir(parents=True, exist_ok=True)
        pixels = [project(b, k) for b in bodies]
        radii = [k.fx * LIMB_RADIUS_M / b[..., 2] for b in bodies]
        for f in range(frames):
            depth = np.zeros((k.height, k.width), np.uint16)
            for body, px, radius in zip(bodies, pixels, radii):
                _draw_people(depth, [px], [radius], [lambda j, b=body, f=f: int(1000 * b[f, j, 2])], f)
            Image.fromarray(depth).save(folder / f"MDepth-{f + 1:08d}.png")
    if "rgb" in modalities:
        cv2 = media.opencv()
        c = media.KINECT_V2_COLOR
        folder = root / "nturgb+d_rgb"
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed + action)
        background = rng.integers(60, 120, (c.height // 8, c.width // 8, 3), dtype=np.uint8)
        background = cv2.resize(background, (c.width, c.height), interpolation=cv2.INTER_NEAREST)
        pixels = [project(b, c) for b in bodies]
        radii = [c.fx * LIMB_RADIUS_M / b[..., 2] for b in bodies]
        shirts = [tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in bodies]
        writer = cv2.VideoWriter(str(folder / f"{name}_rgb.avi"), cv2.VideoWriter_fourcc(*"MJPG"), media.NTU_FPS,
                                 (c.width, c.height))
        try:
            for f in range(frames):
                frame = background.copy()
                _draw_people(frame, pixels, radii, [lambda j, s=s: s for s in shirts], f)
                writer.write(frame)
        finally:
            writer.release()


@dataclass
class Fixture:
    root: Path
    names: list[str]


def write_fixture(root: str | Path, *, version: int = 60, samples: int = 8, frames: int = FIXTURE_FRAMES,
                  modalities: tuple[str, ...] = MODALITIES, seed: int = 0, progress: bool = False) -> Fixture:
    """`samples` samples of NTU-`version` under `root` in the official folder layout."""
    from tqdm import tqdm

    unknown = set(modalities) - set(MODALITIES)
    if unknown or "skeleton" not in modalities:
        raise ValueError(f"modalities must include skeleton and come from {MODALITIES}, got {modalities}")
    root = Path(root)
    names = sample_names(version, samples, seed=seed)
    for name in tqdm(names, desc="NTU fixture", unit="sample", disable=not progress):
        write_sample(root, name, frames=frames, modalities=tuple(modalities), seed=seed)
    return Fixture(root=root, names=names)
