"""Learning curves: one JSON row per finished epoch in `<run dir>/curves.jsonl`.

Every training run (pretrain, finetune, probe, and the baselines, which run through the same loops)
appends a row when an epoch ends: the epoch's mean of every loss term, each weighted term
(`weighted_<term>` = lambda * mean) and its share of the weighted total (`share_<term>`, fractions that sum
to 1), the learning rate, the step count and, when a held-out set is given, `heldout_accuracy` (%).
Rows are written atomically (the whole file is rewritten through a temp file + rename), so a kill never
leaves half a row; on resume the rows of epochs the checkpoint has not finished are dropped, so every
epoch appears once. Keys of a row: stage, epoch (0-based), step, lr, seconds (training wall time of the
epoch, without the held-out evaluation), total, loss_<term>, weighted_<term>, share_<term>; train_accuracy
(supervised stages); heldout_accuracy and heldout_metric ('top1', or 'knn_top1' while pretraining) when a
held-out set is given.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

from rcmcl_core.config import RCMCLConfig
from rcmcl_core.data.shards import atomic_write_bytes

CURVES = "curves.jsonl"


def term_weights(config: RCMCLConfig, terms: Iterable[str]) -> dict[str, float]:
    """lambda of each loss term in the total: Eq.6 weights + lambda_fusion for pretraining, lambda_gate_aux and
    lambda_subset where those terms run; 1 otherwise (cross-entropy, CMKM)."""
    loss = config.loss
    known = {"cm": loss.lambda_cm, "im": loss.lambda_im, "deg": loss.lambda_deg, "fusion": loss.lambda_fusion,
             "gate": loss.lambda_gate_aux, "subset": loss.lambda_subset}
    return {term: known.get(term, 1.0) for term in terms}


def summarise_terms(means: Mapping[str, float], weights: Mapping[str, float]) -> dict[str, float]:
    """{term: mean} -> loss_<term>, weighted_<term>, share_<term> (of the sum of weighted terms)."""
    weighted = {term: weights[term] * value for term, value in means.items()}
    total = sum(weighted.values())
    row: dict[str, float] = {}
    for term, value in means.items():
        row[f"loss_{term}"] = value
        row[f"weighted_{term}"] = weighted[term]
        row[f"share_{term}"] = weighted[term] / total if total else float("nan")
    return row


def epoch_means(metrics_csv: Path, *, epoch: int) -> dict[str, float]:
    """Mean of every numeric column of metrics.csv over the steps of `epoch` (resume-safe: the per-step
    log already holds exactly the steps that count)."""
    sums: dict[str, float] = {}
    count = 0
    with Path(metrics_csv).open(newline="") as handle:
        for row in csv.DictReader(handle):
            if int(row["epoch"]) != epoch:
                continue
            count += 1
            for key, value in row.items():
                if key not in ("stage", "epoch", "step"):
                    sums[key] = sums.get(key, 0.0) + float(value)
    return {key: value / count for key, value in sums.items()} if count else {}


class CurveLog:
    """curves.jsonl of one run dir. `keep_epochs`: rows of epochs >= it are dropped on open (resume)."""

    def __init__(self, path: Path, *, keep_epochs: int, enabled: bool = True) -> None:
        self.path, self.enabled = Path(path), enabled
        self.rows: list[dict[str, Any]] = []
        if enabled and self.path.is_file():
            self.rows = [row for row in read_curves(self.path) if int(row["epoch"]) < keep_epochs]
            self._write()
        elif enabled:
            self._write()

    def append(self, row: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        self.rows.append(dict(row))
        self._write()

    def _write(self) -> None:
        text = "".join(json.dumps(_finite_or_none(row)) + "\n" for row in self.rows)
        atomic_write_bytes(self.path, text.encode())


def _finite_or_none(row: Mapping[str, Any]) -> dict[str, Any]:
    """JSON has no NaN/inf: such values are written as null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def read_curves(path: Path) -> list[dict[str, Any]]:
    """Rows of a curves.jsonl (a run dir or the file itself); a malformed line raises ValueError naming it."""
    path = Path(path)
    if path.is_dir():
        path = path / CURVES
    if not path.is_file():
        raise FileNotFoundError(f"no {CURVES} at {path}")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not a JSON row ({err})") from err
    return rows
