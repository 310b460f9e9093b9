"""Per-frame scene primitives the synthetic renderer ray-casts: capsules, spheres and oriented boxes.

All positions are (F, P, 3) metres in one frame (world or camera); radii, half extents and colours are
per primitive (colours RGB in [0, 1], albedo before shading).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _empty(frames: int, *shape: int) -> np.ndarray:
    return np.zeros((frames, 0, *shape))


@dataclass
class Primitives:
    capsule_a: np.ndarray        # (F, C, 3)
    capsule_b: np.ndarray        # (F, C, 3)
    capsule_radius: np.ndarray   # (C,)
    capsule_colour: np.ndarray   # (C, 3)
    sphere_centre: np.ndarray    # (F, S, 3)
    sphere_radius: np.ndarray    # (S,)
    sphere_colour: np.ndarray    # (S, 3)
    box_centre: np.ndarray       # (F, B, 3)
    box_axes: np.ndarray         # (F, B, 3, 3): columns are the box's unit axes
    box_half: np.ndarray         # (B, 3) half extents along those axes
    box_colour: np.ndarray       # (B, 3)

    @property
    def frames(self) -> int:
        return self.capsule_a.shape[0]

    @classmethod
    def build(cls, *, frames: int | None = None, capsules: tuple | None = None, spheres: tuple | None = None,
              boxes: tuple | None = None) -> "Primitives":
        """capsules = (a (F,C,3), b (F,C,3), radius (C,), colour (C,3)); spheres = (centre (F,S,3), radius,
        colour); boxes = (centre (F,B,3), axes (F,B,3,3), half (B,3), colour (B,3)). Missing kinds are empty."""
        given = [group[0] for group in (capsules, spheres, boxes) if group is not None]
        frames = given[0].shape[0] if given else int(frames or 0)
        capsules = capsules or (_empty(frames, 3), _empty(frames, 3), np.zeros(0), np.zeros((0, 3)))
        spheres = spheres or (_empty(frames, 3), np.zeros(0), np.zeros((0, 3)))
        boxes = boxes or (_empty(frames, 3), _empty(frames, 3, 3), np.zeros((0, 3)), np.zeros((0, 3)))
        arrays = [np.asarray(x, dtype=np.float64) for x in (*capsules, *spheres, *boxes)]
        for array in arrays[0], arrays[1], arrays[4], arrays[7], arrays[8]:
            if array.shape[0] != frames:
                raise ValueError(f"primitive positions need {frames} frames, got shape {array.shape}")
        return cls(*arrays)

    def concat(self, other: "Primitives") -> "Primitives":
        """Both sets of primitives in one (same frames)."""
        if other.frames != self.frames:
            raise ValueError(f"cannot merge primitives of {self.frames} and {other.frames} frames")
        return Primitives(*[np.concatenate([x, y], axis=1 if x.ndim >= 3 else 0)
                            for x, y in zip(self.__dict__.values(), other.__dict__.values())])

    def select(self, frames: slice | np.ndarray) -> "Primitives":
        """The same primitives for a subset of frames."""
        return Primitives(*[x[frames] if x.ndim >= 3 else x for x in self.__dict__.values()])

    def transformed(self, rotation: np.ndarray, translation: np.ndarray) -> "Primitives":
        """Apply p -> rotation @ p + translation (rotation (3, 3) or (F, 3, 3), translation (3,) or (F, 3))."""
        rotation = np.broadcast_to(rotation, (self.frames, 3, 3))
        translation = np.broadcast_to(translation, (self.frames, 3))

        def move(p):
            return np.einsum("fij,fpj->fpi", rotation, p) + translation[:, None]

        return Primitives(move(self.capsule_a), move(self.capsule_b), self.capsule_radius, self.capsule_colour,
                          move(self.sphere_centre), self.sphere_radius, self.sphere_colour,
                          move(self.box_centre), np.einsum("fij,fpjk->fpik", rotation, self.box_axes),
                          self.box_half, self.box_colour)
