"""SceneFrames straight from a synthetic multi-person clip (rcmcl_core.data.synthetic.scene), without a
bag: what the people tests, the cost benchmark and quick checks feed the PeopleWindower. The cloud is the
back-projected depth image (camera frame), as the Azure driver's points2 is in the colour camera frame.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from rcmcl_core.geometry.pinhole import Intrinsics, backproject
from rcmcl_ros.people.tracker import SceneFrame


def scene_frames(clip: dict[str, np.ndarray], *, intrinsics: Intrinsics, fps: float, body_ids: Sequence[int],
                 start_s: float = 0.0, cloud_stride: int = 2) -> Iterator[SceneFrame]:
    """Clip arrays (rgb (F, H, W, 3), depth_mm (F, H, W), skeleton (F, P, 25, 3), skeleton_valid (F, P))
    -> one SceneFrame per frame; person k carries body id body_ids[k]; untracked people are left out."""
    if len(body_ids) != clip["skeleton"].shape[1]:
        raise ValueError(f"need one body id per person: {clip['skeleton'].shape[1]} people, {len(body_ids)} ids")
    for k in range(len(clip["rgb"])):
        depth_m = clip["depth_mm"][k].astype(np.float32) / 1000.0
        cloud = backproject(depth_m[::cloud_stride, ::cloud_stride], intrinsics=intrinsics)
        bodies = {int(i): clip["skeleton"][k, p] for p, i in enumerate(body_ids) if clip["skeleton_valid"][k, p]}
        yield SceneFrame(stamp_s=start_s + k / fps, bodies=bodies, rgb=clip["rgb"][k], depth=depth_m,
                         intrinsics=intrinsics, points=cloud)
