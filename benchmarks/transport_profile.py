"""Delivery and node-added latency with the default Fast DDS transport and with the shipped profile, in one run.

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST .venv/bin/python benchmarks/transport_profile.py [--seconds 10]

Fast DDS reads its XML profile once per process, so each case runs benchmarks/node_latency.py (publisher,
transport probe and the live node, true Azure Kinect sizes at 30 Hz) in a fresh process with
FASTDDS_DEFAULT_PROFILES_FILE set or unset. The publisher sends pre-serialised messages (the cost of a
C++ driver, not of rclpy building 17 MB of Python messages per set); no separate probe unless --probe.
Cases: the default transport; the shipped config/fastdds_shm_localhost.xml with the node's defaults (input
gate at 7.5 Hz, slots starting at the window ends); the same with raw subscriptions (skipped frames never
deserialised); with the input gate off
(every frame deserialised and converted, as before issue 15); with the cloud derived from depth_to_rgb +
camera_info (points_source: depth: the 11.8 MB points2 is published but nobody subscribes, so Fast DDS does
not send it). Prints a markdown table and writes the
figures to --out (JSON). Goals: >= 95 % of frame sets delivered with the profile, decisions >= 90 % of the
nominal rate with every modality present, node-added latency p95 <= 50 ms. The model is the node's bundled
checkpoint (--model lite: the lite preset). Per case, node_latency.py also prints the node's own stage timing
(rcmcl_ros/pipeline/stage_timing.py), kept in the JSON as stages_ms. Asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOAL_DELIVERED = 0.95
GOAL_DECISIONS = 0.90
GOAL_ADDED_P95_MS = 50.0
CASES = (("default transport", "off", []),
         ("shipped profile (shm_localhost)", "shm_localhost", []),
         ("shipped profile, raw subscriptions", "shm_localhost", ["--raw"]),
         ("shipped profile, input gate off", "shm_localhost", ["--input-rate-hz", "0"]),
         ("shipped profile, points_source depth", "shm_localhost", ["--points-from-depth"]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured traffic per case")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--cases", type=int, nargs="*", default=None, help="indices into CASES (default all)")
    parser.add_argument("--probe", action="store_true", help="also run node_latency's separate transport probe "
                                                             "(a second full subscriber: more CPU)")
    parser.add_argument("--model", choices=("bundled", "lite"), default="bundled",
                        help="node_latency.py --model: the bundled checkpoint (the node's default) or the lite preset")
    parser.add_argument("--out", type=Path, default=None, help="JSON with every case's figures")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from rcmcl_ros.node.transport import profile_environment

    results = []
    folder = Path(tempfile.mkdtemp(prefix="rcmcl_transport_"))
    for index, (name, profile, extra) in enumerate(CASES):
        if args.cases is not None and index not in args.cases:
            continue
        out = folder / f"case{index}.json"
        env = profile_environment(profile)
        env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
        command = [sys.executable, str(HERE / "node_latency.py"), "--seconds", str(args.seconds),
                   "--warmup", str(args.warmup), "--model", args.model, "--json", str(out),
                   *(["--no-probe"] if not args.probe else []), *extra]
        print(f"\n### {name}: {' '.join(command[1:])}", flush=True)
        subprocess.run(command, env=env, check=True)
        results.append({**json.loads(out.read_text()), "case": name, "profile": profile, "args": extra})

    print(f"\n## Transport profile ({args.seconds:.0f} s per case, true Azure sizes at 30 Hz, load average "
          f"{os.getloadavg()[0]:.1f}, shared CPU)\n")
    print("| case | frame sets delivered (min over streams) | points delivered | decisions (% of nominal) "
          "| with every modality | node adds p50 / p95 ms | inference p50 ms | node CPU (cores) | publisher CPU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        nominal = r["nominal_decisions"]
        added = r["node_adds_ms"]
        points = ("(from depth)" if "--points-from-depth" in r["args"]
                  else f"{100 * r['delivered']['points']:.0f} %")
        print(f"| {r['case']} | {100 * r['frame_sets_delivered']:.0f} % | {points} | "
              f"{r['decisions']} ({100 * r['decisions'] / nominal:.0f} %) | "
              f"{r['decisions_complete']} ({100 * r['decisions_complete'] / nominal:.0f} %) | "
              f"{_ms(added['p50'])} / {_ms(added['p95'])} | {_ms(r['inference_ms']['p50'])} | "
              f"{r['node_process_cpu_per_s']:.2f} | {r['publisher_cpu_per_s']:.2f} |")
    for r in (r for r in results if r["profile"] != "off"):
        nominal = r["nominal_decisions"]
        met = (r["frame_sets_delivered"] >= GOAL_DELIVERED, r["decisions_complete"] >= GOAL_DECISIONS * nominal,
               (r["node_adds_ms"]["p95"] or float("inf")) <= GOAL_ADDED_P95_MS)
        print(f"\n- goals, {r['case']}: delivered >= {100 * GOAL_DELIVERED:.0f} %: {_yes(met[0])}; decisions "
              f">= {100 * GOAL_DECISIONS:.0f} % of nominal with every modality: {_yes(met[1])}; node adds p95 <= "
              f"{GOAL_ADDED_P95_MS:.0f} ms: {_yes(met[2])}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
        print(f"- figures: {args.out}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _yes(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    main()
