"""Sensor faults through a live node: presence patterns, a camera restart at another rate, a clock reset.

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST .venv/bin/python benchmarks/faults.py [--minutes 5] [--sizes small]

A publisher process (benchmarks/traffic.py, 30 Hz, sim time on /clock) walks through every presence pattern
of R (rgb + depth), S (skeleton) and P (points) in shuffled rounds, then switches the camera off and back on
at 15 Hz and at 5 Hz, then jumps the clock back as a looping bag does. The node (lite preset, use_sim_time)
runs in this process. Per pattern it prints the decision rate against nominal (one per stride), how often
dead modalities' gates were exactly 0 and live ones > 0 once a window had passed, and how many windows the
gates took to react (dead: gate 0; back: gate > 0). test/ros/pipeline/test_pipeline_faults.py asserts the same
rules offline.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODALITY_STREAMS = (("rgb", "depth"), ("skeleton",), ("points",))
PATTERNS = [p for p in itertools.product((True, False), repeat=3) if any(p)]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0, help="approximate length of the run")
    parser.add_argument("--sizes", choices=("azure", "small"), default="small")
    parser.add_argument("--preset", choices=("lite", "tiny"), default="lite")
    parser.add_argument("--domain", type=int, default=int(os.environ.get("ROS_DOMAIN_ID") or 71))
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def label(alive: tuple[bool, ...]) -> str:
    return " ".join(letter if on else "-" for letter, on in zip("RSP", alive))


def _seconds(value: float | None) -> str:
    """A reaction time in seconds, or - when there was none."""
    return "-" if value is None else f"{value:.2f}"


def streams(alive: tuple[bool, ...]) -> tuple[str, ...]:
    return tuple(s for on, group in zip(alive, MODALITY_STREAMS) if on for s in group)


def build_schedule(*, window_s: float, minutes: float, seed: int) -> tuple[list, list[tuple[bool, ...]]]:
    """(segments, alive pattern per segment). Patterns take ~70 % of the time, in shuffled rounds."""
    import numpy as np

    from traffic import Segment

    phase = max(2.0 * window_s, 3.0)
    everything = (True, True, True)
    plan = [(Segment(seconds=2 * window_s + 1.0, streams=streams(everything), name="warm-up"), everything)]
    rng = np.random.default_rng(seed)
    rounds = max(1, round(0.7 * minutes * 60.0 / (len(PATTERNS) * phase)))
    previous = everything
    for _ in range(rounds):
        order = [PATTERNS[i] for i in rng.permutation(len(PATTERNS))]
        if order[0] == previous:
            order.append(order.pop(0))
        for alive in order:
            plan.append((Segment(seconds=phase, streams=streams(alive), name=f"pattern {label(alive)}"), alive))
        previous = order[-1]
    no_camera = (False, True, True)
    plan += [(Segment(seconds=phase, streams=streams(everything), name="all on"), everything),
             (Segment(seconds=phase, streams=streams(no_camera), name="camera off"), no_camera),
             (Segment(seconds=1.5 * phase, streams=streams(everything), every={"rgb": 2, "depth": 2},
                      name="camera back at 15 Hz"), everything),
             (Segment(seconds=phase, streams=streams(no_camera), name="camera off"), no_camera),
             (Segment(seconds=1.5 * phase, streams=streams(everything), every={"rgb": 6, "depth": 6},
                      name="camera back at 5 Hz"), everything)]
    elapsed = sum(segment.seconds for segment, _ in plan)
    plan.append((Segment(seconds=2.0 * phase, streams=streams(everything), clock_jump_s=-(elapsed - 1.0),
                         name="clock reset (bag loop)"), everything))
    return [segment for segment, _ in plan], [alive for _, alive in plan]


def split_timelines(decisions: list) -> list[int]:
    """Timeline index per decision (publish order): +1 wherever stamps jump back by more than a second."""
    index, out, last = 0, [], None
    for d in decisions:
        if last is not None and d.stamp_s < last - 1.0:
            index += 1
        out.append(index)
        last = d.stamp_s
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    sys.path.insert(0, str(HERE))
    import numpy as np

    from conversion_speed import machine
    from probed_node import LiveNode, lite_checkpoint
    from traffic import TrafficRun, TrafficSpec

    checkpoint, what = lite_checkpoint(preset_name=args.preset)
    with LiveNode(domain_id=args.domain, checkpoint=checkpoint, use_sim_time=True) as live:
        window_s = live.node.pipeline.config.window.window_s
        stride_s = live.node.pipeline.config.window.stride_s
        segments, patterns = build_schedule(window_s=window_s, minutes=args.minutes, seed=args.seed)
        spec = TrafficSpec(domain_id=args.domain, segments=segments, start_wall=time.time() + 4.0, sim_time=True,
                           sizes=args.sizes, seed=args.seed)
        run = TrafficRun(spec)
        run.wait(desc="faults")
        time.sleep(2.0)
        published, _ = run.results()
        decisions = live.node.decision_records()
        snapshot = live.node.pipeline.snapshot(live.node.now_s())
        alive_at_end = live.alive()

    timelines = split_timelines(decisions)
    starts, start, jumps, reset_index = [], spec.sim_origin_s, 0, None
    for index, segment in enumerate(segments):
        if segment.clock_jump_s:
            jumps, reset_index = jumps + 1, index
        start += segment.clock_jump_s
        starts.append((start, start + segment.seconds, jumps))
        start += segment.seconds
    rows = []
    for index, (segment, alive) in enumerate(zip(segments, patterns)):
        if index == 0:
            continue
        s0, s1, timeline = starts[index]
        inside = [d for d, t in zip(decisions, timelines) if t == timeline and s0 <= d.stamp_s < s1]
        settled = [d for d in inside if d.stamp_s >= s0 + window_s]
        dead, on = ~np.array(alive), np.array(alive)
        exact = [bool(np.all(d.gates[dead] == 0.0) and np.all(d.gates[on] > 0.0)) for d in settled]
        before = patterns[index - 1]
        died, back = [], []
        ordered = sorted(inside, key=lambda d: d.stamp_s)
        for m in range(3):
            if before[m] != alive[m] or index == reset_index:
                hit = next((d.stamp_s for d in ordered if (d.gates[m] == 0.0) == (not alive[m])), None)
                reaction = float("inf") if hit is None else (hit - s0) / window_s
                (back if alive[m] else died).append(reaction)
        lag = max((d.published_clock_s - d.stamp_s for d in inside), default=float("nan"))
        # A new timeline has no history: the rate after a clock reset counts from its first full window.
        rated_from = s0 + window_s if index == reset_index else s0
        rate = sum(d.stamp_s >= rated_from for d in inside) / ((s1 - rated_from) / stride_s)
        name = segment.name + (", rate after the first window" if index == reset_index else "")
        rows.append((name, alive, rate, np.mean(exact) if exact else 1.0, died, back, lag))

    print(f"\n## Sensor faults through a live node ({sum(s.seconds for s in segments) / 60:.1f} min of sim time)\n")
    print(f"- machine: {machine()}; load average {', '.join(f'{v:.1f}' for v in os.getloadavg())} (shared CPU)")
    print(f"- node: {what}, window {window_s} s, stride {stride_s} s, use_sim_time; frames: {args.sizes}; "
          f"node alive at the end: {alive_at_end}; decisions {len(decisions)}; windows replaced before "
          f"inference {snapshot['replaced']}; drops {snapshot['drops'] or 'none'}")
    print(f"- publisher: {sum(published['published'].values())} messages, {published['late_ticks']} ticks late\n")
    print("| phase | R S P | times | decision rate, % of nominal (min / mean) | gates exact after 1 window | "
          "dead gate -> 0 (windows, max) | back gate > 0 (windows, max) | max stamp-to-publish lag (s) |")
    print("|---|---|---|---|---|---|---|---|")
    grouped: dict[tuple, list] = defaultdict(list)
    for row in rows:
        grouped[(row[0], row[1])].append(row)
    for (name, alive), group in grouped.items():
        rates = [100 * r[2] for r in group]
        exact = np.mean([r[3] for r in group])
        died = max((x for r in group for x in r[4]), default=None)
        back = max((x for r in group for x in r[5]), default=None)
        lag = max(r[6] for r in group)
        print(f"| {name} | {label(alive)} | {len(group)} | {min(rates):.0f} / {np.mean(rates):.0f} | "
              f"{100 * exact:.0f} % | {_seconds(died)} | {_seconds(back)} | {lag:.2f} |")
    worst = min(100 * r[2] for r in rows)
    print(f"\n- lowest decision rate in any phase: {worst:.0f} % of nominal (goal >= 90 %)")


if __name__ == "__main__":
    main()
