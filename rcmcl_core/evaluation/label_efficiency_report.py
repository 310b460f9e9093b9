"""The label-efficiency section from the grid's cell files (label_efficiency.py): per task, amount, start and
mode the mean over seeds with a 95 % interval over seeds and clips, RDP, and paired differences between
starting points. Pure functions of the committed result.json files, so the section rebuilds from them:

    rcmcl label-efficiency report --results docs/results/label_efficiency
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import numpy as np

from rcmcl_core.evaluation.bootstrap import bits_to_array, seeds_and_clips_interval
from rcmcl_core.evaluation.label_efficiency import MODES, STARTS, TASKS
from rcmcl_core.evaluation.robustness import rdp

SHOWN = ("clean", "R&P missing")
"""Conditions in the tables and the plot (result.json also holds R, S and P missing)."""
START_NAMES = {"rcmcl": "RCMCL", "cmkm": "CMC-CMKM", "scratch": "from scratch"}
COMPARISONS = (("rcmcl", "scratch"), ("rcmcl", "cmkm"), ("cmkm", "scratch"))

Key = tuple[str, float, str, str]          # task, amount, start, mode


def group_cells(results: Iterable[dict]) -> dict[Key, dict[int, dict]]:
    """(task, amount, start, mode) -> {seed: result}."""
    groups: dict[Key, dict[int, dict]] = defaultdict(dict)
    for result in results:
        cell = result["cell"]
        groups[(cell["task"], float(cell["amount"]), cell["start"], cell["mode"])][int(cell["seed"])] = result
    return dict(groups)


def _correct(by_seed: dict[int, dict], condition: str, seeds: list[int]) -> np.ndarray:
    """(S, N) bool correct per seed and test clip."""
    return np.stack([bits_to_array(by_seed[s]["conditions"][condition]["correct"]) for s in seeds])


def summarise(results: Iterable[dict]) -> dict:
    """{'rows': [...], 'comparisons': [...]}: the JSON behind the tables and the plot."""
    groups = group_cells(results)
    rows = []
    for (task, amount, start, mode), by_seed in sorted(groups.items()):
        seeds = sorted(by_seed)
        row = {"task": task, "amount": amount, "start": start, "mode": mode, "seeds": seeds,
               "labelled_clips": float(np.mean([by_seed[s]["labelled_clips"] for s in seeds])),
               "classes": len(by_seed[seeds[0]]["classes"]), "test_clips": by_seed[seeds[0]]["test_clips"],
               "minutes": float(np.mean([by_seed[s]["seconds"] for s in seeds]) / 60)}
        row["labels_per_class"] = row["labelled_clips"] / row["classes"]
        for condition in by_seed[seeds[0]]["conditions"]:
            correct = _correct(by_seed, condition, seeds)
            row[condition] = {"mean": float(100 * correct.mean()), "per_seed": (100 * correct.mean(axis=1)).tolist(),
                              "interval_95": seeds_and_clips_interval(correct)}
        row["rdp"] = rdp(row["clean"]["mean"], row["R&P missing"]["mean"])
        rows.append(row)
    comparisons = []
    for (task, amount, start, mode), by_seed in sorted(groups.items()):
        for mine, theirs in COMPARISONS:
            if start != mine or (task, amount, theirs, mode) not in groups:
                continue
            other = groups[(task, amount, theirs, mode)]
            seeds = sorted(set(by_seed) & set(other))
            entry = {"task": task, "amount": amount, "mode": mode, "start": mine, "against": theirs, "seeds": seeds}
            for condition in SHOWN:
                a, b = _correct(by_seed, condition, seeds), _correct(other, condition, seeds)
                entry[condition] = {"difference": float(100 * (a.mean() - b.mean())),
                                    "interval_95": seeds_and_clips_interval(a, baseline=b)}
            comparisons.append(entry)
    return {"rows": rows, "comparisons": comparisons}


def _amount(task: str, amount: float) -> str:
    return f"K = {int(amount)}" if task == "novel" else f"{100 * amount:g} %"


def _cell(row: dict | None, condition: str) -> str:
    if row is None:
        return "-"
    value = row[condition]
    low, high = value["interval_95"]
    seeds = "" if len(row["seeds"]) == 3 else f" ({len(row['seeds'])} seed{'s' * (len(row['seeds']) > 1)})"
    return f"{value['mean']:.1f} [{low:.1f}, {high:.1f}]{seeds}"


def accuracy_tables(summary: dict) -> str:
    """Per task and mode: accuracy clean and with R&P missing per start, and RDP."""
    index = {(r["task"], r["amount"], r["start"], r["mode"]): r for r in summary["rows"]}
    parts = []
    for task in TASKS:
        amounts = sorted({r["amount"] for r in summary["rows"] if r["task"] == task})
        if not amounts:
            continue
        for mode in MODES:
            if not any((task, a, s, mode) in index for a in amounts for s in STARTS):
                continue
            title = ("Novel classes (8, unseen by any pretraining)" if task == "novel" else
                     "The 24 bundled classes") + f", {'fine-tuned' if mode == 'finetune' else 'linear probe'}"
            header = ["labels", "labels / class"] + [f"{START_NAMES[s]} {c}" for c in SHOWN for s in STARTS] \
                + [f"RDP {START_NAMES[s]}" for s in STARTS]
            lines = [f"**{title}** (top-1 %, mean of the seeds [95 % interval over seeds and clips])", "",
                     "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for amount in amounts:
                rows = [index.get((task, amount, s, mode)) for s in STARTS]
                known = [r for r in rows if r is not None]
                if not known:
                    continue
                cells = [_amount(task, amount), f"{known[0]['labels_per_class']:.1f}"]
                cells += [_cell(r, c) for c in SHOWN for r in rows]
                cells += ["-" if r is None else f"{r['rdp']:.1f}" for r in rows]
                lines.append("| " + " | ".join(cells) + " |")
            parts.append("\n".join(lines))
    return "\n\n".join(parts)


def comparison_table(summary: dict) -> str:
    """Paired differences (points) between starting points, per task, amount and mode."""
    header = ["task", "labels", "mode", "comparison", "seeds"] + [f"{c} (pts)" for c in SHOWN]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in summary["comparisons"]:
        cells = [entry["task"], _amount(entry["task"], entry["amount"]), entry["mode"],
                 f"{START_NAMES[entry['start']]} - {START_NAMES[entry['against']]}", str(len(entry["seeds"]))]
        for condition in SHOWN:
            value = entry[condition]
            low, high = value["interval_95"]
            cells.append(f"{value['difference']:+.1f} [{low:+.1f}, {high:+.1f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_markdown(summary: dict, *, cells_done: int, cells_planned: int) -> str:
    return "\n\n".join([
        "# Label efficiency and transfer", f"{cells_done} of {cells_planned} grid cells finished "
        "(`rcmcl label-efficiency run`); every number below is recomputed from `cells/*/result.json` by "
        "`rcmcl label-efficiency report`.", accuracy_tables(summary),
        "**Paired differences** (same seeds, so the same labelled clips, and the same test clips; 95 % interval "
        "over seeds and clips)", comparison_table(summary)]) + "\n"
