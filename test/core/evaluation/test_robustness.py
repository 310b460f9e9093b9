"""Robustness suite: metrics reproduce the paper's numbers, conditions do what they say, tables and JSON."""
import dataclasses

import pytest
import torch

from clip_factory import make_clip_root
from rcmcl_core.config import preset
from rcmcl_core.data.dataset import ClipDataset
from rcmcl_core.evaluation.robustness import (CONDITIONS, ConditionResult, corruption_table, dropout_table, evaluate,
                                              gate_table, rdp, read_results, relative_dropout_gain, rgs, write_results)
from rcmcl_core.models.rcmcl import RCMCL


def _table2(clean, r, s, p, rp):
    values = {"clean": clean, "R missing": r, "S missing": s, "P missing": p, "R&P missing": rp}
    return {c: ConditionResult(accuracy=values.get(c, clean), mean_gates=[1.0, 1.0, 1.0], clips=10) for c in CONDITIONS}


def test_rdp_and_rgs_reproduce_table_ii_of_the_paper():
    supervised = _table2(85.9, 68.1, 59.4, 70.5, 45.2)
    rcmcl = _table2(86.7, 77.5, 73.9, 80.2, 65.1)
    assert rdp(85.9, 45.2) == pytest.approx(47.4, abs=0.05)        # paper: 47.5
    assert rdp(86.7, 65.1) == pytest.approx(24.9, abs=0.05)        # paper: 25.0
    assert rgs(rcmcl, supervised) == pytest.approx(22.5, abs=0.05)  # paper: 22.5 = 47.5 - 25.0 (points)
    config_a = _table2(82.5, 69.9, 63.1, 72.8, 51.0)                # paper's "Baseline (Config. A)" row
    assert rgs(config_a, supervised) == pytest.approx(9.2, abs=0.05)  # paper: 9.2 = 47.5 - 38.3
    assert relative_dropout_gain(rcmcl, supervised) == pytest.approx(22.0, abs=0.1)   # ours, not the paper's
    table = dropout_table({"Supervised": supervised, "RCMCL": rcmcl}, supervised="Supervised")
    assert "| RCMCL | 86.7 | 77.5 | 73.9 | 80.2 | 65.1 | 24.9 | +22.5 | +22.0% |" in table


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    config = preset("tiny")
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, num_classes=3))
    root = make_clip_root(tmp_path_factory.mktemp("clips"), classes=3, clips_per_class=3)
    dataset = ClipDataset(root, split="xsub", subset="all", config=config, train=False)
    torch.manual_seed(0)
    return evaluate(RCMCL(config=config), dataset, batch_size=4, progress=False)


def test_every_condition_is_evaluated_on_every_clip(results):
    assert set(results) == set(CONDITIONS)
    assert all(r.clips == 9 and 0.0 <= r.accuracy <= 100.0 for r in results.values())


@pytest.mark.parametrize("condition, zero", [("R missing", [0]), ("S missing", [1]), ("P missing", [2]),
                                             ("R&P missing", [0, 2]), ("R&S missing", [0, 1]), ("S&P missing", [1, 2])])
def test_gates_of_missing_modalities_are_exactly_zero(results, condition, zero):
    gates = results[condition].mean_gates
    for m in range(3):
        assert (gates[m] == 0.0) == (m in zero), (condition, gates)


def test_corruption_leaves_presence_alone(results):
    for name in ("SJN 0.05", "SJN 0.10", "PCS 50%", "PCS 70%"):
        assert all(g > 0 for g in results[name].mean_gates)


def test_tables_and_json_round_trip(results, tmp_path):
    methods = {"Supervised": results, "RCMCL": results}
    assert "Average RDP" in corruption_table(methods)
    assert gate_table(results).count("\n") == len(CONDITIONS) + 1
    write_results(tmp_path / "r.json", methods)
    assert read_results(tmp_path / "r.json") == methods
    assert "| RCMCL |" in dropout_table(methods, supervised="Supervised")
