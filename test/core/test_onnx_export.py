"""rcmcl export --format onnx (rcmcl_core/onnx_export.py) and the onnxruntime backend (onnx_backend.py) on the
CPU: the file agrees with the eager forward() for every absent pattern and a batch of people, carries the
checkpoint's labels and hashes, refuses another checkpoint or clip config, and is never written when the parity
check fails. The shipped ONNX file belongs to the shipped checkpoint."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from rcmcl_core.checkpoint import load_model
from rcmcl_core.onnx_backend import OnnxForward
from rcmcl_core.onnx_export import (ABSENT_PATTERNS, META, OnnxExportError, OnnxMismatchError, check_matches,
                                    export_onnx, random_windows, read_metadata)

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # conftest.py


def scores(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=1)


def test_every_absent_pattern_and_a_batch_of_people_match_the_eager_model(tiny_checkpoint, tiny_onnx):
    model, checkpoint = load_model(tiny_checkpoint())
    forward = OnnxForward(tiny_onnx(), config=model.config, labels=checkpoint.labels, model_state=model.state_dict())
    batches = [random_windows(model.config, np.array([p]), seed=10 + i) for i, p in enumerate(ABSENT_PATTERNS)]
    batches.append(random_windows(model.config, np.array(ABSENT_PATTERNS * 2), seed=30))     # 14 windows at once
    for batch in batches:
        with torch.inference_mode():
            eager = model(dict(batch))
        onnx = forward(batch)
        assert torch.allclose(scores(onnx.logits), scores(eager.logits), atol=1e-4)
        assert torch.allclose(onnx.gates, eager.gates, atol=1e-4)
        assert torch.allclose(onnx.z, eager.z, atol=1e-4)
        absent = ~batch["present"]
        assert torch.all(onnx.gates[absent] == 0) and torch.all(onnx.z[absent] == 0)
        assert torch.equal(onnx.logits.argmax(1), eager.logits.argmax(1))


def test_garbage_or_nothing_in_absent_slots_changes_nothing(tiny_checkpoint, tiny_onnx):
    model, checkpoint = load_model(tiny_checkpoint())
    forward = OnnxForward(tiny_onnx(), config=model.config, labels=checkpoint.labels, model_state=model.state_dict())
    batch = random_windows(model.config, np.array([[False, True, True], [True, True, True]]), seed=3)
    clean = forward(batch)
    garbage = dict(batch, rgb=batch["rgb"].clone(), depth=batch["depth"].clone())
    garbage["rgb"][0], garbage["depth"][0] = float("nan"), 1e9          # row 0 has RGB-D absent
    assert torch.equal(forward(garbage).logits, clean.logits)
    skeleton_only = random_windows(model.config, np.array([[False, True, False]]), seed=4)
    missing = {"skeleton": skeleton_only["skeleton"], "present": skeleton_only["present"],
               "rgb": None, "depth": None}                                  # as the windower leaves absent slots
    assert torch.equal(forward(missing).logits, forward(skeleton_only).logits)
    with pytest.raises(ValueError, match="no modality present"):
        forward(dict(skeleton_only, present=torch.zeros(1, 3, dtype=torch.bool)))


def test_the_metadata_names_the_checkpoint_and_another_checkpoint_or_clip_is_refused(tiny_checkpoint, tiny_onnx):
    metadata = read_metadata(tiny_onnx())
    model, checkpoint = load_model(tiny_checkpoint())
    assert json.loads(metadata[META["labels"]]) == checkpoint.labels
    assert json.loads(metadata[META["clip"]])["rgb"] == [model.config.clip.frames, 3, model.config.clip.image_size,
                                                         model.config.clip.image_size]
    check_matches(metadata, config=model.config, labels=checkpoint.labels, model_state=model.state_dict())
    other_weights, other = load_model(tiny_checkpoint(seed=1))
    with pytest.raises(OnnxMismatchError, match="another checkpoint"):
        OnnxForward(tiny_onnx(), config=other_weights.config, labels=other.labels,
                    model_state=other_weights.state_dict())
    other_clip, clip_checkpoint = load_model(tiny_checkpoint(frames=model.config.clip.frames + 2))
    with pytest.raises(OnnxMismatchError, match="another clip config"):
        check_matches(metadata, config=other_clip.config, labels=clip_checkpoint.labels,
                      model_state=other_clip.state_dict())
    with pytest.raises(OnnxMismatchError, match="other label names"):
        check_matches(metadata, config=model.config, labels=[f"x{i}" for i in range(len(checkpoint.labels))],
                      model_state=model.state_dict())


def test_a_file_that_fails_the_parity_check_is_never_written(tiny_checkpoint, tmp_path, monkeypatch):
    import rcmcl_core.onnx_export as onnx_export

    model, checkpoint = load_model(tiny_checkpoint())
    monkeypatch.setattr(onnx_export, "PARITY_ATOL", -1.0)       # nothing can pass
    target = tmp_path / "never.onnx"
    with pytest.raises(OnnxExportError, match="not written"):
        export_onnx(model, labels=checkpoint.labels, path=target)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OnnxExportError, match="opset 17"):
        export_onnx(model, labels=checkpoint.labels, path=target, opset=17)


def test_the_export_command_writes_beside_the_checkpoint_and_says_so(tiny_checkpoint, tmp_path):
    source = tiny_checkpoint(seed=2)
    checkpoint = tmp_path / "mine.pt"
    checkpoint.write_bytes(source.read_bytes())
    result = subprocess.run([sys.executable, "-m", "rcmcl_core.cli", "export", str(checkpoint), "--format", "onnx"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "mine.onnx").is_file() and "every absent pattern" in result.stdout
    assert "torchvision" not in result.stdout + result.stderr
    bad = subprocess.run([sys.executable, "-m", "rcmcl_core.cli", "export", str(checkpoint), "--format", "onnx",
                          "--opset", "12"], capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "opset 12" in bad.stderr + bad.stdout and "Traceback" not in bad.stderr


def test_the_shipped_onnx_file_belongs_to_the_shipped_checkpoint():
    from rcmcl_core.bundled import BUNDLED_CHECKPOINT, BUNDLED_ONNX

    model, checkpoint = load_model(BUNDLED_CHECKPOINT)
    assert BUNDLED_ONNX.is_file(), "ship it: rcmcl export rcmcl_core/assets/rcmcl_compact.pt --format onnx"
    check_matches(read_metadata(BUNDLED_ONNX), config=model.config, labels=checkpoint.labels,
                  model_state=model.state_dict(), path=BUNDLED_ONNX)
