"""Rotation matrices from the two forms ROS hands us: roll-pitch-yaw and unit quaternions (numpy)."""
from __future__ import annotations

import math

import numpy as np


def rotation_from_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """(3, 3) float64 R = Rz(yaw) Ry(pitch) Rx(roll), angles in radians (REP-103 fixed-axis roll, pitch, yaw,
    as tf2's static_transform_publisher takes them)."""
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


def rotation_from_quaternion(x: float, y: float, z: float, w: float) -> np.ndarray:
    """(3, 3) float64 from a unit quaternion (x, y, z, w), as geometry_msgs/Quaternion holds it."""
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def rigid_transform(rotation: np.ndarray, translation: tuple[float, float, float]) -> np.ndarray:
    """(4, 4) float64 homogeneous transform from a (3, 3) rotation and a translation in metres."""
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = translation
    return matrix
