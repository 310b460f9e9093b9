"""`rcmcl plot calibration` with the node's sensor-health rules (default) and without (`--no-health-rule`):
a frozen camera's gate is exactly 0 at full severity only with the rules, which say how many frames they
rejected; the learned-only run reports none."""
import dataclasses
import json

import pytest
import torch

from clip_factory import make_clip_root
from rcmcl_core.checkpoint import save_checkpoint
from rcmcl_core.cli import main
from rcmcl_core.config import preset
from rcmcl_core.models.rcmcl import RCMCL


@pytest.fixture(scope="module")
def checkpoint_and_clips(tmp_path_factory):
    config = preset("tiny")
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, num_classes=3))
    root = make_clip_root(tmp_path_factory.mktemp("clips"), classes=3, clips_per_class=2)
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", model_state=RCMCL(config=config).state_dict(),
                           config=config, labels=["a", "b", "c"])
    return path, root


def run(checkpoint, root, out, *extra):
    code = main(["plot", "calibration", str(checkpoint), "--data-root", str(root), "--subset", "all",
                 "--faults", "rgbd_frozen", "points_sparsity", "--levels", "1", "--batch-size", "6",
                 "--out", str(out), "--no-progress", *extra])
    assert code == 0
    return json.loads((out / "calibration.json").read_text())


def test_the_rules_zero_a_frozen_cameras_gate_and_the_learned_only_run_does_not(checkpoint_and_clips, tmp_path):
    checkpoint, root = checkpoint_and_clips
    ruled = run(checkpoint, root, tmp_path / "ruled")
    learned = run(checkpoint, root, tmp_path / "learned", "--no-health-rule")
    assert ruled["health_rule"].startswith("on") and "not learned" in ruled["health_rule"]
    assert learned["health_rule"].startswith("off")
    frozen, sparse = ruled["curves"]
    assert frozen["mean_gates"][1][0] == 0.0 and frozen["drop_pct"] == pytest.approx(100.0)
    assert frozen["flagged"] == pytest.approx([0.0, 7 / 8])         # T = 8: every frame after the first repeats
    assert sparse["flagged"] == [0.0, 0.0]                              # the rules do not touch points
    assert learned["curves"][0]["mean_gates"][1][0] > 0.0 and learned["curves"][0]["flagged"] is None
    assert frozen["mean_gates"][0][0] == learned["curves"][0]["mean_gates"][0][0]   # clean RGB-D: nothing rejected
    assert "frames rejected by the health rule" in (tmp_path / "ruled" / "calibration.md").read_text()
