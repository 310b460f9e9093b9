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
    labels = [f"c{i}" for i in range(config.model.num_classes)]
    save_checkpoint(other, model_state=RCMCL(config=config).state_dict(), config=config, labels=labels)
    assert main(["probe", *_common(synth, tmp_path / "p"), "--init", str(other)]) == 2
    assert "preset" in capsys.readouterr().err


def test_protocol_writes_the_paper_tables_and_a_rerun_only_reuses_finished_steps(synth, tmp_path):
    out = tmp_path / "protocol"
    args = ["protocol", *_common(synth, out), "--only", "rcmcl_finetune", "supervised", "rcmcl_probe",
            "ablation3_probe"]
    assert main(args) == 0
    for step in ("rcmcl_pretrain/pretrain.pt", "rcmcl_finetune/finetune.pt", "supervised/finetune.pt",
                 "rcmcl_probe/probe.pt", "ablation3_pretrain/pretrain.pt", "ablation3_probe/probe.pt"):
        assert (out / step).is_file(), step
    assert not (out / "cmkm_pretrain").exists(), "--only limits the run"
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"rcmcl_finetune", "supervised", "rcmcl_probe", "ablation3_probe"}
    markdown = (out / "results.md").read_text()
    for heading in ("Table I analog", "Table II analog", "Table III analog", "Table IV analog", "Mean gates",
                    "| 3 | L_CM only |", "RCMCL beats supervised fusion in", "Gates of dropped modalities",
                    "Beyond the paper: frame drops and occlusion", "| RCMCL (fine-tuned) | "):
        assert heading in markdown, heading
    timings = (out / "timings.json").read_text()
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.pt")}
    assert main(args) == 0
    assert (out / "timings.json").read_text() == timings, "nothing retrained or re-evaluated"
    assert stamps == {p: p.stat().st_mtime_ns for p in out.rglob("*.pt")}

    # A results file from an older suite (a condition missing) gets only that condition evaluated.
    evaluated = out / "rcmcl_finetune" / "eval.json"
    before = json.loads(evaluated.read_text())
    older = {"rcmcl_finetune": {k: v for k, v in before["rcmcl_finetune"].items() if k != "RGB-D occluded 40%"}}
    evaluated.write_text(json.dumps(older))
    assert main(args) == 0
    assert json.loads(evaluated.read_text()) == before, "same seed, same result; the others kept as they were"


def test_protocol_rejects_an_unknown_step(synth, tmp_path, capsys):
    assert main(["protocol", *_common(synth, tmp_path / "p"), "--only", "rcmcl_finetuned"]) == 2
    assert "unknown step(s) ['rcmcl_finetuned']" in capsys.readouterr().err


def test_finetune_on_k_labels_per_class_writes_them_and_rebuilds_the_same_run(tmp_path, capsys):
    from rcmcl_core.training.loop import METRICS
    synth = tmp_path / "synth"
    assert main(["generate", "--preset", "tiny", "--out", str(synth), "--subjects", "2",
                 "--clips-per-class-per-view", "2", "--quiet"]) == 0             # every class has train clips
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("preset: tiny\noptim: {finetune_epochs: 1, min_steps: 4}\n")
    first, second = tmp_path / "first", tmp_path / "second"
    common = ["--preset", "tiny", "--config", str(recipe), "--data-root", str(synth), "--device", "cpu",
              "--no-progress", "--no-heldout"]
    assert main(["finetune", *common, "--out", str(first), "--labels-per-class", "1", "--label-seed", "4"]) == 0
    labelled = json.loads((first / "labelled_clips.json").read_text())
    assert labelled["clips"] == 24 and set(labelled["per_class"].values()) == {1}
    assert labelled["request"] == {"per_class": 1, "fraction": None, "seed": 4}
    assert "labelled clips: 24 of" in capsys.readouterr().out
    steps = [line.split(",")[2] for line in (first / METRICS).read_text().splitlines()[1:]]
    assert len(steps) == 6, "one epoch of 3 batches of 8 is raised to 2 epochs for optim.min_steps = 4"
    labelled_clips = str(first / "labelled_clips.json")
    assert main(["finetune", *common, "--out", str(second), "--labelled-clips", labelled_clips]) == 0
    assert json.loads((second / "labelled_clips.json").read_text())["clip_ids"] == labelled["clip_ids"]
    a, b = load_checkpoint(first / "finetune.pt"), load_checkpoint(second / "finetune.pt")
    for key in a.model_state:
        assert (a.model_state[key] == b.model_state[key]).all(), f"rebuilt run differs in {key}"


def test_label_options_exclude_each_other(synth, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["probe", *_common(synth, tmp_path / "p"), "--init", "x.pt", "--labels-per-class", "2",
              "--label-fraction", "0.5"])
    assert "not allowed with argument" in capsys.readouterr().err
