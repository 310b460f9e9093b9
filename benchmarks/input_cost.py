"""What one true-size Azure Kinect input costs the node, per message, on this machine (issue 15).

    .venv/bin/python benchmarks/input_cost.py [--repeats 30]

Medians over `repeats` calls on one warm message, through the code the node runs (rcmcl_ros.pipeline.preprocess):
- deserialise (rclpy, what a raw subscription skips for frames the input gate drops) and convert:
  points2 368,640 points x 32 B (11.8 MB) vs the cloud derived from depth_to_rgb 1280x720 16UC1 + its
  camera_info (points_source: depth), both capped at max_cloud_points and range-filtered alike;
- colour 1280x720: raw bgra8 Image vs CompressedImage jpeg (quality 90) and png, decoded with OpenCV;
- the CDR stamp peek the input gate does on every message.
Prints a markdown table; asserts nothing. Timings are on a shared CPU: quote them with the load average.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent


def median_ms(call: Callable[[], object], repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1e3 * float(np.median(times))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    import cv2
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

    from conversion_speed import machine
    from rcmcl_ros.pipeline.depth_cloud import DepthCloudSource
    from rcmcl_ros.node.input_gate import serialized_stamp_s
    from rcmcl_ros.pipeline.preprocess import PreprocessConfig, Preprocessor
    from traffic import SIZES, SensorFrames

    sizes = SIZES["azure"]
    frames = SensorFrames(sizes)
    # An Azure-like depth_to_rgb: the person at 2 m, the wall at 4 m, the NFOV cone's outside invalid (0).
    height, width = sizes.depth
    depth = np.full((height, width), 4000, np.uint16)
    depth[:, width // 3: 2 * width // 3] = 2000
    depth[:, : width // 8] = 0
    depth[:, -width // 8:] = 0
    depth_msg = frames.messages["depth"]
    depth_msg.data = depth.tobytes()
    info = CameraInfo(width=width, height=height)
    info.k = [605.0, 0.0, width / 2 - 0.5, 0.0, 605.0, height / 2 - 0.5, 0.0, 0.0, 1.0]
    colour = np.asarray(frames.messages["rgb"].data, dtype=np.uint8).reshape(*sizes.rgb, 4)[..., :3].copy()
    compressed = {}
    for fmt, params in (("jpeg", [cv2.IMWRITE_JPEG_QUALITY, 90]), ("png", [])):
        ok, data = cv2.imencode(f".{fmt}", colour, params)
        msg = CompressedImage(format=f"bgr8; {fmt} compressed bgr8")
        msg.data = data.tobytes()
        compressed[fmt] = msg
    preprocessor = Preprocessor(config=PreprocessConfig(image_size=64, num_points=256))
    messages = {"points": frames.messages["points"], "depth": depth_msg, "rgb": frames.messages["rgb"],
                "jpeg": compressed["jpeg"], "png": compressed["png"]}
    raw = {name: serialize_message(msg) for name, msg in messages.items()}
    types = {"points": PointCloud2, "depth": Image, "rgb": Image, "jpeg": CompressedImage, "png": CompressedImage}
    rows = [
        ("points2 368,640 x 32 B -> cloud (topic path)", "points",
         lambda: preprocessor.convert("points", frames.messages["points"])),
        ("depth_to_rgb 1280x720 + camera_info -> cloud (points_source depth)", "depth",
         lambda: preprocessor.convert("points", DepthCloudSource(depth=depth_msg, info=info))),
        ("depth_to_rgb 1280x720 -> depth input", "depth", lambda: preprocessor.convert("depth", depth_msg)),
        ("colour 1280x720 bgra8 Image -> rgb input", "rgb",
         lambda: preprocessor.convert("rgb", frames.messages["rgb"])),
        ("colour 1280x720 jpeg (q90) -> decode + rgb input", "jpeg",
         lambda: preprocessor.convert("rgb", compressed["jpeg"])),
        ("colour 1280x720 png -> decode + rgb input", "png", lambda: preprocessor.convert("rgb", compressed["png"])),
    ]
    print(f"\n## Input cost per message ({args.repeats} repeats, medians)\n")
    print(f"- machine: {machine()}; load average {', '.join(f'{v:.1f}' for v in os.getloadavg())} (shared CPU)\n")
    print("| input | serialised MB | deserialise ms | convert ms |")
    print("|---|---|---|---|")
    for name, key, call in rows:
        data = raw[key]
        deserialise = median_ms(lambda: deserialize_message(data, types[key]), args.repeats)
        print(f"| {name} | {len(data) / 1e6:.2f} | {deserialise:.2f} | {median_ms(call, args.repeats):.2f} |")
    peek = median_ms(lambda: serialized_stamp_s(raw["points"]), args.repeats * 10)
    print(f"\n- input gate stamp peek on the serialised bytes: {1e3 * peek:.1f} us per message")


if __name__ == "__main__":
    main()
