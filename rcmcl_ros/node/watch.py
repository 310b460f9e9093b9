"""`python -m rcmcl_ros watch`: one readable line per decision of a running rcmcl node.

It listens to the node's ~/gate_markers (the decision's stamp, label, confidence and gates, as rviz shows
them) and, when a bag is playing, to /rcmcl/ground_truth and /rcmcl/fault, and prints

    t=  12.47 s  wave                 0.83   R 0.82  S --    P 0.40   truth wave                 ok  [skeleton_lost]

t counts from the first ground truth or decision seen; "--" marks an absent modality (gate exactly 0).
"truth" is the class performed over most of the decision's window (`--window-s`, the bundled model's 2 s by
default), the rule `evaluate-bag` scores by, so the ok's here add up to its "all windows" accuracy.
Run it with --use-sim-time next to a bag replay, so stamps and the truth timeline share the bag's clock.
"""
from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from rcmcl_core.config import ClipConfig, MODALITY_LETTERS
from rcmcl_core.windowing import window_times
from rcmcl_ros.bag.files import FAULT_TOPIC, GROUND_TRUTH_TOPIC
from rcmcl_ros.bag.annotations import Fault, GroundTruth

_TEXT = re.compile(r"^(?P<label>.*) \((?P<confidence>[0-9.]+)\)\n(?P<gates>.*)$", re.S)
_GATE = re.compile(r"([A-Z]) (--|[0-9.]+)")


@dataclass
class WatchedDecision:
    stamp_s: float
    label: str
    confidence: float
    gates: dict[str, float | None]     # letter (R, S, P) -> gate, None when absent


def parse_decision_text(text: str) -> tuple[str, float, dict[str, float | None]] | None:
    """Inverse of markers.decision_text: 'wave (0.83)\\nR 0.82  S --  P 0.40' -> (label, confidence, gates);
    None for any other text."""
    match = _TEXT.match(text)
    if match is None:
        return None
    gates = {letter: None if value == "--" else float(value) for letter, value in _GATE.findall(match["gates"])}
    return match["label"], float(match["confidence"]), gates


def format_line(decision: WatchedDecision, *, origin_s: float, truth: str | None, faults: list[str]) -> str:
    gates = "  ".join(f"{letter} " + ("--  " if decision.gates.get(letter) is None else f"{decision.gates[letter]:.2f}")
                      for letter in MODALITY_LETTERS)
    line = f"t={decision.stamp_s - origin_s:7.2f} s  {decision.label:<20.20} {decision.confidence:5.2f}   {gates}"
    if truth is not None:
        line += f"   truth {truth:<20.20} {'ok' if truth == decision.label else '--'}"
    if faults:
        line += f"  [{', '.join(faults)}]"
    return line


class Watcher:
    """Subscriptions on `node` that turn each decision of `target` (a node name) into a line for `emit`."""

    def __init__(self, *, node: Any, target: str = "/rcmcl_node", emit: Callable[[str], None] = print,
                 window_s: float = ClipConfig.window_s, frames: int = ClipConfig.frames) -> None:
        from std_msgs.msg import String
        from visualization_msgs.msg import MarkerArray

        self.node, self.emit = node, emit
        self.window_s, self.frames = float(window_s), int(frames)
        self.truth = GroundTruth()
        self.faults: list[tuple[float, float, str]] = []      # (start, end, name) on the node clock
        self.origin_s: float | None = None
        self.decisions = 0
        self.lock = threading.Lock()
        target = target.rstrip("/") or "/rcmcl_node"
        node.create_subscription(MarkerArray, f"{target}/gate_markers", self._on_markers, 10)
        node.create_subscription(String, GROUND_TRUTH_TOPIC, self._on_truth, 10)
        node.create_subscription(String, FAULT_TOPIC, self._on_fault, 10)

    def now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _origin(self, t_s: float) -> float:
        if self.origin_s is None or t_s < self.origin_s - 1.0:     # first message, or the bag looped
            self.origin_s = t_s
            self.faults.clear()
        return self.origin_s

    def _on_truth(self, msg: Any) -> None:
        with self.lock:
            now = self.now_s()
            self._origin(now)
            self.truth.add(now, msg.data)

    def _on_fault(self, msg: Any) -> None:
        try:
            fault = Fault.from_json(msg.data)
        except ValueError:
            return
        with self.lock:
            now = self.now_s()
            self._origin(now)
            self.faults.append((now, now + fault.end_s - fault.start_s, fault.name))   # sent at the fault's start

    def _on_markers(self, msg: Any) -> None:
        texts = [m for m in msg.markers if m.text]
        parsed = parse_decision_text(texts[-1].text) if texts else None
        if parsed is None:
            return
        stamp = texts[-1].header.stamp
        decision = WatchedDecision(stamp.sec + stamp.nanosec * 1e-9, *parsed)
        with self.lock:
            origin = self._origin(decision.stamp_s)
            truth = self.truth.majority(window_times(decision.stamp_s, frames=self.frames, window_s=self.window_s)) \
                if self.truth else None
            faults = [name for start, end, name in self.faults if start <= decision.stamp_s < end]
            self.decisions += 1
            line = format_line(decision, origin_s=origin, truth=truth, faults=faults)
        self.emit(line)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rcmcl_ros watch",
                                description="Print one line per decision of a running rcmcl node (label, "
                                            "confidence, gates R/S/P, ground truth and faults of a replayed bag).")
    p.add_argument("--node", default="/rcmcl_node", help="fully qualified name of the rcmcl node")
    p.add_argument("--use-sim-time", action="store_true", help="run on /clock (next to a bag replay)")
    p.add_argument("--count", type=int, default=0, help="exit after this many decisions (0: never)")
    p.add_argument("--timeout", type=float, default=0.0, help="exit after this many wall seconds (0: never)")
    p.add_argument("--window-s", type=float, default=ClipConfig.window_s,
                   help="the model's window (s): truth is the class over most of it (default: the bundled model's)")
    return p


def watch_command(argv: list[str]) -> int:
    """0 on Ctrl-C, SIGTERM, --count or --timeout; 1 when --timeout passed without any decision."""
    args = build_parser().parse_args(argv)
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(args=["rcmcl_watch"], signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("rcmcl_watch", parameter_overrides=[Parameter("use_sim_time", value=args.use_sim_time)])
    watcher = Watcher(node=node, target=args.node, emit=lambda line: print(line, flush=True), window_s=args.window_s)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):      # stop between callbacks, never inside one
        signal.signal(number, lambda *_: stop.set())
    deadline = time.monotonic() + args.timeout if args.timeout > 0 else float("inf")
    print(f"watch: waiting for decisions of {args.node} (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
            if args.count and watcher.decisions >= args.count:
                break
    except ExternalShutdownException:
        pass
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 1 if args.timeout > 0 and watcher.decisions == 0 else 0
