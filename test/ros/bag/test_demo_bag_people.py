"""`make-demo-bag --people N` (rcmcl_ros/bag/demo_people.py) and its per-person evaluation (people_eval.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rcmcl_ros.__main__ import main as cli_main
from rcmcl_ros.bag.files import BagReader, GROUND_TRUTH_TOPIC
from rcmcl_ros.bag.demo import DemoBagConfig
from rcmcl_ros.bag.demo_people import GROUND_TRUTH_PEOPLE_TOPIC, make_people_demo_bag, read_people_truth

CONFIG = DemoBagConfig(actions=2, segment_s=2.5, fps=10.0, image_size=48, cloud_stride=2, faults=())


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> Path:
    return make_people_demo_bag(CONFIG, people=2, out=tmp_path_factory.mktemp("people") / "bag", progress=False)


def test_people_bag_has_one_body_id_and_class_per_person_over_time(bag):
    sidecar = json.loads((bag / "rcmcl_demo.json").read_text())
    assert [p["body_id"] for p in sidecar["people"]] == [1, 2]
    assert len({p["subject"] for p in sidecar["people"]}) == 2
    with BagReader(bag) as reader:
        ids, truths, main = set(), [], []
        for message in reader.messages(["/body_tracking_data", GROUND_TRUTH_PEOPLE_TOPIC, GROUND_TRUTH_TOPIC]):
            msg = reader.deserialize(message)
            if message.topic == GROUND_TRUTH_PEOPLE_TOPIC:
                truths.append((message.record_s, read_people_truth(msg.data)))
            elif message.topic == GROUND_TRUTH_TOPIC:
                main.append(msg.data)
            else:
                ids |= {m.id // 100 for m in msg.markers}
    assert ids == {1, 2}
    assert len(truths) == 50 and all(set(t) == {1, 2} for _, t in truths)
    expected = {p["body_id"]: [a[2] for a in p["actions"]] for p in sidecar["people"]}
    assert [truths[0][1][1], truths[-1][1][1]] == expected[1] and [truths[0][1][2], truths[-1][1][2]] == expected[2]
    # the single-person ground truth stays: the main actor's class, one string per frame
    main_id = sidecar["main_body_id"]
    assert main == [t[main_id] for _, t in truths]


def test_evaluate_bag_max_people_scores_each_body_id(bag, tmp_path, capsys):
    assert cli_main(["evaluate-bag", str(bag), "--out", str(tmp_path), "--max-people", "2", "--stride-s", "0.5",
                     "--no-progress"]) == 0
    summary = json.loads((tmp_path / "people.json").read_text())
    assert set(summary["per_person"]) == {"1", "2"} and summary["identity_consistency"] == 1.0
    assert summary["clean_windows"] > 0
    rows = (tmp_path / "people.csv").read_text().splitlines()
    assert len(rows) == summary["decisions"] + 1 and "identity consistency" in capsys.readouterr().out


def test_evaluate_bag_max_people_names_a_checkpoint_whose_weights_do_not_fit(bag, tiny_checkpoint, tmp_path, capsys):
    from rcmcl_core.checkpoint import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(tiny_checkpoint())
    state = dict(loaded.model_state)
    dropped = sorted(state)[0]
    del state[dropped]
    misfit = save_checkpoint(tmp_path / "misfit.pt", model_state=state, config=loaded.config, labels=loaded.labels)
    assert cli_main(["evaluate-bag", str(bag), "--out", str(tmp_path / "out"), "--max-people", "2",
                     "--checkpoint", str(misfit), "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "1 missing" in error and dropped in error and not (tmp_path / "out" / "people.json").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="asks for CUDA on a machine without it")
def test_evaluate_bag_max_people_names_a_device_it_cannot_use(bag, tmp_path, capsys):
    assert cli_main(["evaluate-bag", str(bag), "--out", str(tmp_path), "--max-people", "2", "--device", "cuda",
                     "--no-progress"]) == 2
    assert "no CUDA device" in capsys.readouterr().err and not (tmp_path / "people.json").exists()


def test_make_demo_bag_rejects_more_than_three_people(tmp_path, capsys):
    assert cli_main(["make-demo-bag", "--people", "5", "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "2 to 3 people" in capsys.readouterr().err


def test_ids_are_renumbered_after_each_skeleton_loss_like_the_body_tracker():
    from rcmcl_ros.bag.annotations import Fault
    from rcmcl_ros.bag.demo_people import RENUMBER_STEP, body_ids

    cast = [{"body_id": 1}, {"body_id": 2}]
    faults = (Fault("skeleton_lost", 3.0, 5.0), Fault("points_dropped", 6.0, 7.0))
    assert body_ids(cast, faults, 4.9).tolist() == [1, 2]
    assert body_ids(cast, faults, 5.0).tolist() == [1 + RENUMBER_STEP, 2 + RENUMBER_STEP]
