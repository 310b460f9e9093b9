"""The real RCMCLNode, instrumented for the live benchmarks, spun in this process.

`ProbedNode` records per message (callback entry - header stamp, conversion time) and per decision (publish
time, the newest input stamp of its window, the moment that input had arrived, gates, presence, inference
time) without changing what the node does: it overrides the two hooks `_on_message` and `_publish` and
calls the originals. `LiveNode` starts it with its own executor thread; `lite_checkpoint` returns the
bundled lite checkpoint or, when there is none, a lite one with random weights (speed does not depend on
the weights).
"""
from __future__ import annotations

import tempfile
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from rcmcl_ros.node.ros_node import RCMCLNode
from rcmcl_core.bundled import BUNDLED_CHECKPOINT
from rcmcl_ros.pipeline.runner import Decision, message_stamp_s
from rcmcl_ros.pipeline.window import Window

ARRIVALS_KEPT = 4096
"""Stamps whose last arrival time is remembered (a few seconds of 4 streams at 30 Hz)."""


@dataclass
class DecisionRecord:
    published_wall: float        # time.time() after the last output was published
    published_clock_s: float     # the node clock then (sim time under use_sim_time)
    stamp_s: float               # window end (sensor time)
    newest_input_s: float        # newest real frame stamp in the window
    newest_arrival_wall: float   # when the last message stamped newest_input_s entered a callback (nan: unknown)
    built_wall: float            # when the window was handed out by the synchroniser/windower
    gates: np.ndarray            # (3,) R, S, P
    present: np.ndarray          # (3,) bool
    inference_s: float
    queue_s: float
    stages: dict                 # the node's own stage timing (rcmcl_ros/pipeline/stage_timing.py), seconds


@dataclass
class StatusRecord:
    """One status of a ~/decision DiagnosticArray (per person with max_people > 1)."""

    published_wall: float        # time.time() right after the array was published
    stamp_s: float               # the array's header stamp (the decision's window end, sensor time)
    name: str                    # rcmcl/person/<body id>, or the single-person status name


class _RecordingPublisher:
    """A publisher that tells `on_publish(msg)` after each publish; everything else is the real one's."""

    def __init__(self, publisher: Any, on_publish: Any) -> None:
        self._publisher, self._on_publish = publisher, on_publish

    def publish(self, msg: Any) -> None:
        self._publisher.publish(msg)
        self._on_publish(msg)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._publisher, name)


class ProbedNode(RCMCLNode):
    """RCMCLNode + records. keep: messages and decisions kept (bounded, so a soak measures the node)."""

    def __init__(self, *, keep: int = 200_000, **kwargs: Any) -> None:
        self.records_lock = threading.Lock()
        self.messages: dict[str, deque] = {}             # stream -> (stamp s, arrival latency s, convert s)
        self.decisions: deque[DecisionRecord] = deque(maxlen=keep)
        self.statuses: deque[StatusRecord] = deque(maxlen=keep)
        self._keep = keep
        self._arrivals: OrderedDict[int, float] = OrderedDict()
        super().__init__(**kwargs)

    def create_publisher(self, msg_type: Any, topic: str, *args: Any, **kwargs: Any) -> Any:
        publisher = super().create_publisher(msg_type, topic, *args, **kwargs)
        return _RecordingPublisher(publisher, self._record_statuses) if topic == "~/decision" else publisher

    def _record_statuses(self, msg: Any) -> None:
        wall = time.time()
        stamp_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self.records_lock:
            self.statuses.extend(StatusRecord(published_wall=wall, stamp_s=stamp_s, name=str(status.name))
                                 for status in msg.status)

    def status_records(self) -> list[StatusRecord]:
        with self.records_lock:
            return list(self.statuses)

    def _on_message(self, stream: str, msg: Any, **kwargs: Any) -> None:
        entered_wall, entered_clock = time.time(), self.now_s()
        super()._on_message(stream, msg, **kwargs)
        spent = time.time() - entered_wall
        stamp = message_stamp_s(msg, fallback_s=entered_clock)
        with self.records_lock:
            self.messages.setdefault(stream, deque(maxlen=self._keep)).append((stamp, entered_clock - stamp, spent))
            self._arrivals[round(stamp * 1e6)] = entered_wall
            self._arrivals.move_to_end(round(stamp * 1e6))
            while len(self._arrivals) > ARRIVALS_KEPT:
                self._arrivals.popitem(last=False)

    def _publish(self, decision: Decision, window: Window) -> None:
        super()._publish(decision, window)
        wall, perf = time.time(), time.perf_counter()
        with self.records_lock:
            arrival = self._arrivals.get(round(window.newest_frame_s * 1e6), float("nan"))
            self.decisions.append(DecisionRecord(
                published_wall=wall, published_clock_s=self.now_s(), stamp_s=decision.stamp_s,
                newest_input_s=window.newest_frame_s, newest_arrival_wall=arrival,
                built_wall=wall - (perf - window.built_s), gates=decision.gates.copy(),
                present=decision.present.copy(), inference_s=decision.latency["inference_s"],
                queue_s=decision.latency["queue_s"], stages=dict(decision.stages)))

    def message_latency(self, stream: str, *, since_s: float = -np.inf) -> np.ndarray:
        """(n, 2) seconds for messages stamped >= since_s: arrival latency (callback entry - stamp) and the
        callback's own time (conversion + push)."""
        with self.records_lock:
            rows = np.array(self.messages.get(stream, ()), dtype=np.float64).reshape(-1, 3)
        return rows[rows[:, 0] >= since_s, 1:]

    def decision_records(self) -> list[DecisionRecord]:
        with self.records_lock:
            return list(self.decisions)


class LiveNode:
    """ProbedNode in its own rclpy context and executor thread. Use as a context manager."""

    def __init__(self, *, domain_id: int, checkpoint: Path, keep: int = 200_000, enclave: str | None = None,
                 **parameters: Any) -> None:
        from traffic import ros_init_args

        self.context = Context()
        rclpy.init(args=ros_init_args(enclave), context=self.context, domain_id=domain_id)
        params = {"checkpoint": str(checkpoint), "device": "cpu", "torch_threads": 1, **parameters}
        self.node = ProbedNode(context=self.context, keep=keep,
                               parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self._spin, name="node_executor", daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:   # shutdown while spinning
            pass

    def alive(self) -> bool:
        return self.thread.is_alive() and self.node.workers_alive()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def __enter__(self) -> "LiveNode":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def bundled_checkpoint() -> tuple[Path, str]:
    """(path, what it is) of the checkpoint the node loads by default (rcmcl_core.bundled.BUNDLED_CHECKPOINT)."""
    from rcmcl_core.checkpoint import load_checkpoint

    if not BUNDLED_CHECKPOINT.is_file():
        raise FileNotFoundError(f"no bundled checkpoint at {BUNDLED_CHECKPOINT}; use the lite preset instead")
    preset_name = load_checkpoint(BUNDLED_CHECKPOINT).config.preset
    return BUNDLED_CHECKPOINT, f"bundled {BUNDLED_CHECKPOINT.name} ({preset_name} preset)"


def lite_checkpoint(folder: Path | None = None, *, preset_name: str = "lite") -> tuple[Path, str]:
    """(path, what it is): the bundled checkpoint when it is of `preset_name`, else a random-weight one of
    `preset_name` written to `folder` (speed and fault handling do not depend on the weights)."""
    from rcmcl_core.checkpoint import load_checkpoint

    if BUNDLED_CHECKPOINT.is_file() and load_checkpoint(BUNDLED_CHECKPOINT).config.preset == preset_name:
        return BUNDLED_CHECKPOINT, f"bundled {BUNDLED_CHECKPOINT.name}"
    import torch

    from rcmcl_core.checkpoint import save_checkpoint
    from rcmcl_core.config import preset
    from rcmcl_core.models.rcmcl import RCMCL

    config = preset(preset_name)
    torch.manual_seed(0)
    folder = Path(folder or tempfile.mkdtemp(prefix="rcmcl_bench_"))
    path = save_checkpoint(folder / f"{preset_name}_random.pt", model_state=RCMCL(config=config).state_dict(),
                           config=config, labels=[f"action_{k:02d}" for k in range(config.model.num_classes)])
    return path, f"{preset_name} preset, random weights" + (" (no bundled checkpoint)" if preset_name == "lite" else "")


def percentiles_ms(values: Any, *, qs: tuple[int, ...] = (50, 95)) -> list[str]:
    """Formatted p50/p95 (ms) of seconds, or '-' when empty."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return ["-"] * len(qs)
    return [f"{1e3 * float(np.percentile(values, q)):.1f}" for q in qs]
