"""One batched forward pass for everyone in a PeopleRound -> one PersonDecision per person.

The model takes (B, ...) batches (docs/ARCHITECTURE.md, "Tensor contracts"), so a round of B people costs
one call, not B. The call goes through the pipeline's InferenceRuntime (rcmcl_core/inference_runtime.py), so
a person's scores come from the same autocast, trace and device copies as the single-person decision. Each
person's Decision is the single-person type, built by the same function (pipeline.runner.decisions_from_output);
PersonDecision adds who it is about.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rcmcl_core.inference_runtime import InferenceRuntime
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


def infer_round(runtime: InferenceRuntime, people: PeopleRound, *, labels: list[str]) -> list[PersonDecision]:
    """One forward of the round's (B, ...) batch through `runtime`; decisions in the round's person order."""
    started = time.perf_counter()
    with runtime.lock:
        output = runtime.forward(runtime.to_device(people.batch), all_present=bool(np.all(people.present)))
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
