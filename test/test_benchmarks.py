"""benchmarks/*.py: every command answers --help and every helper module imports (on this tree, as on a fresh
clone), the anchor is the architecture it claims to be, and the CPU paths of the speed scripts run end to end
at tiny sizes (their GPU paths share the code). Nothing here asserts a timing."""
import importlib.util
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
DOC_COMMAND = re.compile(r"python[\d.]* benchmarks/(\w+)\.py")


def _load(name: str):
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module                      # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _is_command(path: Path) -> bool:
    return 'if __name__ == "__main__":' in path.read_text()


def _run_in_fresh_process(path: Path) -> subprocess.CompletedProcess:
    """`python benchmarks/<name>.py --help` for a command, a plain import for a helper module; this tree's
    packages come first on the path (the shared venv's editable install may point at another checkout)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(BENCHMARKS)])}
    argv = [str(path), "--help"] if _is_command(path) else ["-c", f"import {path.stem}"]
    return subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)


def test_every_benchmark_command_prints_its_usage_and_every_helper_imports():
    scripts = sorted(BENCHMARKS.glob("*.py"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(scripts, pool.map(_run_in_fresh_process, scripts)))
    failures = [f"{path.name}: exit {r.returncode}\n{r.stdout[-2000:]}{r.stderr[-2000:]}"
                for path, r in results.items() if r.returncode != 0
                or (_is_command(path) and not r.stdout.startswith(f"usage: {path.name}"))]
    assert not failures, "\n\n".join(failures)


def test_every_benchmark_the_docs_run_is_a_command():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(BENCHMARKS.glob("*.py"))]
    named = {name for doc in docs for name in DOC_COMMAND.findall(doc.read_text())}
    assert named, "no benchmark command found in the docs"
    missing = sorted(name for name in named if not (BENCHMARKS / f"{name}.py").is_file()
                     or not _is_command(BENCHMARKS / f"{name}.py"))
    assert not missing, f"docs run these, but they are no benchmark command: {missing}"


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_the_anchor_has_torchvision_r2plus1d_18_parameters_and_outputs():
    anchor = _load("r2plus1d_anchor").R2Plus1D18()
    assert sum(p.numel() for p in anchor.parameters()) == 31_505_325       # torchvision r2plus1d_18
    with torch.no_grad():
        assert anchor.eval()(torch.rand(2, 3, 4, 32, 32)).shape == (2, 400)


def test_model_speed_tiny_run_prints_the_issue_rows_against_the_anchor(capsys, one_thread, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",            # as on a GPU box without ROS
                        lambda name, *a: None if name == "rclpy" else real_find_spec(name, *a))
    _load("model_speed").main(["--quick", "--threads", "1", "--iters", "2", "--train-batch", "2"])
    out = capsys.readouterr().out
    assert "| batch-1 inference p50 (2 runs) |" in out and "| pretraining, batch 2 (3 steps) |" in out
    assert "tiny        0.19" in out                                          # the latency table row
    torch_row = next(line for line in out.splitlines() if line.startswith("| torch (point_ops), eager |"))
    assert torch_row.endswith("| yes |") and float(torch_row.split("|")[4]) > 0     # sampling + grouping, ms
    assert "| fused Triton (fused_point_ops) | not run: needs CUDA (this run: cpu)" in out
    assert "| bag replay | skipped: rclpy is not importable" in out


def test_model_speed_bag_replay_row_replays_the_short_demo_bag(capsys, one_thread, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                                  # the demo bag is cached under ./cache
    _load("model_speed").bag_replay_row("tiny", device=torch.device("cpu"), quick=True)
    row = capsys.readouterr().out.strip().splitlines()[-1].split("|")
    assert row[1].strip().startswith("tiny, ") and float(row[2]) > 0 and float(row[3]) > 0


def test_pipeline_speed_splits_the_wall_time_of_real_pipeline_windows(capsys, one_thread):
    _load("pipeline_speed").main(["--preset", "tiny", "--windows", "3", "--repeats", "1", "--threads", "1"])
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in out.splitlines()
            if line.startswith("| ") and line.split("|")[2].strip().replace(".", "").isdigit()}
    parts = ("conversion", "sync", "preprocess", "window", "model", "publish", "other")
    assert all(rows[part] >= -0.05 for part in parts) and rows["model"] > 0 and rows["conversion"] > 0
    assert rows["total"] == pytest.approx(sum(rows[part] for part in parts), abs=0.05)
    assert rows["conversion"] == pytest.approx(sum(rows[f"- {s}"] for s in ("rgb", "depth", "points", "skeleton")),
                                               abs=0.05)


def test_train_step_profile_splits_a_real_pretraining_step_by_part(capsys, one_thread, tmp_path):
    from clip_factory import make_clip_root
    import rcmcl_core.augment.batch as augment
    import rcmcl_core.training.objectives as objectives
    before = (augment.make_views, augment.mask_skeleton, objectives.degrade_for_training)
    root = make_clip_root(tmp_path, classes=4, clips_per_class=4)
    _load("train_step_profile").main(["--preset", "tiny", "--data-root", str(root), "--batch", "4", "--steps", "2",
                                      "--warmup", "1", "--threads", "1"])
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in out.splitlines()
            if line.startswith("| ") and line.split("|")[2].strip().replace(".", "").replace("-", "").isdigit()}
    parts = ("data", "augment+degrade", "forward rgbd", "forward skeleton", "forward points", "forward rest",
             "backward", "optimiser")
    assert all(rows[part] > 0 for part in parts if part != "forward rest")
    assert rows["total"] == pytest.approx(sum(rows[part] for part in parts), abs=0.3)
    assert "clips/s:" in out and "load average" in out
    assert (augment.make_views, augment.mask_skeleton, objectives.degrade_for_training) == before
def test_people_cost_runs_at_tiny_sizes_and_prints_one_row_per_people_count(capsys, one_thread):
    _load("people_cost").main(["--people", "1", "3", "--rounds", "1", "--height", "60", "--width", "80",
                               "--cloud", "2000", "--max-batch", "2", "--threads", "1"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip()[:1].isdigit()]
    assert [(r[0], r[1]) for r in rows] == [("1", "1"), ("3", "2")]          # people, batch (round-robin cap)
    assert rows[1][-1] == "0.267"                                            # period = stride x ceil(3 / 2)


def _calibration_file(path, *, clean, occluded, clips=240, health="on"):
    import json
    curve = {"fault": "rgbd_occlusion", "severities": [0.0, 1.0], "accuracy": [clean, occluded]}
    path.write_text(json.dumps({"clips": clips, "seed": 0, "health_rule": health, "subset": "test",
                                "curves": [curve]}))
    return path


def test_calibration_compare_lines_up_conditions_and_refuses_other_clips(tmp_path):
    compare = _load("calibration_compare").compare
    new = _calibration_file(tmp_path / "new.json", clean=95.0, occluded=80.0)
    old = _calibration_file(tmp_path / "old.json", clean=94.0, occluded=82.5)
    rows, text = compare(new, old)
    assert rows == [("clean", 95.0, 94.0, 1.0), ("rgbd_occlusion@1", 80.0, 82.5, -2.5)]
    assert "2 conditions: new - old from -2.5 to +1.0 points; new worse in 1" in text
    with pytest.raises(SystemExit, match="different clips"):
        compare(new, _calibration_file(tmp_path / "other.json", clean=1.0, occluded=1.0, clips=16))


def test_gate_mode_ablation_keeps_the_pretrained_encoders_and_draws_a_new_gate(tmp_path):
    import dataclasses
    from rcmcl_core.checkpoint import load_checkpoint, save_checkpoint
    from rcmcl_core.config import preset
    from rcmcl_core.models.rcmcl import RCMCL
    module = _load("gate_mode_compact")
    base = preset("tiny")
    pretrained = RCMCL(config=base)
    with torch.no_grad():
        for parameter in pretrained.gate.parameters():
            parameter.fill_(7.0)                                 # a pretrained gate that must not survive
    path = save_checkpoint(tmp_path / "pretrain.pt", model_state=pretrained.state_dict(), config=base,
                           labels=[f"c{i}" for i in range(base.model.num_classes)])
    config = module.ablation_config(base, mode="paper_shared", epochs=3)
    assert config.model.gate_mode == "paper_shared" and config.optim.finetune_epochs == 3
    init = load_checkpoint(module.fresh_gate_init(path, config, tmp_path, seed=0), expected_config=config)
    state = pretrained.state_dict()
    for name, value in init.model_state.items():
        if name.startswith("gate."):
            assert not torch.equal(value, torch.full_like(value, 7.0))
        else:
            assert torch.equal(value, state[name]), name
    assert init.model_state["gate.scorers.0.weight"].shape[0] == 1 and "gate.scorers.1.weight" not in init.model_state
    assert dataclasses.replace(config.model, gate_mode=base.model.gate_mode) == base.model
