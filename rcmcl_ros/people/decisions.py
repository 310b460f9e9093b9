"""One batched forward pass for everyone in a PeopleRound -> one PersonDecision per person.

The model takes (B, ...) batches (docs/ARCHITECTURE.md, "Tensor contracts"), so a round of B people costs
one call, not B. Each person's Decision is the single-person type, built by the same function
(pipeline.runner.decisions_from_output); PersonDecision adds who it is about. The main actor (who the
single-person topics follow) is the person nearest the camera.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from rcmcl_ros.people.tracker import PeopleRound
from rcmcl_ros.pipeline.runner import Decision, decisions_from_output


@dataclass
class PersonDecision:
    """One person's decision: the single-person Decision of its window (gates of absent modalities are
    exactly 0; latency["inference_s"] = the round's one forward pass, shared by its people) and who it is
    about."""

    decision: Decision
    body_id: int
    second_body_id: int | None       # the nearest other person (body 2 with people_second_body); None = alone
    distance_m: float                # pelvis distance to the camera, metres
    head_m: np.ndarray               # (3,) last seen head joint, metres, image/cloud frame (rviz text anchor)


def infer_round(model: torch.nn.Module, people: PeopleRound, *, labels: list[str]) -> list[PersonDecision]:
    """Run `model` once on the round's batch; decisions in the round's person order."""
    device = next(model.parameters()).device
    batch = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in people.batch.items()}
    started = time.perf_counter()
    with torch.inference_mode():
        output = model(batch)
    decisions = decisions_from_output(output, labels=labels, stamp_s=people.end_s, present=people.present,
                                      coverage=people.coverage)
    latency = {"inference_s": time.perf_counter() - started}
    out = []
    for b, (body_id, decision) in enumerate(zip(people.body_ids, decisions)):
        decision.latency = dict(latency)
        second = int(people.second_ids[b])
        out.append(PersonDecision(decision=decision, body_id=int(body_id),
                                  second_body_id=None if second < 0 else second,
                                  distance_m=float(people.distance_m[b]), head_m=people.head_m[b].copy()))
    return out


def main_actor(decisions: list[PersonDecision]) -> PersonDecision | None:
    """The person the single-person topics follow: nearest to the camera (ties: lowest body id)."""
    return min(decisions, key=lambda d: (d.distance_m, d.body_id), default=None)
