"""Body-tracking MarkerArray <-> (M, 25, 3) NTU-order skeletons.

The Azure Kinect ROS driver publishes one visualization_msgs/Marker per joint: marker.id =
body_id * 100 + joint_index over the 32 k4abt joints, pose.position in metres, frame depth_camera_link.
Kinect-v2-style publishers use the same id scheme over the 25 NTU joints (layout "ntu25").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rcmcl_core.geometry.skeleton_layout import AZURE_TO_NTU, NUM_AZURE_JOINTS, NUM_JOINTS
from rcmcl_ros.conversions.common import (DEFAULT_LIMITS, ConversionError, ConversionLimits,
                                          make_header)

BODY_ID_STRIDE = 100
"""marker.id = body_id * BODY_ID_STRIDE + joint_index (Azure Kinect ROS driver)."""
FIRST_BODY_ID = 1
"""k4abt numbers bodies from 1; skeleton_to_markers uses 1..M when no ids are given."""
SKELETON_FRAME = "depth_camera_link"
"""Frame of the driver's body markers."""
JOINT_MARKER_SCALE_M = 0.05
"""Sphere diameter the driver uses for joint markers."""
JOINT_MARKER_LIFETIME_S = 0.25
"""Marker lifetime the driver uses (no flicker at 5 fps)."""
JOINT_NAMESPACE = "joints"
BODY_COLOURS = ((0.9, 0.2, 0.2), (0.2, 0.8, 0.2), (0.2, 0.4, 0.9), (0.9, 0.8, 0.1), (0.7, 0.2, 0.8),
                (0.1, 0.8, 0.8))
"""RGB per body (body_id % len), for rviz."""

SKELETON_LAYOUTS: dict[str, tuple[int, np.ndarray]] = {
    "azure32": (NUM_AZURE_JOINTS, AZURE_TO_NTU),
    "ntu25": (NUM_JOINTS, np.arange(NUM_JOINTS, dtype=np.int64)),
}
"""layout -> (joint ids per body in the markers, source joint index of each NTU joint)."""

_ADD = 0   # visualization_msgs/Marker.ADD == MODIFY


@dataclass
class SkeletonStats:
    """What markers_to_skeleton kept and dropped from one MarkerArray."""

    markers: int = 0                   # markers in the message
    bodies: int = 0                    # bodies returned (valid)
    body_ids: tuple[int, ...] = field(default_factory=tuple)   # their ids, in output order
    ignored_actions: int = 0           # DELETE / DELETEALL markers skipped
    unknown_joints: int = 0            # markers whose id maps to no joint of the layout
    duplicate_joints: int = 0          # a joint given twice for one body (the last one wins)
    incomplete_bodies: int = 0         # bodies missing a joint the NTU-25 output needs
    nan_bodies: int = 0                # bodies with a non-finite needed joint
    extra_bodies: int = 0              # valid bodies beyond max_bodies

    @property
    def dropped_bodies(self) -> int:
        return self.incomplete_bodies + self.nan_bodies + self.extra_bodies


def _layout(layout: str) -> tuple[int, np.ndarray]:
    if layout not in SKELETON_LAYOUTS:
        raise ValueError(f"skeleton layout must be one of {', '.join(SKELETON_LAYOUTS)}, got {layout!r}")
    return SKELETON_LAYOUTS[layout]


def markers_to_skeleton(msg: Any, *, layout: str = "azure32", max_bodies: int = 2,
                        limits: ConversionLimits = DEFAULT_LIMITS,
                        ) -> tuple[np.ndarray, np.ndarray, SkeletonStats]:
    """MarkerArray -> ((M, 25, 3) float32 metres in NTU-25 order, (M,) bool valid, stats), M = max_bodies.

    Bodies are ordered by id; the first max_bodies complete, finite ones fill the output, the rest of it
    stays zero with valid False. Unknown joint ids, incomplete bodies and non-finite positions are dropped
    and counted; DELETE / DELETEALL markers are ignored."""
    joints_per_body, source_index = _layout(layout)
    if max_bodies < 1:
        raise ValueError(f"max_bodies must be >= 1, got {max_bodies}")
    markers = msg.markers
    if len(markers) > limits.max_markers:
        raise ConversionError(f"MarkerArray has {len(markers)} markers, more than the limit "
                              f"{limits.max_markers}", reason="limits")
    stats = SkeletonStats(markers=len(markers))
    bodies: dict[int, tuple[np.ndarray, np.ndarray]] = {}      # id -> ((J, 3) positions, (J,) seen)
    for marker in markers:
        if marker.action != _ADD:
            stats.ignored_actions += 1
            continue
        body_id, joint = divmod(int(marker.id), BODY_ID_STRIDE)
        if body_id < 0 or joint >= joints_per_body:
            stats.unknown_joints += 1
            continue
        positions, seen = bodies.setdefault(
            body_id, (np.zeros((joints_per_body, 3), np.float64), np.zeros(joints_per_body, bool)))
        stats.duplicate_joints += int(seen[joint])
        point = marker.pose.position
        positions[joint] = (point.x, point.y, point.z)
        seen[joint] = True
    joints = np.zeros((max_bodies, NUM_JOINTS, 3), np.float32)
    valid = np.zeros(max_bodies, bool)
    kept: list[int] = []
    for body_id in sorted(bodies):
        positions, seen = bodies[body_id]
        if not seen[source_index].all():
            stats.incomplete_bodies += 1
        elif not np.isfinite(positions[source_index]).all():
            stats.nan_bodies += 1
        elif len(kept) == max_bodies:
            stats.extra_bodies += 1
        else:
            joints[len(kept)] = positions[source_index]
            valid[len(kept)] = True
            kept.append(body_id)
    stats.bodies, stats.body_ids = len(kept), tuple(kept)
    return joints, valid, stats


MAX_MARKER_BODIES = 64
"""Bodies read from one MarkerArray at most by markers_to_bodies (k4abt tracks far fewer); more are counted
as extra_bodies."""


def markers_to_bodies(msg: Any, *, layout: str = "azure32", limits: ConversionLimits = DEFAULT_LIMITS,
                      ) -> tuple[dict[int, np.ndarray], SkeletonStats]:
    """MarkerArray -> ({body id: (25, 3) float32 NTU joints, metres}, stats): every complete, finite body by
    its id (marker.id // BODY_ID_STRIDE), up to MAX_MARKER_BODIES. The one decode of a skeleton message:
    the per-person path keeps every body, the single-person path the main actor (pipeline/preprocess.py)."""
    joints, valid, stats = markers_to_skeleton(msg, layout=layout, max_bodies=MAX_MARKER_BODIES, limits=limits)
    return {int(body_id): joints[i] for i, body_id in enumerate(stats.body_ids) if valid[i]}, stats


def skeleton_to_markers(joints: np.ndarray, *, layout: str = "azure32", stamp: Any = 0.0,
                        frame_id: str = SKELETON_FRAME, body_ids: tuple[int, ...] | None = None) -> Any:
    """(M, 25, 3) NTU-order or (M, 32, 3) k4abt-order joints (metres) -> MarkerArray as the driver
    publishes it: one SPHERE per joint in namespace "joints", id = body_id * 100 + joint index of
    `layout` (25 NTU joints written under azure32 land on their k4abt ids). body_ids default 1..M."""
    from visualization_msgs.msg import Marker, MarkerArray

    joints_per_body, source_index = _layout(layout)
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[2] != 3 or joints.shape[1] not in (NUM_JOINTS, joints_per_body):
        raise ValueError(f"{layout} skeleton needs shape (M, {NUM_JOINTS} or {joints_per_body}, 3), "
                         f"got {joints.shape}")
    ids = tuple(range(FIRST_BODY_ID, FIRST_BODY_ID + len(joints))) if body_ids is None else tuple(body_ids)
    if len(ids) != len(joints) or len(set(ids)) != len(ids) or any(i < 0 for i in ids):
        raise ValueError(f"body_ids must be {len(joints)} distinct non-negative ids, got {ids}")
    # Which marker joint index each row of `joints` is written to.
    target_index = np.arange(joints_per_body) if joints.shape[1] == joints_per_body else source_index
    out = MarkerArray()
    for body_id, body in zip(ids, joints):
        red, green, blue = BODY_COLOURS[body_id % len(BODY_COLOURS)]
        for joint, (x, y, z) in zip(target_index.tolist(), body.tolist()):
            marker = Marker(header=make_header(stamp, frame_id), ns=JOINT_NAMESPACE,
                            id=body_id * BODY_ID_STRIDE + joint, type=Marker.SPHERE, action=Marker.ADD)
            marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = x, y, z
            marker.scale.x = marker.scale.y = marker.scale.z = JOINT_MARKER_SCALE_M
            marker.color.r, marker.color.g, marker.color.b, marker.color.a = red, green, blue, 1.0
            marker.lifetime.nanosec = int(JOINT_MARKER_LIFETIME_S * 1e9)
            out.markers.append(marker)
    return out
