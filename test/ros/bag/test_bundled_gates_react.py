"""The bundled checkpoint's gates react to sensor faults on a demo bag (issue 14): the faulted modality's mean
gate during a fault it has to detect itself (the modality stays present) is >= 30 % below its clean value,
for bags of two seeds. Real bags (rosbags), the node's Pipeline, the bundled rcmcl_compact.pt."""
from __future__ import annotations

import pytest

from rcmcl_ros.bag.annotations import Fault
from rcmcl_ros.bag.demo import DemoBagConfig, make_demo_bag
from rcmcl_ros.bag.evaluate import evaluate_bag
from rcmcl_ros.bag.fault_gates import fault_gate_drops
from rcmcl_ros.bag.files import DEFAULT_TOPICS
from rcmcl_core.bundled import BUNDLED_CHECKPOINT
from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.slow, pytest.mark.timeout(300)]

FAULTS = (Fault("points_sparse", 4.0, 7.0), Fault("rgbd_blackout", 9.0, 12.0))
"""Faults the gates must see for themselves: the cloud thinned out, the camera dark (frames still come)."""
GOAL_DROP_PCT = 30.0


@pytest.mark.parametrize("seed", [3, 4])
def test_the_faulted_modality_gate_falls_at_least_30_percent(tmp_path, seed):
    config = DemoBagConfig(seed=seed, actions=4, segment_s=4.0, image_size=64, faults=FAULTS)
    bag = make_demo_bag(config, out=tmp_path / "bag", progress=False)
    pipeline = Pipeline.from_checkpoint(BUNDLED_CHECKPOINT, config=PipelineConfig(device="cpu", warmup=False))
    result = evaluate_bag(bag, pipeline=pipeline, topics=DEFAULT_TOPICS, progress=False)
    rows = fault_gate_drops(result)
    assert [row.modality for row in rows] == ["points", "rgbd"]
    for row in rows:
        assert row.windows >= 5, row
        assert row.drop_pct >= GOAL_DROP_PCT, row
