"""Per-person offline evaluation of a bag (`evaluate-bag --max-people N`): the node's Pipeline with its
per-person path attached (rcmcl_ros/people/path.py), over recorded messages (bag/evaluate.py's one pass,
so --topic, --points-source and the camera_info topics apply), scored against /rcmcl/ground_truth_people.

Frames are assembled on each skeleton message (the per-person reference); the skeleton frame is taken as
the image/cloud frame (true for the demo bag, whose tf puts both cameras at one pose). A bag without
/rcmcl/ground_truth_people (the single-person demo bag) is scored against /rcmcl/ground_truth for any
body id. Scores:
- accuracy per body id and overall, over windows whose truth is one class for all their frames (clean);
- identity consistency: the fraction of decisions whose body id is a person the ground truth lists at the
  window end (a decision for a vanished or phantom id counts against it).
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from rcmcl_core.windowing import window_times
from rcmcl_ros.bag.demo_people import GROUND_TRUTH_PEOPLE_TOPIC, read_people_truth
from rcmcl_ros.bag.evaluate import evaluate_bag
from rcmcl_ros.bag.replay import DEPTH_CAMERA_INFO_TOPIC
from rcmcl_ros.bag.files import GROUND_TRUTH_TOPIC
from rcmcl_ros.people.decisions import PersonDecision

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


def evaluate_people_bag(bag_path: str | Path, *, pipeline: Any, topics: dict[str, str], people_info_topic: str,
                        camera_info_topic: str = DEPTH_CAMERA_INFO_TOPIC, progress: bool = False,
                        warn: Callable[[str], None] | None = None,
                        truths: dict[int, Any] | None = None) -> PeopleEvaluation:
    """`pipeline` with a PeoplePath attached (PeoplePath.for_pipeline) over the bag; every round inferred.
    The single-person forwards are skipped. truths: {body id: its truth} from a labels file
    (rcmcl_ros/bag/labels_file.py, LabelsFile.truth) in place of the bag's truth topics."""
    people = pipeline.people
    run = evaluate_bag(bag_path, pipeline=pipeline, topics=topics, progress=progress, warn=warn,
                       camera_info_topic=camera_info_topic, people_info_topic=people_info_topic,
                       single_person=False, string_topics=(GROUND_TRUTH_PEOPLE_TOPIC, GROUND_TRUTH_TOPIC))
    result = PeopleEvaluation(decisions=run.people_decisions, rounds=run.people_rounds, wall_s=run.wall_s)
    result.dropped.update(people.assembler.dropped)
    result.rejected = dict(people.windower.stats.rejected)
    window = people.windower.window
    if truths is not None:
        for d in result.decisions:
            targets = window_times(d.decision.stamp_s, frames=window.frames, window_s=window.window_s)
            person = truths.get(d.body_id)
            label, fraction = person.purity(targets) if person is not None else (None, 0.0)
            result.truth.append(label if fraction == 1.0 else None)
            result.identity_ok.append(person is not None and person.label_at(d.decision.stamp_s) is not None)
        return result
    truth = [(t, read_people_truth(data)) for t, data in run.records[GROUND_TRUTH_PEOPLE_TOPIC]]
    truth = truth or [(t, {ANY_BODY: data}) for t, data in run.records[GROUND_TRUTH_TOPIC]]
    times = [t for t, _ in truth]
    for d in result.decisions:
        targets = window_times(d.decision.stamp_s, frames=window.frames, window_s=window.window_s)
        seen = [truth[i][1] for i in (np.searchsorted(times, targets, side="right") - 1) if i >= 0]
        classes = {persons.get(d.body_id, persons.get(ANY_BODY)) for persons in seen}
        result.truth.append(classes.pop() if len(classes) == 1 and None not in classes and seen else None)
        result.identity_ok.append(bool(seen) and (d.body_id in seen[-1] or ANY_BODY in seen[-1]))
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
