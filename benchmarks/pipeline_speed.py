"""End-to-end windows/s of the ROS pipeline on this CPU (issue 9: lite preset >= 15 windows/s).

    .venv/bin/python benchmarks/pipeline_speed.py [--preset lite] [--windows 40] [--repeats 3] [--fps 30]
                                                  [--threads 1,2] [--overlap] [--checkpoint PATH]

Feeds Azure-Kinect-sized messages into `rcmcl_ros.pipeline.runner.Pipeline` exactly as the bag evaluation does
(ingest per message, step per frame set, no DDS) and turns each decision into the node's four output
messages, serialised as rclpy would publish them. Inputs per frame set, as the Azure driver sends them:
rgb 1280x720 bgra8, depth_to_rgb 1280x720 16UC1, points2 640x576 organised xyz+rgb with NaN holes (NFOV
unbinned, the driver's default depth-frame cloud; NaN where the rendered depth is invalid, ~2 % here vs ~30 %
outside a real NFOV hexagon, which the capped reader handles at the same cost), 32-joint body MarkerArray.
Contents are a synthetic performer (rcmcl_core.data.synthetic.generate) rendered at a quarter of the size and
upsampled, so cropping and sampling see a person at ~2.5 m in front of a wall.

At `--fps` 30 and the node's default stride (0.133 s) every window costs 4 frame sets of conversion plus
one model forward; real time needs fps / 4 = 7.5 windows/s. Per torch thread count (PipelineConfig.
torch_threads) it prints windows/s per repeat and their median, windows per CPU-second of the process,
and the split of wall time (conversion / sync / preprocess / window / model / publish) as a markdown
table; --overlap adds the node's two-thread layout. Random weights unless --checkpoint: speed does not
depend on the weights.
"""
from __future__ import annotations

import argparse
import os
import queue
import threading
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
sys.path.insert(0, str(Path(__file__).resolve().parent))     # sibling benchmarks (conversion_speed)

from rcmcl_core.config import preset  # noqa: E402
from rcmcl_core.geometry.pinhole import Intrinsics  # noqa: E402
from rcmcl_core.data.synthetic.generate import make_clip  # noqa: E402
from rcmcl_core.geometry.pinhole import backproject, scale_intrinsics  # noqa: E402
from rcmcl_core.models.rcmcl import RCMCL  # noqa: E402
from rcmcl_ros.conversions import numpy_to_image, skeleton_to_markers, xyz_to_pointcloud2  # noqa: E402
from rcmcl_ros.pipeline.runner import Decision, Pipeline, PipelineConfig  # noqa: E402
from rcmcl_ros.pipeline.preprocess import STREAMS  # noqa: E402

AZURE_COLOUR = Intrinsics(fx=605.0, fy=605.0, cx=639.5, cy=359.5, width=1280, height=720)
"""Azure Kinect 720p colour camera (typical factory calibration, rounded); depth_to_rgb shares it."""
AZURE_NFOV = Intrinsics(fx=504.0, fy=504.0, cx=319.5, cy=287.5, width=640, height=576)
"""Azure Kinect NFOV unbinned depth camera (typical factory calibration, rounded)."""
RENDER_DIVISOR = {"colour": 4, "depth": 2}
"""Scenes are rendered this many times smaller and upsampled by pixel repetition (rendering 720p is slow)."""
SCENE_FRAMES = 8                      # distinct frame sets, cycled (stamps are passed to ingest separately)
SCENE_CLASS = 0                       # "wave": one arm moving, the body always in view
FRAME_IDS = {"rgb": "rgb_camera_link", "depth": "rgb_camera_link", "points": "depth_camera_link",
             "skeleton": "depth_camera_link"}
PARTS = ("conversion", "sync", "preprocess", "window", "model", "publish")
PART_NOTES = {
    "conversion": "Image / PointCloud2 / MarkerArray -> per-frame arrays (Preprocessor.convert)",
    "sync": "Synchroniser.push + poll",
    "preprocess": "person crop + point sampling per synced set (Preprocessor.crop_points)",
    "window": "resampling T frames and stacking the model batch (Windower)",
    "model": "RCMCL forward, torch.inference_mode",
    "publish": "softmax, Decision, 4 output messages built + serialised",
}
GOAL_WINDOWS_PER_S = 15.0


def machine() -> str:
    """conversion_speed.machine() (CPU, cores, Python, numpy) plus the load and torch's threads."""
    from conversion_speed import machine as cpu_and_versions

    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    return (f"{cpu_and_versions()}, load avg {load}, torch {torch.__version__} "
            f"(default {torch.get_num_threads()} threads)")


# -- inputs ----------------------------------------------------------------------------------------------
def _upsample(image: np.ndarray, factor: int) -> np.ndarray:
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def _render(intrinsics: Intrinsics, divisor: int) -> dict[str, np.ndarray]:
    small = scale_intrinsics(intrinsics, width=intrinsics.width // divisor, height=intrinsics.height // divisor)
    clip = make_clip(SCENE_CLASS, 1, 1, 0, intrinsics=small, fps=30.0, frames=SCENE_FRAMES, num_points=16)
    clip["rgb"] = np.stack([_upsample(frame, divisor) for frame in clip["rgb"]])
    clip["depth_mm"] = np.stack([_upsample(frame, divisor) for frame in clip["depth_mm"]])
    return clip


def azure_frame_sets() -> list[dict[str, Any]]:
    """SCENE_FRAMES dicts {stream: message} at Azure sizes (see the module docstring)."""
    colour = _render(AZURE_COLOUR, RENDER_DIVISOR["colour"])
    depth = _render(AZURE_NFOV, RENDER_DIVISOR["depth"])
    rng = np.random.default_rng(0)
    sets = []
    for f in range(SCENE_FRAMES):
        bgra = np.concatenate([colour["rgb"][f][..., ::-1], np.full((720, 1280, 1), 255, np.uint8)], axis=2)
        depth_m = depth["depth_mm"][f].astype(np.float32) / 1000.0
        cloud = np.full((AZURE_NFOV.height * AZURE_NFOV.width, 3), np.nan, np.float32)   # organised: NaN holes
        cloud[(depth_m > 0).reshape(-1)] = backproject(depth_m, intrinsics=AZURE_NFOV)
        tint = rng.integers(0, 256, (len(cloud), 3), dtype=np.uint8)
        bodies = depth["skeleton"][f][depth["skeleton_valid"][f]]
        points = xyz_to_pointcloud2(cloud, rgb=tint, layout="azure", frame_id=FRAME_IDS["points"])
        points.height, points.width = AZURE_NFOV.height, AZURE_NFOV.width          # organised, as the driver's
        points.row_step = AZURE_NFOV.width * points.point_step
        sets.append({
            "rgb": numpy_to_image(np.ascontiguousarray(bgra), encoding="bgra8", frame_id=FRAME_IDS["rgb"]),
            "depth": numpy_to_image(colour["depth_mm"][f], encoding="16UC1", frame_id=FRAME_IDS["depth"]),
            "points": points,
            "skeleton": skeleton_to_markers(bodies if len(bodies) else depth["skeleton"][f][:1],
                                            layout="azure32", frame_id=FRAME_IDS["skeleton"]),
        })
    return sets


# -- timing ----------------------------------------------------------------------------------------------
@dataclass
class Clock:
    """Seconds spent per part. `wrap` times a bound method in place; time spent in a method wrapped with
    `inside=` is moved out of that enclosing part (crop inside windowing, the model inside inference)."""

    seconds: dict[str, float]

    def add(self, part: str, spent: float, *, inside: str | None = None) -> None:
        self.seconds[part] += spent
        if inside is not None:
            self.seconds[inside] -= spent

    def wrap(self, owner: Any, name: str, part: str, *, inside: str | None = None) -> None:
        method = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.add(part, time.perf_counter() - start, inside=inside)
        setattr(owner, name, timed)


def instrument(pipeline: Pipeline, clock: Clock) -> None:
    """Time the pipeline's parts in place (instance attributes shadow the methods)."""
    convert = pipeline.preprocessor.convert

    def convert_by_stream(stream: str, msg: Any) -> Any:          # conversion, and its share per stream
        start = time.perf_counter()
        try:
            return convert(stream, msg)
        finally:
            spent = time.perf_counter() - start
            clock.add("conversion", spent)
            clock.add(f"conversion.{stream}", spent)
    pipeline.preprocessor.convert = convert_by_stream
    clock.wrap(pipeline.synchroniser, "push", "sync")
    clock.wrap(pipeline.synchroniser, "poll", "sync")
    clock.wrap(pipeline.windower, "push_many", "window")          # pulls Pipeline._finish -> crop_points
    clock.wrap(pipeline.preprocessor, "crop_points", "preprocess", inside="window")
    clock.wrap(pipeline, "infer", "publish")                       # softmax, Decision ...
    forward = pipeline.runtime.forward                             # ... minus the forward itself (eager or
                                                                   # the CPU trace: the runtime's call)
    def timed_forward(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return forward(*args, **kwargs)
        finally:
            clock.add("model", time.perf_counter() - start, inside="publish")
    pipeline.runtime.forward = timed_forward


def publish_equivalent(decision: Decision, *, labels: list[str]) -> int:
    """Build the node's per-decision messages (~/action, ~/scores, ~/reliability, ~/gate_markers) and
    serialise them as rclpy.publish would; returns the bytes written."""
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Float32MultiArray, MultiArrayDimension, String

    from rcmcl_ros.conversions import seconds_to_stamp
    from rcmcl_ros.node.gate_markers import gate_markers

    def floats(values: np.ndarray, label: str) -> Float32MultiArray:
        msg = Float32MultiArray(data=np.asarray(values, np.float32).tolist())
        msg.layout.dim = [MultiArrayDimension(label=label, size=len(values), stride=len(values))]
        return msg

    messages = (String(data=decision.label), floats(decision.scores, "classes"), floats(decision.gates, "modalities"),
                gate_markers(gates=decision.gates, present=decision.present, label=decision.label,
                             confidence=decision.confidence, stamp=seconds_to_stamp(decision.stamp_s),
                             frame_id="camera_base"))
    assert len(labels) == len(decision.scores)
    return sum(len(serialize_message(msg)) for msg in messages)


def run_once(pipeline_factory: Callable[[], Pipeline], sets: list[dict[str, Any]], *, windows: int, fps: float,
             warmup_s: float) -> tuple[float, dict[str, float], int]:
    """(windows/s, seconds per part, frame sets fed) for `windows` timed windows after warm-up."""
    pipeline = pipeline_factory()
    clock = Clock(seconds=defaultdict(float))
    stamp0, frame = 1000.0, 0

    def feed_one() -> list[Decision]:
        nonlocal frame
        stamp = stamp0 + frame / fps
        messages = sets[frame % len(sets)]
        frame += 1
        for stream in STREAMS:
            drop = pipeline.ingest(stream, stamp, messages[stream])
            if drop is not None:
                raise RuntimeError(f"benchmark input dropped: {drop}")
        decisions = pipeline.step(stamp)
        for decision in decisions:
            started = time.perf_counter()
            publish_equivalent(decision, labels=pipeline.labels)
            clock.add("publish", time.perf_counter() - started)
        return decisions

    while frame < warmup_s * fps or not feed_one():     # until the first windows come out
        feed_one()
    instrument(pipeline, clock)
    clock.seconds.clear()
    done, first_frame = 0, frame
    start, cpu_start = time.perf_counter(), time.process_time()
    while done < windows:
        done += len(feed_one())
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    clock.seconds["other"] = wall - sum(clock.seconds[p] for p in PARTS)     # conversion.* are inside conversion
    clock.seconds["cpu"] = cpu
    return done / wall, {k: v / done for k, v in clock.seconds.items()}, frame - first_frame


def run_overlapped(pipeline_factory: Callable[[], Pipeline], sets: list[dict[str, Any]], *, windows: int,
                   fps: float, warmup_s: float) -> float:
    """windows/s when, as in the node, one thread ingests frame sets and polls windows (callbacks + timer)
    while another infers and publishes (the worker). A two-slot queue makes the producer wait instead of
    dropping windows, so every window is inferred."""
    pipeline = pipeline_factory()
    slot: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()
    frame = 0

    def produce() -> None:
        nonlocal frame
        while not stop.is_set():
            stamp = 1000.0 + frame / fps
            for stream in STREAMS:
                pipeline.ingest(stream, stamp, sets[frame % len(sets)][stream])
            frame += 1
            for window in pipeline.ready_windows(stamp):
                while not stop.is_set():
                    try:
                        slot.put(window, timeout=0.1)
                        break
                    except queue.Full:
                        continue

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    for _ in range(2):                                   # warm-up: the first windows need window_s of frames
        publish_equivalent(pipeline.infer(slot.get(timeout=60 + 10 * warmup_s)), labels=pipeline.labels)
    start = time.perf_counter()
    for _ in range(windows):
        publish_equivalent(pipeline.infer(slot.get(timeout=60)), labels=pipeline.labels)
    wall = time.perf_counter() - start
    stop.set()
    producer.join(timeout=5)
    return windows / wall


def report(rates: list[float], splits: list[dict[str, float]], *, threads: int, real_time: float,
           stride_frames: float) -> float:
    """Print one thread count's windows/s and its split table; returns the median windows/s."""
    median = float(np.median(rates))
    per_cpu_s = 1.0 / float(np.median([s["cpu"] for s in splits]))
    print(f"\ntorch threads {threads}: median {median:.1f} windows/s over {len(rates)} repeats "
          f"({', '.join(f'{r:.1f}' for r in rates)}); goal >= {GOAL_WINDOWS_PER_S:g}: "
          f"{'met' if median >= GOAL_WINDOWS_PER_S else 'MISSED'}; {median / real_time:.1f}x real time; "
          f"{per_cpu_s:.1f} windows per CPU-second of this process (with 1 thread: the rate one dedicated "
          f"core would give, whatever else runs)\n")
    rows = (*PARTS, "other")
    per_window = {part: float(np.median([s.get(part, 0.0) for s in splits]))
                  for part in (*rows, *(f"conversion.{stream}" for stream in STREAMS))}
    total = sum(per_window[part] for part in rows)
    print("| part | ms per window | share | what |")
    print("|---|---:|---:|---|")
    for part in rows:
        note = PART_NOTES.get(part, "loop, stats, untimed glue")
        print(f"| {part} | {per_window[part] * 1e3:.2f} | {per_window[part] / total:.0%} | {note} |")
        if part == "conversion":
            for stream in STREAMS:
                share = per_window[f"conversion.{stream}"]
                print(f"| - {stream} | {share * 1e3:.2f} | {share / total:.0%} | {stride_frames:.0f} messages |")
    print(f"| total | {total * 1e3:.2f} | 100% | median of each part over the repeats |", flush=True)
    return median


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="lite", choices=("tiny", "lite", "paper"))
    parser.add_argument("--checkpoint", type=Path, default=None, help="use this checkpoint's model and sizes")
    parser.add_argument("--windows", type=int, default=40, help="timed windows per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="fresh pipelines timed; the median is reported")
    parser.add_argument("--fps", type=float, default=30.0, help="camera rate of the fed streams")
    parser.add_argument("--threads", default="1,2", help="PipelineConfig.torch_threads values to run, comma-separated")
    parser.add_argument("--overlap", action="store_true",
                        help="also time the node's threading: conversion and inference in two threads")
    args = parser.parse_args(argv)
    thread_counts = [int(t) for t in args.threads.split(",") if t.strip()]

    def factory(threads: int) -> Callable[[], Pipeline]:
        config = PipelineConfig(device="cpu", torch_threads=threads)

        def build() -> Pipeline:
            if args.checkpoint is not None:
                return Pipeline.from_checkpoint(args.checkpoint, config=config)
            torch.manual_seed(0)
            model = RCMCL(config=preset(args.preset))
            labels = [f"class_{k}" for k in range(model.config.model.num_classes)]
            return Pipeline(model=model, labels=labels, config=config)
        return build

    print(f"machine: {machine()}")
    started = time.perf_counter()
    sets = azure_frame_sets()
    probe = factory(thread_counts[0])()
    clip = probe.model_config.clip
    stride_frames = probe.config.window.stride_s * args.fps
    real_time = args.fps / stride_frames
    print(f"inputs: {len(sets)} Azure frame sets rendered in {time.perf_counter() - started:.1f} s; preset "
          f"{probe.model_config.preset}: T={clip.frames}, {clip.image_size}x{clip.image_size}, N={clip.num_points}; "
          f"{args.fps:g} fps, stride {probe.config.window.stride_s:.4f} s = {stride_frames:.1f} frame sets per "
          f"window, real time = {real_time:.1f} windows/s")
    summary = {}
    for threads in thread_counts:
        rates, splits = [], []
        for _ in range(args.repeats):
            rate, split, _ = run_once(factory(threads), sets, windows=args.windows, fps=args.fps,
                                      warmup_s=clip.window_s + 0.5)
            rates.append(rate)
            splits.append(split)
        summary[threads] = report(rates, splits, threads=threads, real_time=real_time, stride_frames=stride_frames)
        if args.overlap:
            overlapped = [run_overlapped(factory(threads), sets, windows=args.windows, fps=args.fps,
                                         warmup_s=clip.window_s) for _ in range(args.repeats)]
            print(f"\ntorch threads {threads}, conversion and inference in two threads (node-like): median "
                  f"{np.median(overlapped):.1f} windows/s ({', '.join(f'{r:.1f}' for r in overlapped)})", flush=True)
    print(f"\nload avg after the run: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}; windows/s by torch "
          f"threads: {', '.join(f'{t}: {r:.1f}' for t, r in summary.items())}")


if __name__ == "__main__":
    main()
