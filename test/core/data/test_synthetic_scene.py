"""Multi-person synthetic scenes (rcmcl_core/data/synthetic/scene.py)."""
from __future__ import annotations

import numpy as np
import pytest

from rcmcl_core.data.synthetic.generate import synthetic_intrinsics
from rcmcl_core.data.synthetic.scene import make_scene_clip
from rcmcl_core.geometry.pinhole import project_points

INTRINSICS = synthetic_intrinsics(width=96, height=96)


def test_three_people_each_get_their_own_skeleton_and_the_nearer_one_hides_the_one_behind():
    clip = make_scene_clip([0, 4, 6], [2, 4, 6], camera=1, seed=1, intrinsics=INTRINSICS, fps=10.0, frames=12)
    assert clip["rgb"].shape == (12, 96, 96, 3) and clip["skeleton"].shape == (12, 3, 25, 3)
    tracked = clip["skeleton_valid"].all(axis=1)
    pelvis = clip["skeleton"][tracked][:, :, 0]
    assert (np.linalg.norm(pelvis[:, 0] - pelvis[:, 1], axis=-1) > 0.5).all()     # three distinct places
    # person 2 (slot behind) is partly covered by person 3 (slot in front): some of its joints project
    # onto pixels whose depth is clearly nearer than the joint itself
    f = int(np.flatnonzero(tracked)[0])
    joints = clip["skeleton"][f, 1]
    uv = np.round(project_points(joints, intrinsics=INTRINSICS)).astype(int)
    inside = (uv >= 0).all(axis=1) & (uv < 96).all(axis=1)
    depth_m = clip["depth_mm"][f][uv[inside, 1], uv[inside, 0]] / 1000.0
    hidden = (depth_m > 0) & (depth_m < joints[inside, 2] - 0.3)
    assert hidden.sum() >= 2


def test_scene_rejects_too_many_people_and_mismatched_subjects():
    with pytest.raises(ValueError, match="1 to 3 people"):
        make_scene_clip([0] * 4, [2] * 4, camera=1, seed=0, intrinsics=INTRINSICS, fps=10.0, frames=2)
    with pytest.raises(ValueError, match="one subject per person"):
        make_scene_clip([0, 1], [2], camera=1, seed=0, intrinsics=INTRINSICS, fps=10.0, frames=2)
