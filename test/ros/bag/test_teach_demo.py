"""teach-demo end to end on a tiny budget: takes -> labels -> make-shards -> fine-tune -> held-out score."""
from __future__ import annotations

import json

from rcmcl_core.checkpoint import load_checkpoint
from rcmcl_ros.__main__ import main
from rcmcl_ros.bag.labels_file import read_labels
from rcmcl_ros.bag.teach_demo import RESULT

CLASSES = ("squat", "stretch arms overhead")


def test_teach_demo_records_labels_trains_and_scores_a_held_out_subject(tmp_path, capsys):
    argv = ["teach-demo", "--out", str(tmp_path), "--takes", "2", "--held-out-takes", "1", "--epochs", "1",
            "--size", "32", "--segment-s", "3", "--no-progress"]
    for name in CLASSES:
        argv += ["--class", name]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "held-out subject, clean windows" in out
    result = json.loads((tmp_path / RESULT).read_text())
    assert set(result["stages_s"]) == {"record", "make_shards", "finetune", "evaluate"}
    assert result["clean_windows"] > 0 and 0.0 <= result["accuracy"] <= 1.0
    assert result["train_clips"] > 0 and result["test_clips"] > 0                  # the held-out takes: test
    assert load_checkpoint(result["checkpoint"]).labels == sorted(CLASSES)
    labels = read_labels(tmp_path / "labels.csv")
    assert len(labels.recordings) == 2 * 2 + 2                                      # 2 takes + 1 held out, each
    assert {labels.split_of(r) for r in labels.recordings if "_s02_" in r} == {"test"}
    assert json.loads((tmp_path / "shards" / "manifest.json").read_text())["splits"]["recordings"]["test"]
    assert main(argv) == 0                                                          # a rerun reuses the takes
    assert "6 reused from an earlier run" in capsys.readouterr().out               # ... and the shards
