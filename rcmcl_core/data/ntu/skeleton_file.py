"""Reader for NTU RGB+D `.skeleton` files (Kinect v2 body tracking, 25 joints, 30 fps).

Text format: the frame count; per frame a body count; per body a line of 10 values (bodyID, clipedEdges,
handLeftConfidence, handLeftState, handRightConfidence, handRightState, isResticted, leanX, leanY,
trackingState), the joint count (25), then 25 lines of 12 values (x, y, z, depthX, depthY, colorX,
colorY, orientationW, orientationX, orientationY, orientationZ, trackingState). x, y, z are metres in
Kinect camera space (X to the sensor's left, Y up, Z forward); depthX/Y are pixels of the 512x424 depth
map, colorX/Y pixels of the 1920x1080 colour frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

NTU_JOINT_COUNT = 25
BODY_FIELDS = ("bodyID", "clipedEdges", "handLeftConfidence", "handLeftState", "handRightConfidence",
               "handRightState", "isResticted", "leanX", "leanY", "trackingState")
JOINT_FIELDS = ("x", "y", "z", "depthX", "depthY", "colorX", "colorY", "orientationW", "orientationX",
                "orientationY", "orientationZ", "trackingState")


class NTUFormatError(ValueError):
    """A .skeleton file does not follow the format; the message names the file and the 1-based line."""


@dataclass
class NTUBody:
    """One tracked body (one Kinect bodyID) over the K frames where it appears."""

    body_id: int
    frames: np.ndarray          # (K,) int64, 0-based frame indices
    joints: np.ndarray          # (K, 25, 3) float32 metres, Kinect camera space
    depth_xy: np.ndarray        # (K, 25, 2) float32 pixels in the depth map
    color_xy: np.ndarray        # (K, 25, 2) float32 pixels in the colour frame
    orientation: np.ndarray     # (K, 25, 4) float32 quaternion (w, x, y, z)
    joint_tracking: np.ndarray  # (K, 25) int8: 0 not tracked, 1 inferred, 2 tracked
    body_info: np.ndarray       # (K, 9) float64: BODY_FIELDS[1:] per frame

    def motion_energy(self) -> float:
        """Sum over joints and axes of the variance over frames: the dataset authors' heuristic for
        picking the main actor (a still body, e.g. a chair detected as a person, scores low)."""
        if len(self.frames) < 2:
            return 0.0
        return float(self.joints.astype(np.float64).var(axis=0).sum())


@dataclass
class NTUSkeletonSequence:
    """All bodies of one file. `bodies_per_frame` (F,) is the body count written for each frame."""

    path: Path
    num_frames: int
    bodies: list[NTUBody]
    bodies_per_frame: np.ndarray

    def main_bodies(self, max_bodies: int) -> list[NTUBody]:
        """Up to `max_bodies` bodies by decreasing motion energy (ties: the longer-tracked first)."""
        ranked = sorted(self.bodies, key=lambda b: (-b.motion_energy(), -len(b.frames), b.body_id))
        return ranked[:max_bodies]

    def to_arrays(self, *, max_bodies: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Dense per-frame arrays of the main bodies, main actor first:
        joints (F, M, 25, 3) float32 metres (Kinect camera space, 0 where untracked), valid (F, M) bool,
        depth_xy (F, M, 25, 2) and color_xy (F, M, 25, 2) float32 pixels."""
        f = self.num_frames
        joints = np.zeros((f, max_bodies, NTU_JOINT_COUNT, 3), np.float32)
        depth_xy = np.zeros((f, max_bodies, NTU_JOINT_COUNT, 2), np.float32)
        color_xy = np.zeros((f, max_bodies, NTU_JOINT_COUNT, 2), np.float32)
        valid = np.zeros((f, max_bodies), bool)
        for slot, body in enumerate(self.main_bodies(max_bodies)):
            joints[body.frames, slot] = body.joints
            depth_xy[body.frames, slot] = body.depth_xy
            color_xy[body.frames, slot] = body.color_xy
            valid[body.frames, slot] = True
        return joints, valid, depth_xy, color_xy


class _Lines:
    """Line cursor that reports truncation and bad values with the file name and 1-based line number."""

    def __init__(self, path: Path, lines: list[str]) -> None:
        self.path = path
        self.lines = lines
        self.index = 0

    def error(self, message: str, line: int | None = None) -> NTUFormatError:
        return NTUFormatError(f"{self.path}:{self.index if line is None else line}: {message}")

    def next(self, what: str) -> str:
        if self.index >= len(self.lines):
            raise NTUFormatError(f"{self.path}:{len(self.lines) + 1}: file ends early, expected {what}")
        self.index += 1
        return self.lines[self.index - 1]

    def count(self, what: str) -> int:
        text = self.next(what).strip()
        try:
            value = int(text)
        except ValueError:
            raise self.error(f"expected {what} (an integer), got {text!r}") from None
        if value < 0:
            raise self.error(f"expected {what} >= 0, got {value}")
        return value

    def numbers(self, width: int, what: str) -> list[str]:
        tokens = self.next(what).split()
        if len(tokens) != width:
            raise self.error(f"expected {width} values ({what}), got {len(tokens)}")
        return tokens


def read_skeleton(path: str | Path) -> NTUSkeletonSequence:
    """Parse one .skeleton file. Raises NTUFormatError (file:line) when truncated, when a joint count is
    not 25 or when a value is not numeric; a file with zero frames or bodies parses to no bodies."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii", errors="strict")
    except UnicodeDecodeError as err:
        raise NTUFormatError(f"{path}: not an ASCII text .skeleton file ({err})") from err
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    cursor = _Lines(path, lines)
    num_frames = cursor.count("the frame count")
    collected: dict[int, dict[str, list]] = {}
    bodies_per_frame = np.zeros(num_frames, np.int64)
    for frame in range(num_frames):
        count = cursor.count(f"the body count of frame {frame + 1} of {num_frames}")
        bodies_per_frame[frame] = count
        for _ in range(count):
            body_id, info = _body_line(cursor)
            joints = _joint_block(cursor)
            entry = collected.setdefault(body_id, {"frames": [], "joints": [], "info": []})
            entry["frames"].append(frame)
            entry["joints"].append(joints)
            entry["info"].append(info)
    if cursor.index < len(lines):
        raise cursor.error(f"unexpected content after the last of {num_frames} frames: "
                           f"{lines[cursor.index].strip()[:40]!r}", cursor.index + 1)
    bodies = [_make_body(body_id, entry) for body_id, entry in collected.items()]
    return NTUSkeletonSequence(path=path, num_frames=num_frames, bodies=bodies, bodies_per_frame=bodies_per_frame)


def _body_line(cursor: _Lines) -> tuple[int, np.ndarray]:
    tokens = cursor.numbers(len(BODY_FIELDS), " ".join(BODY_FIELDS))
    try:
        body_id = int(tokens[0])
        info = np.array(tokens[1:], dtype=np.float64)
    except ValueError:
        raise cursor.error(f"non-numeric body values {' '.join(tokens)!r}") from None
    return body_id, info


def _joint_block(cursor: _Lines) -> np.ndarray:
    """(25, 12) float64 joint values; checks the joint count line and every joint line."""
    count = cursor.count("the joint count (25)")
    if count != NTU_JOINT_COUNT:
        raise cursor.error(f"expected joint count {NTU_JOINT_COUNT}, got {count}")
    first = cursor.index + 1
    rows = [cursor.numbers(len(JOINT_FIELDS), " ".join(JOINT_FIELDS)) for _ in range(NTU_JOINT_COUNT)]
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError:
        for offset, row in enumerate(rows):          # find the offending line only on failure
            try:
                np.array(row, dtype=np.float64)
            except ValueError:
                raise cursor.error(f"non-numeric joint values {' '.join(row)!r}", first + offset) from None
        raise
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
        raise cursor.error(f"non-finite joint values {' '.join(rows[bad])!r}", first + bad)
    return values


def _make_body(body_id: int, entry: dict[str, list]) -> NTUBody:
    values = np.stack(entry["joints"])                                      # (K, 25, 12)
    return NTUBody(
        body_id=body_id,
        frames=np.asarray(entry["frames"], np.int64),
        joints=values[..., 0:3].astype(np.float32),
        depth_xy=values[..., 3:5].astype(np.float32),
        color_xy=values[..., 5:7].astype(np.float32),
        orientation=values[..., 7:11].astype(np.float32),
        joint_tracking=values[..., 11].astype(np.int8),
        body_info=np.stack(entry["info"]),
    )
