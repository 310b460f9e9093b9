"""The demo bag evaluated with the cloud from points2 and with the cloud derived from depth_to_rgb +
camera_info (points_source: depth): accuracy both ways and how often the two decide the same (issue 15).

    .venv/bin/python benchmarks/points_source_agreement.py [--bag cache/demo_bag/demo_<hash>]

The demo bag's points_sparse and points_dropped faults act on the points2 topic only, so the depth-derived
cloud is unaffected there by design; the comparison that matters is on windows no points2-only fault
overlaps. Without --bag, the default demo bag is built (or reused). Prints markdown; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

POINTS_TOPIC_FAULTS = ("points_sparse", "points_dropped")
GOAL_POINTS = 2.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bag", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    from rcmcl_ros.bag.files import DEFAULT_TOPICS
    from rcmcl_ros.bag.evaluate import evaluate_bag
    from rcmcl_ros.bag.report import decision_times
    from rcmcl_ros.bag.demo import DemoBagConfig, make_demo_bag
    from rcmcl_core.bundled import BUNDLED_CHECKPOINT
    from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig

    torch.set_num_threads(args.threads)
    bag = args.bag or make_demo_bag(DemoBagConfig(), progress=False)
    results = {}
    for source in ("topic", "depth"):
        config = PipelineConfig(device="cpu", torch_threads=args.threads, points_source=source)
        pipeline = Pipeline.from_checkpoint(BUNDLED_CHECKPOINT, config=config)
        results[source] = evaluate_bag(bag, pipeline=pipeline, topics=dict(DEFAULT_TOPICS), progress=False)
    topic, depth = results["topic"], results["depth"]
    times = decision_times(topic)
    assert np.allclose(times, decision_times(depth)), "the two passes decided at different times"
    untouched = np.ones(len(times), bool)
    for fault in topic.faults:
        if fault.name in POINTS_TOPIC_FAULTS:
            untouched &= ~((times > fault.start_s) & (times - topic.window_s < fault.end_s))

    def accuracy(result, mask) -> float:
        scored = [d.label == t for d, t, m in zip(result.decisions, result.truth, mask) if m and t is not None]
        return 100.0 * float(np.mean(scored)) if scored else float("nan")

    same = np.array([a.label == b.label for a, b in zip(topic.decisions, depth.decisions)])
    print(f"\n## points_source topic vs depth on {bag} ({len(times)} decisions, bundled lite checkpoint, "
          f"load average {os.getloadavg()[0]:.1f})\n")
    print("| windows | count | accuracy, points2 | accuracy, from depth | difference (points) | same label |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, mask in (("all", np.ones(len(times), bool)),
                       ("no points2-only fault overlaps", untouched)):
        a, b = accuracy(topic, mask), accuracy(depth, mask)
        print(f"| {name} | {int(mask.sum())} | {a:.1f} % | {b:.1f} % | {b - a:+.1f} | "
              f"{100 * same[mask].mean():.0f} % |")
    a, b = accuracy(topic, untouched), accuracy(depth, untouched)
    print(f"\n- goal (within {GOAL_POINTS:.0f} accuracy points where the sources see the same scene): "
          f"{'met' if abs(a - b) <= GOAL_POINTS else 'NOT met'}")
    print(f"- drops, from depth: {depth.snapshot['drops']}")


if __name__ == "__main__":
    main()
