"""Gate warnings (rcmcl_ros/node/gate_warnings.py) and how they show: the WARN text, the marker colour."""
import numpy as np
import pytest
from builtin_interfaces.msg import Time

from rcmcl_ros.node.gate_warnings import GateWarning, GateWatch
from rcmcl_ros.node.gate_markers import MarkerConfig, gate_colour, gate_markers
from rcmcl_ros.node.diagnostics import diagnostics

ALL = (True, True, True)


def _feed(watch, seconds, gates, present=ALL, start=0.0, step=0.5):
    updates = []
    t = start
    while t < start + seconds - 1e-9:
        updates.append((t, watch.update(t, gates, present)))
        t += step
    return updates


def test_a_low_gate_warns_only_after_the_duration_and_names_the_sensor():
    watch = GateWatch(threshold=0.2, after_s=3.0)
    updates = _feed(watch, 4.0, (0.8, 0.7, 0.12))
    first = next(t for t, u in updates if u.active)
    assert first == pytest.approx(3.0)
    started = [u for _, u in updates if u.started]
    assert len(started) == 1 and started[0].started == ["points"]
    assert started[0].active[0].text() == "points unreliable: gate 0.12 for 3.0 s"
    assert started[0].warned() == [False, False, True]


def test_the_warning_clears_when_the_gate_recovers_and_restarts_from_zero():
    watch = GateWatch(threshold=0.2, after_s=1.0)
    _feed(watch, 2.0, (0.1, 0.9, 0.9))
    recovered = watch.update(2.0, (0.5, 0.9, 0.9), ALL)
    assert recovered.cleared == ["rgbd"] and not recovered.active
    assert not watch.update(2.5, (0.1, 0.9, 0.9), ALL).active      # the timer starts again
    assert watch.update(3.5, (0.1, 0.9, 0.9), ALL).started == ["rgbd"]


def test_an_absent_modality_is_not_unreliable_and_clears_its_warning():
    watch = GateWatch(threshold=0.2, after_s=0.0)
    assert watch.update(0.0, (0.9, 0.0, 0.9), (True, False, True)).active == []
    assert watch.update(0.5, (0.9, 0.05, 0.9), ALL).started == ["skeleton"]
    assert watch.update(1.0, (0.9, 0.0, 0.9), (True, False, True)).cleared == ["skeleton"]


def test_a_stamp_going_back_restarts_the_timers():
    watch = GateWatch(threshold=0.2, after_s=1.0)
    _feed(watch, 2.0, (0.1, 0.9, 0.9), start=10.0)
    assert watch.update(0.0, (0.1, 0.9, 0.9), ALL).cleared == ["rgbd"]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="threshold"):
        GateWatch(threshold=1.5, after_s=1.0)


def test_warned_bars_turn_magenta_and_recover_their_gate_colour():
    args = dict(gates=np.array([0.8, 0.7, 0.12]), present=np.ones(3, bool), label="wave", confidence=0.5,
                stamp=Time(sec=1), frame_id="camera_base")
    warned = gate_markers(**args, warned=np.array([False, False, True]))
    bar = warned.markers[2].color
    assert (bar.r, bar.g, bar.b) == MarkerConfig().warn_rgba[:3] and "P 0.12!" in warned.markers[3].text
    calm = gate_markers(**args)
    bar = calm.markers[2].color
    assert (bar.r, bar.g, bar.b, bar.a) == pytest.approx(gate_colour(0.12)) and "!" not in calm.markers[3].text


def test_diagnostics_turn_warn_with_the_sensor_named():
    from rcmcl_ros.pipeline.runner import Decision
    decision = Decision(stamp_s=5.0, label="wave", label_index=0, confidence=0.9, scores=np.array([0.9, 0.1]),
                        gates=np.array([0.8, 0.7, 0.12]), present=np.ones(3, bool), coverage=np.ones(3), latency={})
    snapshot = {"rates_hz": {}, "received": {}, "drops": {}, "drops_total": 0, "sets": 0, "windows": 1,
                "replaced": 0, "decisions": 1, "latency": {}}
    common = dict(snapshot=snapshot, decision=decision, seconds_since_decision=0.1, drops_since_last=0,
                  decision_timeout_s=3.0, node_name="/rcmcl", stamp=Time(sec=5))
    text = GateWarning("points", 0.12, 3.0).text()
    status = diagnostics(**common, gate_warnings=(text,)).status[0]
    assert status.level == status.WARN and status.message == "points unreliable: gate 0.12 for 3.0 s"
    assert diagnostics(**common).status[0].level == status.OK
