"""Stamp-to-publish latency of the live node against the bare DDS transport, in one run (issue 6).

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST .venv/bin/python benchmarks/node_latency.py [--seconds 30]

Three processes: the publisher (benchmarks/traffic.py: true Azure Kinect sizes at 30 Hz, 1280x720 bgra8
colour, 1280x720 16UC1 depth_to_rgb, 368,640-point PointCloud2, 32-joint MarkerArray; --people N persons),
a plain transport probe (now - stamp per message) and this one, which spins the real node
(benchmarks/probed_node.py, the bundled checkpoint unless --model lite, 1 torch thread). Per decision it
measures publish time - stamp of the newest input in the window, and splits it:
arrival (transport + the node's executor), waiting for the set and the poll, queue, inference. "Node adds"
is what comes on top of the bare transport. The goal: <= 20 ms p95 beside the model's own inference, and
no set dropped by the node itself (its drop counters are printed). Prints markdown; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOAL_ADDED_P95_MS = 20.0


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="measured traffic (after --warmup)")
    parser.add_argument("--warmup", type=float, default=5.0, help="traffic before measuring (first window)")
    parser.add_argument("--sizes", choices=("azure", "small"), default="azure")
    parser.add_argument("--rate", type=float, default=30.0, help="Hz of every stream")
    parser.add_argument("--input-rate-hz", type=float, default=None, help="node parameter input_rate_hz")
    parser.add_argument("--input-qos-depth", type=int, default=None, help="node parameter input_qos_depth")
    parser.add_argument("--points-from-depth", action="store_true",
                        help="node parameter points_source depth (points2 is published but not subscribed)")
    parser.add_argument("--no-raw", action="store_true", help="node parameter raw_subscriptions false")
    parser.add_argument("--raw", action="store_true", help="node parameter raw_subscriptions true")
    parser.add_argument("--no-probe", action="store_true",
                        help="no separate transport probe (a second subscriber to 17 MB/frame set costs CPU)")
    parser.add_argument("--model", choices=("bundled", "lite"), default="bundled",
                        help="bundled: the checkpoint the node ships with (its default); lite: the lite preset "
                             "(random weights unless the bundled checkpoint is lite), the model of earlier runs")
    parser.add_argument("--people", type=int, default=1, help="persons in the published scene (bodies, image bands)")
    parser.add_argument("--max-people", type=int, default=None,
                        help="node parameter max_people (> 1: per-person decisions on ~/decision, counted per body)")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary figures here")
    parser.add_argument("--domain", type=int, default=int(os.environ.get("ROS_DOMAIN_ID") or 71))
    parser.add_argument("--security", choices=("off", "build", "enforce"), default="off",
                        help="SROS2 (benchmarks/secured.py): off; build: the security-enabled Fast DDS build with "
                             "security off; enforce: that build under Enforce, every process its own enclave")
    parser.add_argument("--protection", choices=("encrypt", "sign", "rtps-sign"), default="encrypt",
                        help="with --security enforce: how the governance protects topic traffic "
                             "(rcmcl_ros/security/keystore.py PROTECTION; encrypt is SROS2's default)")
    parser.add_argument("--dds-profile", default="shm_localhost",
                        help="shipped Fast DDS profile (shm, shm_localhost) set in the variable this Fast DDS reads "
                             "(rcmcl_ros/node/transport.py), or off")
    return parser.parse_args(argv)


def interface_parameters(args: argparse.Namespace) -> dict:
    """The node parameters the benchmark arguments set."""
    node_parameters = {} if args.input_rate_hz is None else {"input_rate_hz": float(args.input_rate_hz)}
    if args.no_raw or args.raw:
        node_parameters["raw_subscriptions"] = bool(args.raw)
    if args.points_from_depth:
        node_parameters["points_source"] = "depth"
    if args.input_qos_depth is not None:
        node_parameters["input_qos_depth"] = args.input_qos_depth
    if args.max_people is not None:
        node_parameters["max_people"] = args.max_people
    return node_parameters


def people_figures(statuses: list, *, seconds: float) -> dict[str, dict]:
    """Per status name (one per person): decisions, decisions per second, stamp-to-publish p50/p95 ms
    (publish wall time - window end stamp; the traffic stamps with wall time)."""
    import numpy as np

    figures = {}
    for name in sorted({r.name for r in statuses}):
        lag = np.array([r.published_wall - r.stamp_s for r in statuses if r.name == name])
        figures[name] = {"decisions": int(lag.size), "per_s": lag.size / seconds,
                         "stamp_to_publish_ms": {f"p{q}": 1e3 * float(np.percentile(lag, q)) for q in (50, 95)}}
    return figures


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    sys.path.insert(0, str(HERE))
    from ros_setup import apply_profile
    from secured import enclave, enter, loaded_fastdds

    node_parameters = interface_parameters(args)
    security = enter(args.security, domain_id=args.domain, node_parameters=node_parameters,
                     protection=args.protection)
    ros = apply_profile(args.dds_profile)
    import numpy as np

    from conversion_speed import machine
    from probed_node import LiveNode, bundled_checkpoint, lite_checkpoint, percentiles_ms
    from traffic import SIZES, STREAMS, Segment, SensorFrames, TrafficRun, TrafficSpec

    checkpoint, what = lite_checkpoint() if args.model == "lite" else bundled_checkpoint()
    mode = args.security
    with LiveNode(domain_id=args.domain, checkpoint=checkpoint, enclave=enclave(mode, "node"),
                  **node_parameters) as live:
        security["fastdds_library"] = loaded_fastdds()
        start = time.time() + (8.0 if mode == "enforce" else 4.0)   # children start, discover (and authenticate)
        since = start + args.warmup
        spec = TrafficSpec(domain_id=args.domain, segments=[Segment(seconds=args.warmup + args.seconds)],
                           start_wall=start, rate_hz=args.rate, sizes=args.sizes, people=args.people,
                           enclave=enclave(mode, "traffic"), probe_enclave=enclave(mode, "probe"))
        run = TrafficRun(spec, probe=not args.no_probe, probe_since_s=since)
        cpu_started = None

        def mark_cpu(elapsed_s: float) -> None:
            nonlocal cpu_started
            if cpu_started is None and time.time() >= since:
                cpu_started = (time.process_time(), time.time())

        run.wait(desc="node_latency", on_second=mark_cpu)
        node_cpu = ((time.process_time() - cpu_started[0]) / (time.time() - cpu_started[1])
                    if cpu_started else float("nan"))
        time.sleep(1.0)                                   # the last windows finish
        published, transport = run.results()
        if transport is None:                             # --no-probe
            transport = {s: np.zeros(0) for s in STREAMS}
        node = live.node
        snapshot = node.pipeline.snapshot(node.now_s())
        decisions = [d for d in node.decision_records() if d.newest_input_s >= since]
        statuses = [r for r in node.status_records() if r.stamp_s >= since]
        arrival = {s: node.message_latency(s, since_s=since) for s in STREAMS}
        stride_s = node.pipeline.config.window.stride_s
        preset_name = node.pipeline.model_config.preset
        backend = node.pipeline.runtime.choice.backend
        alive = live.alive()

    e2e = np.array([d.published_wall - d.newest_input_s for d in decisions])
    after = np.array([d.published_wall - d.newest_arrival_wall for d in decisions])
    ready = np.array([d.built_wall - d.newest_arrival_wall for d in decisions])
    queue = np.array([d.queue_s for d in decisions])
    inference = np.array([d.inference_s for d in decisions])
    overhead = after - inference                          # set wait + poll + queue + publish, no model
    newest_transport = np.concatenate([transport[s] for s in STREAMS])
    executor_extra = {s: arrival[s][:, 0] for s in STREAMS}
    sizes = SIZES[args.sizes]
    frames = SensorFrames(sizes, people=args.people)

    print(f"\n## Node latency vs bare transport ({args.seconds:.0f} s at {args.rate:.0f} Hz)\n")
    print(f"- machine: {machine()}; load average while running "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} (shared CPU)")
    print(f"- checkpoint: {what}; backend {backend}; 1 thread; stride {stride_s} s; node alive at the end: {alive}")
    print(f"- ROS 2: {ros['distro']} (rclpy {ros['rclpy']}, Fast DDS {ros['fastdds']}), profile {ros['dds_profile']} "
          f"via {ros['variable'] or 'none'}; security {security['security']}"
          f"{' (' + security['protection'] + ')' if security['protection'] else ''} (Fast DDS library "
          f"{security['fastdds_library']})")
    print(f"- frames: rgb {sizes.rgb[1]}x{sizes.rgb[0]} bgra8 ({frames.nbytes('rgb') / 1e6:.1f} MB), depth "
          f"{sizes.depth[1]}x{sizes.depth[0]} 16UC1 ({frames.nbytes('depth') / 1e6:.2f} MB), cloud "
          f"{sizes.points} points ({frames.nbytes('points') / 1e6:.1f} MB), skeleton {sizes.joints} joints\n")
    print("| per message | stream | p50 ms | p95 ms | published | received by probe | received by node |")
    print("|---|---|---|---|---|---|---|")
    received = snapshot["received"]
    for stream in STREAMS:
        count = published["published"].get(stream, 0)
        print(f"| bare transport (now - stamp) | {stream} | {' | '.join(percentiles_ms(transport[stream]))} | "
              f"{count} | {len(transport[stream])} | {received.get(stream, 0)} |")
    for stream in STREAMS:
        print(f"| node callback entry - stamp | {stream} | {' | '.join(percentiles_ms(executor_extra[stream]))} "
              f"| | | |")
    for stream in STREAMS:
        print(f"| node callback (convert + push) | {stream} | {' | '.join(percentiles_ms(arrival[stream][:, 1]))} "
              f"| | | |")
    print("\n| per decision | p50 ms | p95 ms |")
    print("|---|---|---|")
    for name, values in (("end to end: publish - newest input stamp", e2e),
                         ("bare transport, all streams (for comparison)", newest_transport),
                         ("node adds: publish - arrival of the newest input", after),
                         ("  of which set wait + poll (arrival -> window ready)", ready),
                         ("  of which queue (window ready -> inference starts)", queue),
                         (f"  of which model inference ({preset_name}, 1 thread)", inference),
                         ("node adds beside the model (set wait + poll + queue + publish)", overhead)):
        print(f"| {name} | {' | '.join(percentiles_ms(values))} |")
    from rcmcl_ros.pipeline.stage_timing import STAGES

    stages = {name: np.array([d.stages.get(name, np.nan) for d in decisions], dtype=np.float64) for name in STAGES}
    print("\n| the node's own stage timing (rcmcl_ros/pipeline/stage_timing.py), per decision | p50 ms | p95 ms |")
    print("|---|---|---|")
    for name in STAGES:
        print(f"| {name} | {' | '.join(percentiles_ms(stages[name]))} |")
    for stream in STREAMS:
        for part in ("deserialise", "convert"):
            values = snapshot["latency"].get(f"{part}_{stream}_s")
            if values:
                print(f"| per kept message: {part} {stream} (last {values['count']:.0f}) | {1e3 * values['p50']:.1f} "
                      f"| {1e3 * values['p95']:.1f} |")
    made = len(decisions)
    nominal = args.seconds / stride_s
    sync = snapshot["sync"]["streams"]
    lost_sets = {s: (sync[s]["dropped_late"], sync[s]["overflow"]) for s in STREAMS}
    print(f"\n- decisions: {made} in {args.seconds:.0f} s ({made / args.seconds:.2f}/s, nominal "
          f"{1 / stride_s:.2f}/s = {100 * made / nominal:.0f} %)")
    print(f"- sensor-health rejections (a frozen camera would show rgbd/repeated): {snapshot['rejected'] or 'none'}")
    print(f"- node drops by reason: {snapshot['drops'] or 'none'}; windows replaced before inference: "
          f"{snapshot['replaced']}; sync (late, overflow) per stream: {lost_sets}")
    print(f"- DDS losses (published - received by node): "
          f"{ {s: published['published'].get(s, 0) - received.get(s, 0) for s in STREAMS} } "
          f"(includes the {args.warmup:.0f} s warm-up; best-effort sensor QoS)")
    delivered = {s: received.get(s, 0) / max(1, published["published"].get(s, 0)) for s in STREAMS}
    complete = int(sum(bool(np.all(d.present)) for d in decisions))
    print(f"- delivered to the node (received / published, whole run): "
          f"{ {s: round(100 * v, 1) for s, v in delivered.items()} } %; skipped by the input gate (not "
          f"converted): {snapshot.get('skipped', {})}; decisions with every modality present: {complete}")
    if args.json is not None:
        def stats_ms(values):
            values = np.asarray(values, dtype=np.float64)
            values = values[np.isfinite(values)]
            return {f"p{q}": (1e3 * float(np.percentile(values, q)) if values.size else None) for q in (50, 95)}

        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "seconds": args.seconds, "checkpoint": what, "node_parameters": node_parameters, "rate_hz": args.rate,
            "sizes": args.sizes,
            "ros": ros, "backend": backend, "security": security,
            "published": published["published"], "received": received, "skipped": snapshot.get("skipped", {}),
            "delivered": delivered,
            "frame_sets_delivered": min(v for s, v in delivered.items()
                                        if not (args.points_from_depth and s == "points")),
            "decisions": made, "decisions_complete": complete, "nominal_decisions": nominal,
            "node_adds_ms": stats_ms(after), "node_adds_beside_model_ms": stats_ms(overhead),
            "inference_ms": stats_ms(inference), "end_to_end_ms": stats_ms(e2e),
            "stages_ms": {name: stats_ms(values) for name, values in stages.items()},
            "per_message_ms": {name: {k: 1e3 * v for k, v in values.items() if k != "count"}
                               for name, values in snapshot["latency"].items()
                               if name.startswith(("deserialise_", "convert_"))},
            "transport_ms": stats_ms(newest_transport), "drops": snapshot["drops"],
            "replaced": snapshot["replaced"], "rejected": snapshot["rejected"], "load_average": os.getloadavg(),
            "node_process_cpu_per_s": node_cpu,
            "publisher_cpu_per_s": published.get("cpu_s", float("nan")) / max(1e-9, args.warmup + args.seconds)},
            indent=1))
    per_person = people_figures(statuses, seconds=args.seconds) if (args.max_people or 1) > 1 else {}
    if per_person:
        print(f"- per-person ~/decision (max_people {args.max_people}, {args.people} in the scene): "
              + "; ".join(f"{name}: {v['decisions']} ({v['per_s']:.2f}/s), stamp to publish p50 "
                          f"{v['stamp_to_publish_ms']['p50']:.0f} / p95 {v['stamp_to_publish_ms']['p95']:.0f} ms"
                          for name, v in per_person.items()))
    if args.json is not None:
        figures = json.loads(args.json.read_text())
        figures.update({"people": args.people, "per_person": per_person,
                        "single_person_decisions_per_s": made / args.seconds})
        args.json.write_text(json.dumps(figures, indent=1))
    print(f"- CPU: node process {node_cpu:.2f} core-seconds per second (measured part), publisher process "
          f"{published.get('cpu_s', float('nan')) / (args.warmup + args.seconds):.2f} (whole run)")
    print(f"- publisher ticks more than one period late: {published['late_ticks']} of {published['ticks']}")
    p95 = float(np.percentile(overhead, 95)) * 1e3 if len(overhead) else float("nan")
    print(f"- goal (node adds <= {GOAL_ADDED_P95_MS:.0f} ms p95 beside inference): {p95:.1f} ms -> "
          f"{'met' if p95 <= GOAL_ADDED_P95_MS else 'NOT met'}; node-side drops: "
          f"{sum(snapshot['drops'].values()) + snapshot['replaced'] + sum(a + b for a, b in lost_sets.values())}")


if __name__ == "__main__":
    main()
