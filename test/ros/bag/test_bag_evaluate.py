"""Offline bag evaluation (rcmcl_ros/bag/evaluate.py, rcmcl_ros/bag/report.py): the node's Pipeline over a real demo
bag, scored against its ground truth and fault schedule, and `evaluate-bag` on bad bags.

The accuracy test trains a tiny 4-class model on the synthetic benchmark's training subjects (odd ids) in a
few seconds; the bag shows a held-out subject (even id). Absent modalities get gate exactly 0, so the gate
tests hold for any weights."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from rcmcl_core.config import MODALITIES
from rcmcl_ros.__main__ import main
from rcmcl_ros.bag.files import DEFAULT_TOPICS, GROUND_TRUTH_TOPIC, BagReader, BagWriter
from rcmcl_ros.bag.annotations import Fault
from rcmcl_ros.bag.evaluate import evaluate_bag
from rcmcl_ros.bag.report import decision_times, segment_scores, write_report
from rcmcl_ros.bag.demo import DemoBagConfig, make_demo_bag
from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # conftest.py

CLASSES = ("wave", "sit down", "kick", "bow")
FAULTS = (Fault("skeleton_lost", 2.0, 4.5), Fault("rgbd_blackout", 6.0, 8.5), Fault("rgbd_dropped", 9.5, 11.5),
          Fault("points_dropped", 12.5, 15.0))
"""Longer than the tiny model's 1 s window, so most of each fault's windows lack the modality."""



@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory) -> Path:
    """Tiny preset fine-tuned on CLASSES: training subjects (odd ids) of the tiny synthetic benchmark, all
    three cameras; ~100 steps, seconds on one core."""
    from rcmcl_core.config import preset
    from rcmcl_core.data.dataset import ClipDataset
    from rcmcl_core.data.shards import Manifest, write_shard
    from rcmcl_core.data.synthetic.generate import SYNTHETIC_PRESETS, clip_specs, render_specs, synthetic_intrinsics
    from rcmcl_core.data.synthetic.classes import CLASS_NAMES
    from rcmcl_core.training.loop import train_stage

    tiny = preset("tiny")
    config = dataclasses.replace(tiny, model=dataclasses.replace(tiny.model, num_classes=len(CLASSES)),
                                 optim=dataclasses.replace(tiny.optim, finetune_epochs=12, batch_size=8, lr=3e-3))
    synthetic = SYNTHETIC_PRESETS["tiny"]
    indices = [CLASS_NAMES.index(name) for name in CLASSES]
    specs = [s for s in clip_specs(subjects=synthetic.subjects, clips_per_class_per_view=8,
                                   cameras=synthetic.camera_ids, classes=indices) if s.subject % 2 == 1]
    clips = render_specs(specs, config=config, synthetic=synthetic, seed=0)
    clips["label"] = np.array([indices.index(label) for label in clips["label"]], np.int64)
    root = tmp_path_factory.mktemp("train")
    size = config.clip.image_size
    Manifest(source="synthetic", classes=list(CLASSES), fps=synthetic.fps,
             intrinsics=synthetic_intrinsics(width=size, height=size), shards=[write_shard(root, 0, clips)],
             num_clips=len(specs)).save(root)
    dataset = ClipDataset(root, split="xsub", subset="all", config=config, train=True)
    result = train_stage(stage="finetune", config=config, dataset=dataset, labels=list(CLASSES),
                         out_dir=root / "run", device="cpu", progress=False)
    return result.checkpoint


@pytest.fixture(scope="module")
def faulty_bag(tmp_path_factory) -> Path:
    """16 s at 30 Hz: 8 actions of CLASSES by a held-out subject, 64 px, the four modality-removing faults."""
    config = DemoBagConfig(actions=8, segment_s=2.0, image_size=64, classes=CLASSES, faults=FAULTS)
    return make_demo_bag(config, out=tmp_path_factory.mktemp("bags") / "faulty", progress=False)


@pytest.fixture(scope="module")
def evaluation(trained_checkpoint, faulty_bag):
    pipeline = Pipeline.from_checkpoint(trained_checkpoint, config=PipelineConfig(device="cpu"))
    return evaluate_bag(faulty_bag, pipeline=pipeline, topics=DEFAULT_TOPICS, progress=False)


@pytest.fixture(scope="module")
def small_bag(tmp_path_factory) -> Path:
    config = DemoBagConfig(actions=1, segment_s=2.0, image_size=32, faults=(Fault("skeleton_lost", 0.5, 1.5),))
    return make_demo_bag(config, out=tmp_path_factory.mktemp("small") / "small", progress=False)


# -- the pipeline over a bag ---------------------------------------------------------------------------
def test_offline_evaluation_recognises_held_out_actions_far_above_chance(evaluation):
    overall = segment_scores(evaluation)[0]
    chance = 1 / len(CLASSES)
    assert overall.scored == len(evaluation.decisions) >= 100        # a decision every 0.133 s over ~15 s
    assert overall.accuracy >= 2 * chance, f"accuracy {overall.accuracy:.2f} vs chance {chance:.2f}"
    assert set(evaluation.truth) == set(CLASSES)


def test_gate_of_each_faulted_modality_is_lower_inside_its_fault_than_outside(evaluation):
    times = decision_times(evaluation)
    gates = np.array([d.gates for d in evaluation.decisions])
    present = np.array([d.present for d in evaluation.decisions])
    for fault in FAULTS:
        m = MODALITIES.index(fault.modality)
        inside = (times >= fault.start_s) & (times < fault.end_s)
        outside = ~np.any([(times >= f.start_s) & (times < f.end_s) for f in FAULTS if f.modality == fault.modality],
                          axis=0)
        assert gates[inside, m].mean() < 0.5 * gates[outside, m].mean(), fault
        late = inside & (times >= fault.start_s + evaluation.window_s)   # windows wholly inside the fault
        assert late.any() and not present[late, m].any() and np.all(gates[late, m] == 0.0), fault
        others = [i for i in range(len(MODALITIES)) if i != m]
        assert present[late][:, others].all(), fault                      # the other modalities carry on


def test_evaluation_counts_the_blacked_out_depth_frames_as_dropped(evaluation):
    dropped = evaluation.snapshot["drops"].get("depth/nan", 0)
    assert dropped == int(2.5 * 30)                                       # every depth frame of rgbd_blackout


def test_report_files_hold_decisions_segments_speed_and_figures(evaluation, tmp_path):
    paths = write_report(evaluation, out_dir=tmp_path / "report")
    rows = paths["decisions"].read_text().splitlines()
    assert len(rows) == 1 + len(evaluation.decisions)
    header = rows[0].split(",")
    assert header[:6] == ["time_s", "stamp_s", "label", "confidence", "truth", "correct"]
    assert {f"gate_{m}" for m in MODALITIES} <= set(header) and f"score_{CLASSES[0]}" in header
    report = paths["report"].read_text()
    assert "windows/s" in report and "x real time" in report
    for row in ("| all |", "| clean (no fault, one action) |", *(f"| {fault} |" for fault in FAULTS)):
        assert row in report
    for figure in ("gates", "confusion"):
        data = paths[figure].read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


# -- the command line and bad bags -----------------------------------------------------------------
def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["evaluate-bag", *args, "--no-progress", "--threads", "1"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_line_error(err: str) -> str:
    """The one 'evaluate-bag: error: ...' line of stderr (warnings may precede it; no traceback)."""
    errors = [line for line in err.splitlines() if line.startswith("evaluate-bag: error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def test_any_bag_evaluates_with_mapped_topics_and_without_ground_truth(small_bag, tiny_checkpoint, tmp_path, capsys):
    renamed = {DEFAULT_TOPICS[s]: f"/k4a/{s}" for s in DEFAULT_TOPICS}
    with BagReader(small_bag) as source, BagWriter(tmp_path / "k4a") as target:
        for topic, new in renamed.items():
            target.add_topic(new, source.topics[topic].msgtype)
        for message in source.messages(list(renamed)):
            target.write(renamed[message.topic], message.record_ns, message.raw)
    out = tmp_path / "eval"
    status, stdout, _ = run_cli(capsys, str(tmp_path / "k4a"), "--checkpoint", str(tiny_checkpoint(window_s=0.5)),
                                "--out", str(out), *(f"--topic={s}:=/k4a/{s}" for s in DEFAULT_TOPICS))
    assert status == 0
    assert "report:" in stdout and "gates:" in stdout
    assert len((out / "decisions.csv").read_text().splitlines()) > 5
    assert "No ground truth" in (out / "report.md").read_text()
    assert (out / "gates.png").is_file() and not (out / "confusion.png").exists()


def test_a_missing_mapped_topic_is_evaluated_as_an_absent_modality(small_bag, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "eval"
    status, _, err = run_cli(capsys, str(small_bag), "--checkpoint", str(tiny_checkpoint(window_s=0.5)),
                             "--out", str(out), "--topic", "points:=/nowhere")
    assert status == 0
    assert "warning: points: topic /nowhere is not in the bag; reading the bag without it" in err
    rows = (out / "decisions.csv").read_text().splitlines()
    header = rows[0].split(",")
    points = [row.split(",") for row in rows[1:]]
    assert all(r[header.index("present_points")] == "0" and float(r[header.index("gate_points")]) == 0.0
               for r in points)
    assert any(r[header.index("present_rgbd")] == "1" for r in points)


def test_a_bag_without_any_mapped_topic_is_a_one_line_error(small_bag, tiny_checkpoint, tmp_path, capsys):
    status, _, err = run_cli(capsys, str(small_bag), "--checkpoint", str(tiny_checkpoint(window_s=0.5)),
                             "--out", str(tmp_path / "eval"), *(f"--topic={s}:=/none/{s}" for s in DEFAULT_TOPICS))
    assert status == 2
    assert "none of the mapped topics" in one_line_error(err)
    assert not (tmp_path / "eval").exists()


@pytest.mark.parametrize("case", ["missing", "unknown_format", "truncated"])
def test_unreadable_bags_are_one_line_errors_with_status_2(case, small_bag, tiny_checkpoint, tmp_path, capsys):
    if case == "missing":
        bag, expected = tmp_path / "nowhere", "bag not found"
    elif case == "unknown_format":
        bag, expected = tmp_path / "old.bag", "unknown storage format '.bag'"
        bag.write_bytes(b"#ROSBAG V2.0\n" + bytes(100))
    else:
        data = next(small_bag.glob("*.mcap")).read_bytes()
        bag, expected = tmp_path / "cut.mcap", "cut off"
        bag.write_bytes(data[: len(data) * 2 // 3])
    status, _, err = run_cli(capsys, str(bag), "--checkpoint", str(tiny_checkpoint(window_s=0.5)),
                             "--out", str(tmp_path / "eval"))
    assert status == 2
    assert expected in one_line_error(err)


def test_a_missing_checkpoint_is_a_one_line_error_naming_it(small_bag, tmp_path, capsys):
    status, _, err = run_cli(capsys, str(small_bag), "--checkpoint", str(tmp_path / "none.pt"),
                             "--out", str(tmp_path / "eval"))
    assert status == 2
    assert str(tmp_path / "none.pt") in one_line_error(err)


def test_ground_truth_topic_of_another_type_is_ignored_not_fatal(small_bag, tiny_checkpoint, tmp_path):
    with BagReader(small_bag) as source, BagWriter(tmp_path / "odd") as target:
        for topic, info in source.topics.items():
            if topic != GROUND_TRUTH_TOPIC:
                target.add_topic(topic, info.msgtype)
        target.add_topic(GROUND_TRUTH_TOPIC, "std_msgs/msg/Header")
        for message in source.messages([t for t in source.topics if t != GROUND_TRUTH_TOPIC]):
            target.write(message.topic, message.record_ns, message.raw)
    pipeline = Pipeline.from_checkpoint(tiny_checkpoint(window_s=0.5), config=PipelineConfig(device="cpu"))
    result = evaluate_bag(tmp_path / "odd", pipeline=pipeline, topics=DEFAULT_TOPICS, progress=False)
    assert result.decisions and all(t is None for t in result.truth)


def test_points_from_depth_and_camera_info_replace_the_points_topic(small_bag, tiny_checkpoint):
    def run(source: str):
        pipeline = Pipeline.from_checkpoint(tiny_checkpoint(window_s=0.5),
                                            config=PipelineConfig(device="cpu", points_source=source))
        return evaluate_bag(small_bag, pipeline=pipeline, topics=dict(DEFAULT_TOPICS), progress=False)

    from_topic, from_depth = run("topic"), run("depth")
    assert "points" not in from_depth.topics and "points" in from_topic.topics
    assert len(from_depth.decisions) == len(from_topic.decisions) > 5
    points = MODALITIES.index("points")
    assert all(d.present[points] for d in from_depth.decisions[2:])        # every depth frame gave a cloud
    received = from_depth.snapshot["received"]
    assert received["points"] == received["depth"]
    assert set(from_depth.snapshot["drops"]) <= {"points/camera_info"}      # at most the first, before any info


def test_points_from_depth_without_camera_info_in_the_bag_is_warned_and_counted(small_bag, tiny_checkpoint, tmp_path):
    stripped = tmp_path / "no_info"
    with BagReader(small_bag) as source, BagWriter(stripped) as target:
        kept = [t for t in source.topics if not t.endswith("camera_info")]
        for topic in kept:
            target.add_topic(topic, source.topics[topic].msgtype)
        for message in source.messages(kept):
            target.write(message.topic, message.record_ns, message.raw)
    pipeline = Pipeline.from_checkpoint(tiny_checkpoint(window_s=0.5),
                                        config=PipelineConfig(device="cpu", points_source="depth"))
    result = evaluate_bag(stripped, pipeline=pipeline, topics=dict(DEFAULT_TOPICS), progress=False)
    assert any("camera_info" in warning for warning in result.warnings)
    assert result.snapshot["drops"]["points/camera_info"] == result.snapshot["received"]["depth"]
    assert result.decisions and not any(d.present[MODALITIES.index("points")] for d in result.decisions)


def test_windows_that_straddle_a_change_of_action_are_counted_apart_from_clean_ones():
    from types import SimpleNamespace

    from rcmcl_ros.bag.annotations import GroundTruth
    from rcmcl_ros.bag.report import segment_scores, straddling

    stamps = [100.0 + t for t in (3.0, 4.5, 5.5, 6.5, 7.5)]        # bag starts at 100 s, action changes at 104 s
    result = SimpleNamespace(start_s=100.0, end_s=108.0, window_s=2.0, faults=[],
                             ground_truth=GroundTruth([(100.0, "wave"), (104.0, "kick")]),
                             decisions=[SimpleNamespace(stamp_s=s, label="kick", gates=np.ones(3),
                                                        present=np.ones(3, bool)) for s in stamps],
                             truth=["wave", "kick", "kick", "kick", "kick"])
    times = np.array(stamps) - 100.0
    assert straddling(result, times).tolist() == [False, True, True, False, False]
    rows = {row.name: row for row in segment_scores(result)}
    assert (rows["straddles two actions"].windows, rows["clean (no fault, one action)"].windows) == (2, 3)
    assert rows["clean (no fault, one action)"].accuracy == pytest.approx(2 / 3)
    assert rows["no fault, straddles two actions"].windows == 2 and "no fault" not in rows   # no fault in this bag


def test_each_backend_replays_the_bag_to_the_same_decisions(trained_checkpoint, faulty_bag, evaluation, tmp_path,
                                                            capsys):
    """torch, the CPU trace and onnxruntime (the export beside the checkpoint, found by backend auto) decide the
    same on every window, faults (absent modalities) included; evaluate-bag says which backend ran."""
    checkpoint = tmp_path / "trained.pt"
    checkpoint.write_bytes(Path(trained_checkpoint).read_bytes())
    from rcmcl_core.cli import main as core_main

    assert core_main(["export", str(checkpoint), "--format", "onnx"]) == 0
    by_backend = {}
    for backend in ("torch", "torchscript", "onnxruntime", "auto"):
        pipeline = Pipeline.from_checkpoint(checkpoint, config=PipelineConfig(device="cpu", backend=backend))
        assert pipeline.runtime.choice.backend == ("onnxruntime" if backend == "auto" else backend)
        by_backend[backend] = evaluate_bag(faulty_bag, pipeline=pipeline, topics=DEFAULT_TOPICS, progress=False)
    reference = evaluation.decisions                   # the module's run: PipelineConfig's default backend
    for backend, result in by_backend.items():
        assert len(result.decisions) == len(reference), backend
        for ours, theirs in zip(result.decisions, reference):
            assert ours.label == theirs.label, backend
            assert np.allclose(ours.gates, theirs.gates, atol=1e-4) and np.allclose(ours.scores, theirs.scores,
                                                                                    atol=1e-4), backend
    assert any(not d.present.all() for d in reference)     # the faults made windows with modalities absent
    capsys.readouterr()
    status, stdout, _ = run_cli(capsys, str(faulty_bag), "--checkpoint", str(checkpoint), "--out",
                                str(tmp_path / "eval"), "--backend", "onnxruntime")
    assert status == 0 and "backend onnxruntime (onnxruntime: set by parameter)" in stdout
