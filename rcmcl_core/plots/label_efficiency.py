"""Accuracy against labelled clips per class (label_efficiency_report.summarise rows): one panel per task and
condition, one curve per starting point with its 95 % band over seeds and clips; fine-tuning solid, the
linear probe dashed."""
from __future__ import annotations

from pathlib import Path

from rcmcl_core.evaluation.label_efficiency import MODES, STARTS, TASKS
from rcmcl_core.evaluation.label_efficiency_report import SHOWN, START_NAMES
from rcmcl_core.plots.results import pyplot, save_figure

COLOURS = {"rcmcl": "tab:red", "cmkm": "tab:blue", "scratch": "tab:grey"}
TASK_TITLES = {"novel": "8 novel classes", "bundled": "24 bundled classes"}


def label_efficiency_figure(summary: dict, *, out_png: str | Path) -> Path:
    """Write the PNG (atomically) and return its path."""
    plt = pyplot()
    tasks = [t for t in TASKS if any(r["task"] == t for r in summary["rows"])]
    fig, axes = plt.subplots(max(1, len(tasks)), len(SHOWN), figsize=(11, 4 * max(1, len(tasks))), squeeze=False)
    for row_axes, task in zip(axes, tasks):
        for ax, condition in zip(row_axes, SHOWN):
            for start in STARTS:
                for mode in MODES:
                    rows = sorted((r for r in summary["rows"]
                                   if (r["task"], r["start"], r["mode"]) == (task, start, mode)),
                                  key=lambda r: r["labels_per_class"])
                    if not rows:
                        continue
                    x = [r["labels_per_class"] for r in rows]
                    mean = [r[condition]["mean"] for r in rows]
                    low = [r[condition]["interval_95"][0] for r in rows]
                    high = [r[condition]["interval_95"][1] for r in rows]
                    style = "-o" if mode == "finetune" else "--s"
                    ax.plot(x, mean, style, color=COLOURS[start], lw=2 if mode == "finetune" else 1, ms=4,
                            label=f"{START_NAMES[start]}, {'fine-tune' if mode == 'finetune' else 'probe'}")
                    ax.fill_between(x, low, high, color=COLOURS[start], alpha=0.15 if mode == "finetune" else 0.07)
            ax.set_xscale("log")
            ax.set_xlabel("labelled clips per class")
            ax.set_ylabel("top-1 accuracy (%)")
            ax.set_ylim(0, 100)
            ax.grid(alpha=0.3)
            ax.set_title(f"{TASK_TITLES[task]}: {condition}")
            ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out_png)
