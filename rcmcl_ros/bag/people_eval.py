"""Per-person offline evaluation of a bag (`evaluate-bag --max-people N`): the PeopleWindower and one
batched forward per round over recorded messages, scored against /rcmcl/ground_truth_people.

Frames are assembled on each skeleton message (the per-person reference) from the newest rgb, depth,
camera_info and points within `slop_s`; the skeleton frame is taken as the image/cloud frame (true for the
demo bag, whose tf puts both cameras at one pose). A bag without /rcmcl/ground_truth_people (the
single-person demo bag) is scored against /rcmcl/ground_truth for any body id. Scores:
- accuracy per body id and overall, over windows whose truth is one class for all their frames (clean);
- identity consistency: the fraction of decisions whose body id is a person the ground truth lists at the
  window end (a decision for a vanished or phantom id counts against it).
"""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rcmcl_core.windowing import window_times
from rcmcl_ros.bag.files import DEFAULT_TOPICS, GROUND_TRUTH_TOPIC, BagReader
from rcmcl_ros.bag.demo import CAMERA_INFO_TOPICS
from rcmcl_ros.bag.demo_people import GROUND_TRUTH_PEOPLE_TOPIC, read_people_truth
from rcmcl_ros.people.tracker import PeopleWindower
from rcmcl_ros.people.decisions import PersonDecision, infer_round
from rcmcl_ros.people.ingest import SceneAssembler
from rcmcl_ros.pipeline.runner import message_stamp_s

ANY_BODY = -1
"""Truth key of a single-person bag (/rcmcl/ground_truth only): its class holds for whoever is tracked."""


@dataclass
class PeopleEvaluation:
    decisions: list[PersonDecision] = field(default_factory=list)
    truth: list[str | None] = field(default_factory=list)      # per decision: its clean class, None if mixed
    identity_ok: list[bool] = field(default_factory=list)
    rounds: int = 0
    wall_s: float = 0.0
    dropped: Counter = field(default_factory=Counter)
    rejected: dict[str, int] = field(default_factory=dict)      # sensor-health rejections (PeopleStats.rejected)

    def accuracy(self, body_id: int | None = None) -> tuple[float, int]:
        """(accuracy on clean windows, their count) for one body id or everyone."""
        pairs = [(d.decision.label, t) for d, t in zip(self.decisions, self.truth)
                 if t is not None and (body_id is None or d.body_id == body_id)]
        return (float(np.mean([a == b for a, b in pairs])) if pairs else float("nan")), len(pairs)

    @property
    def identity_consistency(self) -> float:
        return float(np.mean(self.identity_ok)) if self.identity_ok else float("nan")

    def summary(self) -> dict[str, Any]:
        ids = sorted({d.body_id for d in self.decisions})
        overall, n = self.accuracy()
        return {"decisions": len(self.decisions), "rounds": self.rounds, "accuracy": overall, "clean_windows": n,
                "per_person": {str(i): dict(zip(("accuracy", "clean_windows"), self.accuracy(i))) for i in ids},
                "identity_consistency": self.identity_consistency, "wall_s": self.wall_s,
                "dropped": dict(self.dropped), "rejected": dict(self.rejected)}


def evaluate_people_bag(bag_path: str | Path, *, model: Any, labels: list[str], windower: PeopleWindower,
                        skeleton_format: str = "azure32", slop_s: float = 0.05) -> PeopleEvaluation:
    started = time.perf_counter()
    result = PeopleEvaluation()
    assembler = SceneAssembler(skeleton_format=skeleton_format, slop_s=slop_s)
    truth: list[tuple[float, dict[int, str]]] = []
    main_truth: list[tuple[float, dict[int, str]]] = []
    topics = {DEFAULT_TOPICS["rgb"]: "rgb", DEFAULT_TOPICS["depth"]: "depth", DEFAULT_TOPICS["points"]: "points",
              CAMERA_INFO_TOPICS["rgb"]: "info", DEFAULT_TOPICS["skeleton"]: "skeleton",
              GROUND_TRUTH_PEOPLE_TOPIC: "truth", GROUND_TRUTH_TOPIC: "main_truth"}
    with BagReader(bag_path) as bag:
        wanted = [t for t in topics if t in bag.topics]
        for message in bag.messages(wanted):
            msg, kind = bag.deserialize(message), topics[message.topic]
            if kind == "truth":
                truth.append((message.record_s, read_people_truth(str(msg.data))))
            elif kind == "main_truth":
                main_truth.append((message.record_s, {ANY_BODY: str(msg.data)}))
            else:
                for frame in assembler.add(kind, message_stamp_s(msg, fallback_s=message.record_s), msg):
                    for people in windower.push(frame):
                        result.rounds += 1
                        result.decisions += infer_round(model, people, labels=labels)
        for frame in assembler.flush():
            for people in windower.push(frame):
                result.rounds += 1
                result.decisions += infer_round(model, people, labels=labels)
    result.dropped.update(assembler.dropped)
    result.rejected = dict(windower.stats.rejected)
    truth = truth or main_truth          # a single-person bag: its one class holds for any body id
    times = [t for t, _ in truth]
    for d in result.decisions:
        targets = window_times(d.decision.stamp_s, frames=windower.window.frames, window_s=windower.window.window_s)
        seen = [truth[i][1] for i in (np.searchsorted(times, targets, side="right") - 1) if i >= 0]
        classes = {people.get(d.body_id, people.get(ANY_BODY)) for people in seen}
        result.truth.append(classes.pop() if len(classes) == 1 and None not in classes and seen else None)
        result.identity_ok.append(bool(seen) and (d.body_id in seen[-1] or ANY_BODY in seen[-1]))
    result.wall_s = time.perf_counter() - started
    return result


def write_people_report(result: PeopleEvaluation, *, out_dir: Path) -> Path:
    """people.json (summary) and people.csv (one row per decision) in out_dir; returns people.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = ["stamp_s,body_id,label,confidence,truth,g_rgbd,g_skeleton,g_points,present_rgbd,present_skeleton,"
            "present_points"]
    for person, t in zip(result.decisions, result.truth):
        d = person.decision
        rows.append(",".join([f"{d.stamp_s:.3f}", str(person.body_id), d.label, f"{d.confidence:.4f}", t or "",
                              *(f"{g:.4f}" for g in d.gates), *(str(bool(p)).lower() for p in d.present)]))
    (out_dir / "people.csv").write_text("\n".join(rows) + "\n")
    path = out_dir / "people.json"
    path.write_text(json.dumps(result.summary(), indent=1) + "\n")
    return path



def people_evaluate(args: Any, *, checkpoint: Path) -> int:
    """`evaluate-bag BAG --out DIR --max-people N` (N >= 2): writes people.json / people.csv, prints the
    summary line. --device and --threads as for one person. 0 on success; errors (CheckpointError, DeviceError)
    propagate to evaluate_command's handler."""
    import torch

    from rcmcl_core.checkpoint import load_model
    from rcmcl_core.device import resolve_device
    from rcmcl_ros.bag.evaluate import health_from_args
    from rcmcl_ros.people.tracker import PeopleConfig, people_windower
    from rcmcl_ros.pipeline.window import WindowConfig

    device = resolve_device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model, loaded = load_model(checkpoint)
    people = PeopleConfig(max_people=args.max_people, max_batch=args.max_people, second_body=args.people_second_body)
    windower = people_windower(loaded.config.clip, people=people,
                               stride_s=args.stride_s or WindowConfig.stride_s, health=health_from_args(args))
    result = evaluate_people_bag(args.bag, model=model.to(device), labels=loaded.labels, windower=windower,
                                 skeleton_format=args.skeleton_format or "azure32")
    path = write_people_report(result, out_dir=args.out)
    summary = result.summary()
    per_person = ", ".join(f"{i}: {v['accuracy']:.2f} ({v['clean_windows']})"
                           for i, v in summary["per_person"].items())
    print(f"evaluate-bag: {summary['decisions']} person decisions in {result.rounds} rounds, {result.wall_s:.1f} s; "
          f"accuracy {summary['accuracy']:.3f} overall, per body id {per_person}; identity consistency "
          f"{summary['identity_consistency']:.3f}")
    print(f"people: {path}")
    return 0
