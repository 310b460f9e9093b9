"""Learning-curve figure from curves.jsonl files (rcmcl_core/training/curves.py): per run, the weighted loss terms
and the total per epoch (left, log scale) and the held-out accuracy per epoch (right)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from rcmcl_core.plots.results import pyplot, save_figure


def curves_figure(runs: Mapping[str, Sequence[Mapping[str, Any]]], *, out_png: str | Path) -> Path:
    """runs: name -> curves.jsonl rows. Writes one PNG (atomically) and returns its path."""
    plt = pyplot()
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    any_accuracy = False
    for name, rows in runs.items():
        epochs = [int(r["epoch"]) + 1 for r in rows]
        line, = loss_ax.plot(epochs, [_value(r, "total") for r in rows], "-", lw=2, label=f"{name}: total")
        terms = sorted({k[len("weighted_"):] for r in rows for k in r if k.startswith("weighted_")})
        if len(terms) > 1:
            for term in terms:
                loss_ax.plot(epochs, [_value(r, f"weighted_{term}") for r in rows], "--", lw=1,
                             label=f"{name}: weighted {term}")
        accuracy = [(e, r["heldout_accuracy"]) for e, r in zip(epochs, rows) if r.get("heldout_accuracy") is not None]
        if accuracy:
            any_accuracy = True
            metric = rows[-1].get("heldout_metric", "top1")
            acc_ax.plot([e for e, _ in accuracy], [a for _, a in accuracy], "o-", color=line.get_color(),
                        label=f"{name} ({metric})")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss (epoch mean)")
    if all(_value(r, "total") > 0 for rows in runs.values() for r in rows):
        loss_ax.set_yscale("log")
    loss_ax.legend(fontsize=6)
    loss_ax.set_title("loss terms (weighted as in the total)")
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("held-out accuracy (%)")
    acc_ax.set_title("held-out accuracy" if any_accuracy else "no held-out accuracy logged")
    if any_accuracy:
        acc_ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out_png, dpi=110)


def _value(row: Mapping[str, Any], key: str) -> float:
    value = row.get(key)
    return float("nan") if value is None else float(value)
