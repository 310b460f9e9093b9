"""Soak: a live node fed Azure-sized frames at 30 Hz for a long time; does memory or any queue grow?

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST .venv/bin/python benchmarks/soak.py [--minutes 30] [--out runs/soak]
        [--figure docs/figures/soak_rss.png]

The publisher runs in its own process (benchmarks/traffic.py); the node (--model: the bundled checkpoint as shipped,
or the lite preset; 1 thread) runs in this one, so the process RSS is the node's plus a small sampler.
Every --interval seconds (default 60 s, 10 s
for runs under 10 minutes) it records RSS, thread count, the synchroniser's buffers, the windower's tracks,
the worker's pending batch, the latency and rate histories, and the node's counters. Writes soak.csv and
soak_rss.png (RSS and threads over time) into --out and prints a markdown table. Goals: RSS growth <= 5 %
after the warm-up, no queue growth.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOAL_RSS_GROWTH = 0.05
QUEUES = ("sync_buffered", "sync_held", "sync_seen", "window_frames", "pending_windows", "rate_history",
          "latency_history")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=None, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=None, help="seconds excluded from the growth figures "
                                                                   "(default: 20 %% of the run, at least 60 s)")
    parser.add_argument("--sizes", choices=("azure", "small"), default="azure")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "soak")
    parser.add_argument("--figure", type=Path, default=None, help="also write the RSS plot here")
    parser.add_argument("--model", choices=("bundled", "lite"), default="bundled",
                        help="bundled: the shipped checkpoint and backend (its ONNX file with onnxruntime); lite: the "
                             "lite preset of earlier soaks")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary figures here")
    parser.add_argument("--domain", type=int, default=int(os.environ.get("ROS_DOMAIN_ID") or 71))
    parser.add_argument("--dds-profile", default="shm_localhost",
                        help="shipped Fast DDS profile (shm, shm_localhost) set in the variable this Fast DDS reads "
                             "(rcmcl_ros/node/transport.py), or off")
    return parser.parse_args(argv)


def queue_sizes(node) -> dict[str, int]:
    """Lengths of every buffer in the node that could grow (read without the pipeline lock: a snapshot)."""
    pipeline = node.pipeline
    sync, windower, stats = pipeline.synchroniser, pipeline.windower, pipeline.stats
    return {
        "sync_buffered": sum(len(b) for b in sync._buffers.values()),
        "sync_held": sum(len(h) for h in sync._held.values()),
        "sync_seen": sum(len(s) for s in sync._seen_keys.values()),
        "window_frames": sum(len(t.stamps) for t in windower._tracks.values()),
        "pending_windows": node._pending if node._slot._item is not None else 0,
        "rate_history": sum(len(d) for d in stats._stamps.values()),
        "latency_history": sum(len(d) for d in stats._latency.values()),
    }


def sample(node, started: float) -> dict[str, float]:
    import psutil

    process = psutil.Process()
    snapshot = node.pipeline.snapshot(node.now_s())
    return {"elapsed_s": round(time.time() - started, 1), "rss_mb": process.memory_info().rss / 2**20,
            "threads": process.num_threads(), **queue_sizes(node),
            "received": sum(snapshot["received"].values()), "drops": snapshot["drops_total"],
            "decisions": snapshot["decisions"], "replaced": snapshot["replaced"]}


def write_outputs(rows: list[dict], *, out: Path, figure: Path | None, warmup_s: float, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rcmcl_core.atomic_io import atomic_write_bytes

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "soak.csv", text.getvalue().encode())
    minutes = [r["elapsed_s"] / 60 for r in rows]
    fig, (rss_axis, thread_axis) = plt.subplots(2, 1, figsize=(8, 5), sharex=True,
                                                gridspec_kw={"height_ratios": (3, 1)})
    rss_axis.plot(minutes, [r["rss_mb"] for r in rows], marker=".", color="tab:blue")
    rss_axis.axvline(warmup_s / 60, color="grey", linestyle="--", label="end of warm-up")
    rss_axis.set_ylabel("RSS (MiB)")
    rss_axis.set_ylim(bottom=0)
    rss_axis.legend(loc="lower right")
    rss_axis.set_title(title, fontsize=9)
    thread_axis.plot(minutes, [r["threads"] for r in rows], marker=".", color="tab:orange")
    thread_axis.set_ylabel("threads")
    thread_axis.set_xlabel("minutes")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    for path in (out / "soak_rss.png", figure):
        if path is not None:
            atomic_write_bytes(path, buffer.getvalue())
    return out / "soak.csv"


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    sys.path.insert(0, str(HERE))
    from ros_setup import apply_profile

    ros = apply_profile(args.dds_profile)
    import numpy as np

    from conversion_speed import machine
    from probed_node import LiveNode, bundled_checkpoint, lite_checkpoint
    from traffic import Segment, TrafficRun, TrafficSpec

    seconds = args.minutes * 60.0
    interval = args.interval or (60.0 if args.minutes >= 10 else 10.0)
    warmup_s = args.warmup if args.warmup is not None else max(60.0, 0.2 * seconds)
    checkpoint, what = lite_checkpoint() if args.model == "lite" else bundled_checkpoint()
    rows: list[dict] = []
    with LiveNode(domain_id=args.domain, checkpoint=checkpoint, keep=1000) as live:
        spec = TrafficSpec(domain_id=args.domain, segments=[Segment(seconds=seconds)], start_wall=time.time() + 4.0,
                           sizes=args.sizes)
        run = TrafficRun(spec)
        started = spec.start_wall
        next_at = [started]

        def on_second(_: float) -> None:
            if time.time() >= next_at[0]:
                rows.append(sample(live.node, started))
                next_at[0] += interval

        run.wait(desc="soak", on_second=on_second)
        rows.append(sample(live.node, started))
        published, _ = run.results()
        alive = live.alive()
        snapshot = live.node.pipeline.snapshot(live.node.now_s())
        rejected = snapshot["rejected"]
        records = live.node.decision_records()
        made, complete = len(records), int(sum(bool(np.all(d.present)) for d in records))

    title = f"soak: {what}, {args.sizes} frames at 30 Hz, {args.minutes:g} min"
    csv_path = write_outputs(rows, out=args.out, figure=args.figure, warmup_s=warmup_s, title=title)
    after = [r for r in rows if r["elapsed_s"] >= warmup_s] or rows[-1:]
    base, last = after[0], rows[-1]
    growth = (last["rss_mb"] - base["rss_mb"]) / base["rss_mb"]
    if len(after) >= 2:
        slope = np.polyfit([r["elapsed_s"] / 60 for r in after], [r["rss_mb"] for r in after], 1)[0]
    else:
        slope = float("nan")
    print(f"\n## Soak ({args.minutes:g} min, {args.sizes} frames at 30 Hz)\n")
    print(f"- machine: {machine()}; load average {', '.join(f'{v:.1f}' for v in os.getloadavg())} (shared CPU)")
    print(f"- node: {what}, 1 torch thread, alive at the end: {alive}; published "
          f"{sum(published['published'].values())} messages, received {last['received']}, decisions "
          f"{last['decisions']}, windows replaced {last['replaced']}, drops {last['drops']}")
    print(f"- samples every {interval:g} s; CSV {csv_path}; plot {args.out / 'soak_rss.png'}\n")
    print("| minute | RSS MiB | threads | sync buffered | sync held | window frames | pending windows | "
          "rate history | latency history | decisions |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    shown = rows if args.minutes < 10 else [r for i, r in enumerate(rows) if i in (0, len(rows) - 1) or
                                            int(r["elapsed_s"] // 60) != int(rows[i - 1]["elapsed_s"] // 60)]
    for r in shown:
        print(f"| {r['elapsed_s'] / 60:.1f} | {r['rss_mb']:.0f} | {r['threads']} | {r['sync_buffered']} | "
              f"{r['sync_held']} | {r['window_frames']} | {r['pending_windows']} | {r['rate_history']} | "
              f"{r['latency_history']} | {r['decisions']} |")
    print(f"\n- RSS after the {warmup_s:.0f} s warm-up: {base['rss_mb']:.0f} -> {last['rss_mb']:.0f} MiB "
          f"({100 * growth:+.1f} %, trend {slope:+.2f} MiB/min); goal <= {100 * GOAL_RSS_GROWTH:.0f} %: "
          f"{'met' if growth <= GOAL_RSS_GROWTH else 'NOT met'}")
    half = len(after) // 2
    grown = {k: (max(r[k] for r in after[:half]), max(r[k] for r in after[half:])) for k in QUEUES
             if half and max(r[k] for r in after[half:]) > 1.5 * max(r[k] for r in after[:half]) + 8}
    third = max(1, len(after) // 3)
    early, late = (float(np.median([r["rss_mb"] for r in part])) for part in (after[:third], after[-third:]))
    print(f"- median RSS, first vs last third after the warm-up: {early:.0f} -> {late:.0f} MiB "
          f"({100 * (late - early) / early:+.1f} %; single samples swing with the 8 MB frames in flight)")
    print(f"- threads: {min(r['threads'] for r in after)}..{max(r['threads'] for r in after)} after the warm-up")
    print(f"- queues whose maximum in the second half after the warm-up exceeds 1.5x the first half's (+8): "
          f"{grown or 'none'}")
    print(f"- ROS 2: {ros['distro']} (rclpy {ros['rclpy']}, Fast DDS {ros['fastdds']}), profile {ros['dds_profile']}; "
          f"sensor-health rejections {rejected or 'none'}; decisions with every modality: {complete} of the last "
          f"{made}")
    if args.json is not None:
        from rcmcl_core.atomic_io import atomic_write_bytes

        atomic_write_bytes(args.json, json.dumps({
            "minutes": args.minutes, "sizes": args.sizes, "checkpoint": what, "ros": ros, "warmup_s": warmup_s,
            "rss_mb_after_warmup": base["rss_mb"], "rss_mb_last": last["rss_mb"], "rss_growth": growth,
            "rss_trend_mb_per_min": slope, "median_rss_first_third_mb": early, "median_rss_last_third_mb": late,
            "threads": [min(r["threads"] for r in after), max(r["threads"] for r in after)],
            "grown_queues": {k: list(v) for k, v in grown.items()}, "published": sum(published["published"].values()),
            "received": last["received"], "decisions": last["decisions"], "decisions_complete": complete,
            "rejected": rejected, "drops": last["drops"], "replaced": last["replaced"], "alive": alive,
            "goal_met": growth <= GOAL_RSS_GROWTH, "csv": str(csv_path)}, indent=1).encode())


if __name__ == "__main__":
    main()
