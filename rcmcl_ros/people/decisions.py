"""One batched forward pass for everyone in a PeopleRound -> one PersonDecision per person.

The model takes (B, ...) batches (docs/ARCHITECTURE.md, "Tensor contracts"), so a round of B people costs
one call, not B. The main actor (who the single-person topics follow) is the person nearest the camera.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from rcmcl_ros.people.tracker import PeopleRound


@dataclass
class PersonDecision:
    """One person's decision at stamp_s. scores (K,) class probabilities; gates, present, coverage (3,) in
    MODALITIES order (gates of absent modalities are exactly 0); second_id -1 = alone."""

    stamp_s: float
    body_id: int
    label: str
    label_index: int
    confidence: float
    scores: np.ndarray
    gates: np.ndarray
    present: np.ndarray
    coverage: np.ndarray
    second_id: int
    distance_m: float
    head_m: np.ndarray               # (3,) metres, image/cloud frame
    inference_s: float               # the round's forward pass (shared by its people)


def infer_round(model: torch.nn.Module, people: PeopleRound, *, labels: list[str]) -> list[PersonDecision]:
    """Run `model` once on the round's batch; decisions in the round's person order."""
    device = next(model.parameters()).device
    batch = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in people.batch.items()}
    started = time.perf_counter()
    with torch.inference_mode():
        output = model(batch)
    scores = torch.softmax(output.logits.float(), dim=-1).cpu().numpy()
    gates = output.gates.float().cpu().numpy()
    elapsed = time.perf_counter() - started
    out = []
    for b, body_id in enumerate(people.body_ids):
        index = int(np.argmax(scores[b]))
        out.append(PersonDecision(
            stamp_s=people.end_s, body_id=int(body_id), label=labels[index], label_index=index,
            confidence=float(scores[b, index]), scores=scores[b], gates=gates[b], present=people.present[b].copy(),
            coverage=people.coverage[b].copy(), second_id=int(people.second_ids[b]),
            distance_m=float(people.distance_m[b]), head_m=people.head_m[b].copy(), inference_s=elapsed))
    return out


def main_actor(decisions: list[PersonDecision]) -> PersonDecision | None:
    """The person the single-person topics follow: nearest to the camera (ties: lowest body id)."""
    return min(decisions, key=lambda d: (d.distance_m, d.body_id), default=None)
