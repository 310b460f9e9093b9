"""The sensor-health rules in the node's pipeline, on real demo bags (rosbags) with a frozen camera and a jumping
skeleton tracker, evaluated offline by rcmcl_ros/bag/evaluate.py with the bundled checkpoint: the faulted frames
are counted drops by reason, each faulted modality's mean gate falls >= 30 % against clean windows, and the
clean windows are what they are with the rules off (no false alarm)."""
from __future__ import annotations

import numpy as np
import pytest

from rcmcl_core.config import MODALITIES
from rcmcl_core.sensor_health import HealthConfig
from rcmcl_ros.bag.annotations import Fault
from rcmcl_ros.bag.demo import DemoBagConfig, make_demo_bag
from rcmcl_ros.bag.evaluate import evaluate_bag
from rcmcl_ros.bag.fault_gates import fault_gate_drops
from rcmcl_ros.bag.files import DEFAULT_TOPICS
from rcmcl_core.bundled import BUNDLED_CHECKPOINT
from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.timeout(300)]

FPS = 30.0
FROZEN, JUMPS = Fault("rgbd_frozen", 4.0, 8.0), Fault("skeleton_jumps", 9.0, 13.0)
GOAL_DROP_PCT = 30.0


def evaluate(bag, *, enabled: bool):
    config = PipelineConfig(device="cpu", warmup=False, health=HealthConfig(enabled=enabled))
    return evaluate_bag(bag, pipeline=Pipeline.from_checkpoint(BUNDLED_CHECKPOINT, config=config),
                        topics=DEFAULT_TOPICS, progress=False)


@pytest.mark.parametrize("seed", [3, 5])
def test_frozen_camera_and_tracker_jumps_are_counted_drops_and_their_gates_fall(tmp_path, seed):
    config = DemoBagConfig(seed=seed, actions=4, segment_s=4.0, image_size=64, fps=FPS, faults=(FROZEN, JUMPS))
    bag = make_demo_bag(config, out=tmp_path / "bag", progress=False)
    ruled, learned = evaluate(bag, enabled=True), evaluate(bag, enabled=False)

    drops = ruled.snapshot["rejected"]
    frozen_frames = int(round((FROZEN.end_s - FROZEN.start_s) * FPS))
    jumped_frames = frozen_frames // 2        # demo.jumped_joints: every other pair of frames
    assert frozen_frames - 2 <= drops.get("rgbd/repeated", 0) <= frozen_frames
    assert 0.9 * jumped_frames <= drops.get("skeleton/jump", 0) <= jumped_frames + 2
    assert set(drops) == {"rgbd/repeated", "skeleton/jump"}
    assert learned.snapshot["rejected"] == {}
    assert ruled.snapshot["drops"] == learned.snapshot["drops"]          # message drops are another count

    rows = {row.modality: row for row in fault_gate_drops(ruled)}
    for modality in ("rgbd", "skeleton"):
        assert rows[modality].windows >= 5, rows[modality]
        assert rows[modality].drop_pct >= GOAL_DROP_PCT, rows[modality]

    # windows that no fault touches decide as with the rules off (the cloud's random sampling draws differ
    # once a rejected skeleton changed a crop, hence the tolerance)
    times = np.array([d.stamp_s - ruled.start_s for d in ruled.decisions])
    assert [d.stamp_s for d in ruled.decisions] == [d.stamp_s for d in learned.decisions]
    touched = np.zeros(len(times), bool)
    for fault in (FROZEN, JUMPS):
        touched |= (times > fault.start_s) & (times - ruled.window_s < fault.end_s)
    assert (~touched).sum() >= 10
    for i in np.flatnonzero(~touched):
        assert np.allclose(ruled.decisions[i].gates, learned.decisions[i].gates, atol=0.02)
        assert ruled.decisions[i].present.all()
    # inside the frozen segment RGB-D is absent (gate exactly 0), skeleton and points decide
    inside = (times - ruled.window_s / 2 >= FROZEN.start_s) & (times < FROZEN.end_s)
    r = MODALITIES.index("rgbd")
    assert all(ruled.decisions[i].gates[r] == 0.0 and not ruled.decisions[i].present[r]
               for i in np.flatnonzero(inside))
