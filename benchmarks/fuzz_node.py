"""Fuzz a live node with >= 10,000 malformed or hostile messages across all four inputs (issue 8).

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST .venv/bin/python benchmarks/fuzz_node.py [--seconds 60] [--per-tick 6]

The node runs as its own process (`python -m rcmcl_ros node`, lite preset, random weights when nothing is
bundled), so a crash would show as an exit. A publisher process (benchmarks/traffic.py) sends 30 Hz
well-formed traffic and, per tick, a Poisson number of messages from test/hostile.py (lying sizes, unknown
encodings, huge dimensions, NaN/inf, broken field lists, impossible marker ids, > 2 bodies, stamps unset /
far off / backwards / duplicated). This process listens to /diagnostics and ~/action and prints: messages
fuzzed, drops by reason as the node reports them, crashes, and decisions made for the good traffic.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="fuzzing time")
    parser.add_argument("--per-tick", type=float, default=6.0, help="mean hostile messages per 30 Hz tick")
    parser.add_argument("--sizes", choices=("azure", "small"), default="small",
                        help="size of the well-formed frames (small keeps the shared CPU for the fuzzing)")
    parser.add_argument("--domain", type=int, default=int(os.environ.get("ROS_DOMAIN_ID") or 71))
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


class Listener:
    """/diagnostics (last values) and the node's ~/action (count) in this process."""

    def __init__(self, *, domain_id: int) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from std_msgs.msg import String

        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = Node("fuzz_listener", context=self.context)
        self.values: dict[str, str] = {}
        self.actions: list[float] = []                 # arrival times of ~/action
        self.lock = threading.Lock()
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.node.create_subscription(String, "/rcmcl_node/action", self._on_action, 50)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def _on_diagnostics(self, msg) -> None:
        with self.lock:
            self.values = {kv.key: kv.value for kv in msg.status[0].values}

    def _on_action(self, msg) -> None:
        with self.lock:
            self.actions.append(time.time())

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ["ROS_DOMAIN_ID"] = str(args.domain)
    sys.path[:0] = [str(HERE), str(ROOT / "test")]       # traffic.py; hostile.py for the spawned publisher
    from conversion_speed import machine
    from probed_node import lite_checkpoint
    from traffic import STREAMS, Segment, TrafficRun, TrafficSpec

    checkpoint, what = lite_checkpoint()
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"fuzz_node_{os.getpid()}.log"
    log = log_path.open("w")
    node = subprocess.Popen([sys.executable, "-m", "rcmcl_ros", "node", "--ros-args", "-p", f"checkpoint:={checkpoint}",
                             "-p", "device:=cpu", "-p", "torch_threads:=1", "-p", "log_throttle_s:=1.0",
                             # every message converted: with the input gate (10 Hz) a hostile message stamped in
                             # a slot a good frame already used is skipped unread, not counted as a drop
                             "-p", "input_rate_hz:=0.0"],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1"))
    listener = Listener(domain_id=args.domain)
    try:
        warmup = 4.0
        spec = TrafficSpec(domain_id=args.domain, segments=[Segment(seconds=warmup), Segment(seconds=args.seconds)],
                           start_wall=time.time() + 8.0, sizes=args.sizes, seed=args.seed)
        good = TrafficRun(spec)
        hostile_spec = TrafficSpec(domain_id=args.domain, segments=[Segment(seconds=args.seconds, streams=())],
                                   start_wall=spec.start_wall + warmup, sizes="small",
                                   hostile_per_tick=args.per_tick, seed=args.seed + 1)
        fuzzer = TrafficRun(hostile_spec)
        fuzzer.wait(desc="fuzz_node")
        time.sleep(3.0)                                  # two diagnostics periods after the last message
        published, _ = good.results()
        fuzzed, _ = fuzzer.results()
        with listener.lock:
            values = dict(listener.values)
            actions = sum(hostile_spec.start_wall <= t <= fuzzer.end_wall for t in listener.actions)
        alive = node.poll() is None
    finally:
        listener.close()
        node.terminate()
        try:
            node.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.kill()
        log.close()
    text = log_path.read_text(errors="replace")
    crashes = int(not alive) + text.count("Traceback")
    drops = {k[len("drops_"):]: int(v) for k, v in values.items() if k.startswith("drops_") and "/" in k}
    sent = fuzzed["hostile"]

    print(f"\n## Fuzzing a live node ({args.seconds:.0f} s, {args.per_tick} hostile messages per 30 Hz tick)\n")
    print(f"- machine: {machine()}; load average {', '.join(f'{v:.1f}' for v in os.getloadavg())} (shared CPU)")
    print(f"- node: `python -m rcmcl_ros node`, {what}, 1 torch thread; well-formed frames: {args.sizes}")
    per_stream = ", ".join(f"{stream} {sum(n for k, n in sent.items() if k.startswith(stream + '/'))}"
                           for stream in STREAMS)
    print(f"- messages fuzzed: **{fuzzed['hostile_total']}** ({per_stream}); well-formed messages: "
          f"{sum(published['published'].values())}")
    print(f"- crashes: **{crashes}** (node process alive at the end: {alive}; tracebacks in its log: "
          f"{text.count('Traceback')}; log {log_path})")
    print(f"- decisions published during the fuzzing: **{actions}** in {args.seconds:.0f} s "
          f"(nominal {args.seconds / 0.1333:.0f} at one per 0.1333 s); node-reported decisions in total: "
          f"{values.get('decisions', '?')}, windows replaced before inference: {values.get('replaced_windows', '?')}")
    print("\n| drop reason (node /diagnostics) | counted | hostile messages sent expecting it |")
    print("|---|---|---|")
    for key in sorted(set(drops) | {k for k in sent if not k.endswith("/accepted")}):
        print(f"| {key} | {drops.get(key, 0)} | {sent.get(key, 0)} |")
    accepted = {k: n for k, n in sent.items() if k.endswith("/accepted")}
    print(f"| hostile but usable (backwards / duplicate stamps, > 2 bodies, unknown ids, 1-point cloud) | - | "
          f"{sum(accepted.values())} |")
    sync = {k: v for k, v in values.items() if k.startswith("sync_")}
    print(f"\n- drops_total {values.get('drops_total', '?')}; synchroniser counters: {sync or 'none'}")
    print(f"- received by the node: {({s: values.get(f'received_{s}', '?') for s in STREAMS})} "
          f"(best-effort QoS: a burst beyond the 5-message queue is lost in DDS, before the node sees it)")


if __name__ == "__main__":
    main()
