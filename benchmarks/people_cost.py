"""Cost of one per-person decision round against the number of people, with the bundled checkpoint.

    python benchmarks/people_cost.py [--people 1 2 3 5] [--threads 1] [--height 720 --width 1280]

Per people count P: the ingest cost per frame (each person's RGB-D square crop and points crop + sampling,
rcmcl_ros/people/crop.py, on a full-resolution frame of --height x --width and a cloud of --cloud points),
the round's batch assembly, and the one batched forward pass for min(P, max_batch) people; then the cost
of one round at the node's stride (frames per stride x ingest + assembly + forward) against the stride.
With --max-batch 3 (the default), 5 people are served round-robin: the round cost stays that of 3 people
and each person's decision period grows to stride x ceil(P / 3). Prints, asserts nothing.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing

from rcmcl_core.checkpoint import load_model  # noqa: E402
from rcmcl_core.inference_runtime import InferenceRuntime  # noqa: E402
from rcmcl_core.data.synthetic.generate import synthetic_intrinsics  # noqa: E402
from rcmcl_core.data.synthetic.scene import make_scene_clip  # noqa: E402
from rcmcl_core.geometry.pinhole import scale_intrinsics  # noqa: E402
from rcmcl_ros.people.tracker import PeopleConfig, SceneFrame, people_windower  # noqa: E402
from rcmcl_ros.people.decisions import infer_round  # noqa: E402
from rcmcl_ros.pipeline.window import WindowConfig  # noqa: E402

BUNDLED = Path(__file__).resolve().parents[1] / "rcmcl_core" / "assets" / "rcmcl_compact.pt"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, nargs="+", default=[1, 2, 3, 5])
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: docs/PERFORMANCE.md, <= 2 cores)")
    p.add_argument("--height", type=int, default=720)
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--cloud", type=int, default=100_000, help="points per cloud")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--stride-s", type=float, default=WindowConfig.stride_s)
    p.add_argument("--max-batch", type=int, default=3,
                   help="people per forward (the node lowers its people_max_batch to fit people_forward_budget)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per people count")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, loaded = load_model(BUNDLED)
    runtime = InferenceRuntime(model.eval(), device=torch.device("cpu"), cpu_trace=True)   # as the node runs it
    clip = loaded.config.clip
    small = synthetic_intrinsics(width=64, height=64)
    body = make_scene_clip([0], [2], camera=1, seed=0, intrinsics=small, fps=10.0, frames=1)["skeleton"][0, 0]
    intrinsics = scale_intrinsics(small, width=args.width, height=args.height)
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (args.height, args.width, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 4.0, (args.height, args.width)).astype(np.float32)
    cloud = rng.uniform([-2, -1.5, 0.5], [2, 1.5, 4.5], (args.cloud, 3)).astype(np.float32)
    frames_per_stride = args.stride_s * args.fps
    print(f"people_cost: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, torch threads "
          f"{args.threads}, frame {args.width}x{args.height}, cloud {args.cloud} pts, {args.fps:g} fps, stride "
          f"{args.stride_s} s ({frames_per_stride:.1f} frames), max_batch {args.max_batch}, checkpoint "
          f"{BUNDLED.name} (S={clip.image_size}, T={clip.frames}, N={clip.num_points})")
    print("people  batch  ingest_ms/frame  assemble_ms  forward_ms  round_ms  stride_ms  real_time  period_s")
    for people in args.people:
        bodies = {i + 1: body + np.array([0.6 * i - 0.6 * (people - 1) / 2, 0.0, 0.0], np.float32)
                  for i in range(people)}
        w = people_windower(clip, people=PeopleConfig(max_people=people, max_batch=args.max_batch),
                            stride_s=args.stride_s)
        ingest, assemble, forward, batch = [], [], [], 0
        k = 0
        while len(forward) < args.rounds:
            frame = SceneFrame(stamp_s=k / args.fps, bodies=bodies, rgb=rgb, depth=depth, intrinsics=intrinsics,
                               points=cloud)
            started = time.perf_counter()
            w.ingest(frame)                       # the crops, timed apart from the round
            ingest.append(time.perf_counter() - started)
            started = time.perf_counter()
            due = w.due_rounds()
            if due:
                assemble.append((time.perf_counter() - started) / len(due))
            for built in due:
                started = time.perf_counter()
                infer_round(runtime, built, labels=loaded.labels)
                forward.append(time.perf_counter() - started)
                batch = len(built.body_ids)
            k += 1

        def ms(values):
            return 1000 * float(np.median(values))

        round_ms = frames_per_stride * ms(ingest) + ms(assemble) + ms(forward)
        period = args.stride_s * math.ceil(people / args.max_batch)
        print(f"{people:6d}  {batch:5d}  {ms(ingest):15.1f}  {ms(assemble):11.1f}  {ms(forward):10.1f}  "
              f"{round_ms:8.1f}  {1000 * args.stride_s:9.1f}  {'yes' if round_ms <= 1000 * args.stride_s else 'NO':>9}"
              f"  {period:8.3f}")


if __name__ == "__main__":
    main()
