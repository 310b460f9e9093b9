"""The label-efficiency grid end to end on tiny generated benchmarks: pretrain, cells from every start (real
training steps), resume by skipping finished cells, and the report rebuilt from the committed files alone."""
import json

import numpy as np
import pytest

from rcmcl_core.cli import main
from rcmcl_core.evaluation.label_efficiency import Cell, grid, part, read_cell_results, select
from rcmcl_core.evaluation.label_efficiency_report import summarise

TINY_RECIPE = """preset: tiny
model: {gate_mode: aux_target}
loss: {lambda_subset: 1.0, gate_target: movement_evidence}
optim: {finetune_epochs: 1, probe_epochs: 1, min_steps: 3}
"""


@pytest.fixture(scope="module")
def benchmarks(tmp_path_factory):
    """Tiny bundled (24 classes) and novel (8 classes) benchmarks, 2 subjects: one train, one test."""
    roots = {}
    for class_set in ("bundled", "novel"):
        out = tmp_path_factory.mktemp(class_set)
        assert main(["generate", "--preset", "tiny", "--out", str(out), "--subjects", "2", "--class-set", class_set,
                     "--clips-per-class-per-view", "2", "--quiet"]) == 0
        roots[class_set] = out
    return roots


@pytest.fixture(scope="module")
def pretrained(benchmarks, tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrain")
    recipe = out / "recipe.yaml"
    recipe.write_text(TINY_RECIPE)
    assert main(["pretrain", "--preset", "tiny", "--config", str(recipe), "--data-root", str(benchmarks["bundled"]),
                 "--out", str(out), "--no-progress", "--no-heldout"]) == 0
    return out / "pretrain.pt"


def test_grid_has_three_seeds_three_starts_and_both_modes_per_amount():
    cells = grid()
    assert len(cells) == (4 + 3) * 3 * 3 * 2
    names = [c.name for c in cells]
    assert len(set(names)) == len(names)
    assert "novel_K1_rcmcl_finetune_s0" in names and "bundled_F0.01_scratch_probe_s2" in names
    parts = [part(cells, i, 3) for i in (1, 2, 3)]
    assert sorted(c.name for p in parts for c in p) == sorted(names), "the parts cover the grid exactly once"
    loads = [sum(c.cost for c in p) for p in parts]
    assert max(loads) - min(loads) <= max(c.cost for c in cells)


def test_cells_from_every_start_train_score_resume_and_rebuild_the_report(benchmarks, pretrained, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(TINY_RECIPE)
    results = tmp_path / "results"
    run = ["label-efficiency", "run", "--config", str(recipe), "--novel-root", str(benchmarks["novel"]),
           "--bundled-root", str(benchmarks["bundled"]), "--pretrained", f"rcmcl={pretrained}", f"cmkm={pretrained}",
           "--work", str(tmp_path / "work"), "--results", str(results), "--no-progress", "--only", "novel_K1_"]
    assert main(run + ["_s0"]) == 0
    done = read_cell_results(results)
    assert len(done) == 6, [r["name"] for r in done]              # 3 starts x 2 modes
    for result in done:
        assert result["labelled_clips"] == 8 and len(result["classes"]) == 8, "one clip of each novel class"
        assert set(result["conditions"]) == {"clean", "R missing", "S missing", "P missing", "R&P missing"}
        assert len(result["conditions"]["clean"]["correct"]) == result["test_clips"]
        labelled = json.loads((results / "cells" / result["name"] / "labelled_clips.json").read_text())
        assert len(labelled["clip_ids"]) == 8 and set(labelled["per_class"].values()) == {1}
    finetunes = [r for r in done if r["cell"]["mode"] == "finetune"]
    assert all(r["steps"] >= 3 for r in finetunes), "min_steps raises the epochs of a few-label fine-tune"
    same_draw = {json.dumps(json.loads((results / "cells" / r["name"] / "labelled_clips.json").read_text())["clip_ids"])
                 for r in done}
    assert len(same_draw) == 1, "a seed draws the same labelled clips for every start and mode (paired cells)"
    capsys.readouterr()
    assert main(run + ["_s0"]) == 0
    assert "6 of 6 cells already done, 0 to run" in capsys.readouterr().out
    assert main(run + ["rcmcl_finetune_s1"]) == 0
    assert main(["label-efficiency", "report", "--results", str(results)]) == 0
    summary = json.loads((results / "summary.json").read_text())
    rows = {(r["start"], r["mode"]): r for r in summary["rows"]}
    assert rows[("rcmcl", "finetune")]["seeds"] == [0, 1] and rows[("cmkm", "probe")]["seeds"] == [0]
    row = rows[("rcmcl", "finetune")]
    assert row["clean"]["mean"] == pytest.approx(np.mean(row["clean"]["per_seed"]))
    low, high = row["clean"]["interval_95"]
    assert low <= row["clean"]["mean"] <= high
    report = (results / "report.md").read_text()
    assert "7 of 126 grid cells finished" in report and "RCMCL - from scratch" in report
    assert (results / "label_efficiency.png").stat().st_size > 10_000
    assert summarise(read_cell_results(results)) == summary, "the report is a pure function of the cell files"


def test_a_cell_without_its_pretraining_is_a_clear_error(benchmarks, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(TINY_RECIPE)
    code = main(["label-efficiency", "run", "--config", str(recipe), "--novel-root", str(benchmarks["novel"]),
                 "--bundled-root", str(benchmarks["bundled"]), "--work", str(tmp_path / "w"), "--results",
                 str(tmp_path / "r"), "--only", "novel_K1_rcmcl_probe_s0", "--no-progress"])
    assert code == 2
    assert "needs the rcmcl pretraining" in capsys.readouterr().err


def test_select_matches_every_pattern():
    cells = select(grid(), ["bundled", "F1_", "_s2"])
    assert cells and all(c.task == "bundled" and c.amount == 1.0 and c.seed == 2 for c in cells)
    assert Cell("novel", 5.0, "cmkm", "probe", 1).name == "novel_K5_cmkm_probe_s1"
