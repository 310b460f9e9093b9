"""Compressed colour (jpeg / png CompressedImage) converts like the raw Image it encodes; corrupt payloads are
DecodeErrors that the pipeline counts as drops (reason "decode")."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage

from rcmcl_ros.conversions.compressed_image import DECODE_REASON, DecodeError, decode_compressed
from rcmcl_ros.conversions import numpy_to_image, seconds_to_stamp
from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig
from rcmcl_ros.pipeline.preprocess import PreprocessConfig, Preprocessor


def scene_bgr() -> np.ndarray:
    """(72, 128, 3) uint8 BGR: smooth gradients plus a block (jpeg-friendly)."""
    v, u = np.mgrid[0:72, 0:128]
    image = np.stack([u * 2, v * 3, (u + v)], axis=-1).astype(np.uint8)
    image[20:50, 50:80] = (40, 160, 220)
    return image


def compressed(image: np.ndarray, fmt: str, *, stamp: float = 5.0) -> CompressedImage:
    ok, data = cv2.imencode(f".{fmt}", image)
    assert ok
    msg = CompressedImage(format=f"bgr8; {fmt} compressed bgr8")
    msg.header.stamp = seconds_to_stamp(stamp)
    msg.header.frame_id = "rgb_camera_link"
    msg.data = data.tobytes()
    return msg


@pytest.mark.parametrize("fmt, tolerance", [("png", 0.0), ("jpeg", 3.0)])
def test_compressed_colour_converts_like_the_raw_image(fmt, tolerance):
    image = scene_bgr()
    preprocessor = Preprocessor(config=PreprocessConfig(image_size=32, num_points=64))
    from_raw = preprocessor.convert("rgb", numpy_to_image(image, encoding="bgr8", stamp=5.0)).astype(float)
    from_compressed = preprocessor.convert("rgb", compressed(image, fmt)).astype(float)
    assert from_compressed.shape == from_raw.shape == (32, 32, 3)
    assert np.abs(from_compressed - from_raw).mean() <= tolerance


def test_decoded_image_keeps_the_header():
    decoded = decode_compressed(compressed(scene_bgr(), "png", stamp=12.5))
    assert (decoded.width, decoded.height, decoded.encoding) == (128, 72, "bgr8")
    assert decoded.header.stamp.sec == 12 and decoded.header.frame_id == "rgb_camera_link"


def test_corrupt_truncated_or_unknown_payloads_are_decode_errors():
    good = compressed(scene_bgr(), "jpeg")
    garbage = compressed(scene_bgr(), "jpeg")
    garbage.data = bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8))
    truncated = compressed(scene_bgr(), "png")
    truncated.data = truncated.data[:40]
    empty = compressed(scene_bgr(), "jpeg")
    empty.data = b""
    unknown = compressed(scene_bgr(), "jpeg")
    unknown.format = "bgr8; theora"
    for msg, words in ((garbage, "could not be decoded"), (truncated, "could not be decoded"),
                       (empty, "no data"), (unknown, "format must name")):
        with pytest.raises(DecodeError, match=words) as caught:
            decode_compressed(msg)
        assert caught.value.reason == DECODE_REASON
    assert decode_compressed(good).width == 128


def test_pipeline_counts_a_corrupt_compressed_frame_as_a_decode_drop(tiny_checkpoint):
    pipeline = Pipeline.from_checkpoint(tiny_checkpoint(), config=PipelineConfig(device="cpu"))
    corrupt = compressed(scene_bgr(), "jpeg")
    corrupt.data = corrupt.data[: len(corrupt.data) // 8]
    corrupt.data = bytes(corrupt.data[:2]) + bytes(200)
    drop = pipeline.ingest("rgb", 5.0, corrupt)
    assert drop is not None and drop.reason == DECODE_REASON
    assert pipeline.ingest("rgb", 5.1, compressed(scene_bgr(), "jpeg", stamp=5.1)) is None
    assert pipeline.stats.drops["rgb/decode"] == 1 and pipeline.stats.accepted["rgb"] == 1
