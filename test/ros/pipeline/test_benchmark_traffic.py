"""The live-node benchmarks' traffic (benchmarks/traffic.py SensorFrames) looks like a live camera to the node's
health rules: its colour and depth never repeat and its skeleton never jumps, whichever ticks the node's input
gate keeps, so every decision of the real Pipeline has all three modalities present and nothing is rejected.
A benchmark whose traffic the node rejects measures a node with RGB-D absent (the mistake this guards)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from rclpy.serialization import deserialize_message

from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig
from rcmcl_ros.pipeline.window import WindowConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # conftest.py

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"
RATE_HZ = 30.0
T0 = 100.0


def traffic_module():
    spec = importlib.util.spec_from_file_location("traffic", BENCHMARKS / "traffic.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("traffic", module)          # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("every", [1, 2, 3], ids=["every tick", "every 2nd (15 Hz gate)", "every 3rd (10 Hz gate)"])
@pytest.mark.parametrize("people", [1, 2])
def test_benchmark_traffic_is_never_rejected_and_every_decision_has_every_modality(tiny_checkpoint, every, people):
    traffic = traffic_module()
    frames = traffic.SensorFrames(traffic.SIZES["small"], seed=0, people=people)
    types = traffic.message_types()
    config = PipelineConfig(device="cpu", warmup=False, window=WindowConfig(stride_s=0.25))
    pipeline = Pipeline.from_checkpoint(tiny_checkpoint(window_s=1.0), config=config)
    decisions = []
    for tick in range(0, int(4 * RATE_HZ), every):          # the ticks the node's input gate keeps
        t = T0 + tick / RATE_HZ
        for stream in traffic.STREAMS:                     # the bytes the benchmark publishes, as the node reads them
            msg = deserialize_message(frames.serialized(stream, t, tick=tick), types[stream])
            assert pipeline.ingest(stream, t, msg, now_s=t + 0.01) is None, stream
        decisions += pipeline.step(t + 0.01)
    snapshot = pipeline.snapshot(T0 + 4.0)
    assert snapshot["rejected"] == {}, snapshot["rejected"]
    assert len(decisions) >= 8
    assert all(d.present.all() and np.all(d.gates > 0) for d in decisions)


def test_the_published_depth_changes_every_tick_and_colour_every_variant():
    traffic = traffic_module()
    frames = traffic.SensorFrames(traffic.SIZES["small"], seed=0)
    depth = [bytes(frames.serialized("depth", T0, tick=k)) for k in range(2 * frames.DEPTH_STEPS)]
    assert len(set(depth[:frames.DEPTH_STEPS])) == frames.DEPTH_STEPS   # no two ticks within DEPTH_STEPS alike
    colour = {bytes(frames.serialized("rgb", T0, tick=k)) for k in range(frames.VARIANTS)}
    assert len(colour) == frames.VARIANTS
