"""~/decision (rcmcl_ros/node/decision_message.py): a DiagnosticArray stamped with the decision, parsed back by
decision_from_message."""
import numpy as np
import pytest

from rcmcl_ros.node.decision_message import MAIN_PERSON, decision_from_message, decision_message
from rcmcl_ros.pipeline.runner import Decision


def _decision(**changes):
    values = dict(stamp_s=12.345678, label="wave", label_index=1, confidence=0.7,
                  scores=np.array([0.2, 0.7, 0.1]), gates=np.array([0.0, 0.55, 0.31]),
                  present=np.array([False, True, True]), coverage=np.ones(3), latency={})
    values.update(changes)
    return Decision(**values)


def test_the_message_carries_the_decision_stamp_and_parses_back():
    msg = decision_message(_decision(), window_start_s=11.845678, labels=["sit", "wave", "walk"], node_name="/rcmcl")
    assert msg.header.stamp.sec == 12 and abs(msg.header.stamp.nanosec - 345678000) < 1000
    [person] = decision_from_message(msg)
    assert person.person == MAIN_PERSON and person.stamp_s == pytest.approx(12.345678)
    assert (person.label, person.label_index, person.confidence) == ("wave", 1, pytest.approx(0.7))
    assert person.gates == {"rgbd": 0.0, "skeleton": 0.55, "points": 0.31}
    assert person.present == {"rgbd": False, "skeleton": True, "points": True}
    assert (person.window_start_s, person.window_end_s) == (pytest.approx(11.845678), pytest.approx(12.345678))
    assert person.scores == {"sit": 0.2, "wave": 0.7, "walk": 0.1}
    assert person.level == 0 and person.message == "wave (0.70)"


def test_gate_warnings_make_the_person_status_warn():
    msg = decision_message(_decision(), window_start_s=11.8, labels=["a", "b", "c"], node_name="/rcmcl",
                           warnings=["points unreliable: gate 0.12 for 3.0 s"])
    [person] = decision_from_message(msg)
    assert person.level == 1 and person.message == "points unreliable: gate 0.12 for 3.0 s"


def test_a_missing_or_bad_key_is_named():
    msg = decision_message(_decision(), window_start_s=11.8, labels=["a", "b", "c"], node_name="/rcmcl")
    msg.status[0].values = [kv for kv in msg.status[0].values if kv.key != "g_points"]
    with pytest.raises(ValueError, match="g_points"):
        decision_from_message(msg)
    msg = decision_message(_decision(), window_start_s=11.8, labels=["a", "b", "c"], node_name="/rcmcl")
    next(kv for kv in msg.status[0].values if kv.key == "present_rgbd").value = "maybe"
    with pytest.raises(ValueError, match="present_rgbd"):
        decision_from_message(msg)


def test_statuses_of_other_names_are_ignored():
    msg = decision_message(_decision(), window_start_s=11.8, labels=["a", "b", "c"], node_name="/rcmcl")
    msg.status[0].name = "rcmcl: action recognition"
    assert decision_from_message(msg) == []
