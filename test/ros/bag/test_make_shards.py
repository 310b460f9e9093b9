"""make-shards: labelled recordings -> training clips that are exactly the node's windows; resumable; bad
input is an error with nothing that looks finished; the result fine-tunes."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from rcmcl_core.config import preset
from rcmcl_core.data.dataset import ClipDataset
from rcmcl_core.data.shards import MANIFEST, Manifest
from rcmcl_ros.__main__ import main
from rcmcl_ros.bag.annotations import Fault
from rcmcl_ros.bag.demo import DemoBagConfig, make_demo_bag, read_sidecar
from rcmcl_ros.bag.files import DEFAULT_TOPICS
from rcmcl_ros.bag.make_shards import SPLIT
from rcmcl_ros.bag.replay import replay_bag
from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig

RECORDINGS = {"alice_01": (1, ()), "alice_02": (2, (Fault("rgbd_dropped", 0.5, 2.0),)),
              "bob_01": (3, ()), "bob_02": (4, ())}
"""recording -> (demo seed, faults): 2 actions of 2 s each, 32 px."""


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> tuple[list[Path], Path]:
    """Four short bags and the labels file a person would write for them (times from each bag's start)."""
    root = tmp_path_factory.mktemp("recordings")
    rows = ["recording,start_s,end_s,label,split"]
    bags = []
    for name, (seed, faults) in RECORDINGS.items():
        bag = make_demo_bag(DemoBagConfig(seed=seed, actions=2, segment_s=2.0, image_size=32, faults=faults,
                                          classes=("clap", "kick", "wave")), out=root / name, progress=False)
        bags.append(bag)
        split = "test" if name == "bob_02" else ""
        rows += [f"{name},{a},{b},{label},{split}" for a, b, label in read_sidecar(bag)["actions"]]
    labels = root / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    return bags, labels


def run(*argv) -> int:
    return main(["make-shards", *map(str, argv), "--no-progress"])


@pytest.fixture(scope="module")
def shards(recordings, tiny_checkpoint, tmp_path_factory) -> Path:
    bags, labels = recordings
    out = tmp_path_factory.mktemp("shards") / "data"
    assert run(*bags, "--labels", labels, "--out", out, "--checkpoint", tiny_checkpoint(), "--split", "file") == 0
    return out


def live_windows(bag: Path, checkpoint: Path) -> list:
    """The windows the node's pipeline builds over `bag`, as the node would feed them to the model."""
    pipeline = Pipeline.from_checkpoint(checkpoint, config=PipelineConfig(device="cpu", warmup=False,
                                                                          cpu_trace=False))
    windows = []
    replayed = replay_bag(bag, pipeline=pipeline, topics=DEFAULT_TOPICS, progress=False, note=lambda text: None,
                          after_message=lambda newest: windows.extend(pipeline.ready_windows(newest)))
    return windows + pipeline.flush_windows(), replayed.start_s


def test_clips_are_the_node_windows_array_for_array(shards, recordings, tiny_checkpoint):
    """Each clip, read back through the training Dataset (eval mode), is the tensor the node's pipeline gives
    the model for that window: rgb, skeleton, points and presence exactly; depth within its 1 mm storage."""
    bags, labels_path = recordings
    from rcmcl_ros.bag.labels_file import read_labels

    labels = read_labels(labels_path)
    config = preset("tiny")
    dataset = ClipDataset(shards, split=SPLIT, subset="all", config=config, train=False)
    items = {dataset.clip_ids[i]: dataset[i] for i in range(len(dataset))}
    compared = 0
    for subject, bag in enumerate(bags):
        windows, start_s = live_windows(bag, tiny_checkpoint())
        truth = labels.truth(bag.name, bag_start_s=start_s)
        kept = [w for w in windows if truth.purity(w.target_s)[1] == 1.0]
        assert kept, bag.name
        for index, window in enumerate(kept):
            item = items[f"r{subject:04d}_w{index:05d}"]
            assert dataset.class_names[int(item["label"])] == truth.majority(window.target_s)
            assert torch.equal(item["present"], window.batch["present"][0])
            for key in ("rgb", "skeleton", "points"):
                if window.batch[key] is not None:
                    assert torch.equal(item[key], window.batch[key][0]), (bag.name, index, key)
            if window.batch["depth"] is not None:
                assert torch.allclose(item["depth"], window.batch["depth"][0], atol=0.5e-3, rtol=0)
            compared += 1
    assert compared == len(dataset)


def test_a_recording_without_rgbd_for_a_while_gives_clips_with_rgbd_absent(shards):
    manifest = Manifest.load(shards)
    absent = manifest.extra["rgb_missing"]
    assert absent and all(cid.startswith("r0001_") for cid in absent)              # alice_02 only
    dataset = ClipDataset(shards, split=SPLIT, subset="all", config=preset("tiny"), train=False)
    present = {dataset.clip_ids[i]: dataset[i]["present"].tolist() for i in range(len(dataset))}
    assert all(present[cid] == [False, True, True] for cid in absent)


def test_the_split_is_by_recording_and_the_classes_are_the_labels(shards):
    manifest = Manifest.load(shards)
    from rcmcl_ros.bag.labels_file import read_labels

    assert manifest.classes == read_labels(manifest.extra["labels_file"]).classes          # sorted labels
    assert manifest.splits[SPLIT] == {"train": [0, 1, 2], "test": [3]}              # bob_02 is test in the file
    assert manifest.extra["recordings"]["3"]["name"] == "bob_02"
    for subset, subjects in (("train", {0, 1, 2}), ("test", {3})):
        dataset = ClipDataset(shards, split=SPLIT, subset=subset, config=preset("tiny"), train=False)
        assert {int(cid[1:5]) for cid in dataset.clip_ids} == subjects
    assert math.isclose(manifest.fps, 8 / 1.0)                                      # T / window_s of the tiny preset


def test_a_rerun_reuses_every_recording_and_a_changed_label_rebuilds_only_its_recording(shards, recordings,
                                                                                        tiny_checkpoint, capsys):
    bags, labels = recordings
    before = {p.name: p.stat().st_mtime_ns for p in (shards / "shards").glob("*.npz")}
    assert run(*bags, "--labels", labels, "--out", shards, "--checkpoint", tiny_checkpoint(), "--split", "file") == 0
    assert "4 reused from an earlier run" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in (shards / "shards").glob("*.npz")} == before
    edited = labels.parent / "edited.csv"
    lines = labels.read_text().splitlines()
    first_bob = next(i for i, line in enumerate(lines) if line.startswith("bob_01,"))
    parts = lines[first_bob].split(",")
    parts[2] = str(float(parts[2]) - 0.5)                                           # bob_01's first segment shorter
    lines[first_bob] = ",".join(parts)
    edited.write_text("\n".join(lines) + "\n")
    out = shards.parent / "edited"
    import shutil

    shutil.copytree(shards, out)
    assert run(*bags, "--labels", edited, "--out", out, "--checkpoint", tiny_checkpoint(), "--split", "file") == 0
    assert "3 reused from an earlier run" in capsys.readouterr().out


def test_a_killed_run_resumes_and_leaves_no_manifest_until_done(shards, recordings, tiny_checkpoint, capsys):
    bags, labels = recordings
    out = shards.parent / "killed"
    import shutil

    shutil.copytree(shards, out)
    (out / MANIFEST).unlink()                                                       # as if killed before the end
    (out / "shards" / "shard_00002.json").unlink()                                  # ... while on bob_01
    assert run(*bags, "--labels", labels, "--out", out, "--checkpoint", tiny_checkpoint(), "--split", "file") == 0
    assert "3 reused" in capsys.readouterr().out
    assert Manifest.load(out).num_clips == Manifest.load(shards).num_clips


def test_auto_split_draws_whole_recordings(recordings, tiny_checkpoint, tmp_path):
    bags, labels = recordings
    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(line.rsplit(",", 1)[0] for line in labels.read_text().splitlines()) + "\n")
    out = tmp_path / "auto"
    assert run(*bags, "--labels", plain, "--out", out, "--checkpoint", tiny_checkpoint(), "--test-fraction", "0.5") == 0
    split = Manifest.load(out).splits[SPLIT]
    assert set(split["train"]).isdisjoint(split["test"]) and split["test"]
    assert sorted(split["train"] + split["test"]) == [0, 1, 2, 3]


def test_labels_naming_a_recording_that_is_not_given_write_nothing(recordings, tiny_checkpoint, tmp_path, capsys):
    bags, labels = recordings
    out = tmp_path / "none"
    assert run(*bags[:3], "--labels", labels, "--out", out, "--checkpoint", tiny_checkpoint()) == 2
    err = capsys.readouterr().err
    assert "recording 'bob_02' is not among the bags given" in err and "labels.csv:" in err
    assert not (out / MANIFEST).exists() and not list(out.glob("shards/*.npz"))


@pytest.fixture(scope="module")
def people_recording(tmp_path_factory) -> tuple[Path, Path]:
    """Two people, each with their own actions, and a labels file naming their body ids."""
    from rcmcl_ros.bag.demo_people import make_people_demo_bag

    root = tmp_path_factory.mktemp("people")
    bag = make_people_demo_bag(DemoBagConfig(seed=3, actions=2, segment_s=3.0, image_size=48, faults=(),
                                             classes=("clap", "kick", "wave")),
                               people=2, out=root / "pair_01", progress=False)
    rows = ["recording,start_s,end_s,label,body_id"]
    for person in read_sidecar(bag)["people"]:
        rows += [f"pair_01,{a},{b},{label},{person['body_id']}" for a, b, label in person["actions"]]
    labels = root / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    return bag, labels


def test_body_ids_cut_each_person_as_the_per_person_path_sees_them(people_recording, tiny_checkpoint, tmp_path):
    from rcmcl_core.windowing import window_times
    from rcmcl_ros.bag.labels_file import read_labels
    from rcmcl_ros.people.path import PeoplePath
    from rcmcl_ros.people.tracker import PeopleConfig
    from rcmcl_ros.topics import camera_info_beside

    bag, labels_path = people_recording
    out = tmp_path / "people"
    assert run(bag, "--labels", labels_path, "--out", out, "--checkpoint", tiny_checkpoint(), "--split", "file") == 0
    pipeline = Pipeline.from_checkpoint(tiny_checkpoint(), config=PipelineConfig(device="cpu", warmup=False,
                                                                                 cpu_trace=False))
    people = PeoplePath.for_pipeline(pipeline, PeopleConfig(max_people=3, max_batch=3))
    rounds = []
    replayed = replay_bag(bag, pipeline=pipeline, topics=DEFAULT_TOPICS, progress=False, note=lambda text: None,
                          people_info_topic=camera_info_beside(DEFAULT_TOPICS["rgb"]),
                          after_message=lambda newest: (pipeline.ready_windows(newest),
                                                        rounds.extend(people.take_rounds())))
    people.flush()
    rounds += people.take_rounds()
    labels = read_labels(labels_path)
    truths = {body: labels.truth("pair_01", bag_start_s=replayed.start_s, body_id=body) for body in (1, 2)}
    expected = []
    for people_round in rounds:
        targets = window_times(people_round.end_s, frames=8, window_s=1.0)
        for row, body in enumerate(people_round.body_ids):
            if body in truths and truths[body].purity(targets)[1] == 1.0:
                expected.append((truths[body].majority(targets), people_round, row))
    dataset = ClipDataset(out, split=SPLIT, subset="all", config=preset("tiny"), train=False)
    assert len(dataset) == len(expected) > 0
    for index, (label, people_round, row) in enumerate(expected):
        item = dataset[dataset.clip_ids.index(f"r0000_w{index:05d}")]
        assert dataset.class_names[int(item["label"])] == label
        assert item["present"].tolist() == people_round.present[row].tolist()
        for key, modality in (("rgb", 0), ("skeleton", 1), ("points", 2)):          # MODALITIES order
            if people_round.present[row][modality]:
                assert torch.equal(item[key], people_round.batch[key][row]), (index, key)


def test_a_body_id_the_tracker_never_reports_is_said_and_counted(people_recording, tiny_checkpoint, tmp_path,
                                                                capsys):
    bag, labels_path = people_recording
    extra = tmp_path / "extra.csv"
    extra.write_text(labels_path.read_text() + "pair_01,0,3,wave,7\n")
    assert run(bag, "--labels", extra, "--out", tmp_path / "x", "--checkpoint", tiny_checkpoint()) == 0
    captured = capsys.readouterr()
    assert "body 7 is never reported by the tracker" in captured.err
    assert "'body_not_tracked': 1" in captured.out


def test_a_truncated_bag_is_a_clear_error_before_any_clip_is_written(recordings, tiny_checkpoint, tmp_path, capsys):
    bags, labels = recordings
    import shutil

    broken = tmp_path / "bob_02"
    shutil.copytree(bags[3], broken)
    mcap = next(broken.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size * 2 // 3])
    out = tmp_path / "broken"
    assert run(*bags[:3], broken, "--labels", labels, "--out", out, "--checkpoint", tiny_checkpoint()) == 2
    assert f"cannot read bag {broken}" in capsys.readouterr().err
    assert not (out / MANIFEST).exists() and not list(out.glob("shards/*.npz"))


def test_the_shards_fine_tune_from_a_checkpoint_into_one_that_knows_the_new_labels(shards, tiny_checkpoint, tmp_path,
                                                                                     capsys):
    """`rcmcl finetune --init CHECKPOINT` with no --preset or --config trains the checkpoint's own architecture."""
    from rcmcl_core.checkpoint import load_checkpoint
    from rcmcl_core.cli import main as rcmcl

    code = rcmcl(["finetune", "--init", str(tiny_checkpoint()), "--data-root", str(shards), "--split", SPLIT,
                  "--out", str(tmp_path / "run"), "--no-progress", "--device", "cpu"])
    assert code == 0
    assert "the config of" in capsys.readouterr().err
    checkpoint = load_checkpoint(tmp_path / "run" / "finetune.pt")
    assert checkpoint.labels == Manifest.load(shards).classes
    assert checkpoint.config.clip == load_checkpoint(tiny_checkpoint()).config.clip


def test_clips_cut_for_one_clip_config_are_refused_under_another(shards):
    from rcmcl_core.data.shards import ShardError

    with pytest.raises(ShardError, match="cut for another clip config .*window_s 1.0 there, 2.0 here"):
        ClipDataset(shards, split=SPLIT, subset="all", config=preset("compact"), train=False)


# -- evaluate-bag --labels ------------------------------------------------------------------------------
def test_evaluate_bag_takes_its_truth_from_a_labels_file_as_from_the_truth_topic(recordings, tmp_path, capsys):
    from rcmcl_core.bundled import BUNDLED_CHECKPOINT
    from rcmcl_ros.bag.evaluate import evaluate_bag
    from rcmcl_ros.bag.evaluate_command import labels_truth

    bags, labels = recordings

    def pipeline() -> Pipeline:
        return Pipeline.from_checkpoint(BUNDLED_CHECKPOINT, config=PipelineConfig(device="cpu"))

    from_topic = evaluate_bag(bags[0], pipeline=pipeline(), topics=DEFAULT_TOPICS, progress=False)
    truth = labels_truth(labels, bags[0], classes=from_topic.labels, absolute=False)
    from_file = evaluate_bag(bags[0], pipeline=pipeline(), topics=DEFAULT_TOPICS, progress=False, truth_source=truth)
    assert [d.label for d in from_file.decisions] == [d.label for d in from_topic.decisions]
    agree = sum(a == b for a, b in zip(from_file.truth, from_topic.truth))
    assert agree >= 0.9 * len(from_topic.truth) and any(t is not None for t in from_file.truth)
    out = tmp_path / "report"
    assert main(["evaluate-bag", str(bags[0]), "--labels", str(labels), "--out", str(out), "--no-progress"]) == 0
    assert "accuracy" in (out / "report.md").read_text().lower()


def test_evaluate_bag_refuses_labels_that_do_not_fit_the_bag_or_the_checkpoint(recordings, tmp_path, capsys):
    bags, labels = recordings
    other = tmp_path / "other.csv"
    other.write_text("recording,start_s,end_s,label\nsomeone_else,0,1,clap\n")
    assert main(["evaluate-bag", str(bags[0]), "--labels", str(other), "--out", str(tmp_path / "a"),
                 "--no-progress"]) == 2
    assert "has no rows for recording 'alice_01'" in capsys.readouterr().err
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("recording,start_s,end_s,label\nalice_01,0,1,hand over\n")
    assert main(["evaluate-bag", str(bags[0]), "--labels", str(unknown), "--out", str(tmp_path / "b"),
                 "--no-progress"]) == 2
    assert "label 'hand over' is not a class of the checkpoint" in capsys.readouterr().err


# -- keeping the old classes ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def new_shards(recordings, tiny_checkpoint, tmp_path_factory) -> Path:
    """The same takes labelled as new actions ('new_' + name): a second label space."""
    bags, labels = recordings
    renamed = tmp_path_factory.mktemp("new") / "new.csv"
    lines = labels.read_text().splitlines()
    renamed.write_text("\n".join([lines[0]] + [",".join(p[:3] + ["new_" + p[3]] + p[4:])
                                                for p in (line.split(",") for line in lines[1:])]) + "\n")
    out = renamed.parent / "data"
    assert run(*bags, "--labels", renamed, "--out", out, "--checkpoint", tiny_checkpoint(), "--split", "file") == 0
    return out


@pytest.fixture(scope="module")
def old_checkpoint(shards, tiny_checkpoint, tmp_path_factory) -> Path:
    """A checkpoint whose classes are those of `shards`."""
    from rcmcl_core.cli import main as rcmcl

    out = tmp_path_factory.mktemp("old_run")
    assert rcmcl(["finetune", "--init", str(tiny_checkpoint()), "--data-root", str(shards), "--split", SPLIT,
                  "--out", str(out), "--no-progress", "--device", "cpu", "--no-heldout"]) == 0
    return out / "finetune.pt"


def test_keeping_the_old_classes_trains_one_head_of_old_then_new_classes(shards, new_shards, old_checkpoint, tmp_path):
    from rcmcl_core.checkpoint import load_checkpoint
    from rcmcl_core.cli import main as rcmcl

    out = tmp_path / "kept"
    assert rcmcl(["finetune", "--init", str(old_checkpoint), "--data-root", str(new_shards), "--split", SPLIT,
                  "--keep-classes", "--old-data-root", str(shards), "--old-split", SPLIT, "--out", str(out),
                  "--no-progress", "--device", "cpu"]) == 0
    old, new = Manifest.load(shards).classes, Manifest.load(new_shards).classes
    assert load_checkpoint(out / "finetune.pt").labels == old + new


def test_the_kept_classes_start_from_their_trained_rows_and_the_new_ones_fresh(old_checkpoint):
    from rcmcl_core.checkpoint import load_checkpoint
    from rcmcl_core.training.loop import build_model

    checkpoint = load_checkpoint(old_checkpoint)
    labels = ["fresh_a", *checkpoint.labels, "fresh_b"]
    config = checkpoint.config
    config.model.num_classes = len(labels)
    model = build_model(config, init_checkpoint=old_checkpoint, device=torch.device("cpu"), labels=labels)
    old_weight = checkpoint.model_state["classifier.weight"]
    assert torch.equal(model.classifier.weight[1:-1], old_weight)
    assert not torch.equal(model.classifier.weight[0], old_weight[0])


def test_keeping_classes_refuses_a_new_class_with_an_old_name_and_missing_old_data(shards, old_checkpoint, tmp_path,
                                                                                  capsys):
    from rcmcl_core.cli import main as rcmcl

    common = ["finetune", "--init", str(old_checkpoint), "--data-root", str(shards), "--split", SPLIT,
              "--keep-classes", "--out", str(tmp_path / "x"), "--no-progress", "--device", "cpu"]
    assert rcmcl(common) == 2
    assert "--keep-classes needs --init CHECKPOINT and --old-data-root" in capsys.readouterr().err
    assert rcmcl(common + ["--old-data-root", str(shards), "--old-split", SPLIT]) == 2
    assert "are already classes of" in capsys.readouterr().err
    assert not (tmp_path / "x" / "finetune.pt").exists()


def test_evaluate_bag_scores_each_body_id_from_a_labels_file_as_from_the_people_truth_topic(people_recording,
                                                                                           tmp_path):
    bag, labels = people_recording
    common = ["evaluate-bag", str(bag), "--max-people", "2", "--no-progress"]
    assert main(common + ["--out", str(tmp_path / "topic")]) == 0
    assert main(common + ["--out", str(tmp_path / "file"), "--labels", str(labels)]) == 0
    topic = json.loads((tmp_path / "topic" / "people.json").read_text())
    file = json.loads((tmp_path / "file" / "people.json").read_text())
    assert file["decisions"] == topic["decisions"] and file["clean_windows"] > 0
    assert abs(file["clean_windows"] - topic["clean_windows"]) <= 0.1 * topic["clean_windows"]
    assert abs(file["accuracy"] - topic["accuracy"]) <= 0.1
    assert file["identity_consistency"] > 0.9
