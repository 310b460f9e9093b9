"""Vectorised ray caster for the synthetic benchmark: capsules, spheres and oriented boxes in front of a
textured wall and floor, seen by a pinhole camera of any intrinsics and resolution.

Every pixel's ray is tested against every primitive at once (numpy broadcasting over frames x primitives x
pixels, in chunks of frames that bound memory); the nearest hit gives true depth (optical z, metres) and a
Lambert-shaded albedo. Sensor effects (noise, holes, range) are applied afterwards (synthetic_sensors).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rcmcl_core.geometry.pinhole import Intrinsics
from rcmcl_core.data.synthetic.primitives import Primitives
from rcmcl_core.geometry.pinhole import pixel_rays

CHUNK_ELEMENTS = 3_000_000
"""Frames are rendered in chunks of about this many (frame x primitive x pixel) ray tests."""


@dataclass(frozen=True)
class CameraPose:
    """World -> optical camera frame: p_cam = rotation @ (p_world - position). Rows of `rotation` are the
    optical x (right), y (down), z (forward) axes in world coordinates (world is Y up)."""

    rotation: np.ndarray
    position: np.ndarray

    @classmethod
    def look_at(cls, position, target) -> "CameraPose":
        position, target = np.asarray(position, float), np.asarray(target, float)
        forward = (target - position) / np.linalg.norm(target - position)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        return cls(rotation=np.stack([right, down, forward]), position=position)

    @classmethod
    def on_circle(cls, *, azimuth_deg: float, distance_m: float, height_m: float,
                  target_height_m: float) -> "CameraPose":
        """Camera at `azimuth_deg` around the origin (0 = in front of a person facing +Z), looking at it."""
        a = np.deg2rad(azimuth_deg)
        return cls.look_at([distance_m * np.sin(a), height_m, distance_m * np.cos(a)], [0.0, target_height_m, 0.0])

    def to_camera(self, points_world: np.ndarray) -> np.ndarray:
        """(..., 3) world -> (..., 3) optical camera frame."""
        return (np.asarray(points_world) - self.position) @ self.rotation.T


@dataclass(frozen=True)
class Room:
    """Back wall (plane z = wall_z, tiled), wooden floor (y = 0) and a light (world direction toward it)."""

    wall_z: float = -1.0
    wall_colour: tuple[float, float, float] = (0.78, 0.74, 0.66)
    tile_m: float = 0.45
    floor_colour: tuple[float, float, float] = (0.52, 0.44, 0.36)
    plank_m: float = 0.18
    far_colour: tuple[float, float, float] = (0.6, 0.6, 0.6)
    light_dir: tuple[float, float, float] = (0.35, 1.0, 0.7)
    ambient: float = 0.45
    posters: tuple[tuple[float, float, float, float, tuple[float, float, float]], ...] = (
        (-1.4, 1.0, 0.5, 0.7, (0.35, 0.45, 0.55)), (1.2, 1.3, 0.6, 0.4, (0.55, 0.50, 0.38)))
    """(x, y, width, height, colour) of flat rectangles on the wall; muted, unlike held objects."""


def _sphere_hits(rd_dot_c: np.ndarray, c_sq: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Nearest positive ray parameter from the origin to spheres; inf on a miss. rd_dot_c (..., P)."""
    disc = rd_dot_c ** 2 - (c_sq - radius ** 2)[..., None]
    t = rd_dot_c - np.sqrt(np.maximum(disc, 0))
    return np.where((disc >= 0) & (t > 0), t, np.inf)


def _capsules(a, b, radius, rd):
    """Nearest hit per (frame, capsule, pixel): min of the open cylinder and the two end spheres."""
    ba = b - a
    baba = np.sum(ba * ba, -1)                              # (f, c)
    bard = ba @ rd.T                                        # (f, c, P)
    rda = a @ rd.T                                          # rd . a  (oa = -a)
    baoa = -np.sum(ba * a, -1)
    oaoa = np.sum(a * a, -1)
    r2 = radius ** 2
    qa = baba[..., None] - bard ** 2
    qb = -baba[..., None] * rda - baoa[..., None] * bard
    qc = (baba * oaoa - baoa ** 2 - r2 * baba)[..., None]
    h = qb ** 2 - qa * qc
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (-qb - np.sqrt(np.maximum(h, 0))) / qa
    y = baoa[..., None] + t * bard
    t = np.where((h >= 0) & (t > 0) & (y > 0) & (y < baba[..., None]), t, np.inf)
    t = np.minimum(t, _sphere_hits(rda, oaoa, radius))
    return np.minimum(t, _sphere_hits(rda + bard, np.sum(b * b, -1), radius))


def _boxes(centre, axes, half, rd):
    """Nearest hit per (frame, box, pixel) and the local axis (0-2) and sign of the face hit."""
    origin = -np.einsum("fbji,fbj->fbi", axes, centre)      # ray origin in box coordinates
    direction = np.swapaxes(np.swapaxes(axes, -1, -2) @ rd.T, -1, -2)   # (f, b, P, 3)
    direction = np.where(np.abs(direction) < 1e-9, 1e-9, direction)
    t1 = (-half[None, :, None] - origin[:, :, None]) / direction
    t2 = (half[None, :, None] - origin[:, :, None]) / direction
    near = np.minimum(t1, t2)
    t_near, t_far = near.max(-1), np.maximum(t1, t2).min(-1)
    t = np.where((t_near <= t_far) & (t_near > 0), t_near, np.inf)
    axis = near.argmax(-1)
    sign = -np.sign(np.take_along_axis(direction, axis[..., None], -1)[..., 0])
    return t, axis, sign


def _gather(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values (f, n, ...) per primitive, index (f, P) -> (f, P, ...)."""
    return np.take_along_axis(values, index.reshape(index.shape + (1,) * (values.ndim - 2)), axis=1)


def _render_chunk(prims: Primitives, rd: np.ndarray, light: np.ndarray, ambient: float):
    """Nearest primitive per (frame, pixel) of rays rd (P, 3): (t (f, P) inf on a miss, shaded colour)."""
    frames, pixels = prims.frames, len(rd)
    candidates, normals, albedo = [], [], []
    if prims.capsule_radius.size:
        t = _capsules(prims.capsule_a, prims.capsule_b, prims.capsule_radius, rd)
        i = t.argmin(1)
        candidates.append(np.take_along_axis(t, i[:, None], 1)[:, 0])
        normals.append(("capsule", i))
        albedo.append(prims.capsule_colour[i])
    if prims.sphere_radius.size:
        t = _sphere_hits(prims.sphere_centre @ rd.T, np.sum(prims.sphere_centre ** 2, -1),
                         prims.sphere_radius[None])
        i = t.argmin(1)
        candidates.append(np.take_along_axis(t, i[:, None], 1)[:, 0])
        normals.append(("sphere", i))
        albedo.append(prims.sphere_colour[i])
    if prims.box_half.size:
        t, axis, sign = _boxes(prims.box_centre, prims.box_axes, prims.box_half, rd)
        i = t.argmin(1)

        def pick(x):
            return np.take_along_axis(x, i[:, None], 1)[:, 0]

        box_normal = np.take_along_axis(_gather(prims.box_axes, i), pick(axis)[..., None, None], -1)[..., 0]
        candidates.append(pick(t))
        normals.append((box_normal * pick(sign)[..., None], i))
        albedo.append(prims.box_colour[i])
    if not candidates:
        return np.full((frames, pixels), np.inf), np.zeros((frames, pixels, 3))
    t_all = np.stack(candidates, 0)                          # (groups, f, P)
    winner = t_all.argmin(0)
    t_hit = np.take_along_axis(t_all, winner[None], 0)[0]
    point = np.where(np.isfinite(t_hit), t_hit, 0.0)[..., None] * rd
    colour = np.zeros((frames, pixels, 3))
    normal = np.zeros((frames, pixels, 3))
    for g, ((kind, index), col) in enumerate(zip(normals, albedo)):
        sel = (winner == g) & np.isfinite(t_hit)
        if not sel.any():
            continue
        if isinstance(kind, np.ndarray):
            n = kind
        elif kind == "capsule":
            a, b = _gather(prims.capsule_a, index), _gather(prims.capsule_b, index)
            ba = b - a
            s = np.clip(np.sum((point - a) * ba, -1) / np.maximum(np.sum(ba * ba, -1), 1e-12), 0, 1)
            n = point - (a + s[..., None] * ba)
        else:
            n = point - _gather(prims.sphere_centre, index)
        normal[sel] = n[sel]
        colour[sel] = col[sel]
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
    return t_hit, colour * _shade(normal, light, ambient)[..., None]


def _shade(normal: np.ndarray, light: np.ndarray, ambient: float) -> np.ndarray:
    """Lambert: ambient + (1 - ambient) max(0, n . l)."""
    return ambient + (1 - ambient) * np.clip(normal @ light, 0, None)


def _screen_window(prims: Primitives, intrinsics: Intrinsics) -> np.ndarray | None:
    """Row-major pixel indices of a rectangle holding every primitive in every frame of `prims` (a
    conservative bound from bounding spheres), or None when that is the whole image / unknown."""
    parts = [(prims.capsule_a, prims.capsule_radius), (prims.capsule_b, prims.capsule_radius),
             (prims.sphere_centre, prims.sphere_radius), (prims.box_centre, np.linalg.norm(prims.box_half, axis=-1))]
    centres = np.concatenate([c.reshape(-1, 3) for c, r in parts])
    radii = np.concatenate([np.broadcast_to(r, c.shape[:2]).reshape(-1) for c, r in parts])
    if len(centres) == 0:
        return np.zeros(0, dtype=np.int64)
    near = centres[:, 2] - radii
    if (near < 0.05).any():
        return None
    # 1.5x covers the perspective stretch of a sphere up to ~35 degrees off axis; 2 px for rounding.
    pad = 1.5 * max(intrinsics.fx, intrinsics.fy) * radii / near + 2
    u = intrinsics.fx * centres[:, 0] / centres[:, 2] + intrinsics.cx
    v = intrinsics.fy * centres[:, 1] / centres[:, 2] + intrinsics.cy
    u0, u1 = int(max(0, np.floor((u - pad).min()))), int(min(intrinsics.width - 1, np.ceil((u + pad).max())))
    v0, v1 = int(max(0, np.floor((v - pad).min()))), int(min(intrinsics.height - 1, np.ceil((v + pad).max())))
    if u0 > u1 or v0 > v1:
        return np.zeros(0, dtype=np.int64)
    return (np.arange(v0, v1 + 1)[:, None] * intrinsics.width + np.arange(u0, u1 + 1)[None, :]).ravel()


def _room_hits(rd: np.ndarray, camera: CameraPose, room: Room):
    """Per pixel: ray parameter, camera-frame normal and albedo of the wall or floor (whichever is nearer)."""
    rd_world = rd @ camera.rotation                           # directions in world coordinates
    o = camera.position
    with np.errstate(divide="ignore", invalid="ignore"):
        t_wall = np.where(rd_world[:, 2] < 0, (room.wall_z - o[2]) / rd_world[:, 2], np.inf)
        t_floor = np.where(rd_world[:, 1] < 0, -o[1] / rd_world[:, 1], np.inf)
    on_wall = t_wall < t_floor
    t = np.where(on_wall, t_wall, t_floor)
    hit = o + np.where(np.isfinite(t), t, 0)[:, None] * rd_world
    tiles = np.floor(hit[:, :2] / room.tile_m)
    grout = np.any(np.abs(hit[:, :2] / room.tile_m - np.round(hit[:, :2] / room.tile_m)) < 0.03, axis=1)
    wall = np.asarray(room.wall_colour) * (1 + 0.05 * np.sin(12.9898 * tiles[:, 0] + 78.233 * tiles[:, 1]))[:, None]
    wall = np.where(grout[:, None], wall * 0.8, wall)
    for x, y, w, h, poster in room.posters:
        inside = (np.abs(hit[:, 0] - x) < w / 2) & (np.abs(hit[:, 1] - y) < h / 2)
        wall = np.where(inside[:, None], poster, wall)
    plank = np.floor(hit[:, 2] / room.plank_m)
    grain = 1 + 0.12 * np.sin(plank * 43.7) + 0.04 * np.sin(hit[:, 0] * 9.0 + plank)
    floor = np.asarray(room.floor_colour) * grain[:, None]
    colour = np.where(on_wall[:, None], wall, floor)
    colour = np.where(np.isfinite(t)[:, None], colour, room.far_colour)
    normal_world = np.where(on_wall[:, None], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0])
    return t, normal_world @ camera.rotation.T, colour


def render(primitives: Primitives, *, camera: CameraPose, intrinsics: Intrinsics,
           room: Room = Room()) -> tuple[np.ndarray, np.ndarray]:
    """World primitives over F frames -> (rgb (F, H, W, 3) float32 in [0, 1], depth (F, H, W) float32
    metres, optical z of the nearest surface; 0 where a ray hits nothing). H, W from intrinsics.
    The room is static, so it is shaded once; primitives are cast only inside their screen window."""
    rays = pixel_rays(intrinsics=intrinsics)
    rd = rays / np.linalg.norm(rays, axis=1, keepdims=True)
    prims = primitives.transformed(camera.rotation, -camera.rotation @ camera.position)
    prims = Primitives(*[np.asarray(x, np.float32) for x in prims.__dict__.values()])  # 2x faster, mm-exact
    light = camera.rotation @ (np.asarray(room.light_dir) / np.linalg.norm(room.light_dir))
    room_t, room_normal, room_albedo = _room_hits(rd, camera, room)
    room_rgb = room_albedo * _shade(room_normal, light, room.ambient)[:, None]
    room_depth = np.where(np.isfinite(room_t), room_t * rd[:, 2], 0.0)
    count = prims.capsule_radius.size + prims.sphere_radius.size + 3 * prims.box_half.size + 1
    height, width = intrinsics.height, intrinsics.width
    rgb = np.empty((prims.frames, height * width, 3), np.float32)
    depth = np.empty((prims.frames, height * width), np.float32)
    rgb[:], depth[:] = room_rgb, room_depth
    start = 0
    while start < prims.frames:
        # Chunks hold about CHUNK_ELEMENTS ray tests; a chunk's window is the union over its frames.
        window = _screen_window(prims.select(slice(start, start + 1)), intrinsics)
        pixels = height * width if window is None else max(1, len(window))
        step = max(1, CHUNK_ELEMENTS // (count * pixels))
        chunk = slice(start, start + step)
        sub = prims.select(chunk)
        window = _screen_window(sub, intrinsics)
        index = np.arange(height * width) if window is None else window
        if len(index):
            t_hit, colour = _render_chunk(sub, rd[index].astype(np.float32), light.astype(np.float32), room.ambient)
            front = t_hit < room_t[index]
            rgb[chunk, index] = np.where(front[..., None], colour, room_rgb[index])
            depth[chunk, index] = np.where(front, t_hit * rd[index, 2], room_depth[index])
        start += step
    return (np.clip(rgb, 0, 1).reshape(prims.frames, height, width, 3),
            depth.reshape(prims.frames, height, width))
