"""Training objectives and loops on the tiny preset: losses fall, probes only move the classifier,
a run stopped mid-epoch resumes exactly, and two gloo processes end with identical replicas."""
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rcmcl_core.training.baselines import CMKMObjective
from rcmcl_core.checkpoint import CheckpointError, load_checkpoint
from rcmcl_core.config import preset
from rcmcl_core.data.dataset import ClipDataset, collate
from rcmcl_core.models.rcmcl import RCMCL
from rcmcl_core.training.objectives import PretrainObjective, SupervisedObjective
from rcmcl_core.training.loop import train_stage, warmup_cosine


def _dataset(root, config, subset="all"):
    return ClipDataset(root, split="xsub", subset=subset, config=config, train=True, seed=0)


def _fixed_batch(root, config, size=8):
    dataset = _dataset(root, config)
    return collate([dataset[i] for i in range(size)])


def _losses_over_steps(objective, batch, steps=20, lr=3e-3):
    optimizer = torch.optim.AdamW([p for p in objective.parameters() if p.requires_grad], lr=lr)
    losses = []
    for _ in range(steps):
        terms = objective(batch, torch.Generator().manual_seed(0))   # same views every step: a fixed problem
        optimizer.zero_grad()
        terms["total"].backward()
        optimizer.step()
        losses.append(float(terms["total"].detach()))
    return losses


def test_pretraining_objective_falls_over_20_steps_on_a_fixed_batch(root, config):
    torch.manual_seed(0)
    losses = _losses_over_steps(PretrainObjective(model=RCMCL(config=config), config=config),
                                _fixed_batch(root, config))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3


def test_pretraining_reports_every_term_of_eq6(root, config):
    torch.manual_seed(0)
    terms = PretrainObjective(model=RCMCL(config=config), config=config)(_fixed_batch(root, config),
                                                                         torch.Generator().manual_seed(1))
    assert set(terms) == {"total", "cm", "im", "deg", "fusion"}
    weights = config.loss
    expected = (weights.lambda_cm * terms["cm"] + weights.lambda_im * terms["im"] + weights.lambda_deg * terms["deg"]
                + weights.lambda_fusion * terms["fusion"])
    assert torch.allclose(terms["total"].detach(), expected)
    assert float(terms["deg"]) > 0 and float(terms["cm"]) > 0


def test_pretraining_trains_the_gate_through_the_fusion_term(root, config):
    torch.manual_seed(0)
    model = RCMCL(config=config)
    terms = PretrainObjective(model=model, config=config)(_fixed_batch(root, config), torch.Generator().manual_seed(1))
    terms["total"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.gate.parameters())


def test_supervised_objective_falls_over_20_steps_on_a_fixed_batch(root, config):
    torch.manual_seed(0)
    model = RCMCL(config=config)
    losses = _losses_over_steps(SupervisedObjective(model=model, config=config, frozen_backbone=False),
                                _fixed_batch(root, config))
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3


def test_linear_probe_moves_only_the_classifier(root, config):
    torch.manual_seed(0)
    model = RCMCL(config=config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _losses_over_steps(SupervisedObjective(model=model, config=config, frozen_backbone=True),
                       _fixed_batch(root, config), steps=3)
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("classifier.") for k in changed), changed


def test_cmkm_baseline_objective_falls_over_20_steps(root, config):
    torch.manual_seed(0)
    losses = _losses_over_steps(CMKMObjective(model=RCMCL(config=config), config=config), _fixed_batch(root, config))
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3


def test_learning_rate_warms_up_linearly_then_decays_by_cosine():
    factor = warmup_cosine(total_steps=100, warmup_steps=10)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(55) == pytest.approx(0.5, abs=1e-6) and factor(100) == pytest.approx(0.0, abs=1e-9)


def test_a_run_stopped_mid_epoch_resumes_to_the_same_weights(root, config, tmp_path):
    dataset = _dataset(root, config)                       # 16 clips, batch 4 -> 4 steps per epoch, 2 epochs
    straight = train_stage(stage="pretrain", config=config, dataset=dataset, labels=dataset.class_names,
                           out_dir=tmp_path / "straight", device="cpu", progress=False, checkpoint_every=100)
    stopped = train_stage(stage="pretrain", config=config, dataset=dataset, labels=dataset.class_names,
                          out_dir=tmp_path / "stopped", device="cpu", progress=False, max_steps=3)
    assert stopped.steps == 3
    resumed = train_stage(stage="pretrain", config=config, dataset=dataset, labels=dataset.class_names,
                          out_dir=tmp_path / "stopped", device="cpu", progress=False, resume=True)
    assert resumed.steps == straight.steps == 8
    a, b = load_checkpoint(straight.checkpoint).model_state, load_checkpoint(resumed.checkpoint).model_state
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [line.split(",")[2] for line in resumed.metrics_csv.read_text().splitlines()[1:]]
    assert steps == [str(k) for k in range(1, 9)], "each step logged exactly once across the stop"


def test_a_resumed_run_may_change_its_schedule_length_but_nothing_else(root, config, tmp_path, capsys):
    dataset = _dataset(root, config)
    long = dataclasses.replace(config, optim=dataclasses.replace(config.optim, pretrain_epochs=4))
    train_stage(stage="pretrain", config=long, dataset=dataset, labels=dataset.class_names, out_dir=tmp_path,
                device="cpu", progress=False, max_steps=3)
    other_loss = dataclasses.replace(config, loss=dataclasses.replace(config.loss, lambda_cm=0.5))
    with pytest.raises(CheckpointError, match="loss.lambda_cm"):
        train_stage(stage="pretrain", config=other_loss, dataset=dataset, labels=dataset.class_names,
                    out_dir=tmp_path, device="cpu", progress=False, resume=True)
    short = train_stage(stage="pretrain", config=config, dataset=dataset, labels=dataset.class_names,
                        out_dir=tmp_path, device="cpu", progress=False, resume=True)
    assert short.steps == 8, "2 epochs of 4 batches: the shortened schedule, counted from step 3"
    assert "another schedule length (was != now: optim.pretrain_epochs: 4 != 2)" in capsys.readouterr().err
    assert load_checkpoint(short.checkpoint).config.optim.pretrain_epochs == 2


def test_training_killed_with_sigkill_resumes_without_losing_progress(root, tmp_path):
    """A real SIGKILL mid-run: the last checkpoint stays loadable and --resume finishes the run."""
    out = tmp_path / "run"
    script = (f"import sys; sys.path[:0] = [{str(Path(__file__).resolve().parent)!r}, "
              f"{str(Path(__file__).resolve().parents[3])!r}]\n"
              "from test_training_loop import _kill_target\n"
              f"_kill_target({str(root)!r}, {str(out)!r})\n")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 90
    while time.time() < deadline and process.poll() is None:
        metrics = out / "metrics.csv"
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 4:   # header + 3 steps
            break
        time.sleep(0.05)
    assert process.poll() is None, process.stderr.read().decode()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait()
    checkpoint = load_checkpoint(out / "last.pt")
    reached = checkpoint.train_state["step"]
    assert reached >= 2
    result = _kill_target(str(root), str(out), resume=True)
    assert not list(out.glob(".*.tmp")), "a temp file left by a kill mid-save is cleaned up on resume"
    assert result.steps == 8
    steps = [int(line.split(",")[2]) for line in result.metrics_csv.read_text().splitlines()[1:]]
    assert steps == list(range(1, 9))


def _kill_target(root, out, resume=False):
    config = preset("tiny")
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, num_classes=4),
                                 optim=dataclasses.replace(config.optim, batch_size=4, pretrain_epochs=4))
    dataset = ClipDataset(Path(root), split="xsub", subset="train", config=config, train=True)
    return train_stage(stage="pretrain", config=config, dataset=dataset, labels=dataset.class_names,
                       out_dir=Path(out), device="cpu", progress=False, checkpoint_every=1, resume=resume)


def _ddp_worker_script(root: Path, out: Path) -> str:
    return f"""
import dataclasses, os, sys, torch
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from rcmcl_core.config import preset
from rcmcl_core.data.dataset import ClipDataset
from rcmcl_core.training.loop import train_stage
torch.set_num_threads(1)
config = preset("tiny")
config = dataclasses.replace(config, model=dataclasses.replace(config.model, num_classes=4),
                             optim=dataclasses.replace(config.optim, batch_size=4, pretrain_epochs=2))
dataset = ClipDataset({str(root)!r}, split="xsub", subset="all", config=config, train=True)
result = train_stage(stage="pretrain", config=config, dataset=dataset, labels=dataset.class_names,
                     out_dir={str(out)!r}, device="cpu", progress=False)
torch.save(result.model.state_dict(), os.path.join({str(out)!r}, f"rank{{os.environ['RANK']}}.pt"))
"""


def test_two_gloo_processes_under_torchrun_end_with_identical_replicas(root, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_ddp_worker_script(root, tmp_path / "ddp"))
    completed = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                                str(script)], capture_output=True, text=True, timeout=240,
                               env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert completed.returncode == 0, completed.stderr[-3000:]
    rank0 = torch.load(tmp_path / "ddp" / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "ddp" / "rank1.pt", weights_only=True)
    tiny = preset("tiny")
    initial = RCMCL(config=dataclasses.replace(tiny, model=dataclasses.replace(tiny.model, num_classes=4)))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    assert any(not torch.equal(rank0[k], v) for k, v in initial.state_dict().items() if k in rank0)
    assert (tmp_path / "ddp" / "pretrain.pt").is_file()


def test_with_a_bystander_in_every_clip_the_model_is_fed_two_bodies_and_still_learns(root, config):
    config = dataclasses.replace(config, augment=dataclasses.replace(config.augment, bystander=1.0)).validate()
    torch.manual_seed(0)
    model = RCMCL(config=config)
    seen = []
    model.encoders["skeleton"].register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    losses = _losses_over_steps(SupervisedObjective(model=model, config=config, frozen_backbone=False),
                                _fixed_batch(root, config))
    second_body_tracked = seen[0][:, :, 1].abs().sum(dim=(-1, -2)) > 0         # (B, T)
    assert second_body_tracked.any(dim=1).float().mean() > 0.5
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3
