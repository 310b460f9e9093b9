"""Results of a bag evaluation (evaluate.BagEvaluation) as files, each written atomically:

- decisions.csv: one row per decision: time, label, confidence, truth, gates, presence, coverage, active
  faults, latency and the class probabilities;
- report.md: accuracy against the ground truth overall, on clean stretches and per fault segment, mean
  gates and presence per segment, the faulted modality's gate drop per fault (fault_gates.py),
  evaluation speed (windows/s, x real time), drops by reason, warnings;
- gates.png: the gate timeline with fault segments shaded (the paper's Fig. 7, on a bag);
- confusion.png: ground truth x prediction (only when the bag has ground truth).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rcmcl_core.config import MODALITIES, MODALITY_LETTERS
from rcmcl_core.data.shards import atomic_write_bytes
from rcmcl_core.plots.results import figure_png, pyplot
from rcmcl_ros.bag.annotations import Fault
from rcmcl_ros.bag.fault_gates import fault_gate_markdown

MODALITY_COLOURS = {"rgbd": "tab:blue", "skeleton": "tab:orange", "points": "tab:green"}


@dataclass
class SegmentScore:
    """Decisions of one stretch of the bag: count, accuracy (None without ground truth), mean gates and
    fraction present per modality (MODALITIES order)."""

    name: str
    windows: int
    scored: int
    accuracy: float | None
    mean_gates: np.ndarray
    present: np.ndarray


def decision_times(result) -> np.ndarray:
    """(n,) seconds from the bag start of each decision."""
    return np.array([d.stamp_s - result.start_s for d in result.decisions], dtype=np.float64)


def score(result, mask: np.ndarray, name: str) -> SegmentScore:
    picked = [i for i in np.flatnonzero(mask)]
    scored = [i for i in picked if result.truth[i] is not None]
    correct = sum(result.decisions[i].label == result.truth[i] for i in scored)
    gates = np.array([result.decisions[i].gates for i in picked]).reshape(-1, len(MODALITIES))
    present = np.array([result.decisions[i].present for i in picked], dtype=float).reshape(-1, len(MODALITIES))
    empty = np.full(len(MODALITIES), np.nan)
    return SegmentScore(name=name, windows=len(picked), scored=len(scored),
                        accuracy=correct / len(scored) if scored else None,
                        mean_gates=gates.mean(axis=0) if len(picked) else empty,
                        present=present.mean(axis=0) if len(picked) else empty)


CLEAN = "clean (no fault, one action)"
"""The segment a recognition figure should quote: windows of one action that no fault touches."""


def segment_scores(result) -> list[SegmentScore]:
    """'all'; 'clean' (no fault overlaps the decision's window, nor does a change of the performed action);
    'no fault, straddles two actions'; 'no fault' (the two together); 'straddles two actions' (with or without
    a fault); and one row per fault (decisions stamped inside it)."""
    times = decision_times(result)
    touched = np.zeros(len(times), bool)
    rows = []
    for fault in result.faults:
        rows.append(score(result, (times >= fault.start_s) & (times < fault.end_s), str(fault)))
        touched |= (times > fault.start_s) & (times - result.window_s < fault.end_s)
    straddles = straddling(result, times)
    head = [score(result, np.ones(len(times), bool), "all")]
    head.append(score(result, ~touched & ~straddles, CLEAN))
    if straddles.any():
        head.append(score(result, ~touched & straddles, "no fault, straddles two actions"))
        if result.faults:
            head.append(score(result, ~touched, "no fault"))
        head.append(score(result, straddles, "straddles two actions"))
    return head + rows


def straddling(result, times: np.ndarray) -> np.ndarray:
    """(n,) bool: the decision's window [t - window_s, t] holds a change of the performed action. times are
    seconds from the bag start; ground-truth times are record times (seconds)."""
    changes = [start - result.start_s for start, _, _ in result.ground_truth.segments(end_s=result.end_s)[1:]]
    out = np.zeros(len(times), bool)
    for change in changes:
        out |= (times - result.window_s < change) & (times > change)
    return out


def write_report(result, *, out_dir: Path) -> dict[str, Path]:
    """Write the files into out_dir (created); return {name: path} of those written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"decisions": out_dir / "decisions.csv", "report": out_dir / "report.md", "gates": out_dir / "gates.png"}
    atomic_write_bytes(paths["decisions"], decisions_csv(result).encode())
    atomic_write_bytes(paths["gates"], gate_timeline_png(result))
    if any(t is not None for t in result.truth):
        paths["confusion"] = out_dir / "confusion.png"
        atomic_write_bytes(paths["confusion"], confusion_png(result))
    atomic_write_bytes(paths["report"], report_markdown(result, figures=paths).encode())
    return paths


def decisions_csv(result) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = ["time_s", "stamp_s", "label", "confidence", "truth", "correct"]
    header += [f"gate_{m}" for m in MODALITIES] + [f"present_{m}" for m in MODALITIES]
    header += [f"coverage_{m}" for m in MODALITIES] + ["faults", "inference_ms", "queue_ms"]
    header += [f"score_{label}" for label in result.labels]
    writer.writerow(header)
    for d, truth, t in zip(result.decisions, result.truth, decision_times(result)):
        faults = ";".join(f.name for f in result.faults if f.active(t))
        correct = "" if truth is None else int(d.label == truth)
        writer.writerow([f"{t:.4f}", f"{d.stamp_s:.4f}", d.label, f"{d.confidence:.4f}", truth or "", correct,
                         *(f"{g:.4f}" for g in d.gates), *(int(p) for p in d.present),
                         *(f"{c:.3f}" for c in d.coverage), faults,
                         f"{1000 * d.latency.get('inference_s', 0.0):.2f}",
                         f"{1000 * d.latency.get('queue_s', 0.0):.2f}",
                         *(f"{s:.4f}" for s in d.scores)])
    return buffer.getvalue()


def report_markdown(result, *, figures: dict[str, Path]) -> str:
    lines = [f"# Bag evaluation: {result.bag.name}", "",
             f"- bag: `{result.bag}` ({result.duration_s:.1f} s)",
             f"- checkpoint: `{result.checkpoint}` ({len(result.labels)} classes), device {result.device}",
             "- topics: " + ", ".join(f"{s} `{t}`" for s, t in result.topics.items())
             + "".join(f"; {s} absent ({why})" for s, why in result.missing.items()),
             f"- {len(result.decisions)} decisions (window {result.window_s:g} s); evaluated in {result.wall_s:.1f} s: "
             f"**{result.windows_per_s:.1f} windows/s, {result.real_time_factor:.1f}x real time**", ""]
    health_rule = getattr(result, "health_rule", None)
    if health_rule is not None:
        lines[-1:-1] = ["- sensor-health rules (rcmcl_core/sensor_health.py): " + (
            "on: repeated RGB-D frames and skeleton jumps are rejected (counted below) and count as not observed; "
            "a gate at 0 there is the rule's, not learned" if health_rule else "off: the learned gates alone")]
    inference = [d.latency.get("inference_s", 0.0) for d in result.decisions]
    if inference:
        lines[-1:-1] = [f"- inference per window: median {1000 * np.median(inference):.1f} ms, "
                        f"p95 {1000 * np.percentile(inference, 95):.1f} ms"]
    has_truth = any(t is not None for t in result.truth)
    if not has_truth:
        lines += ["No ground truth in this bag (no `/rcmcl/ground_truth`): decisions and gates only.", ""]
    lines += ["## Accuracy and gates per segment", "",
              "Ground truth of a decision: the class performed over most of its window. Segments are by the "
              "decision's stamp (window end); a fault's first windows still hold earlier frames. 'clean' "
              "counts only windows that no fault overlaps and that hold one action; windows that straddle a "
              "change of action are counted apart (their truth is the majority action).", "",
              "| segment | windows | accuracy | " + " | ".join(f"gate {L}" for L in MODALITY_LETTERS) + " | "
              + " | ".join(f"present {L}" for L in MODALITY_LETTERS) + " |",
              "|---|---:|---:|" + "---:|" * (2 * len(MODALITIES))]
    for row in segment_scores(result):
        accuracy = "n/a" if row.accuracy is None else f"{100 * row.accuracy:.1f}% ({row.scored})"
        lines.append(f"| {row.name} | {row.windows} | {accuracy} | " + " | ".join(_num(g) for g in row.mean_gates)
                     + " | " + " | ".join(_pct(p) for p in row.present) + " |")
    lines += ["", "Modalities: R = RGB-D, S = skeleton, P = points. A gate is exactly 0 when its modality is "
                  "absent.", ""]
    lines += fault_gate_markdown(result)
    drops = result.snapshot.get("drops", {})
    if drops:
        lines += ["## Dropped messages", "", "| stream/reason | count |", "|---|---:|"]
        lines += [f"| {key} | {count} |" for key, count in sorted(drops.items())] + [""]
    rejected = result.snapshot.get("rejected", {})
    if rejected:
        lines += ["## Frames rejected by the sensor-health rules", "", "| modality/reason | count |", "|---|---:|"]
        lines += [f"| {key} | {count} |" for key, count in sorted(rejected.items())] + [""]
    if result.warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in result.warnings] + [""]
    lines += ["## Figures", "", f"![gate timeline]({figures['gates'].name})", ""]
    if "confusion" in figures:
        lines += [f"![confusion]({figures['confusion'].name})", ""]
    return "\n".join(lines)


def _num(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.2f}"


def _pct(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{100 * value:.0f}%"


def gate_timeline_png(result) -> bytes:
    """Gates over bag time (one line per modality) with fault segments shaded in the modality's colour;
    below, the ground-truth actions and whether each decision was right."""
    plt = pyplot()
    times = decision_times(result)
    gates = np.array([d.gates for d in result.decisions]).reshape(-1, len(MODALITIES))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 4.8), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for fault in result.faults:
        _shade(top, fault)
    for m, modality in enumerate(MODALITIES):
        top.step(times, gates[:, m], where="post", color=MODALITY_COLOURS[modality], lw=1.4,
                 label=f"g_{MODALITY_LETTERS[m]} ({modality})")
    top.set_ylim(-0.03, 1.12)
    top.set_ylabel("gate")
    top.legend(loc="lower left", fontsize=8, ncol=3, framealpha=0.9)
    scores = segment_scores(result)
    accuracy = "" if scores[0].accuracy is None else f", accuracy {100 * scores[0].accuracy:.1f}%"
    top.set_title(f"{result.bag.name}: gates per decision{accuracy}", fontsize=10)
    for index, (start, end, label) in enumerate(result.ground_truth.segments(end_s=result.end_s)):
        a, b = start - result.start_s, end - result.start_s
        bottom.axvspan(a, b, color="0.92" if index % 2 else "0.82", lw=0)
        bottom.text((a + b) / 2, 0.8, label, ha="center", va="center", fontsize=7, clip_on=True)
    known = np.array([t is not None for t in result.truth], bool)
    if known.any():
        right = np.array([d.label == t for d, t in zip(result.decisions, result.truth)], bool)
        bottom.scatter(times[known & right], np.full((known & right).sum(), 0.3), s=6, color="tab:green", label="right")
        bottom.scatter(times[known & ~right], np.full((known & ~right).sum(), 0.3), s=6, color="tab:red", label="wrong")
        bottom.legend(loc="lower right", fontsize=7, ncol=2)
    bottom.set_ylim(0, 1)
    bottom.set_yticks([])
    bottom.set_ylabel("truth", fontsize=8)
    bottom.set_xlabel("seconds from the bag start")
    bottom.set_xlim(0, max(result.duration_s, float(times.max()) if len(times) else 0.0, 1e-3))
    fig.tight_layout()
    return figure_png(fig, dpi=110)


def _shade(ax, fault: Fault) -> None:
    ax.axvspan(fault.start_s, fault.end_s, color=MODALITY_COLOURS[fault.modality], alpha=0.15, lw=0)
    ax.text((fault.start_s + fault.end_s) / 2, 1.06, fault.name, ha="center", va="center", fontsize=7,
            color=MODALITY_COLOURS[fault.modality], clip_on=True)


def confusion_png(result) -> bytes:
    """Rows: ground truth; columns: prediction; colour = row fraction, numbers = counts."""
    plt = pyplot()
    pairs = [(t, d.label) for d, t in zip(result.decisions, result.truth) if t is not None]
    used = {t for t, _ in pairs} | {p for _, p in pairs}
    names = [label for label in result.labels if label in used] + sorted(used - set(result.labels))
    index = {name: i for i, name in enumerate(names)}
    counts = np.zeros((len(names), len(names)), np.int64)
    for truth, predicted in pairs:
        counts[index[truth], index[predicted]] += 1
    fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.38 * len(names) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(counts):
        if count:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                    color="white" if fractions[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"{result.bag.name}: {counts.sum()} decisions, accuracy {100 * accuracy:.1f}%", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return figure_png(fig, dpi=110)
