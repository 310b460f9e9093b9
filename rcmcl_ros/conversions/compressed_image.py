"""Compressed colour: sensor_msgs/CompressedImage (jpeg or png, as image_transport's `compressed` plugin and
the Azure Kinect driver's `color_format: jpeg` publish it) -> a bgr8 Image for the raw-colour conversions.

Decoded with OpenCV (opencv-python-headless). A payload OpenCV cannot decode, an unknown format, or a decoded
image larger than the conversion limits raises DecodeError (reason "decode"): a counted drop.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from rcmcl_ros.conversions import DEFAULT_LIMITS, ConversionError, ConversionLimits, numpy_to_image

DECODE_REASON = "decode"
FORMATS = ("jpeg", "jpg", "png")
"""CompressedImage.format values accepted (image_transport writes e.g. "bgr8; jpeg compressed bgr8")."""


class DecodeError(ConversionError):
    """A CompressedImage that cannot be decoded; reason DECODE_REASON."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.reason = DECODE_REASON


def is_compressed(msg: Any) -> bool:
    """True for a sensor_msgs/CompressedImage (a `format` and no `encoding`)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def decode_compressed(msg: Any, *, limits: ConversionLimits = DEFAULT_LIMITS) -> Any:
    """CompressedImage -> sensor_msgs/Image bgr8 (H, W) with msg's header. Raises DecodeError."""
    import cv2

    fmt = str(getattr(msg, "format", "")).lower()
    if not any(name in fmt for name in FORMATS):
        raise DecodeError(f"CompressedImage format must name one of {', '.join(FORMATS)}, got {fmt!r}")
    try:
        data = np.frombuffer(memoryview(msg.data), dtype=np.uint8)
    except (TypeError, ValueError) as error:
        raise DecodeError(f"CompressedImage data is not a byte buffer: {error}") from error
    if data.size == 0:
        raise DecodeError("CompressedImage has no data")
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise DecodeError(f"CompressedImage ({fmt}, {data.size} bytes) could not be decoded")
    if bgr.shape[0] * bgr.shape[1] > limits.max_pixels:
        raise DecodeError(f"decoded image {bgr.shape[1]}x{bgr.shape[0]} exceeds {limits.max_pixels} pixels")
    image = numpy_to_image(bgr, encoding="bgr8")
    image.header = msg.header
    return image
