"""Gate calibration: the mean gate of each modality against the severity of every sensor fault.

For each fault of sensor_faults.FAULTS and each severity level (default 0, 0.25, 0.5, 0.75, 1), the clips
run through evaluate() with the fault applied (seeded, the same clips for every level). The result says
whether AMG's gates mean reliability (the issue-14 criteria, measured here, never assumed):
- monotone: the faulted modality's gate is non-increasing with severity (0.01 slack for sampling noise);
- drop_pct: its relative drop at the strongest level against clean, in % (>= 50 is the goal);
- others_max_fall: how far the other modalities' gates fall below clean at worst (<= 0.05 is the goal);
- also_drop_pct: for a fault that reaches a second modality too (sensor_faults.Fault.also: depth holes also
  empty the depth-derived cloud), that modality's drop; it is not one of the "others";
- alone_accuracy: the accuracy with the faulted modality as the only one present, per level: how reliable
  that sensor still is on its own, the quantity a reliability gate should follow. A fault that leaves it
  near its clean value does not make the sensor unreliable, whatever its nominal severity.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch.utils.data import Dataset

from rcmcl_core.config import MODALITIES
from rcmcl_core.evaluation.robustness import ConditionResult, evaluate, fault_conditions
from rcmcl_core.augment.degrade import drop_modalities
from rcmcl_core.augment.sensor_faults import FAULTS
from rcmcl_core.sensor_health import HealthConfig

LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
MONOTONE_SLACK = 0.01


@dataclass
class FaultCurve:
    """One fault: severities, accuracy (%) and mean gates [g_R, g_S, g_P] per severity, and the criteria."""

    fault: str
    modality: str
    severity_means: str
    severities: list[float]
    accuracy: list[float]
    mean_gates: list[list[float]]
    monotone: bool
    drop_pct: float
    others_max_fall: float
    flagged: list[float] | None = None   # share of the faulted modality's frames the health rule rejected, per level
    alone_accuracy: list[float] | None = None   # accuracy (%) with the faulted modality as the only one, per level
    also_drop_pct: dict[str, float] | None = None   # Fault.also modality -> its gate's drop at s=max (%)


def calibrate(model: torch.nn.Module, dataset: Dataset, *, faults: Sequence[str] | None = None,
              levels: Sequence[float] = LEVELS, batch_size: int = 32, device: torch.device | str = "cpu",
              seed: int = 0, progress: bool = True, health: HealthConfig | None = None,
              alone: bool = True) -> list[FaultCurve]:
    """Evaluate `model` on `dataset` under every fault at every level; clean (level 0) is run once. health:
    the node's sensor-health rules applied to every degraded clip before the model (None: learned gates only).
    alone: also each level with the faulted modality as the only one present (FaultCurve.alone_accuracy)."""
    names = list(FAULTS) if faults is None else list(faults)
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        raise ValueError(f"unknown fault(s) {unknown}; faults are {', '.join(FAULTS)}")
    levels = sorted(set(float(level) for level in levels) | {0.0})
    if len(levels) < 2 or not all(0.0 <= level <= 1.0 for level in levels):
        raise ValueError(f"levels must be severities in [0, 1] besides 0, got {levels}")
    conditions = {"clean": lambda batch, generator: batch}
    conditions.update(fault_conditions(names, levels))
    if alone:
        conditions.update({f"{n}@{s:g}|alone": _only(conditions[f"{n}@{s:g}"], FAULTS[n].modality)
                           for n in names for s in levels if s > 0})
        conditions.update({f"clean|alone:{m}": _only(conditions["clean"], m)
                           for m in {FAULTS[n].modality for n in names}})
    results = evaluate(model, dataset, conditions=conditions, batch_size=batch_size, device=device, seed=seed,
                       progress=progress, health=health)
    curves = []
    for name in names:
        curve = _curve(name, levels, [results["clean" if s == 0 else f"{name}@{s:g}"] for s in levels])
        if alone:
            curve.alone_accuracy = [results[f"clean|alone:{curve.modality}" if s == 0 else f"{name}@{s:g}|alone"]
                                    .accuracy for s in levels]
        curves.append(curve)
    return curves


def _only(condition, modality: str):
    """`condition`, then every modality but `modality` absent."""
    others = [m for m in MODALITIES if m != modality]
    return lambda batch, generator: drop_modalities(condition(batch, generator), absent=others)


def _curve(name: str, levels: list[float], rows: list[ConditionResult]) -> FaultCurve:
    fault = FAULTS[name]
    m = MODALITIES.index(fault.modality)
    gates = [row.mean_gates for row in rows]
    own = [g[m] for g in gates]
    monotone = all(later <= earlier + MONOTONE_SLACK for earlier, later in zip(own, own[1:]))
    drop = _drop(own)
    also = {modality: _drop([g[MODALITIES.index(modality)] for g in gates]) for modality in fault.also}
    others = [k for k, modality in enumerate(MODALITIES) if modality not in fault.modalities]
    fall = max(gates[0][k] - g[k] for g in gates for k in others)
    flagged = None
    if all(row.flagged is not None for row in rows):
        flagged = [row.flagged.get(fault.modality, 0.0) for row in rows]
    return FaultCurve(fault=name, modality=fault.modality, severity_means=fault.severity_means,
                      severities=levels, accuracy=[row.accuracy for row in rows], mean_gates=gates,
                      monotone=monotone, drop_pct=drop, others_max_fall=fall, flagged=flagged,
                      also_drop_pct=also or None)


def _drop(gate: list[float]) -> float:
    """Relative drop (%) of a gate from its first (clean) to its last (strongest) level."""
    return 100.0 * (gate[0] - gate[-1]) / gate[0] if gate[0] > 0 else float("nan")


def calibration_table(curves: Sequence[FaultCurve]) -> str:
    """Markdown: one row per fault and level (accuracy, three gates), then one summary row per fault."""
    ruled = any(curve.flagged is not None for curve in curves)
    lines = ["| fault | severity | accuracy (%) | g_R | g_S | g_P |" + (" frames rejected by the health rule (%) |"
                                                                        if ruled else ""),
             "|---|---|---|---|---|---|" + ("---|" if ruled else "")]
    for curve in curves:
        for k, (s, accuracy, gates) in enumerate(zip(curve.severities, curve.accuracy, curve.mean_gates)):
            rejected = ""
            if ruled:
                rejected = f" {100 * curve.flagged[k]:.1f} |" if curve.flagged is not None else " - |"
            lines.append(f"| {curve.fault} | {s:g} | {accuracy:.1f} | " + " | ".join(f"{g:.3f}" for g in gates)
                         + " |" + rejected)
    alone = any(curve.alone_accuracy is not None for curve in curves)
    lines += ["", "| fault | modality | severity means | own gate non-increasing | own gate drop at s=max (%) "
                  "| others' worst fall |" + (" that modality alone: accuracy clean -> s=max (%) |" if alone else ""),
              "|---|---|---|---|---|---|" + ("---|" if alone else "")]
    for c in curves:
        own = ""
        if alone:
            own = (f" {c.alone_accuracy[0]:.1f} -> {c.alone_accuracy[-1]:.1f} |" if c.alone_accuracy is not None
                   else " - |")
        also = "".join(f" ({m}: {d:.1f})" for m, d in (c.also_drop_pct or {}).items())
        modality = " + ".join([c.modality, *(c.also_drop_pct or {})])
        lines.append(f"| {c.fault} | {modality} | {c.severity_means} | {'yes' if c.monotone else 'no'} | "
                     f"{c.drop_pct:.1f}{also} | {c.others_max_fall:+.3f} |" + own)
    return "\n".join(lines)
