"""~/decision: each decision with its reliability, tied to the decision's stamp (docs/ARCHITECTURE.md, "Interfaces").

A diagnostic_msgs/DiagnosticArray (a standard stamped type, so no custom interface package is needed) whose
header.stamp is the decision's stamp (the end of its window, sensor time) and which holds one DiagnosticStatus
per person. A status name always starts with PERSON_PREFIX: MAIN_PERSON for the single-person decision, or
`rcmcl/person/<body id>` per tracked body when the node decides per person (max_people > 1; the people
statuses then replace the main one). Key-values (all strings):

    label, label_index, confidence            decision; confidence = the label's probability in [0, 1]
    g_rgbd, g_skeleton, g_points              AMG gates in [0, 1] (0 when the modality is absent)
    present_rgbd, present_skeleton, present_points   "true" / "false"
    window_start_s, window_end_s              the window's first target and end, sensor seconds
    score/<class name>                        class probabilities, one key per class
    body_id                                   the body tracker's id (per-person statuses only)

level is WARN when a gate warning is active for that person (message names the sensors), OK otherwise.
`decision_from_message` parses such a message back (duck-typed, no ROS import needed).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from rcmcl_core.config import MODALITIES

PERSON_PREFIX = "rcmcl/person/"
MAIN_PERSON = PERSON_PREFIX + "main"
SCORE_PREFIX = "score/"


@dataclass(frozen=True)
class DecisionStatus:
    """One person's status of ~/decision, parsed (the wire view of a pipeline.runner.Decision, main or per
    person). gates, present: {modality: value}; scores: {class name: probability}."""

    person: str
    stamp_s: float
    label: str
    label_index: int
    confidence: float
    gates: dict[str, float]
    present: dict[str, bool]
    window_start_s: float
    window_end_s: float
    scores: dict[str, float]
    level: int
    message: str
    body_id: int | None = None


def decision_values(decision: Any, *, window_start_s: float, labels: Sequence[str],
                    body_id: int | None = None) -> dict[str, str]:
    """The key-values of one person's status, in the documented order, from a pipeline.runner.Decision (the
    single-person one, or a people.decisions.PersonDecision's .decision with its body_id)."""
    values = {"label": decision.label, "label_index": str(int(decision.label_index)),
              "confidence": f"{float(decision.confidence):.4f}"}
    values.update({f"g_{m}": f"{float(g):.4f}" for m, g in zip(MODALITIES, decision.gates)})
    values.update({f"present_{m}": str(bool(p)).lower() for m, p in zip(MODALITIES, decision.present)})
    values["window_start_s"] = f"{float(window_start_s):.6f}"
    values["window_end_s"] = f"{float(decision.stamp_s):.6f}"
    values.update({f"{SCORE_PREFIX}{name}": f"{float(s):.4f}" for name, s in zip(labels, decision.scores)})
    if body_id is not None:
        values["body_id"] = str(int(body_id))
    return values


def person_status(values: dict[str, str], *, person: str, node_name: str, warnings: Sequence[str] = ()) -> Any:
    """One DiagnosticStatus of ~/decision: level WARN with the warnings as message, else OK with
    "label (confidence)"."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    level = DiagnosticStatus.WARN if warnings else DiagnosticStatus.OK
    message = "; ".join(warnings) if warnings else f"{values['label']} ({float(values['confidence']):.2f})"
    return DiagnosticStatus(level=level, name=person, message=message, hardware_id=node_name,
                            values=[KeyValue(key=k, value=v) for k, v in values.items()])


def decision_array(statuses: Sequence[Any], *, stamp_s: float) -> Any:
    """DiagnosticArray of `statuses`, stamped with the decision's stamp (sensor seconds)."""
    from diagnostic_msgs.msg import DiagnosticArray

    from rcmcl_ros.conversions.common import seconds_to_stamp
    array = DiagnosticArray(status=list(statuses))
    array.header.stamp = seconds_to_stamp(max(0.0, stamp_s))
    return array


def decision_message(decision: Any, *, window_start_s: float, labels: Sequence[str], node_name: str,
                     warnings: Sequence[str] = (), person: str = MAIN_PERSON) -> Any:
    """pipeline.Decision -> DiagnosticArray stamped with decision.stamp_s (one status for `person`)."""
    values = decision_values(decision, window_start_s=window_start_s, labels=labels)
    status = person_status(values, person=person, node_name=node_name, warnings=warnings)
    return decision_array([status], stamp_s=decision.stamp_s)


def decision_from_message(msg: Any) -> list[DecisionStatus]:
    """~/decision message -> one DecisionStatus per status named PERSON_PREFIX*, in message order. Raises
    ValueError naming the status and key when a documented key is missing or does not parse."""
    stamp = msg.header.stamp
    stamp_s = int(stamp.sec) + int(stamp.nanosec) * 1e-9
    people = []
    for status in msg.status:
        if not status.name.startswith(PERSON_PREFIX):
            continue
        values = {kv.key: kv.value for kv in status.values}

        def get(key: str, parse, name=status.name, values=values):
            if key not in values:
                raise ValueError(f"~/decision status {name!r} lacks key {key!r}")
            try:
                return parse(values[key])
            except ValueError as error:
                raise ValueError(f"~/decision status {name!r}: {key}={values[key]!r} does not parse ({error})") \
                    from error
        people.append(DecisionStatus(
            person=status.name, stamp_s=stamp_s, label=get("label", str), label_index=get("label_index", int),
            confidence=get("confidence", float),
            gates={m: get(f"g_{m}", float) for m in MODALITIES},
            present={m: get(f"present_{m}", _boolean) for m in MODALITIES},
            window_start_s=get("window_start_s", float), window_end_s=get("window_end_s", float),
            scores={k[len(SCORE_PREFIX):]: float(v) for k, v in values.items() if k.startswith(SCORE_PREFIX)},
            level=int.from_bytes(status.level, "little") if isinstance(status.level, bytes) else int(status.level),
            message=status.message, body_id=get("body_id", int) if "body_id" in values else None))
    return people


def _boolean(text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError("expected true or false")
    return text == "true"


def people_decision_message(decisions: Sequence[Any], *, stamp_s: float, labels: Sequence[str], window_s: float,
                            node_name: str) -> Any:
    """PersonDecisions (rcmcl_ros.people.decisions) of one round, all at stamp_s, windows of window_s seconds
    -> one DiagnosticArray with a status `rcmcl/person/<body id>` per person."""
    statuses = [person_status(decision_values(d.decision, window_start_s=d.decision.stamp_s - window_s,
                                              labels=labels, body_id=d.body_id),
                              person=f"{PERSON_PREFIX}{d.body_id}", node_name=node_name) for d in decisions]
    return decision_array(statuses, stamp_s=stamp_s)
