"""Per-message conversion cost on this machine (issue 9 goals). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/conversion_speed.py [--repeats 200]

Each figure is the median over `repeats` calls on one warm message, its anchor timed in the same run:
- PointCloud2, 100k points xyz+rgb, 2 % NaN -> (N, 3) float32 finite points: goal <= 1.0 ms and <= 8x a
  plain copy of the same bytes (the reader cannot beat the copy); a structured-dtype reader (the usual
  ROS approach) is shown too.
- Image 1280x720 bgra8 -> model-ready RGB (S, S, 3) uint8 at the preset resolution, as the node calls it
  (centre square, area resize): goal <= 2.0 ms; anchor: a plain `[..., 2::-1].copy()` of the full frame.
The closing markdown table holds the two issue figures (Azure cloud layout, lite 64 and paper 112 px).
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Callable

import numpy as np

from rcmcl_ros import conversions as cv

CLOUD_POINTS = 100_000
CLOUD_NAN_FRACTION = 0.02
CLOUD_GOAL_MS = 1.0
CLOUD_GOAL_COPY_RATIO = 8.0
IMAGE_GOAL_MS = 2.0
AZURE_COLOUR = (720, 1280)           # H, W of the Azure 720p colour stream
AZURE_DEPTH_NFOV = (576, 640)        # H, W of the Azure NFOV unbinned depth stream
NODE_CLOUD_CAP = 20000               # PreprocessConfig.max_cloud_points
COLD_MESSAGES = 8


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cpu}, {cores} usable cores, Python {platform.python_version()}, numpy {np.__version__}, "
            f"{platform.system()} {platform.release()}")


def median_ms(call: Callable[[], object], *, repeats: int) -> float:
    call()                                           # warm caches and lazy imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        call()
        times.append(time.perf_counter_ns() - start)
    return float(np.median(times)) / 1e6


def structured_reader(msg) -> np.ndarray:
    """The usual ROS approach (as sensor_msgs_py.read_points_numpy): a structured dtype over the buffer,
    fields stacked into (N, 3), then non-finite rows removed."""
    offsets = {f.name: f.offset for f in msg.fields}
    dtype = np.dtype({"names": ["x", "y", "z"], "formats": ["<f4"] * 3,
                      "offsets": [offsets["x"], offsets["y"], offsets["z"]], "itemsize": msg.point_step})
    records = np.frombuffer(msg.data, dtype=dtype)
    xyz = np.stack([records["x"], records["y"], records["z"]], axis=1)
    return xyz[np.isfinite(xyz).all(axis=1)]


def bench_cloud(*, repeats: int) -> dict[str, tuple[float, float]]:
    rng = np.random.default_rng(0)
    points = rng.uniform(-3, 3, (CLOUD_POINTS, 3)).astype(np.float32)
    points[rng.random(CLOUD_POINTS) < CLOUD_NAN_FRACTION] = np.nan
    colours = rng.integers(0, 256, (CLOUD_POINTS, 3), dtype=np.uint8)
    print(f"\nPointCloud2 {CLOUD_POINTS} points xyz+rgb, {CLOUD_NAN_FRACTION:.0%} NaN -> (N, 3) float32")
    figures = {}
    for layout in ("compact", "azure"):
        msg = cv.xyz_to_pointcloud2(points, rgb=colours, layout=layout)
        ours = median_ms(lambda: cv.pointcloud2_to_xyz(msg), repeats=repeats)
        structured = median_ms(lambda: structured_reader(msg), repeats=repeats)
        copy = median_ms(lambda: np.frombuffer(msg.data, np.uint8).copy(), repeats=repeats)
        assert np.array_equal(cv.pointcloud2_to_xyz(msg), structured_reader(msg))
        met = ours <= CLOUD_GOAL_MS and ours <= CLOUD_GOAL_COPY_RATIO * copy
        print(f"  point_step {msg.point_step:2d}: ours {ours:.3f} ms | structured dtype {structured:.3f} ms "
              f"({structured / ours:.1f}x ours) | memory copy {copy:.3f} ms (ours = {ours / copy:.1f}x copy) "
              f"| goal <= {CLOUD_GOAL_MS} ms and <= {CLOUD_GOAL_COPY_RATIO:.0f}x copy: {'met' if met else 'MISSED'}")
        figures[layout] = (ours, copy)
    return figures


def bench_capped_clouds(*, repeats: int) -> None:
    """The node's call on Azure NFOV clouds (640x576 organised, ~30 % NaN): capped to NODE_CLOUD_CAP evenly
    spread points, each call on the next of a few messages so the 11.8 MB buffers are not in cache."""
    rng = np.random.default_rng(2)
    height, width = AZURE_DEPTH_NFOV
    msgs = []
    for _ in range(COLD_MESSAGES):
        points = rng.uniform(-3, 3, (height * width, 3)).astype(np.float32)
        points[rng.random(height * width) < 0.3] = np.nan
        msg = cv.xyz_to_pointcloud2(points, rgb=rng.integers(0, 256, (height * width, 3), dtype=np.uint8),
                                    layout="azure")
        msg.height, msg.width, msg.row_step = height, width, width * msg.point_step
        msgs.append(msg)
    cycle = iter(range(10**9))

    def cold(call: Callable[[object], object]) -> float:
        return median_ms(lambda: call(msgs[next(cycle) % len(msgs)]), repeats=repeats)
    capped = cold(lambda msg: cv.pointcloud2_to_xyz(msg, max_points=NODE_CLOUD_CAP))
    full = cold(lambda msg: cv.pointcloud2_to_xyz(msg))
    copy = cold(lambda msg: np.frombuffer(msg.data, np.uint8).copy())
    print(f"\nPointCloud2 {width}x{height} Azure xyz+rgb, 30% NaN, cache-cold ({COLD_MESSAGES} messages in turn): "
          f"capped to {NODE_CLOUD_CAP} points {capped:.3f} ms | every point {full:.3f} ms | memory copy {copy:.3f} ms")


def bench_images(*, repeats: int) -> tuple[float, dict[int, float]]:
    rng = np.random.default_rng(1)
    height, width = AZURE_COLOUR
    msg = cv.numpy_to_image(rng.integers(0, 256, (height, width, 4), dtype=np.uint8), encoding="bgra8")
    full = median_ms(lambda: cv.image_to_numpy(msg)[..., 2::-1].copy(), repeats=repeats)
    print(f"\nImage {width}x{height} bgra8 -> RGB uint8 (full-frame [..., 2::-1].copy(): {full:.3f} ms)")
    node_path = {}
    for size in (64, 112):
        for interpolation in ("nearest", "area"):
            ours = median_ms(lambda: cv.image_to_rgb(msg, size=size, interpolation=interpolation),
                             repeats=repeats)
            print(f"  {size}x{size} {interpolation:7s}: {ours:.3f} ms ({full / ours:.0f}x faster than the full "
                  f"copy) | goal <= {IMAGE_GOAL_MS} ms: {'met' if ours <= IMAGE_GOAL_MS else 'MISSED'}")
        square = cv.centre_square_roi(width=width, height=height)
        ours = median_ms(lambda: cv.image_to_rgb(msg, size=size, roi=square), repeats=repeats)
        print(f"  {size}x{size} area, centre square roi: {ours:.3f} ms")
        node_path[size] = ours
    full_frame_anchor = full

    height, width = AZURE_DEPTH_NFOV
    depth = cv.numpy_to_image(rng.integers(300, 5000, (height, width), dtype=np.uint16), encoding="16UC1")
    full = median_ms(lambda: cv.image_to_numpy(depth).astype(np.float32) * np.float32(1e-3), repeats=repeats)
    ours = median_ms(lambda: cv.depth_to_metres(depth, size=64), repeats=repeats)
    print(f"\nDepth {width}x{height} 16UC1 -> metres float32 64x64 nearest: {ours:.3f} ms "
          f"(full-frame conversion: {full:.3f} ms)")
    return full_frame_anchor, node_path


def summary(cloud: dict[str, tuple[float, float]], image_anchor: float, image: dict[int, float]) -> None:
    """The two issue-9 conversion figures as a markdown table."""
    ours, copy = cloud["azure"]
    print("\n| figure | ours | anchor (same run) | ratio | goal | met |")
    print("|---|---:|---:|---:|---|---|")
    met = ours <= CLOUD_GOAL_MS and ours <= CLOUD_GOAL_COPY_RATIO * copy
    print(f"| PointCloud2 {CLOUD_POINTS // 1000}k xyz+rgb (Azure layout, 32 B/point), {CLOUD_NAN_FRACTION:.0%} NaN "
          f"-> (N, 3) float32 | {ours:.3f} ms | memcpy {copy:.3f} ms | {ours / copy:.1f}x | <= {CLOUD_GOAL_MS} ms, "
          f"<= {CLOUD_GOAL_COPY_RATIO:.0f}x | {'yes' if met else 'no'} |")
    for size, ms in image.items():
        print(f"| Image 1280x720 bgra8 -> RGB {size}x{size} (centre square, area) | {ms:.3f} ms | full-frame "
              f"[..., 2::-1].copy() {image_anchor:.3f} ms | {ms / image_anchor:.2f}x | <= {IMAGE_GOAL_MS} ms | "
              f"{'yes' if ms <= IMAGE_GOAL_MS else 'no'} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per figure (median reported)")
    args = parser.parse_args()
    print(f"machine: {machine()}, load avg {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"median of {args.repeats} calls per figure")
    cloud = bench_cloud(repeats=args.repeats)
    bench_capped_clouds(repeats=max(1, args.repeats // 4))
    image_anchor, image = bench_images(repeats=args.repeats)
    summary(cloud, image_anchor, image)


if __name__ == "__main__":
    main()
