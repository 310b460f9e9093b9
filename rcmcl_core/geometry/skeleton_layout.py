"""The NTU-25 skeleton as data: joint order, bones, the ST-GCN spatial partition, and the
Azure Kinect (k4abt, 32 joints) -> NTU-25 map. Encoders take the graph from here; nothing else
hard-codes joints.
"""
from __future__ import annotations

import numpy as np

NTU_JOINTS = (
    "spine_base", "spine_mid", "neck", "head",                                   # 0-3
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",                    # 4-7
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",                # 8-11
    "left_hip", "left_knee", "left_ankle", "left_foot",                          # 12-15
    "right_hip", "right_knee", "right_ankle", "right_foot",                      # 16-19
    "spine_shoulder", "left_hand_tip", "left_thumb", "right_hand_tip", "right_thumb",  # 20-24
)
NUM_JOINTS = len(NTU_JOINTS)
JOINT_INDEX = {name: i for i, name in enumerate(NTU_JOINTS)}

CENTER_JOINT = JOINT_INDEX["spine_shoulder"]
"""The partition's centre of gravity (ST-GCN uses spine_shoulder for NTU)."""
ROOT_JOINT = JOINT_INDEX["spine_base"]
"""The origin used to centre a skeleton (NTU convention)."""

# (child, parent), 0-based; every joint but the root has exactly one parent.
NTU_BONES = (
    (1, 0), (20, 1), (2, 20), (3, 2),
    (4, 20), (5, 4), (6, 5), (7, 6), (21, 7), (22, 7),
    (8, 20), (9, 8), (10, 9), (11, 10), (23, 11), (24, 11),
    (12, 0), (13, 12), (14, 13), (15, 14),
    (16, 0), (17, 16), (18, 17), (19, 18),
)

LEFT_RIGHT_PAIRS = tuple(
    (JOINT_INDEX[name], JOINT_INDEX[name.replace("left_", "right_")])
    for name in NTU_JOINTS if name.startswith("left_")
)
"""(left, right) joint index pairs, for horizontal flips."""

# Azure Kinect Body Tracking joint order (k4abt_joint_id_t), 32 joints.
AZURE_JOINTS = (
    "pelvis", "spine_navel", "spine_chest", "neck", "clavicle_left", "shoulder_left", "elbow_left",
    "wrist_left", "hand_left", "handtip_left", "thumb_left", "clavicle_right", "shoulder_right",
    "elbow_right", "wrist_right", "hand_right", "handtip_right", "thumb_right", "hip_left", "knee_left",
    "ankle_left", "foot_left", "hip_right", "knee_right", "ankle_right", "foot_right", "head", "nose",
    "eye_left", "ear_left", "eye_right", "ear_right",
)
NUM_AZURE_JOINTS = len(AZURE_JOINTS)

AZURE_TO_NTU = np.array(
    [0, 1, 3, 26, 5, 6, 7, 8, 12, 13, 14, 15, 18, 19, 20, 21, 22, 23, 24, 25, 2, 9, 10, 16, 17],
    dtype=np.int64,
)
"""AZURE_TO_NTU[ntu_index] = k4abt index (docs/ARCHITECTURE.md, "Sensors and ROS conventions")."""


def adjacency(*, self_loops: bool = True) -> np.ndarray:
    """Symmetric (25, 25) float32 adjacency of the NTU bone graph."""
    a = np.zeros((NUM_JOINTS, NUM_JOINTS), dtype=np.float32)
    for child, parent in NTU_BONES:
        a[child, parent] = a[parent, child] = 1.0
    if self_loops:
        a += np.eye(NUM_JOINTS, dtype=np.float32)
    return a


def hop_distance(*, max_hop: int = NUM_JOINTS) -> np.ndarray:
    """(25, 25) shortest path length in bones; np.inf where farther than max_hop."""
    reach = [np.linalg.matrix_power(adjacency(self_loops=True), d) > 0 for d in range(max_hop + 1)]
    hops = np.full((NUM_JOINTS, NUM_JOINTS), np.inf, dtype=np.float32)
    for d in range(max_hop, -1, -1):
        hops[reach[d]] = d
    return hops


def spatial_partition() -> np.ndarray:
    """(3, 25, 25) ST-GCN 'spatial' partition: [self, centripetal, centrifugal], each column-normalised.

    For an edge i<-j (j a neighbour of i), j is centripetal when it is closer to CENTER_JOINT than i,
    centrifugal when farther; j == i is the root subset. A[k] @ X aggregates subset k's neighbours.
    """
    hops = hop_distance()
    to_center = hops[:, CENTER_JOINT]
    neighbours = adjacency(self_loops=False)
    subsets = np.zeros((3, NUM_JOINTS, NUM_JOINTS), dtype=np.float32)
    for i in range(NUM_JOINTS):
        subsets[0, i, i] = 1.0
        for j in np.flatnonzero(neighbours[i]):
            if to_center[j] < to_center[i]:
                subsets[1, i, j] = 1.0
            elif to_center[j] > to_center[i]:
                subsets[2, i, j] = 1.0
            else:
                subsets[0, i, j] = 1.0
    # Normalise by in-degree of the whole neighbourhood (as ST-GCN: D^-1 A over the summed graph).
    degree = subsets.sum(axis=(0, 2))
    return (subsets / np.maximum(degree, 1.0)[None, :, None]).astype(np.float32)


def azure_to_ntu(joints_azure: np.ndarray) -> np.ndarray:
    """(..., 32, 3) k4abt joints -> (..., 25, 3) NTU-25 joints (same units)."""
    if joints_azure.shape[-2:] != (NUM_AZURE_JOINTS, 3):
        raise ValueError(f"azure skeleton needs shape (..., {NUM_AZURE_JOINTS}, 3), got {joints_azure.shape}")
    return joints_azure[..., AZURE_TO_NTU, :]


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(..., 25, 3) -> (..., 24) bone lengths in the joints' units, in NTU_BONES order."""
    child = np.array([c for c, _ in NTU_BONES])
    parent = np.array([p for _, p in NTU_BONES])
    return np.linalg.norm(joints[..., child, :] - joints[..., parent, :], axis=-1)


def centre_on_root(skeleton: np.ndarray) -> np.ndarray:
    """(T, M, 25, 3) metres -> same, minus the first body's mean spine_base over frames where it is
    tracked (non-zero). All-zero (untracked) bodies stay zero."""
    if skeleton.ndim != 4 or skeleton.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"skeleton needs shape (T, M, 25, 3), got {skeleton.shape}")
    tracked = np.abs(skeleton).sum(axis=(-1, -2)) > 0                     # (T, M)
    roots = skeleton[:, 0, ROOT_JOINT][tracked[:, 0]]
    if len(roots) == 0:
        return skeleton.copy()
    origin = roots.mean(axis=0)
    return np.where(tracked[..., None, None], skeleton - origin, 0.0).astype(skeleton.dtype)
