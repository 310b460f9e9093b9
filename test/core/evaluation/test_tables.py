"""Tables I-IV from protocol results: what each cell shows, and results.md rebuilt from the files alone."""
import json

import numpy as np

from rcmcl_core.cli import main
from rcmcl_core.evaluation.bootstrap import array_to_bits, paired_difference_interval
from rcmcl_core.evaluation.robustness import CONDITIONS, ConditionResult, write_results
from rcmcl_core.evaluation.tables import ABLATION_STEPS, ablation_table, results_markdown


def _results(clean: float, skeleton_only: float) -> dict:
    out = {}
    for name in CONDITIONS:
        accuracy = {"clean": clean, "R&P missing": skeleton_only}.get(name, 50.0)
        hits = np.arange(100) < accuracy
        out[name] = ConditionResult(accuracy=accuracy, mean_gates=[0.5, 0.5, 0.5], clips=100,
                                    correct=array_to_bits(hits))
    return out


def test_row_two_shows_its_fused_clean_accuracy_and_rows_six_and_seven_say_what_they_add():
    results = {step: _results(70.0 + number, 40.0 + number) for number, step in ABLATION_STEPS.items()}
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in ablation_table(results).splitlines()[2:]}
    assert rows["2"][3] == "72.0" and rows["2"][4] == "42.0", "clean is the fused accuracy, S only apart"
    assert "fusion InfoNCE" in rows["6"][2] and "gate target" in rows["6"][2]
    assert "average fusion" in rows["3"][2]


def test_protocol_tables_only_rebuilds_results_md_from_the_files(tmp_path, capsys):
    results = {"supervised": _results(90.0, 40.0), "rcmcl_finetune": _results(90.0, 60.0),
               "cmkm_finetune": _results(88.0, 59.0)}
    write_results(tmp_path / "results.json", results)
    (tmp_path / "timings.json").write_text(json.dumps({"supervised": 60.0, "rcmcl_finetune": 120.0}))
    assert main(["protocol", "--out", str(tmp_path), "--tables-only"]) == 0
    text = (tmp_path / "results.md").read_text()
    assert text == results_markdown(results, {"supervised": 60.0, "rcmcl_finetune": 120.0})
    assert "| supervised | 1.0 |" in text and "paper: 25.0 % on NTU-120 CS" in text


def test_a_paired_difference_interval_covers_the_difference_and_is_zero_for_equal_results():
    rng = np.random.default_rng(0)
    a = rng.random(500) < 0.8
    b = a.copy()
    assert paired_difference_interval(a, b) == [0.0, 0.0]
    b[:60] = False
    low, high = paired_difference_interval(a, b)
    difference = 100 * (a.mean() - b.mean())
    assert 0 < low <= difference <= high
