"""Live node (real DDS, tiny checkpoint): ~/decision carries each decision's stamp, gates, presence and label;
gate warnings reach /diagnostics, ~/decision and the markers, and clear when the modality goes."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.ros, pytest.mark.timeout(60)]

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402

from rcmcl_ros.node.decision_message import decision_from_message  # noqa: E402
from test_node import WINDOW_S, Harness  # noqa: E402


@pytest.fixture
def warned(rclpy_context, tiny_checkpoint, scene):
    # every gate of a random-weight model is < 1: all present modalities are warned about at once
    h = Harness(context=rclpy_context, checkpoint=tiny_checkpoint(window_s=WINDOW_S), scene=scene,
                gate_warn_threshold=1.0, gate_warn_after_s=0.0)
    h.decisions = []
    h._sub(DiagnosticArray, f"{h.node.get_fully_qualified_name()}/decision", h.decisions.append)
    yield h
    h.close()


def test_decisions_are_stamped_and_warnings_show_and_clear(warned):
    h = warned
    assert h.wait_for(lambda: len(h.decisions) >= 3 and len(h.markers) >= 3, timeout_s=15.0), "no decisions"
    with h.lock:
        people = [decision_from_message(m)[0] for m in h.decisions]
        # ~/reliability then ~/gate_markers go out in order per decision; the markers carry the stamp
        gates_at = {round(t, 6): g for (t, _), (_, g) in zip(h.markers, h.reliability)}
    matched = [p for p in people if round(p.stamp_s, 6) in gates_at]
    assert len(matched) >= 2, "decision stamps differ from the markers' stamps"
    for person in matched:
        gates = gates_at[round(person.stamp_s, 6)]
        assert person.window_end_s == pytest.approx(person.stamp_s, abs=1e-5)
        assert person.window_end_s - person.window_start_s == pytest.approx(WINDOW_S, abs=0.1)
        assert [person.gates[m] for m in ("rgbd", "skeleton", "points")] == pytest.approx(gates.tolist(), abs=1e-3)
        assert all(person.present.values()) and person.label in h.labels[0].split("\n")
    assert people[-1].level == 1 and "points unreliable" in people[-1].message
    assert h.wait_for(lambda: any("points unreliable" in s.message for a in h.diagnostics for s in a.status),
                      timeout_s=5.0)
    with h.lock:
        assert "P " in h.markers[-1][1] and "!" in h.markers[-1][1]
        h.streams.discard("points")
    assert h.wait_for(lambda: decision_from_message(h.decisions[-1])[0].present["points"] is False, timeout_s=10.0)
    with h.lock:
        last = decision_from_message(h.decisions[-1])[0]
        assert "points unreliable" not in last.message and "P --" in h.markers[-1][1]
