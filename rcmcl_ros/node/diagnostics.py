"""diagnostic_msgs/DiagnosticArray for the node: gates, presence, input rates, drops by reason, replaced
windows and latency percentiles (published on ~/reliability_status and /diagnostics).

Level: ERROR when no decision came for `decision_timeout_s`; WARN when the last decision lacked a modality,
messages were dropped since the previous report, a gate warning is active (gate_warnings.py: "points
unreliable: gate 0.12 for 3.0 s") or a standing warning is given (frames without a transform); OK otherwise.
"""
from __future__ import annotations

from typing import Any

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from rcmcl_core.config import MODALITIES
from rcmcl_ros.pipeline.runner import Decision

STATUS_NAME = "rcmcl: action recognition"
SYNC_COUNTERS = ("dropped_late", "duplicates", "overflow")


def diagnostics(*, snapshot: dict[str, Any], decision: Decision | None, seconds_since_decision: float | None,
                drops_since_last: int, decision_timeout_s: float, node_name: str, stamp: Time,
                extra: dict[str, str] | None = None, gate_warnings: tuple[str, ...] = (),
                warnings: list[str] | None = None) -> DiagnosticArray:
    """One DiagnosticStatus named STATUS_NAME with hardware_id = node_name; values as KeyValue strings.
    gate_warnings (unreliable sensors) and warnings (standing problems, e.g. an unknown points <- skeleton
    transform) make the level WARN."""
    values: dict[str, str] = dict(extra or {})
    for index, text in enumerate(warnings or ()):
        values[f"warning_{index}"] = text
    if decision is not None:
        values["label"] = decision.label
        values["confidence"] = f"{decision.confidence:.3f}"
        for m, modality in enumerate(MODALITIES):
            values[f"gate_{modality}"] = f"{float(decision.gates[m]):.3f}"
            values[f"present_{modality}"] = str(bool(decision.present[m])).lower()
            values[f"coverage_{modality}"] = f"{float(decision.coverage[m]):.2f}"
    for stream, rate in snapshot["rates_hz"].items():
        values[f"rate_hz_{stream}"] = f"{rate:.1f}"
    for stream, count in snapshot["received"].items():
        values[f"received_{stream}"] = str(count)
    for key, count in sorted(snapshot["drops"].items()):
        values[f"drops_{key}"] = str(count)
    values["drops_total"] = str(snapshot["drops_total"])
    for key, count in sorted(snapshot.get("rejected", {}).items()):
        values[f"health_rejected_{key}"] = str(count)
    for stream, sync in sorted(snapshot.get("sync", {}).get("streams", {}).items()):
        values[f"alive_{stream}"] = str(bool(sync["alive"])).lower()
        for counter in SYNC_COUNTERS:   # messages converted fine that the synchroniser could not use
            if sync.get(counter):
                values[f"sync_{counter}_{stream}"] = str(sync[counter])
    values["sets"] = str(snapshot["sets"])
    values["windows"] = str(snapshot["windows"])
    values["replaced_windows"] = str(snapshot["replaced"])
    values["decisions"] = str(snapshot["decisions"])
    for part, stats in sorted(snapshot["latency"].items()):
        values[f"latency_{part}_p50"] = f"{stats['p50']:.4f}"
        values[f"latency_{part}_p95"] = f"{stats['p95']:.4f}"
    level, message = _level(decision, seconds_since_decision, drops_since_last, decision_timeout_s)
    standing = [*gate_warnings, *(warnings or [])]
    if standing and level == DiagnosticStatus.OK:
        level, message = DiagnosticStatus.WARN, "; ".join(standing)
    elif standing and level == DiagnosticStatus.WARN:
        message = "; ".join([message, *standing])
    status = DiagnosticStatus(level=level, name=STATUS_NAME, message=message, hardware_id=node_name,
                              values=[KeyValue(key=k, value=v) for k, v in values.items()])
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array


def _level(decision: Decision | None, since: float | None, drops: int, timeout_s: float) -> tuple[bytes, str]:
    if decision is None or since is None or since > timeout_s:
        return DiagnosticStatus.ERROR, (f"no decision for {since:.1f} s" if since is not None
                                        else "no decision yet")
    absent = [m for m, p in zip(MODALITIES, decision.present) if not p]
    notes = []
    if absent:
        notes.append(f"deciding without {', '.join(absent)}")
    if drops:
        notes.append(f"{drops} message(s) dropped since the last report")
    if notes:
        return DiagnosticStatus.WARN, "; ".join(notes)
    return DiagnosticStatus.OK, f"{decision.label} ({decision.confidence:.2f}), all modalities present"
