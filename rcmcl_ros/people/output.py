"""The stamped per-decision message: diagnostic_msgs/DiagnosticArray on `~/decision`.

One contract for single- and multi-person output: header.stamp = the decision's sensor stamp, one
DiagnosticStatus per person, name "rcmcl/person/<body_id>", key-values label, confidence, g_rgbd,
g_skeleton, g_points, present_rgbd, present_skeleton, present_points, scores (comma-separated
probabilities in label order) and body_id. Floats are written with "%.6g"; booleans as
"true"/"false". `parse_decision_array` reads it back (tests, bag evaluation, clients).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from rcmcl_core.config import MODALITIES
from rcmcl_ros.people.decisions import PersonDecision

PERSON_PREFIX = "rcmcl/person/"
GATE_KEYS = tuple(f"g_{m}" for m in MODALITIES)
PRESENT_KEYS = tuple(f"present_{m}" for m in MODALITIES)


def decision_array(decisions: list[PersonDecision], *, stamp: Any, frame_id: str = "") -> Any:
    """PersonDecisions of one round -> DiagnosticArray (level OK; WARN for a person with a modality absent)."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    out = DiagnosticArray()
    out.header.stamp, out.header.frame_id = stamp, frame_id
    for d in decisions:
        values = {"label": d.label, "confidence": f"{d.confidence:.6g}",
                  **{k: f"{float(g):.6g}" for k, g in zip(GATE_KEYS, d.gates)},
                  **{k: "true" if p else "false" for k, p in zip(PRESENT_KEYS, d.present)},
                  "scores": ",".join(f"{float(s):.6g}" for s in d.scores), "body_id": str(d.body_id)}
        level = DiagnosticStatus.OK if bool(np.all(d.present)) else DiagnosticStatus.WARN
        out.status.append(DiagnosticStatus(
            level=level, name=f"{PERSON_PREFIX}{d.body_id}", hardware_id="rcmcl",
            message=f"{d.label} ({d.confidence:.2f})",
            values=[KeyValue(key=k, value=v) for k, v in values.items()]))
    return out


def parse_decision_array(msg: Any) -> dict[int, dict[str, Any]]:
    """DiagnosticArray -> {body_id: {label, confidence, gates (3,), present (3,), scores (K,)}}; statuses
    whose name is not rcmcl/person/<id> are skipped. Raises ValueError on a malformed person status."""
    people: dict[int, dict[str, Any]] = {}
    for status in msg.status:
        if not status.name.startswith(PERSON_PREFIX):
            continue
        values = {kv.key: kv.value for kv in status.values}
        try:
            body_id = int(values["body_id"])
            people[body_id] = {
                "label": values["label"], "confidence": float(values["confidence"]),
                "gates": np.array([float(values[k]) for k in GATE_KEYS]),
                "present": np.array([values[k] == "true" for k in PRESENT_KEYS]),
                "scores": np.array([float(s) for s in values["scores"].split(",")] if values["scores"] else [])}
        except (KeyError, ValueError) as error:
            raise ValueError(f"malformed person status {status.name!r}: {error}") from error
    return people
