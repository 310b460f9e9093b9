"""Data safety (issue 8): training killed with SIGKILL at the worst moments never leaves a corrupt checkpoint
and --resume finishes the run with every step logged once; a corrupt, truncated, foreign or malicious
checkpoint is refused with a message naming the file and the problem, before any of it is executed or used.

test/core/training/test_training_loop.py already kills one run between steps; here the kills land inside the
checkpoint write (half a payload written, or a complete temp file not yet renamed) and at a random moment, one
after the other on the same run folder. Tiny preset, real subprocesses, real SIGKILL.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from clip_factory import make_clip_root
from rcmcl_core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rcmcl_core.config import preset
from rcmcl_core.data.dataset import ClipDataset
from rcmcl_core.models.rcmcl import RCMCL
from rcmcl_core.training.loop import LAST, train_stage

pytestmark = pytest.mark.timeout(240)
TEST_DIR = Path(__file__).resolve().parent
TOTAL_STEPS = 8


def tiny_config():
    config = preset("tiny")
    return dataclasses.replace(config, model=dataclasses.replace(config.model, num_classes=4),
                               optim=dataclasses.replace(config.optim, batch_size=4, pretrain_epochs=4))


def train(root: str, out: str, *, resume: bool):
    """The run every test kills: 8 pretraining steps, a checkpoint after each."""
    torch.set_num_threads(1)
    config = tiny_config()
    dataset = ClipDataset(Path(root), split="xsub", subset="train", config=config, train=True)
    return train_stage(stage="pretrain", config=config, dataset=dataset, labels=dataset.class_names,
                       out_dir=Path(out), device="cpu", progress=False, checkpoint_every=1, resume=resume)


def child(root: str, out: str, kill: str, at: float) -> None:
    """Run `train(resume=True)` and SIGKILL this process: kill="payload" halfway through writing checkpoint
    number `at`; "rename" after writing it completely but before os.replace; "timer" `at` s after start."""
    import threading

    import rcmcl_core.checkpoint as checkpoint

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    saves = [0]
    if kill == "payload":
        original_save = torch.save

        def dying_save(obj, handle, *args, **kwargs):
            saves[0] += 1
            if saves[0] == int(at):
                handle.write(b"PK\x03\x04" + bytes(4096))        # a zip header and then nothing sensible
                handle.flush()
                die()
            return original_save(obj, handle, *args, **kwargs)

        torch.save = dying_save
    elif kill == "rename":
        original_replace = os.replace

        def dying_replace(source, target):
            if Path(target).name == LAST:           # other atomic writes (curves.jsonl) do not count
                saves[0] += 1
                if saves[0] == int(at):
                    die()
            return original_replace(source, target)

        checkpoint.os.replace = dying_replace
    else:
        threading.Timer(at, die).start()
    train(root, out, resume=True)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return make_clip_root(tmp_path_factory.mktemp("clips"), classes=4, clips_per_class=4)


def run_killed(root: Path, out: Path, kill: str, at: float) -> int:
    script = (f"import sys; sys.path[:0] = [{str(TEST_DIR)!r}, {str(TEST_DIR.parents[1])!r}]\n"
              f"from test_data_safety import child\nchild({str(root)!r}, {str(out)!r}, {kill!r}, {at!r})\n")
    completed = subprocess.run([sys.executable, "-c", script], env=dict(os.environ, OMP_NUM_THREADS="1"),
                               capture_output=True, text=True, timeout=180)
    return completed.returncode


def steps_logged(out: Path) -> list[int]:
    return [int(line.split(",")[2]) for line in (out / "metrics.csv").read_text().splitlines()[1:]]


def test_sigkill_inside_the_checkpoint_write_and_at_a_random_moment_never_corrupts_and_resume_finishes(root, tmp_path):
    out = tmp_path / "run"
    reached = 0
    random_moment = float(torch.empty(1).uniform_(1.0, 4.0, generator=torch.Generator().manual_seed(0)))
    for kill, at in (("payload", 3), ("rename", 2), ("timer", random_moment)):
        returncode = run_killed(root, out, kill, at)
        if returncode == 0:          # the timer fired after the run ended: nothing was left to kill
            assert kill == "timer"
            break
        assert returncode == -signal.SIGKILL, (kill, returncode)
        checkpoint = load_checkpoint(out / LAST)     # always the last complete checkpoint, never a torn one
        step = checkpoint.train_state["step"]
        assert step >= reached, f"{kill}: the checkpoint went back from step {reached} to {step}"
        assert checkpoint.metrics["step"] == step
        torn = list(out.glob(f".{LAST}.*.tmp"))
        assert kill == "timer" or torn, f"{kill}: the kill should have left a torn temp file beside {LAST}"
        reached = step
    assert reached >= 2, "the kills should land mid-run"
    result = train(str(root), str(out), resume=True)
    assert result.steps == TOTAL_STEPS
    assert steps_logged(out) == list(range(1, TOTAL_STEPS + 1)), "each step logged exactly once across the kills"
    assert load_checkpoint(result.checkpoint).metrics["steps"] == TOTAL_STEPS
    assert not list(out.glob(".*.tmp")), "resume clears the torn temp files (never read, never renamed)"


# -- refusing checkpoints ---------------------------------------------------------------------------------
class Payload:
    """A pickled object whose unpickling would run a shell command (the classic malicious checkpoint)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def malicious(path: Path, marker: Path) -> Path:
    torch.save({"format": "rcmcl-checkpoint", "format_version": 1, "model_state": Payload(marker)}, path)
    return path


def test_a_pickle_payload_with_a_malicious_reduce_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = malicious(tmp_path / "evil.pt", marker)
    with pytest.raises(CheckpointError, match=r"evil\.pt is not a plain-tensor rcmcl checkpoint \(refused by "
                                              r"weights_only load\): Trying to load unsupported GLOBAL posix\.system"):
        load_checkpoint(path)
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(Payload(marker)))            # a bare pickle, not even a torch zip
    with pytest.raises(CheckpointError, match=r"raw\.pt is not a torch checkpoint: expected a zip archive"):
        load_checkpoint(raw)
    assert not marker.exists(), "the payload ran"


def wrong_preset(path: Path, marker: Path) -> Path:
    config = preset("lite")
    return save_checkpoint(path, model_state=RCMCL(config=config).state_dict(), config=config,
                           labels=[f"a{k}" for k in range(config.model.num_classes)])


def truncated(path: Path, marker: Path) -> Path:
    save_checkpoint(path, model_state=RCMCL(config=tiny_config()).state_dict(), config=tiny_config(),
                    labels=["a", "b", "c", "d"])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    return path


def foreign(path: Path, marker: Path) -> Path:
    torch.save(RCMCL(config=tiny_config()).state_dict(), path)             # someone else's bare state_dict
    return path


@pytest.mark.parametrize("make, message", [
    (malicious, r"not a plain-tensor rcmcl checkpoint \(refused by weights_only load\): .*unsupported GLOBAL "
                r"posix\.system"),
    (wrong_preset, r"was trained with preset 'lite', expected 'tiny'; differs in: .*clip\.frames: 16 != 8"),
    (truncated, r"is truncated or corrupt"),
    (foreign, r"is not an rcmcl checkpoint: expected a dict with format 'rcmcl-checkpoint'"),
])
def test_resume_refuses_a_bad_last_checkpoint_with_a_clear_message_and_trains_nothing(make, message, root, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "pwned"
    make(out / LAST, marker)
    with pytest.raises(CheckpointError, match=message) as error:
        train(str(root), str(out), resume=True)
    assert str(out / LAST) in str(error.value)
    assert not (out / "metrics.csv").exists() and not marker.exists()


@pytest.mark.parametrize("make", [malicious, wrong_preset, truncated, foreign])
def test_the_node_pipeline_refuses_a_bad_checkpoint_naming_it(make, tmp_path, tiny_checkpoint):
    from rcmcl_ros.pipeline.runner import Pipeline

    marker = tmp_path / "pwned"
    path = make(tmp_path / "model.pt", marker)
    if make is wrong_preset:       # a lite checkpoint is a fine node checkpoint: break its weights instead
        payload = torch.load(path, weights_only=True)
        payload["model_state"] = torch.load(tiny_checkpoint(), weights_only=True)["model_state"]
        torch.save(payload, path)
        with pytest.raises(CheckpointError, match=r"weights do not fit this model: .*trained with another config"):
            Pipeline.from_checkpoint(path)
    else:
        with pytest.raises(CheckpointError, match=re.escape(str(path))):
            Pipeline.from_checkpoint(path)
    assert not marker.exists()
