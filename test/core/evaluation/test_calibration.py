"""`rcmcl plot calibration` (rcmcl_core/evaluation/calibration.py, rcmcl_core/commands/calibration.py):
gate-vs-severity curves, the issue-14 criteria computed from them, and the three files written."""
import dataclasses
import json

import pytest
import torch

from clip_factory import make_clip_root
from rcmcl_core.evaluation.calibration import _curve, calibrate, calibration_table
from rcmcl_core.plots.calibration import write_calibration
from rcmcl_core.checkpoint import save_checkpoint
from rcmcl_core.cli import main
from rcmcl_core.config import preset
from rcmcl_core.data.dataset import ClipDataset
from rcmcl_core.evaluation.robustness import ConditionResult
from rcmcl_core.models.rcmcl import RCMCL


def _rows(own_gates, other=0.5):
    return [ConditionResult(accuracy=50.0, mean_gates=[g, other, other], clips=4) for g in own_gates]


def test_criteria_read_the_faulted_modalitys_gate():
    good = _curve("rgbd_blackout", [0, 0.5, 1], _rows([0.8, 0.5, 0.2]))
    assert good.monotone and good.drop_pct == pytest.approx(75.0) and good.others_max_fall == 0.0
    rising = _curve("rgbd_blackout", [0, 0.5, 1], _rows([0.2, 0.5, 0.4]))
    assert not rising.monotone and rising.drop_pct == pytest.approx(-100.0)


def test_a_fault_that_reaches_two_modalities_reports_both_and_judges_only_the_third():
    rows = [ConditionResult(accuracy=50.0, mean_gates=[0.8, 0.6, 0.9], clips=4),
            ConditionResult(accuracy=40.0, mean_gates=[0.7, 0.6, 0.1], clips=4)]
    holes = _curve("depth_holes", [0, 1], rows)                         # depth holes also empty the cloud
    assert holes.drop_pct == pytest.approx(12.5) and holes.also_drop_pct == {"points": pytest.approx(88.9, abs=0.1)}
    assert holes.others_max_fall == 0.0                                 # the points' fall is not an "other" fall
    assert "| depth_holes | rgbd + points |" in calibration_table([holes]) and "(points: 88.9)" in \
        calibration_table([holes])
    assert _curve("rgbd_blackout", [0, 1], rows).also_drop_pct is None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    config = preset("tiny")
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, num_classes=3))
    root = make_clip_root(tmp_path_factory.mktemp("clips"), classes=3, clips_per_class=2)
    torch.manual_seed(0)
    return RCMCL(config=config), config, root


def test_calibrate_measures_every_level_of_each_fault_on_the_same_clips(tiny):
    model, config, root = tiny
    dataset = ClipDataset(root, split="xsub", subset="all", config=config, train=False)
    curves = calibrate(model, dataset, faults=["rgbd_blackout", "points_sparsity"], levels=[0.5, 1.0],
                       batch_size=4, progress=False)
    assert [c.fault for c in curves] == ["rgbd_blackout", "points_sparsity"]
    for curve in curves:
        assert curve.severities == [0.0, 0.5, 1.0] and len(curve.mean_gates) == 3
    assert curves[0].mean_gates[0] == curves[1].mean_gates[0]          # one clean run serves both
    assert curves[0].mean_gates[2][0] != curves[0].mean_gates[0][0]   # a black camera moves the RGB-D gate
    with pytest.raises(ValueError, match="unknown fault"):
        calibrate(model, dataset, faults=["smoke"], progress=False)


def test_the_command_writes_png_markdown_and_json(tiny, tmp_path):
    model, config, root = tiny
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", model_state=model.state_dict(), config=config,
                                 labels=["a", "b", "c"])
    code = main(["plot", "calibration", str(checkpoint), "--data-root", str(root), "--subset", "all",
                 "--faults", "rgbd_frozen", "skeleton_jumps", "--levels", "0.5", "1", "--max-clips", "4",
                 "--batch-size", "4", "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 0
    data = json.loads((tmp_path / "out" / "calibration.json").read_text())
    assert data["clips"] == 4 and [c["fault"] for c in data["curves"]] == ["rgbd_frozen", "skeleton_jumps"]
    assert "| rgbd_frozen | 1 |" in (tmp_path / "out" / "calibration.md").read_text()
    assert (tmp_path / "out" / "calibration.png").stat().st_size > 1000


def test_write_calibration_returns_the_json_markdown_and_png_paths(tiny, tmp_path):
    curve = _curve("rgbd_blackout", [0, 1], _rows([0.8, 0.2]))
    paths = write_calibration(tmp_path, [curve], header={"clips": 4})
    assert [p.name for p in paths] == ["calibration.json", "calibration.md", "calibration.png"]


def run_calibration(checkpoint, root, out, *extra):
    code = main(["plot", "calibration", str(checkpoint), "--data-root", str(root), "--subset", "all",
                 "--faults", "rgbd_frozen", "points_sparsity", "--levels", "1", "--batch-size", "6",
                 "--out", str(out), "--no-progress", *extra])
    assert code == 0
    return json.loads((out / "calibration.json").read_text())


def test_the_rules_zero_a_frozen_cameras_gate_and_the_learned_only_run_does_not(tiny, tmp_path):
    """`rcmcl plot calibration` with the node's sensor-health rules (default) and without (`--no-health-rule`):
    a frozen camera's gate is exactly 0 at full severity only with the rules, which say how many frames they
    rejected; the learned-only run reports none."""
    model, config, root = tiny
    checkpoint = save_checkpoint(tmp_path / "tiny.pt", model_state=model.state_dict(), config=config,
                                 labels=["a", "b", "c"])
    ruled = run_calibration(checkpoint, root, tmp_path / "ruled")
    learned = run_calibration(checkpoint, root, tmp_path / "learned", "--no-health-rule")
    assert ruled["health_rule"].startswith("on") and "not learned" in ruled["health_rule"]
    assert learned["health_rule"].startswith("off")
    frozen, sparse = ruled["curves"]
    assert frozen["mean_gates"][1][0] == 0.0 and frozen["drop_pct"] == pytest.approx(100.0)
    assert frozen["flagged"] == pytest.approx([0.0, 7 / 8])         # T = 8: every frame after the first repeats
    assert sparse["flagged"] == [0.0, 0.0]                              # the rules do not touch points
    assert learned["curves"][0]["mean_gates"][1][0] > 0.0 and learned["curves"][0]["flagged"] is None
    assert frozen["mean_gates"][0][0] == learned["curves"][0]["mean_gates"][0][0]   # clean RGB-D: nothing rejected
    assert "frames rejected by the health rule" in (tmp_path / "ruled" / "calibration.md").read_text()
    # the faulted modality alone: a frozen camera rejected by the rules leaves nothing to decide from, and
    # such clips count as misses (the node publishes no decision), never a crash
    assert frozen["alone_accuracy"][1] == 0.0 and len(sparse["alone_accuracy"]) == 2


def test_alone_accuracy_is_the_accuracy_with_only_the_faulted_modality_present(tiny):
    from rcmcl_core.augment.degrade import drop_modalities
    from rcmcl_core.evaluation.robustness import evaluate

    model, config, root = tiny
    dataset = ClipDataset(root, split="xsub", subset="all", config=config, train=False)
    curve, = calibrate(model, dataset, faults=["points_sparsity"], levels=[1.0], batch_size=4, progress=False)
    only_points = evaluate(model, dataset, conditions={"P only": lambda b, g: drop_modalities(
        b, absent=["rgbd", "skeleton"])}, batch_size=4, progress=False)["P only"]
    assert curve.alone_accuracy[0] == only_points.accuracy
    assert "that modality alone" in calibration_table([curve])
