"""The sensor-health rules inside the Pipeline (real messages, tiny random-weight checkpoint): a camera that
republishes its last frame is counted 'rgbd/repeated', RGB-D goes absent (gate exactly 0) once the frozen part
of a window is too large and comes back when the camera does; a skeleton teleport is 'skeleton/jump'; every
drop is handed to the node's log once; the off switch turns it all off; bad thresholds are start-up errors."""
from __future__ import annotations

import numpy as np
import pytest

from rcmcl_core.config import MODALITIES
from rcmcl_core.sensor_health import HealthConfig
from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig, PipelineConfigError
from rcmcl_ros.pipeline.window import FrameSet, WindowConfig, Windower

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # conftest.py

STREAMS = ("rgb", "depth", "points", "skeleton")
FPS = 30.0
R, S = MODALITIES.index("rgbd"), MODALITIES.index("skeleton")
T0 = 10.0
"""Scene time 0 is stamped T0 seconds (a zero stamp is 'stamp_unset')."""


def make_pipeline(tiny_checkpoint, **health) -> Pipeline:
    config = PipelineConfig(device="cpu", warmup=False, window=WindowConfig(stride_s=0.2),
                            health=HealthConfig(**health))
    return Pipeline.from_checkpoint(tiny_checkpoint(window_s=1.0), config=config)


def play(pipeline: Pipeline, scene, start_s: float, stop_s: float, *, frozen_from: float | None = None,
         jump_at: float | None = None) -> list:
    """The scene at FPS over [start_s, stop_s) (stamps T0 later); from `frozen_from` the camera republishes its
    frame at that time (new stamps, same pixels); at `jump_at` the skeleton teleports 1 m for one frame."""
    decisions = []
    for t in np.arange(round(start_s * FPS), round(stop_s * FPS)) / FPS:
        t = T0 + float(t)
        messages = scene.messages(t)
        if frozen_from is not None and t >= T0 + frozen_from:
            held = scene.messages(T0 + frozen_from)
            for stream in ("rgb", "depth"):
                messages[stream] = held[stream]
                messages[stream].header.stamp = messages["points"].header.stamp
        if jump_at is not None and abs(t - T0 - jump_at) < 0.5 / FPS:
            from rcmcl_ros.conversions import skeleton_to_markers
            moved = scene.joints(t) + np.array([1.0, 0.0, 0.0], np.float32)
            messages["skeleton"] = skeleton_to_markers(moved, layout="azure32", stamp=t,
                                                       frame_id=scene.frame_ids["skeleton"])
        for stream in STREAMS:
            assert pipeline.ingest(stream, t, messages[stream], now_s=t + 0.01) is None
        decisions += pipeline.step(t + 0.01)
    return decisions


def test_a_frozen_camera_is_counted_goes_absent_and_comes_back(tiny_checkpoint, scene):
    pipeline = make_pipeline(tiny_checkpoint)
    before = play(pipeline, scene, 0.0, 2.0)
    assert before and all(d.present.all() and d.gates[R] > 0 for d in before)
    frozen = play(pipeline, scene, 2.0, 4.0, frozen_from=2.0)
    repeated = pipeline.snapshot(T0 + 4.0)["rejected"].get("rgbd/repeated", 0)
    assert int(2.0 * FPS) - 2 <= repeated <= int(2.0 * FPS)      # every republished frame but the first
    late = [d for d in frozen if d.stamp_s >= T0 + 3.2]                 # windows (1 s) well inside the freeze
    assert late and all(not d.present[R] and d.gates[R] == 0.0 and d.present[S] for d in late)
    after = play(pipeline, scene, 4.0, 6.0)
    assert all(d.present.all() and d.gates[R] > 0 for d in after if d.stamp_s >= T0 + 5.2)
    logged = pipeline.take_drops()
    assert logged and {(d.stream, d.reason) for d in logged} == {("rgbd", "repeated")}
    assert "identical to the previous frame" in logged[0].detail
    assert pipeline.take_drops() == []                      # each drop is handed over once


def test_a_skeleton_teleport_is_a_jump_and_a_few_frozen_frames_are_filled(tiny_checkpoint, scene):
    pipeline = make_pipeline(tiny_checkpoint)
    decisions = play(pipeline, scene, 0.0, 2.0, jump_at=1.5)
    decisions += play(pipeline, scene, 2.0, 3.0)
    assert pipeline.snapshot(T0 + 3.0)["rejected"] == {"skeleton/jump": 1}
    assert all(d.present.all() for d in decisions)                 # one rejected frame is filled by its neighbours


def test_the_off_switch_counts_nothing(tiny_checkpoint, scene):
    pipeline = make_pipeline(tiny_checkpoint, enabled=False)
    decisions = play(pipeline, scene, 0.0, 3.0, frozen_from=1.0, jump_at=0.5)
    assert pipeline.snapshot(T0 + 3.0)["drops"] == {}
    assert all(d.present.all() for d in decisions)


def test_impossible_thresholds_are_a_pipeline_config_error(tiny_checkpoint):
    with pytest.raises(PipelineConfigError, match="joint_speed_mps"):
        make_pipeline(tiny_checkpoint, joint_speed_mps=-1.0)
    with pytest.raises(PipelineConfigError, match="max_rejected_fraction"):
        make_pipeline(tiny_checkpoint, max_rejected_fraction=1.5)


def test_the_windower_counts_a_target_nearest_a_rejected_frame_as_unobserved():
    """8 targets over 1 s at 30 fps; frames rejected around two targets: coverage 6/8, present; around three
    targets with max_rejected_fraction 0.25: present by coverage, but not trusted."""
    config = WindowConfig(frames=8, window_s=1.0, stride_s=0.5)

    def run(rejected_targets: set[int], health: HealthConfig | None):
        windower = Windower(config=config, health=health)
        targets = np.linspace(0.0, 1.0, 8) + 1.0               # the first window ends at 2.0 s
        windows = []
        for t in np.arange(0, 75) / FPS:
            near = [k for k in rejected_targets if abs(t - targets[k]) < 0.05]
            skeleton = (np.ones((1, 25, 3), np.float32), np.array([True]))
            if near:
                windower.reject("skeleton", t)
                frames = {"skeleton": None}
            else:
                frames = {"skeleton": (t, skeleton)}
            windows += windower.push(FrameSet(stamp_s=t, frames=frames))
        return next((w for w in windows if abs(w.end_s - 2.0) < 1e-6), None)

    window = run({2, 5}, HealthConfig())
    assert window.coverage[S] == pytest.approx(6 / 8) and window.present[S]
    window = run({1, 3, 5}, None)
    assert window.coverage[S] == pytest.approx(5 / 8) and window.present[S]
    assert run({1, 3, 5}, HealthConfig(max_rejected_fraction=0.25)) is None   # nothing else present: no window
