"""StageClock splits a decision's node-added latency into consecutive stages that add up to it."""
import math

from rcmcl_ros.pipeline.stage_timing import STAGES, StageClock


def test_stages_follow_the_timestamps_and_add_up_to_the_node_added_latency():
    clock = StageClock(keep=4)
    clock.arrived(10.0, at=100.000)       # the newest input used (all streams of a capture share the stamp)
    clock.pushed(10.0, at=100.002)
    clock.arrived(10.1, at=100.090)       # a later set completes the window
    clock.pushed(10.1, at=100.093)
    stages = clock.stages(newest_s=10.0, completed_by_s=10.1, built=100.095, queue_s=0.005, inference_s=0.020,
                          published=100.121)
    expected = {"wait_completing_s": 0.090, "convert_completing_s": 0.003, "sync_s": 0.002, "queue_s": 0.005,
                "inference_s": 0.020, "publish_s": 0.001, "node_adds_s": 0.121}
    assert set(stages) == set(STAGES)
    assert all(abs(stages[k] - v) < 1e-9 for k, v in expected.items()), stages
    same = clock.stages(newest_s=10.1, completed_by_s=10.1, built=100.095, queue_s=0.0, inference_s=0.02,
                        published=100.116)
    assert same["wait_completing_s"] == 0.0 and abs(same["node_adds_s"] - 0.026) < 1e-9


def test_a_forgotten_stamp_gives_nan_not_a_wrong_number():
    clock = StageClock(keep=2)
    for k in range(4):
        clock.arrived(float(k), at=float(k))
        clock.pushed(float(k), at=float(k) + 0.001)
    stages = clock.stages(newest_s=0.0, completed_by_s=3.0, built=3.01, queue_s=0.0, inference_s=0.01, published=3.03)
    assert math.isnan(stages["wait_completing_s"]) and math.isnan(stages["node_adds_s"])
    assert abs(stages["sync_s"] - 0.009) < 1e-9                # what is known still is
    clock.arrived(float("nan"), at=5.0)                        # unusable stamps are ignored
