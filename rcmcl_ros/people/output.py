"""The per-person ~/decision: one status `rcmcl/person/<body id>` per person of a round, in the one contract
of rcmcl_ros/node/decision_message.py (the same keys as the single-person status, plus body_id)."""
from __future__ import annotations

from typing import Any, Sequence

from rcmcl_ros.node.decision_message import PERSON_PREFIX, decision_array, decision_values, person_status
from rcmcl_ros.people.decisions import PersonDecision


def people_decision_message(decisions: Sequence[PersonDecision], *, stamp_s: float, labels: Sequence[str],
                            window_s: float, node_name: str) -> Any:
    """PersonDecisions of one round (all at stamp_s, windows of window_s seconds) -> DiagnosticArray."""
    statuses = [person_status(decision_values(d.decision, window_start_s=d.decision.stamp_s - window_s, labels=labels,
                                              body_id=d.body_id),
                              person=f"{PERSON_PREFIX}{d.body_id}", node_name=node_name) for d in decisions]
    return decision_array(statuses, stamp_s=stamp_s)
