"""Demo-bag faults defined by sensor_faults (rgbd_frozen, skeleton_jumps) and the per-fault gate drop that
report.md shows (rcmcl_ros/bag/fault_gates.py)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from rcmcl_ros.bag.files import DEFAULT_TOPICS, BagReader
from rcmcl_ros.bag.annotations import Fault
from rcmcl_ros.bag.fault_gates import fault_gate_drops, fault_gate_markdown
from rcmcl_ros.bag.demo import START_NS, DemoBagConfig, make_demo_bag

FAULTS = (Fault("rgbd_frozen", 0.5, 1.0), Fault("skeleton_jumps", 1.2, 1.6))


def _config(faults):
    return DemoBagConfig(actions=1, segment_s=2.0, image_size=32, cloud_stride=2, faults=faults, classes=("wave",))


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    root = tmp_path_factory.mktemp("bags")
    return (make_demo_bag(_config(FAULTS), out=root / "faulted", progress=False),
            make_demo_bag(_config(()), out=root / "clean", progress=False))


def _read(path, topic):
    with BagReader(path) as bag:
        return [((m.record_ns - START_NS) / 1e9, bag.deserialize(m)) for m in bag.messages([topic])]


def _joints(msg):
    return {m.id: np.array([m.pose.position.x, m.pose.position.y, m.pose.position.z]) for m in msg.markers}


def test_frozen_camera_repeats_the_frame_at_the_fault_start(bags):
    faulted, clean = bags
    for topic in (DEFAULT_TOPICS["rgb"], DEFAULT_TOPICS["depth"]):
        frames = [(t, bytes(m.data)) for t, m in _read(faulted, topic)]
        inside = [data for t, data in frames if 0.5 <= t < 1.0]
        assert len(inside) >= 14 and len(set(inside)) == 1
        reference = dict((round(t, 4), bytes(m.data)) for t, m in _read(clean, topic))
        after = [(t, data) for t, data in frames if t >= 1.0]
        assert all(data == reference[round(t, 4)] for t, data in after)   # live again after the fault
        assert len({data for _, data in after}) > 1


def test_skeleton_jumps_teleport_joints_in_alternate_frame_pairs(bags):
    faulted, clean = bags
    reference = {round(t, 4): _joints(m) for t, m in _read(clean, DEFAULT_TOPICS["skeleton"])}
    moves = []
    for t, msg in _read(faulted, DEFAULT_TOPICS["skeleton"]):
        ref, mine = reference[round(t, 4)], _joints(msg)
        if not ref:
            continue
        moved = max(float(np.linalg.norm(mine[k] - ref[k])) for k in ref)
        if not 1.2 <= t < 1.6:
            assert moved < 1e-6, t
        else:
            moves.append(moved)
    assert max(moves) == pytest.approx(1.0, abs=0.01)                   # jump distance at severity 1
    assert min(moves) < 1e-6                                             # the tracker snaps back in between


def test_report_rows_measure_the_faulted_modalitys_gate_drop():
    def decision(t, gates):
        return SimpleNamespace(stamp_s=100.0 + t, gates=np.array(gates))
    times = np.arange(0.0, 10.0, 0.5)
    decisions = [decision(t, [0.2, 0.8, 0.5] if 3.5 <= t < 7.0 else [0.5, 0.8, 0.5]) for t in times]
    result = SimpleNamespace(start_s=100.0, window_s=1.0, decisions=decisions,
                             faults=[Fault("rgbd_blackout", 3.0, 7.0)])
    [row] = fault_gate_drops(result)
    assert row.modality == "rgbd" and row.windows == 7                  # window ends 3.5 .. 6.5 at >= half inside

    assert (row.fault_gate, row.clean_gate, row.drop_pct) == (pytest.approx(0.2), pytest.approx(0.5),
                                                              pytest.approx(60.0))
    table = "\n".join(fault_gate_markdown(result))
    assert "| rgbd_blackout@3-7 | rgbd | 7 | 0.200 | 0.500 | 60.0 | yes |" in table
