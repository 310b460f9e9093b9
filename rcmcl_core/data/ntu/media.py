"""NTU RGB+D images: masked depth PNGs, RGB .avi videos, Kinect v2 geometry and the mapping of the
colour frame onto the depth grid.

Kinect v2 frames as stored by NTU are mirrored: a joint's depthX grows with its camera-space X (which
points to the sensor's left). We un-mirror so that every modality lands in one right-handed REP-103
optical frame (x right, y down, z forward), the frame the Azure Kinect ROS driver publishes: images are
flipped left-right and joints map (X, Y, Z) -> (-X, -Y, Z), a proper rotation. Whether a clip is
mirrored is read from its own joints (`images_are_mirrored`), so a re-exported copy still lines up.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import numpy as np

from rcmcl_core.geometry.pinhole import Intrinsics

NTU_FPS = 30.0
"""Capture rate of every NTU modality, frames per second."""

NTU_DEPTH_INTRINSICS = Intrinsics(fx=365.5, fy=365.5, cx=254.9, cy=205.4, width=512, height=424)
"""Commonly published Kinect v2 depth (IR) camera intrinsics, pixels of the 512x424 depth map, used to read
NTU RGB+D. (The synthetic benchmark renders with geometry.KINECT_V2_DEPTH, an idealised centred principal
point: the two differ by a few pixels in cx, cy, as real devices do.)"""
KINECT_V2_COLOR = Intrinsics(fx=1081.37, fy=1081.37, cx=959.5, cy=539.5, width=1920, height=1080)
"""Commonly published Kinect v2 colour camera intrinsics, pixels of the 1920x1080 frame."""
NTU_IMAGES_MIRRORED = True
"""Fallback when a clip has no joints to tell (Kinect v2 SDK frames are mirrored)."""

MASKED_DEPTH_NAME = re.compile(r"MDepth-(\d{8})\.png")
OPENCV_HINT = "reading NTU RGB videos (.avi) needs OpenCV: pip install opencv-python-headless"


class NTUMediaError(ValueError):
    """An NTU image or video cannot be read; the message names the file."""


# -- depth ------------------------------------------------------------------------------------------
def read_depth_png(path: str | Path) -> np.ndarray:
    """One masked depth frame -> (H, W) uint16 millimetres, 0 = no data / masked out."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            mode = image.mode
            array = np.array(image)
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise NTUMediaError(f"{path}: unreadable PNG ({type(err).__name__}: {err})") from err
    if array.ndim != 2 or mode not in ("I;16", "I;16B", "I;16L", "I"):
        raise NTUMediaError(f"{path}: depth PNG must be a 16-bit single-channel image, got mode {mode} "
                            f"shape {array.shape}")
    if array.dtype != np.uint16:
        if array.min() < 0 or array.max() > np.iinfo(np.uint16).max:
            raise NTUMediaError(f"{path}: depth values outside 0..65535 mm")
        array = array.astype(np.uint16)
    return array


def numbered_depth_frames(folder: str | Path) -> dict[int, Path]:
    """{frame number (1-based): path} of the MDepth-XXXXXXXX.png files of one sample folder."""
    folder = Path(folder)
    numbered = {}
    for path in folder.iterdir() if folder.is_dir() else ():
        match = MASKED_DEPTH_NAME.fullmatch(path.name)
        if match:
            numbered[int(match.group(1))] = path
    if not numbered:
        raise NTUMediaError(f"{folder}: no masked depth frames (expected files named MDepth-00000001.png)")
    return numbered


def masked_depth_frames(folder: str | Path) -> list[Path]:
    """The MDepth-XXXXXXXX.png files of one sample folder in frame order (numbers are 1-based)."""
    numbered = numbered_depth_frames(folder)
    return [numbered[number] for number in sorted(numbered)]


def resize_nearest(image: np.ndarray, *, size: int) -> np.ndarray:
    """(H, W, ...) -> (size, size, ...) by nearest pixel centres (depth must not be blended)."""
    h, w = image.shape[:2]
    rows = np.minimum(((np.arange(size) + 0.5) * h / size).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(size) + 0.5) * w / size).astype(np.int64), w - 1)
    return image[rows[:, None], cols[None, :]]


# -- rgb ---------------------------------------------------------------------------------------------
def opencv():
    """The cv2 module, or NTUMediaError saying what to install."""
    try:
        import cv2
    except ImportError as err:
        raise NTUMediaError(OPENCV_HINT) from err
    return cv2


def iter_rgb_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decode an NTU `_rgb.avi` frame by frame -> (H, W, 3) uint8 RGB (streamed: a clip at full HD
    would not fit in memory)."""
    cv2 = opencv()
    path = Path(path)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise NTUMediaError(f"{path}: OpenCV cannot open this video (missing file, codec or not a video)")
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                return
            yield bgr[..., ::-1]
    finally:
        capture.release()


def default_depth_to_color(*, depth: Intrinsics = NTU_DEPTH_INTRINSICS, color: Intrinsics = KINECT_V2_COLOR
                           ) -> np.ndarray:
    """(2, 3) affine depth pixel -> colour pixel from the intrinsics alone (ignores the ~5 cm baseline)."""
    sx, sy = color.fx / depth.fx, color.fy / depth.fy
    return np.array([[sx, 0.0, color.cx - sx * depth.cx], [0.0, sy, color.cy - sy * depth.cy]])


def fit_depth_to_color(depth_xy: np.ndarray, color_xy: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Least-squares (2, 3) affine depth pixel -> colour pixel from a clip's joints, which NTU gives in
    both images. depth_xy, color_xy (F, M, 25, 2); valid (F, M). Falls back to the intrinsics when fewer
    than 3 non-collinear joints exist. Affine is exact enough near the person's depth, where it is fitted."""
    d = depth_xy[valid].reshape(-1, 2).astype(np.float64)
    c = color_xy[valid].reshape(-1, 2).astype(np.float64)
    keep = np.isfinite(d).all(axis=1) & np.isfinite(c).all(axis=1)
    d, c = d[keep], c[keep]
    design = np.concatenate([d, np.ones((len(d), 1))], axis=1)
    if len(d) < 3 or np.linalg.matrix_rank(design) < 3:
        return default_depth_to_color()
    solution, *_ = np.linalg.lstsq(design, c, rcond=None)                  # (3, 2)
    return solution.T


def register_rgb(frame: np.ndarray, depth_to_color: np.ndarray, *, size: int, mirrored: bool,
                 depth: Intrinsics = NTU_DEPTH_INTRINSICS) -> np.ndarray:
    """Resample a colour frame (Hc, Wc, 3) uint8 onto the depth grid resized to (size, size), un-mirrored
    when `mirrored` -> (size, size, 3) uint8. Pixels outside the colour frame are 0."""
    cv2 = opencv()
    out_to_color = depth_to_color[:, :2] @ _out_to_depth(size=size, mirrored=mirrored, depth=depth)
    out_to_color[:, 2] += depth_to_color[:, 2]
    # Shrink first with area averaging so the warp does not alias (one output pixel spans ~10 colour px).
    pixel = np.sqrt(abs(np.linalg.det(out_to_color[:, :2])))
    ratio = min(1.0, 1.0 / max(pixel, 1e-6))
    hc, wc = frame.shape[:2]
    small_w, small_h = max(1, round(wc * ratio)), max(1, round(hc * ratio))
    rx, ry = small_w / wc, small_h / hc
    small = cv2.resize(np.ascontiguousarray(frame), (small_w, small_h), interpolation=cv2.INTER_AREA)
    scale = np.array([[rx, 0.0, 0.5 * rx - 0.5], [0.0, ry, 0.5 * ry - 0.5]])
    out_to_small = scale[:, :2] @ out_to_color
    out_to_small[:, 2] += scale[:, 2]
    return cv2.warpAffine(small, out_to_small, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _out_to_depth(*, size: int, mirrored: bool, depth: Intrinsics) -> np.ndarray:
    """(2, 3) affine output pixel (size x size grid) -> raw depth-map pixel (pixel centres aligned)."""
    ax, ay = depth.width / size, depth.height / size
    bx, by = 0.5 * ax - 0.5, 0.5 * ay - 0.5
    if mirrored:
        ax, bx = -ax, depth.width - 1 - bx
    return np.array([[ax, 0.0, bx], [0.0, ay, by]])


# -- frames -------------------------------------------------------------------------------------------
def images_are_mirrored(joints: np.ndarray, depth_xy: np.ndarray, valid: np.ndarray, *,
                        depth: Intrinsics = NTU_DEPTH_INTRINSICS) -> bool:
    """True when depthX grows with camera-space X/Z over the clip's tracked joints (a mirrored image).
    joints (F, M, 25, 3) Kinect camera space; depth_xy (F, M, 25, 2); valid (F, M)."""
    xyz, uv = joints[valid].reshape(-1, 3), depth_xy[valid].reshape(-1, 2)
    front = xyz[:, 2] > 0
    if not front.any():
        return NTU_IMAGES_MIRRORED
    slope = float(np.sum((uv[front, 0] - depth.cx) * xyz[front, 0] / xyz[front, 2]))
    return slope > 0 if slope != 0 else NTU_IMAGES_MIRRORED


def fit_depth_intrinsics(joints: np.ndarray, depth_xy: np.ndarray, valid: np.ndarray, *,
                         fallback: Intrinsics = NTU_DEPTH_INTRINSICS) -> Intrinsics:
    """The clip's own depth intrinsics (raw, possibly mirrored image) from its joints: the SDK computed
    depthX = cx +- fx X/Z and depthY = cy - fy Y/Z, so a line fit per axis recovers them and the masked
    depth back-projects onto the skeleton exactly, whichever Kinect took the clip. Falls back to
    `fallback` with fewer than 10 joints or an implausible focal length (not within 20 % of it)."""
    xyz, uv = joints[valid].reshape(-1, 3).astype(np.float64), depth_xy[valid].reshape(-1, 2).astype(np.float64)
    front = xyz[:, 2] > 0
    xyz, uv = xyz[front], uv[front]
    if len(xyz) < 10:
        return fallback
    fits = []
    for axis, sign in ((0, 1.0), (1, -1.0)):
        ratio = sign * xyz[:, axis] / xyz[:, 2]
        if np.ptp(ratio) < 1e-3:
            return fallback
        slope, intercept = np.polyfit(ratio, uv[:, axis], 1)
        fits.append((abs(slope), intercept))
    (fx, cx), (fy, cy) = fits
    if not all(0.8 * fallback.fx <= f <= 1.2 * fallback.fx for f in (fx, fy)):
        return fallback
    return Intrinsics(fx=float(fx), fy=float(fy), cx=float(cx), cy=float(cy), width=fallback.width,
                      height=fallback.height)


def kinect_to_optical(joints: np.ndarray) -> np.ndarray:
    """(..., 3) Kinect camera space (X left, Y up, Z forward) -> REP-103 optical (x right, y down,
    z forward): (-X, -Y, Z). Zeros (untracked) stay zeros."""
    return (joints * np.array([-1.0, -1.0, 1.0], dtype=joints.dtype)).astype(np.float32)


def unmirrored_intrinsics(depth: Intrinsics, *, mirrored: bool) -> Intrinsics:
    """Intrinsics of the depth map after the left-right flip that un-mirrors it."""
    if not mirrored:
        return depth
    return Intrinsics(fx=depth.fx, fy=depth.fy, cx=depth.width - 1 - depth.cx, cy=depth.cy,
                      width=depth.width, height=depth.height)
