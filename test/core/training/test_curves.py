"""Learning curves (curves.jsonl, `rcmcl plot curves`), visible loss shares, the L_deg reductions and bad
shards, all on real tiny-preset training runs."""
import dataclasses
import math

import pytest
import torch

from clip_factory import make_clip_root
from rcmcl_core.cli import main
from rcmcl_core.training.curves import read_curves
from rcmcl_core.data.dataset import ClipDataset
from rcmcl_core.data.shards import ShardError
from rcmcl_core.training.losses import degradation_loss
from rcmcl_core.training.probe import probe_stage
from rcmcl_core.training.loop import build_model, train_stage

TERMS = ("cm", "im", "deg", "fusion")
PRETRAIN_KEYS = {"stage", "epoch", "step", "lr", "seconds", "total", "heldout_accuracy", "heldout_metric",
                 *(f"{kind}_{term}" for kind in ("loss", "weighted", "share") for term in TERMS)}


def _datasets(root, config):
    train = ClipDataset(root, split="xsub", subset="train", config=config, train=True)
    test = ClipDataset(root, split="xsub", subset="test", config=config, train=False)
    return train, test


def _finite(row):
    return all(math.isfinite(v) for v in row.values() if isinstance(v, float))


def test_two_pretraining_epochs_write_two_rows_with_every_term_its_share_and_heldout_accuracy(root, config, tmp_path):
    train, test = _datasets(root, config)
    train_stage(stage="pretrain", config=config, dataset=train, labels=train.class_names, out_dir=tmp_path,
                device="cpu", progress=False, heldout=test)
    rows = read_curves(tmp_path)
    assert [r["epoch"] for r in rows] == [0, 1]
    for row in rows:
        assert PRETRAIN_KEYS <= set(row), PRETRAIN_KEYS - set(row)
        assert _finite(row)
        assert sum(row[f"share_{t}"] for t in ("cm", "im", "deg", "fusion")) == pytest.approx(1.0)
        assert row["weighted_deg"] == pytest.approx(config.loss.lambda_deg * row["loss_deg"])
        assert row["total"] == pytest.approx(sum(row[f"weighted_{t}"] for t in ("cm", "im", "deg", "fusion")),
                                             rel=1e-4)
        assert 0.0 <= row["heldout_accuracy"] <= 100.0 and row["heldout_metric"] == "knn_top1"
    assert rows[1]["step"] == 2 * rows[0]["step"]


def test_a_resumed_run_has_each_epoch_once(root, config, tmp_path):
    train, test = _datasets(root, config)
    kwargs = dict(stage="finetune", config=config, dataset=train, labels=train.class_names, out_dir=tmp_path,
                  device="cpu", progress=False, heldout=test)
    steps_per_epoch = len(train) // config.optim.batch_size
    train_stage(**kwargs, max_steps=steps_per_epoch + 1, checkpoint_every=1000)   # killed inside epoch 2
    assert [r["epoch"] for r in read_curves(tmp_path)] == [0]
    train_stage(**kwargs, resume=True)
    rows = read_curves(tmp_path)
    assert [r["epoch"] for r in rows] == [0, 1]
    assert all(_finite(r) and r["heldout_metric"] == "top1" and r["share_ce"] == 1.0 for r in rows)
    train_stage(**kwargs, resume=True)                                             # already finished
    assert [r["epoch"] for r in read_curves(tmp_path)] == [0, 1]
    straight = train_stage(**{**kwargs, "out_dir": tmp_path / "straight"})
    resumed = torch.load(tmp_path / "finetune.pt", weights_only=True)["model_state"]
    assert all(torch.equal(value, resumed[key]) for key, value in straight.model.state_dict().items())
    assert read_curves(tmp_path / "straight")[1]["heldout_accuracy"] == rows[1]["heldout_accuracy"]


def test_the_heldout_evaluation_leaves_a_frozen_backbone_in_eval_mode(root, config):
    from rcmcl_core.training.heldout import classifier_accuracy
    from rcmcl_core.training.objectives import SupervisedObjective
    train, test = _datasets(root, config)
    model = build_model(config, init_checkpoint=None, device=torch.device("cpu"))
    SupervisedObjective(model=model, config=config, frozen_backbone=True)
    classifier_accuracy(model, test, batch_size=4, device=torch.device("cpu"))
    assert model.classifier.training and not model.encoders.training and not model.gate.training


def test_the_linear_probe_logs_its_epochs(root, config, tmp_path):
    train, test = _datasets(root, config)
    model = build_model(config, init_checkpoint=None, device=torch.device("cpu"))
    probe_stage(config=config, model=model, dataset=train, labels=train.class_names, out_dir=tmp_path,
                device=torch.device("cpu"), progress=False, heldout=test)
    rows = read_curves(tmp_path)
    assert [r["epoch"] for r in rows] == list(range(config.optim.probe_epochs))
    assert all(_finite(r) and 0 <= r["heldout_accuracy"] <= 100 for r in rows)


def test_plot_curves_writes_a_png(root, config, tmp_path):
    train, test = _datasets(root, config)
    train_stage(stage="pretrain", config=config, dataset=train, labels=train.class_names, out_dir=tmp_path / "run",
                device="cpu", progress=False, heldout=test)
    out = tmp_path / "figures" / "curves.png"
    assert main(["plot", "curves", f"tiny={tmp_path / 'run'}", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_plot_curves_of_a_folder_without_curves_is_a_one_line_error(tmp_path, capsys):
    assert main(["plot", "curves", str(tmp_path), "--out", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "curves.jsonl" in err


def test_the_paper_sum_form_of_l_deg_is_the_per_joint_mean_times_the_joints_per_sample():
    generator = torch.Generator().manual_seed(0)
    target = torch.randn(3, 4, 2, 25, 3, generator=generator)
    reconstruction = target + 0.1 * torch.randn(target.shape, generator=generator)
    valid = torch.ones(3, 4, 2, dtype=torch.bool)
    valid[:, :, 1] = False                                        # one tracked body: 4 x 25 joints per sample
    mean = degradation_loss(reconstruction, target, valid=valid)
    summed = degradation_loss(reconstruction, target, valid=valid, reduction="sum")
    assert summed.item() == pytest.approx(mean.item() * 4 * 25, rel=1e-5)
    with pytest.raises(ValueError, match="reduction"):
        degradation_loss(reconstruction, target, reduction="max")


def test_a_shard_corrupted_mid_run_stops_with_its_name_and_keeps_the_last_checkpoint(root, config, tmp_path):
    copy = make_clip_root(tmp_path / "data", classes=4, clips_per_class=4)
    train = ClipDataset(copy, split="xsub", subset="train", config=config, train=True)
    out = tmp_path / "run"
    train_stage(stage="pretrain", config=config, dataset=train, labels=train.class_names, out_dir=out,
                device="cpu", progress=False, max_steps=1)
    good = (out / "last.pt").read_bytes()
    fresh = ClipDataset(copy, split="xsub", subset="train", config=config, train=True)   # index read, no images yet
    shard = copy / "shards" / "shard_00000.npz"
    shard.write_bytes(shard.read_bytes()[:200] + b"\0" * 4096)
    with pytest.raises(ShardError, match="shard_00000.npz"):
        train_stage(stage="pretrain", config=config, dataset=fresh, labels=fresh.class_names, out_dir=out,
                    device="cpu", progress=False, resume=True)
    assert (out / "last.pt").read_bytes() == good
    assert not list(out.glob(".*.tmp"))


def test_a_bad_shard_read_by_a_dataloader_worker_is_one_line_naming_it(config, tmp_path):
    copy = make_clip_root(tmp_path / "data", classes=4, clips_per_class=4)
    with_workers = dataclasses.replace(config, optim=dataclasses.replace(config.optim, num_workers=1))
    fresh = ClipDataset(copy, split="xsub", subset="train", config=with_workers, train=True)
    shard = copy / "shards" / "shard_00000.npz"
    shard.write_bytes(shard.read_bytes()[:200] + b"\0" * 4096)
    with pytest.raises(ShardError) as caught:
        train_stage(stage="pretrain", config=with_workers, dataset=fresh, labels=fresh.class_names,
                    out_dir=tmp_path / "run", device="cpu", progress=False)
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and "shard_00000.npz" in message and "unreadable shard" in message


def test_a_missing_shard_is_a_one_line_cli_error_naming_it(tmp_path, capsys):
    copy = make_clip_root(tmp_path / "data", classes=4, clips_per_class=4)
    (copy / "shards" / "shard_00000.npz").unlink()
    code = main(["pretrain", "--preset", "tiny", "--data-root", str(copy), "--out", str(tmp_path / "run"),
                 "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "shard_00000.npz" in err
    assert not (tmp_path / "run" / "last.pt").exists()
