"""`rcmcl pretrain | probe | finetune | evaluate | export` end to end on a tiny generated benchmark."""
import json

import pytest

from rcmcl_core.checkpoint import load_checkpoint
from rcmcl_core.cli import main


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    assert main(["generate", "--preset", "tiny", "--out", str(out), "--subjects", "2",
                 "--clips-per-class-per-view", "1", "--quiet"]) == 0
    return out


def _common(synth, out):
    return ["--preset", "tiny", "--data", "synthetic", "--data-root", str(synth), "--out", str(out),
            "--device", "cpu", "--no-progress"]


def test_protocol_runs_from_the_command_line_and_writes_every_artifact(synth, tmp_path, capsys):
    pre, probe, fine, ev = (tmp_path / name for name in ("pre", "probe", "fine", "eval"))
    assert main(["pretrain", *_common(synth, pre)]) == 0
    assert (pre / "pretrain.pt").is_file() and (pre / "metrics.csv").is_file()
    assert main(["probe", *_common(synth, probe), "--init", str(pre / "pretrain.pt")]) == 0
    assert (probe / "probe.pt").is_file()
    assert main(["finetune", *_common(synth, fine), "--init", str(pre / "pretrain.pt")]) == 0
    finetuned = fine / "finetune.pt"
    assert finetuned.is_file()
    assert main(["evaluate", *_common(synth, ev), f"rcmcl={finetuned}", f"probe={probe / 'probe.pt'}"]) == 0
    results = json.loads((ev / "results.json").read_text())
    assert set(results) >= {"rcmcl", "probe"}
    report = (ev / "report.md").read_text()
    assert "R&P" in report or "RP" in report, report[:500]
    exported = tmp_path / "deploy.pt"
    assert main(["export", str(fine / "last.pt"), str(exported)]) == 0
    slim, full = load_checkpoint(exported), load_checkpoint(fine / "last.pt")
    assert slim.labels == full.labels and slim.config == full.config
    assert full.train_state and not slim.train_state, "resume state (optimiser, scheduler) is stripped"
    assert exported.stat().st_size < (fine / "last.pt").stat().st_size
    assert "exported" in capsys.readouterr().out


def test_missing_dataset_is_a_one_line_error(tmp_path, capsys):
    code = main(["pretrain", "--preset", "tiny", "--data-root", str(tmp_path / "nowhere"), "--out",
                 str(tmp_path / "out"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("rcmcl pretrain: error:") and "nowhere" in err and "Traceback" not in err


def test_probe_from_a_checkpoint_of_another_preset_is_refused(synth, tmp_path, capsys):
    other = tmp_path / "lite.pt"
    from rcmcl_core.checkpoint import save_checkpoint
    from rcmcl_core.config import preset
    from rcmcl_core.models.rcmcl import RCMCL
    config = preset("lite")
    save_checkpoint(other, model_state=RCMCL(config=config).state_dict(), config=config, labels=[f"c{i}" for i in range(config.model.num_classes)])
    assert main(["probe", *_common(synth, tmp_path / "p"), "--init", str(other)]) == 2
    assert "preset" in capsys.readouterr().err
