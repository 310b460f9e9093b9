"""Image / PointCloud2 / MarkerArray <-> numpy, without per-pixel or per-point Python loops.

One import point for the node, the pipeline and the bag tools; the code lives in common.py (errors, limits,
stamps), image.py, compressed_image.py, cloud.py and body_markers.py. Every reader
raises ConversionError (a ValueError with a machine-readable `reason`) for a malformed message and never
another exception type, so a node can drop and count bad messages by reason.
"""
from rcmcl_ros.conversions.cloud import (CLOUD_LAYOUTS, pointcloud2_to_rgb, pointcloud2_to_xyz,
                                         xyz_to_pointcloud2)
from rcmcl_ros.conversions.common import (DEFAULT_LIMITS, REASONS, ConversionError, ConversionLimits,
                                          make_header, seconds_to_stamp, stamp_to_seconds)
from rcmcl_ros.conversions.image import (AREA_TAPS, DEPTH_SCALE_M, ENCODINGS, centre_square_roi,
                                         depth_to_metres, image_to_numpy, image_to_rgb, numpy_to_image)
from rcmcl_ros.conversions.body_markers import (BODY_ID_STRIDE, SKELETON_FRAME, SKELETON_LAYOUTS, SkeletonStats,
                                                markers_to_bodies, markers_to_skeleton, skeleton_to_markers)

__all__ = [
    "AREA_TAPS", "BODY_ID_STRIDE", "CLOUD_LAYOUTS", "DEFAULT_LIMITS", "DEPTH_SCALE_M", "ENCODINGS", "REASONS",
    "SKELETON_FRAME", "SKELETON_LAYOUTS", "ConversionError", "ConversionLimits", "SkeletonStats",
    "centre_square_roi", "depth_to_metres", "image_to_numpy", "image_to_rgb", "make_header",
    "markers_to_bodies", "markers_to_skeleton",
    "numpy_to_image", "pointcloud2_to_rgb", "pointcloud2_to_xyz", "seconds_to_stamp",
    "skeleton_to_markers", "stamp_to_seconds", "xyz_to_pointcloud2",
]
