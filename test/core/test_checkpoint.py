"""Checkpoints: bit-exact round trip, atomic writes, weights_only safety and clear errors."""
import numpy as np
import pytest
import torch

from rcmcl_core.checkpoint import (FORMAT, FORMAT_VERSION, CheckpointError, check_model_compatible, load_model,
                                   load_checkpoint, save_checkpoint)
from rcmcl_core.config import preset


class ArbitraryObject:
    """Stands for any pickled Python object a malicious or careless file could carry."""


def _model(*, hidden: int = 6) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.BatchNorm1d(hidden),
                               torch.nn.Linear(hidden, 3))


def _trained():
    """A model and AdamW + cosine scheduler after two steps, so every state holds non-trivial tensors."""
    model = _model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.05)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    for _ in range(2):
        loss = model(torch.randn(8, 4)).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler


def _labels(config):
    return [f"action_{k:02d}" for k in range(config.model.num_classes)]


def _save(path, config=None, **overrides):
    config = config or preset("tiny")
    arguments = dict(model_state=_model().state_dict(), config=config, labels=_labels(config),
                     metrics={"accuracy": 0.5})
    return save_checkpoint(path, **{**arguments, **overrides})


def _assert_equal_nested(actual, expected, where="state"):
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor) and actual.dtype == expected.dtype, where
        assert torch.equal(actual, expected), where
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), where
        for key in expected:
            _assert_equal_nested(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for index, (a, e) in enumerate(zip(actual, expected)):
            _assert_equal_nested(a, e, f"{where}[{index}]")
    else:
        assert actual == expected, where


def test_round_trip_is_bit_exact_for_model_optimizer_scheduler_and_metadata(tmp_path):
    model, optimizer, scheduler = _trained()
    config = preset("tiny")
    train_state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": 3,
                   "step": 17, "torch_rng": torch.get_rng_state()}
    path = save_checkpoint(tmp_path / "run" / "last.pt", model_state=model.state_dict(), config=config,
                           labels=_labels(config), metrics={"accuracy": 0.8125, "loss": 1.5},
                           train_state=train_state)
    loaded = load_checkpoint(path, expected_config=config)
    assert loaded.path == path and loaded.config == config
    assert loaded.labels == _labels(config) and loaded.metrics == {"accuracy": 0.8125, "loss": 1.5}
    _assert_equal_nested(loaded.model_state, model.state_dict(), "model_state")
    assert loaded.model_state._metadata == model.state_dict()._metadata  # module versions survive too
    _assert_equal_nested(loaded.train_state, train_state, "train_state")


def test_restored_optimizer_continues_exactly_like_the_original(tmp_path):
    model, optimizer, _ = _trained()
    config = preset("tiny")
    path = save_checkpoint(tmp_path / "c.pt", model_state=model.state_dict(), config=config,
                           labels=_labels(config), train_state={"optimizer": optimizer.state_dict()})
    loaded = load_checkpoint(path)
    clone = _model()
    clone.load_state_dict(loaded.model_state)
    clone_optimizer = torch.optim.AdamW(clone.parameters(), lr=1.0)
    clone_optimizer.load_state_dict(loaded.train_state["optimizer"])
    batch = torch.randn(8, 4)
    for net, opt in ((model, optimizer), (clone, clone_optimizer)):
        opt.zero_grad()
        net(batch).square().mean().backward()
        opt.step()
    _assert_equal_nested(clone.state_dict(), model.state_dict())


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found: .*nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")


def test_truncated_file_is_reported_as_truncated(tmp_path):
    path = _save(tmp_path / "c.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"c\.pt is truncated or corrupt"):
        load_checkpoint(path)


def test_a_flipped_byte_is_reported_as_corruption_not_as_another_format(tmp_path):
    path = _save(tmp_path / "c.pt")
    data = path.read_bytes()
    path.write_bytes(data.replace(FORMAT.encode(), FORMAT.upper().encode(), 1))
    with pytest.raises(CheckpointError, match=r"is truncated or corrupt: archive member .*data\.pkl fails its CRC"):
        load_checkpoint(path)


def test_a_file_that_is_not_a_torch_checkpoint_is_reported(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("walk\nrun\n")
    with pytest.raises(CheckpointError, match=r"is not a torch checkpoint: expected a zip archive"):
        load_checkpoint(path)


def test_a_pickled_python_object_is_refused_by_the_weights_only_load(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "payload": ArbitraryObject()}, path)
    with pytest.raises(CheckpointError, match=r"is not a plain-tensor rcmcl checkpoint \(refused by "
                                              r"weights_only load\): Unsupported global.*ArbitraryObject"):
        load_checkpoint(path)


def test_a_bare_state_dict_is_reported_as_missing_the_format_marker(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(_model().state_dict(), path)
    with pytest.raises(CheckpointError, match=r"not an rcmcl checkpoint: expected a dict with format "
                                              r"'rcmcl-checkpoint', got a dict with keys 0\.weight"):
        load_checkpoint(path)


def _rewrite(path, **changes):
    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    torch.save(payload, path)


def test_an_unknown_format_version_is_refused(tmp_path):
    path = _save(tmp_path / "c.pt")
    _rewrite(path, format_version=7)
    with pytest.raises(CheckpointError, match=f"made by format version 7, this rcmcl reads {FORMAT_VERSION}"):
        load_checkpoint(path)


def test_a_config_mismatch_names_both_presets_and_the_differing_keys(tmp_path):
    lite = preset("lite")
    path = _save(tmp_path / "c.pt", config=lite)
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path, expected_config=preset("tiny"))
    message = str(caught.value)
    assert "was trained with preset 'lite', expected 'tiny'; differs in: " in message
    assert "clip.frames: 16 != 8" in message
    assert message.endswith(f"and {len(lite.diff(preset('tiny'))) - 1 - 10} more")  # minus 'preset', 10 shown


def test_ignored_config_prefixes_and_the_preset_name_alone_do_not_count_as_a_mismatch(tmp_path):
    saved = preset("tiny")
    path = _save(tmp_path / "c.pt", config=saved)
    expected = preset("tiny")
    expected.preset = "my-tiny"
    expected.optim.lr = 0.5
    expected.augment.view_shear = 0.0
    assert load_checkpoint(path, expected_config=expected, ignore=("optim.", "augment.")).config == saved
    with pytest.raises(CheckpointError, match=r"differs in: optim\.lr: 0\.002 != 0\.5$"):
        load_checkpoint(path, expected_config=expected, ignore=("augment.",))


def test_a_label_count_that_disagrees_with_num_classes_is_refused_on_load(tmp_path):
    path = _save(tmp_path / "c.pt")
    _rewrite(path, labels=["walk", "run"])
    with pytest.raises(CheckpointError, match="has 2 labels but its config says model.num_classes = 24"):
        load_checkpoint(path)


def test_saving_refuses_a_label_count_that_disagrees_with_num_classes(tmp_path):
    with pytest.raises(CheckpointError, match="labels must be 24 strings"):
        _save(tmp_path / "c.pt", labels=["walk"])
    assert not (tmp_path / "c.pt").exists()


def test_saving_names_a_train_state_value_weights_only_could_not_read(tmp_path):
    with pytest.raises(CheckpointError, match=r"train_state\['rng'\]\['numpy'\] is a numpy.ndarray"):
        _save(tmp_path / "c.pt", train_state={"rng": {"numpy": np.zeros(3)}})
    assert list(tmp_path.iterdir()) == []


def test_a_failing_write_leaves_the_previous_checkpoint_intact_and_no_temp_file(tmp_path, monkeypatch):
    path = _save(tmp_path / "c.pt", metrics={"accuracy": 0.25})
    before = path.read_bytes()

    def save_a_few_bytes_then_fail(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", save_a_few_bytes_then_fail)
    with pytest.raises(OSError, match="No space left"):
        _save(path, metrics={"accuracy": 0.75})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path).metrics == {"accuracy": 0.25}
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_model_compatibility_lists_missing_unexpected_and_mismatched_keys():
    state = _model(hidden=6).state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["2.bias"]
    with pytest.raises(CheckpointError) as caught:
        check_model_compatible(state, _model(hidden=5))
    message = str(caught.value)
    assert "1 missing (2.bias)" in message and "1 unexpected (extra.weight)" in message
    assert "0.weight: checkpoint (6, 4) vs model (5, 4)" in message
    assert "another config" in message


def test_a_compatible_state_passes_the_model_check():
    check_model_compatible(_model().state_dict(), _model())


def test_load_model_gives_the_saved_weights_in_eval_mode_and_refuses_weights_of_another_config(tiny_checkpoint,
                                                                                               tmp_path):
    path = tiny_checkpoint()
    model, checkpoint = load_model(path)
    assert not model.training and checkpoint.labels[0] == "action_00"
    assert all(torch.equal(model.state_dict()[k], v) for k, v in checkpoint.model_state.items())
    foreign = torch.load(path, weights_only=True)
    foreign["config"]["model"]["feature_dim"] = 48          # the weights stay those of feature_dim 32
    torch.save(foreign, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="do not fit this model"):
        load_model(tmp_path / "foreign.pt")
