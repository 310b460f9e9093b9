"""Evaluation: top-1 accuracy and mean gates under the paper's robustness suite, RDP and RGS.

Conditions (Sec. IV-C): clean; every non-empty subset of modalities missing but one kept (R, S, P, R&S,
R&P, S&P missing); skeleton joint noise SJN sigma 0.05 / 0.10 m; point cloud sparsity PCS dropping 50 % /
70 % of points. Beyond the paper (EXTRA_COLUMNS): half the frames dropped (filled from the nearest kept
frame, as the node does) and an occluding box over 40 % x 40 % of the RGB-D image. Metrics (defined from
Table II's numbers, which they reproduce):
- RDP (relative degradation, %) of a condition = (clean - degraded) / clean * 100;
  Table II's 'RDP' column is the RDP of 'R&P missing' (85.9 -> 45.2 gives 47.4 %).
- RGS (robustness gain score, points) of a method vs the supervised baseline = RDP_supervised - RDP_method,
  both RDPs of 'R&P missing' (Table II: 22.5 = 47.5 - 25.0 for RCMCL, 9.2 = 47.5 - 38.3 for 'Baseline (Config. A)').
  Positive: the method loses a smaller fraction of its clean accuracy than the baseline.
- Relative dropout gain (%, ours, not in the paper): relative gain of the mean accuracy over the four
  dropout columns of Table II (R, S, P, R&P missing): (mean_m - mean_sup) / mean_sup * 100. (Earlier
  versions printed this under the name RGS.)
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

import rcmcl_core.augment.batch as augment
from rcmcl_core.data.dataset import collate
from rcmcl_core.atomic_io import atomic_write_bytes
from rcmcl_core.evaluation.bootstrap import accuracy_interval, array_to_bits, bits_to_array, rgs_interval
from rcmcl_core.models.rcmcl import RCMCL
from rcmcl_core.sensor_health import HealthConfig, screen_batch

Condition = Callable[[dict, torch.Generator], dict]


def _missing(*names: str) -> Condition:
    return lambda batch, generator: augment.drop_modalities(batch, absent=names)


def _sjn(sigma: float) -> Condition:
    return lambda batch, generator: augment.skeleton_joint_noise(batch, sigma_m=sigma, generator=generator)


def _pcs(drop: float) -> Condition:
    return lambda batch, generator: augment.sparsify_points(batch, keep_fraction=1.0 - drop, generator=generator)


def _frames_dropped(fraction: float) -> Condition:
    return lambda batch, generator: augment.drop_frames(batch, fraction=fraction, generator=generator)


def _occluded(box_fraction: float) -> Condition:
    return lambda batch, generator: augment.occlude(batch, box_fraction=box_fraction, generator=generator)


CONDITIONS: dict[str, Condition] = {
    "clean": lambda batch, generator: batch,
    "R missing": _missing("rgbd"),
    "S missing": _missing("skeleton"),
    "P missing": _missing("points"),
    "R&S missing": _missing("rgbd", "skeleton"),
    "R&P missing": _missing("rgbd", "points"),
    "S&P missing": _missing("skeleton", "points"),
    "SJN 0.05": _sjn(0.05),
    "SJN 0.10": _sjn(0.10),
    "PCS 50%": _pcs(0.5),
    "PCS 70%": _pcs(0.7),
    "frames 50% dropped": _frames_dropped(0.5),
    "RGB-D occluded 40%": _occluded(0.4),
}


def fault_conditions(names: list[str], levels: list[float]) -> dict[str, Condition]:
    """'<fault>@<severity>' -> a condition applying sensor_faults.apply_fault (the faults training and the
    demo bag use; SJN and PCS above share their arithmetic). Severity 0 is skipped (it is 'clean')."""
    from rcmcl_core.augment.sensor_faults import apply_fault

    def make(name: str, severity: float) -> Condition:
        return lambda batch, generator: apply_fault(batch, name, severity, generator=generator)
    return {f"{n}@{s:g}": make(n, s) for n in names for s in levels if s > 0}


DROPOUT_COLUMNS = ("R missing", "S missing", "P missing", "R&P missing")      # Table II
CORRUPTION_COLUMNS = ("SJN 0.05", "SJN 0.10", "PCS 50%", "PCS 70%")           # Table III
EXTRA_COLUMNS = ("frames 50% dropped", "RGB-D occluded 40%")                    # not in the paper


@dataclass
class ConditionResult:
    """Accuracy (%) and mean gates [g_R, g_S, g_P] over the test clips of one condition; interval_95 [low,
    high] % (bootstrap over clips, bootstrap.py) and correct ('0'/'1' per clip in dataset order) when known
    (results written before they existed lack them)."""

    accuracy: float
    mean_gates: list[float]
    clips: int
    interval_95: list[float] | None = None
    correct: str | None = None
    flagged: dict[str, float] | None = None   # with the sensor-health rule: share of frames it rejected, per modality


@torch.no_grad()
def evaluate(model: RCMCL, dataset: Dataset, *, conditions: dict[str, Condition] | None = None,
             batch_size: int = 32, device: torch.device | str = "cpu", seed: int = 0,
             progress: bool = True, health: HealthConfig | None = None) -> dict[str, ConditionResult]:
    """Run every condition over the whole dataset (eval mode, fixed seed per condition). health: apply the
    node's sensor-health rules (rcmcl_core.sensor_health.screen_batch) to each degraded batch before the model,
    as the node would; None (default) feeds the model the degraded clips as they are (learned gates only)."""
    conditions = CONDITIONS if conditions is None else conditions
    model = model.eval().to(device)
    results = {}
    for name, condition in tqdm(conditions.items(), desc="conditions", disable=not progress):
        generator = torch.Generator().manual_seed(seed)
        hits, gate_sum = [], torch.zeros(3)
        flagged: dict[str, float] = {}
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate):
            batch = condition(batch, generator)
            if health is not None:
                batch, flags = screen_batch(batch, window_s=model.config.clip.window_s, config=health)
                for modality, rows in flags.items():
                    flagged[modality] = flagged.get(modality, 0.0) + float(rows.float().mean(dim=1).sum())
            batch = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
            hit, gates = _decide(model, batch)
            hits.append(hit)
            gate_sum += gates
        correct = np.concatenate(hits) if hits else np.zeros(0, dtype=bool)
        total = len(correct)
        results[name] = ConditionResult(accuracy=100.0 * correct.sum() / max(total, 1),
                                        mean_gates=(gate_sum / max(total, 1)).tolist(), clips=total,
                                        interval_95=accuracy_interval(correct, seed=seed),
                                        correct=array_to_bits(correct),
                                        flagged={m: v / max(total, 1) for m, v in flagged.items()}
                                        if health is not None else None)
    return results


def _decide(model: RCMCL, batch: dict) -> tuple[np.ndarray, torch.Tensor]:
    """-> (hit (B,) bool, gate sums (3,)). A sample left with no modality (the health rule rejected the only
    one) gets no decision, as on the node: it counts as a miss with gates 0."""
    decided = batch["present"].any(dim=1)
    hit = np.zeros(len(decided), dtype=bool)
    if not bool(decided.any()):
        return hit, torch.zeros(3)
    if not bool(decided.all()):
        batch = {k: (v[decided] if isinstance(v, torch.Tensor) and v.dim() > 0 and len(v) == len(decided) else v)
                 for k, v in batch.items()}
    output = model(batch)
    hit[decided.cpu().numpy()] = (output.logits.argmax(dim=1) == batch["label"]).cpu().numpy()
    return hit, output.gates.float().sum(dim=0).cpu()


def rdp(clean: float, degraded: float) -> float:
    """Relative degradation in % (Table II/III)."""
    return 100.0 * (clean - degraded) / clean if clean > 0 else float("nan")


def mean_dropout_accuracy(result: dict[str, ConditionResult]) -> float:
    """Mean accuracy (%) over Table II's dropout columns."""
    return sum(result[c].accuracy for c in DROPOUT_COLUMNS) / len(DROPOUT_COLUMNS)


def rdp_r_and_p(result: dict[str, ConditionResult]) -> float:
    """Table II's RDP column: RDP (%) of 'R&P missing' against clean."""
    return rdp(result["clean"].accuracy, result["R&P missing"].accuracy)


def rgs(method: dict[str, ConditionResult], supervised: dict[str, ConditionResult]) -> float:
    """Robustness gain score in points, as the paper computes it: RDP_supervised - RDP_method (R&P missing)."""
    return rdp_r_and_p(supervised) - rdp_r_and_p(method)


def rgs_bootstrap(method: dict[str, ConditionResult], supervised: dict[str, ConditionResult]) -> list[float] | None:
    """Paired bootstrap 95 % interval of `rgs` (points), or None when per-clip results are missing."""
    needed = ("clean", "R&P missing")
    if any(method[c].correct is None or supervised[c].correct is None for c in needed):
        return None
    return rgs_interval({c: bits_to_array(method[c].correct) for c in needed},
                        {c: bits_to_array(supervised[c].correct) for c in needed})


def relative_dropout_gain(method: dict[str, ConditionResult], supervised: dict[str, ConditionResult]) -> float:
    """Relative gain (%) of the mean dropout-column accuracy over the baseline's (not the paper's RGS)."""
    mine, theirs = mean_dropout_accuracy(method), mean_dropout_accuracy(supervised)
    return 100.0 * (mine - theirs) / theirs if theirs > 0 else float("nan")


def dropout_table(methods: dict[str, dict[str, ConditionResult]], *, supervised: str) -> str:
    """Markdown shaped like Table II: accuracy per dropout column, RDP (R&P missing), RGS (points, the paper's
    definition, with its paired bootstrap 95 % interval when per-clip results exist) and our relative dropout
    gain (%), both vs `supervised`."""
    header = ("| Method | All three | " + " | ".join(DROPOUT_COLUMNS)
              + " | RDP (%) | RGS (pts, vs. supervised) | rel. dropout gain (%) |")
    lines = [header, "|" + "---|" * (len(DROPOUT_COLUMNS) + 5)]
    for name, result in methods.items():
        cells = [f"{result['clean'].accuracy:.1f}"] + [f"{result[c].accuracy:.1f}" for c in DROPOUT_COLUMNS]
        if name == supervised:
            gains = "- | -"
        else:
            interval = rgs_bootstrap(result, methods[supervised])
            spread = f" [{interval[0]:+.1f}, {interval[1]:+.1f}]" if interval else ""
            gains = (f"{rgs(result, methods[supervised]):+.1f}{spread} | "
                     f"{relative_dropout_gain(result, methods[supervised]):+.1f}%")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {rdp_r_and_p(result):.1f} | {gains} |")
    return "\n".join(lines)


def corruption_table(methods: dict[str, dict[str, ConditionResult]]) -> str:
    """Markdown shaped like Table III: accuracy under SJN / PCS and the average RDP over those columns."""
    lines = ["| Method | " + " | ".join(CORRUPTION_COLUMNS) + " | Average RDP |",
             "|" + "---|" * (len(CORRUPTION_COLUMNS) + 2)]
    for name, result in methods.items():
        clean = result["clean"].accuracy
        average = sum(rdp(clean, result[c].accuracy) for c in CORRUPTION_COLUMNS) / len(CORRUPTION_COLUMNS)
        lines.append(f"| {name} | " + " | ".join(f"{result[c].accuracy:.1f}" for c in CORRUPTION_COLUMNS)
                     + f" | {average:.1f}% |")
    return "\n".join(lines)


def extra_table(methods: dict[str, dict[str, ConditionResult]]) -> str:
    """Markdown of the degradations beyond the paper (EXTRA_COLUMNS): accuracy and RDP per column."""
    lines = ["| Method | " + " | ".join(f"{c} (RDP)" for c in EXTRA_COLUMNS) + " |",
             "|" + "---|" * (len(EXTRA_COLUMNS) + 1)]
    for name, result in methods.items():
        if all(c in result for c in EXTRA_COLUMNS):
            clean = result["clean"].accuracy
            lines.append(f"| {name} | " + " | ".join(
                f"{result[c].accuracy:.1f} ({rdp(clean, result[c].accuracy):.1f}%)" for c in EXTRA_COLUMNS) + " |")
    return "\n".join(lines)


def gate_table(result: dict[str, ConditionResult]) -> str:
    """Mean gates per condition: the proof that AMG lowers the weight of dropped or corrupted inputs."""
    lines = ["| Condition | accuracy (%) | 95 % interval | g_R | g_S | g_P |", "|---|---|---|---|---|---|"]
    for name, item in result.items():
        spread = f"{item.interval_95[0]:.1f}-{item.interval_95[1]:.1f}" if item.interval_95 else "-"
        lines.append(f"| {name} | {item.accuracy:.1f} | {spread} | "
                     + " | ".join(f"{g:.3f}" for g in item.mean_gates) + " |")
    return "\n".join(lines)


def write_results(path: Path, methods: dict[str, dict[str, ConditionResult]]) -> None:
    """JSON of every method and condition, written atomically."""
    payload = {m: {c: asdict(r) for c, r in conds.items()} for m, conds in methods.items()}
    atomic_write_bytes(path, json.dumps(payload, indent=1).encode())


def read_results(path: Path) -> dict[str, dict[str, ConditionResult]]:
    data = json.loads(Path(path).read_text())
    return {m: {c: ConditionResult(**r) for c, r in conds.items()} for m, conds in data.items()}
