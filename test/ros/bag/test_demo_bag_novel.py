"""`make-demo-bag --class-set novel`: bags of the actions no pretraining saw, for teaching the node new actions."""
from __future__ import annotations

import json

from rcmcl_core.data.synthetic.classes import NOVEL_CLASSES
from rcmcl_ros.__main__ import main as cli_main
from rcmcl_ros.bag.demo import DemoBagConfig
from rcmcl_ros.bag.files import GROUND_TRUTH_TOPIC, BagReader

NOVEL = [c.name for c in NOVEL_CLASSES]


def test_a_novel_demo_bag_records_novel_actions_as_its_truth(tmp_path, capsys):
    out = tmp_path / "bag"
    assert cli_main(["make-demo-bag", "--class-set", "novel", "--actions", "3", "--segment-s", "1", "--fps", "10",
                     "--size", "32", "--no-faults", "--no-progress", "--out", str(out)]) == 0
    sidecar = json.loads((out / "rcmcl_demo.json").read_text())
    actions = [a[2] for a in sidecar["actions"]]
    assert len(actions) == 3 and set(actions) <= set(NOVEL) and sidecar["config"]["class_set"] == "novel"
    with BagReader(out) as reader:
        truth = {reader.deserialize(m).data for m in reader.messages([GROUND_TRUTH_TOPIC])}
        images = sum(1 for _ in reader.messages(["/rgb/image_raw"]))
    assert truth == set(actions) and images == 30


def test_the_default_class_set_keeps_the_cache_key_of_earlier_bags():
    assert "class_set" not in DemoBagConfig().to_dict()
    assert DemoBagConfig(class_set="novel").key() != DemoBagConfig().key()


def test_a_class_of_another_set_is_refused(tmp_path, capsys):
    code = cli_main(["make-demo-bag", "--class-set", "novel", "--class", "wave", "--out", str(tmp_path / "b")])
    assert code == 2
    assert "unknown class 'wave' in class set 'novel'" in capsys.readouterr().err
