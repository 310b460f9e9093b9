"""How much each scripted fault lowers its modality's gate on a bag (bag_eval result -> rows for report.md).

For each fault segment: the faulted modality's mean gate over the decisions whose window has at least half of
its length inside the fault (window end - window_s / 2 >= start, end < fault end), against its mean gate
over the clean decisions (no fault overlaps the window), and the relative drop 100 (clean - fault) / clean in %.
The issue-14 goal is a drop >= 30 % per segment; this module measures, it does not assume.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rcmcl_core.config import MODALITIES

GOAL_DROP_PCT = 30.0


@dataclass(frozen=True)
class FaultGateDrop:
    fault: str
    modality: str
    windows: int
    fault_gate: float
    clean_gate: float
    drop_pct: float


def fault_gate_drops(result) -> list[FaultGateDrop]:
    """One row per fault of a bag_eval result (faults, decisions, start_s, window_s)."""
    times = np.array([d.stamp_s - result.start_s for d in result.decisions], dtype=np.float64)
    gates = np.array([d.gates for d in result.decisions], dtype=np.float64).reshape(-1, len(MODALITIES))
    touched = np.zeros(len(times), bool)
    for fault in result.faults:
        touched |= (times > fault.start_s) & (times - result.window_s < fault.end_s)
    rows = []
    for fault in result.faults:
        m = MODALITIES.index(fault.modality)
        inside = (times - result.window_s / 2 >= fault.start_s) & (times < fault.end_s)
        clean = gates[~touched, m].mean() if (~touched).any() else float("nan")
        during = gates[inside, m].mean() if inside.any() else float("nan")
        drop = 100.0 * (clean - during) / clean if clean > 0 else float("nan")
        rows.append(FaultGateDrop(fault=str(fault), modality=fault.modality, windows=int(inside.sum()),
                                  fault_gate=float(during), clean_gate=float(clean), drop_pct=float(drop)))
    return rows


def fault_gate_markdown(result) -> list[str]:
    """report.md lines: a table of fault_gate_drops, or nothing for a bag without faults."""
    rows = fault_gate_drops(result)
    if not rows:
        return []
    lines = ["## Gate response per fault", "",
             "The faulted modality's mean gate over windows at least half inside the fault against clean windows; "
             f"drop = relative fall in % (goal >= {GOAL_DROP_PCT:g} %).", "",
             "| fault | modality | windows inside | gate in fault | gate clean | drop (%) | goal met |",
             "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        met = "n/a" if not np.isfinite(r.drop_pct) else ("yes" if r.drop_pct >= GOAL_DROP_PCT else "no")
        lines.append(f"| {r.fault} | {r.modality} | {r.windows} | {_num(r.fault_gate)} | {_num(r.clean_gate)} | "
                     f"{_num(r.drop_pct, 1)} | {met} |")
    return lines + [""]


def _num(value: float, digits: int = 3) -> str:
    return "-" if not np.isfinite(value) else f"{value:.{digits}f}"
