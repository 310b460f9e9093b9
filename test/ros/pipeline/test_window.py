"""Windowing: time-span windows resampled to T targets, presence, fill-by-nearest, stride, resets."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from rcmcl_ros.pipeline.window import Window, WindowConfig, WindowConfigError, Windower, target_times

SIZE, POINTS, BODIES = 4, 5, 2


@dataclass
class FakeSet:
    """Duck-typed SyncedSet: stamp_s, frames {stream: (stamp_s, payload) | None}."""

    stamp_s: float
    frames: dict


def frames_at(stamp_s: float, *, streams=("rgb", "depth", "points", "skeleton"), body: bool = True) -> dict:
    """Frames whose payload values encode their stamp, so a test can tell which frame filled a target."""
    value = np.float32(stamp_s)
    joints = np.full((BODIES, 25, 3), value, dtype=np.float32)
    valid = np.array([body, False])
    payloads = {
        "rgb": np.full((SIZE, SIZE, 3), int(round(stamp_s * 10)) % 256, dtype=np.uint8),
        "depth": np.full((SIZE, SIZE), value, dtype=np.float32),
        "points": np.full((POINTS, 3), value, dtype=np.float32),
        "skeleton": (joints, valid),
    }
    return {s: ((stamp_s, payloads[s]) if s in streams else None) for s in ("rgb", "depth", "points", "skeleton")}


def feed(windower: Windower, stamps, **kwargs) -> list[Window]:
    return windower.push_many(FakeSet(stamp_s=float(t), frames=frames_at(float(t), **kwargs)) for t in stamps)


def make(**overrides) -> Windower:
    config = dict(frames=8, window_s=1.0, stride_s=0.2, min_presence=0.5, max_gap_s=0.25)
    config.update(overrides)
    return Windower(config=WindowConfig(**config))


def rate(fps: float, start: float, stop: float) -> np.ndarray:
    return np.arange(round(start * fps), round(stop * fps)) / fps


def test_target_times_span_the_window_evenly_with_both_ends_included():
    targets = target_times(10.0, frames=5, window_s=2.0)
    np.testing.assert_allclose(targets, [8.0, 8.5, 9.0, 9.5, 10.0])


def test_window_config_rejects_presence_outside_unit_interval():
    with pytest.raises(WindowConfigError, match="min_presence"):
        WindowConfig(frames=8, window_s=1.0, min_presence=1.5).validate()


def test_windows_end_every_stride_of_sensor_time_on_the_stride_grid():
    windows = feed(make(), rate(30, 0.0, 3.0))
    ends = np.array([w.end_s for w in windows])
    assert ends[0] == pytest.approx(1.0)
    np.testing.assert_allclose(np.diff(ends), 0.2, atol=1e-9)
    np.testing.assert_allclose(ends / 0.2, np.round(ends / 0.2), atol=1e-9)
    assert ends[-1] <= 3.0 - 1 / 30 + 1e-9


def test_same_scene_at_30_and_5_fps_gives_the_same_target_times_and_presence():
    fast = feed(make(), rate(30, 0.0, 3.0))
    slow = feed(make(), rate(5, 0.0, 3.0))
    fast_ends = {round(w.end_s, 6): w for w in fast}
    common = [w for w in slow if round(w.end_s, 6) in fast_ends]
    assert len(common) >= len(slow) - 1 and len(common) >= 5
    for w in common:
        np.testing.assert_allclose(w.target_s, fast_ends[round(w.end_s, 6)].target_s)
        assert w.present.all() and fast_ends[round(w.end_s, 6)].present.all()
        assert w.batch["rgb"].shape == (1, 8, 3, SIZE, SIZE)


def test_modality_is_present_only_when_enough_targets_are_observed():
    windower = make(min_presence=0.5, max_gap_s=0.05)
    sets = []
    for t in rate(30, 0.0, 2.0):
        # Skeleton only during [1.0, 1.4): under half of the targets of the window ending at 2.0.
        streams = ("rgb", "depth", "points") + (("skeleton",) if 1.0 <= t < 1.4 else ())
        sets.append(FakeSet(stamp_s=t, frames=frames_at(t, streams=streams)))
    sets.append(FakeSet(stamp_s=2.0, frames=frames_at(2.0, streams=("rgb", "depth", "points"))))
    last = windower.push_many(sets)[-1]
    assert last.end_s == pytest.approx(2.0)
    assert last.coverage[1] == pytest.approx(3 / 8)   # targets 1.0, 1.143, 1.286; 1.429 is 62 ms from 1.367
    assert list(last.present) == [True, False, True]
    assert last.batch["skeleton"] is None and bool(last.batch["present"][0, 1]) is False


def test_modality_at_exactly_min_presence_is_present():
    windower = make(min_presence=0.5, max_gap_s=0.05)
    targets = target_times(2.0, frames=8, window_s=1.0)
    sets = [FakeSet(stamp_s=t, frames=frames_at(t, streams=("rgb", "depth"))) for t in rate(30, 0.0, 2.0)]
    sets += [FakeSet(stamp_s=2.0, frames=frames_at(2.0, streams=("rgb", "depth")))]
    for t in targets[:4]:   # points exactly at 4 of the 8 targets
        sets.append(FakeSet(stamp_s=t, frames=frames_at(t, streams=("points",))))
    sets.sort(key=lambda s: s.stamp_s)
    last = windower.push_many(sets)[-1]
    assert last.coverage[2] == pytest.approx(0.5)
    assert bool(last.present[2])


def test_missing_frames_of_a_present_modality_are_filled_by_the_nearest_frame():
    windower = make(max_gap_s=0.05)
    sets = []
    for t in rate(30, 0.0, 2.1):
        streams = ("rgb", "depth", "points") + (("skeleton",) if not 1.5 < t < 1.75 else ())
        sets.append(FakeSet(stamp_s=t, frames=frames_at(t, streams=streams)))
    last = [w for w in windower.push_many(sets) if abs(w.end_s - 2.0) < 1e-9][0]
    skeleton = last.batch["skeleton"][0, :, 0, 0, 0].numpy()   # per target: the stamp of the frame used
    targets = last.target_s
    gap = (targets > 1.5) & (targets < 1.75)
    assert gap.any()
    for value, target in zip(skeleton[gap], targets[gap]):
        expected = 1.5 if target - 1.5 <= 1.75 - target else 1.75
        assert value == pytest.approx(expected, abs=1 / 30 + 1e-6)
    assert bool(last.present[1])


def test_rgbd_needs_both_rgb_and_depth_in_the_same_set():
    windows = feed(make(), rate(30, 0.0, 2.0), streams=("rgb", "points", "skeleton"))
    assert windows and all(not w.present[0] for w in windows)
    assert all(w.batch["rgb"] is None and w.batch["depth"] is None for w in windows)


def test_skeleton_frames_without_a_tracked_body_do_not_count_as_observed():
    windows = feed(make(), rate(30, 0.0, 2.0), body=False)
    assert windows and all(not w.present[1] for w in windows)


def test_untracked_bodies_are_zero_in_the_batch():
    window = feed(make(), rate(30, 0.0, 1.5))[-1]
    skeleton = window.batch["skeleton"]
    assert skeleton.shape == (1, 8, BODIES, 25, 3)
    assert torch.all(skeleton[:, :, 1] == 0) and torch.all(skeleton[:, :, 0] > 0)


def test_rgb_becomes_float_channels_first_in_unit_range_and_depth_keeps_metres():
    window = feed(make(), rate(30, 0.0, 1.5))[-1]
    rgb, depth = window.batch["rgb"], window.batch["depth"]
    assert rgb.dtype == torch.float32 and rgb.shape == (1, 8, 3, SIZE, SIZE)
    assert float(rgb.max()) <= 1.0
    np.testing.assert_allclose(depth[0, -1, 0].numpy(), window.target_s[-1], atol=1 / 30 + 1e-6)
    assert depth.shape == (1, 8, 1, SIZE, SIZE)


def test_rate_changes_from_30_to_15_to_5_fps_keep_windows_on_stride_with_all_modalities():
    stamps = np.concatenate([rate(30, 0.0, 2.0), rate(15, 2.0, 4.0), rate(5, 4.0, 6.0)])
    windows = feed(make(), stamps)
    ends = np.array([w.end_s for w in windows])
    np.testing.assert_allclose(np.diff(ends), 0.2, atol=1e-9)
    assert all(w.present.all() for w in windows)


def test_stamps_going_backwards_reset_the_windower():
    windower = make()
    feed(windower, rate(30, 10.0, 12.0))
    after = feed(windower, rate(30, 0.0, 1.5))
    assert windower.stats.resets == 1
    assert after and after[0].end_s == pytest.approx(1.0)
    assert all(w.target_s[0] >= 0.0 - 1e-9 for w in after)


def test_a_long_silence_is_skipped_without_emitting_empty_windows():
    windower = make()
    feed(windower, rate(30, 0.0, 1.5))
    windows = feed(windower, rate(30, 1000.0, 1001.5))
    # Only windows that still see the old tail (<= 1.5 + 1.0 + 0.25 s) or the new data come out.
    assert all(w.end_s <= 2.75 or w.end_s >= 1000.0 - 0.25 for w in windows)
    assert windower.stats.skipped_empty >= 4000


def test_windows_with_no_modality_present_are_not_emitted():
    windower = make(min_presence=1.0, max_gap_s=0.01)
    windows = feed(windower, rate(2, 0.0, 3.0))   # 2 fps: most targets have no frame within 10 ms
    assert windows == []
    assert windower.stats.skipped_absent > 0
