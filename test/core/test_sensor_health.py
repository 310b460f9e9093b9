"""Sensor-health rules (rcmcl_core/sensor_health.py): a frozen camera makes RGB-D absent and its gate exactly 0
in the model's output; a partly frozen window stays present; tracker jumps are flagged while the synthetic
benchmark's fastest real motions (kick, punch, jump) never are; a body that truly moved is re-acquired."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from clip_factory import tiny_batch
from rcmcl_core.augment.sensor_faults import apply_fault, jump_distance_m, jump_joints
from rcmcl_core.config import MODALITIES, preset
from rcmcl_core.data.synthetic.body import make_subject
from rcmcl_core.data.synthetic.classes import CLASSES, class_index
from rcmcl_core.data.synthetic.motion import perform
from rcmcl_core.data.synthetic.sensors import SensorModel, skeleton_tracker
from rcmcl_core.models.rcmcl import RCMCL
from rcmcl_core.sensor_health import (HealthConfig, HealthConfigError, RepeatedFrames, SkeletonMotion,
                                      implausible_motion, repeated_frames, screen_batch)

R, S = MODALITIES.index("rgbd"), MODALITIES.index("skeleton")
FAST_CLASSES = ("kick", "punch", "jump")


def tracked_performance(name: str, *, fps: float, seconds: float = 4.0, subject: int = 1, seed: int = 0
                        ) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic performance as the benchmark's tracker reports it: (F, 2, 25, 3) metres ~3 m in front of
    the camera (jitter, lost frames as zeros), and its times (F,) s."""
    times = np.arange(0.0, seconds, 1.0 / fps)
    joints = perform(CLASSES[class_index(name)], make_subject(subject, seed=0), times_s=times,
                     centre_s=seconds / 2, rng=np.random.default_rng(seed)).joints + np.array([0.0, 0.0, 3.0])
    skeleton, _ = skeleton_tracker(joints, max_bodies=2, model=SensorModel(), rng=np.random.default_rng(seed))
    return skeleton, times


def real_skeleton_batch(batch: dict) -> dict:
    """tiny_batch with each sample's skeleton replaced by a real performance resampled to the clip's T frames."""
    clip = preset("tiny").clip
    out = dict(batch)
    rows = []
    for i in range(batch["present"].shape[0]):
        skeleton, _ = tracked_performance("wave", fps=(clip.frames - 1) / clip.window_s, seconds=clip.window_s
                                          + 1e-6, seed=i)
        rows.append(torch.from_numpy(skeleton[:clip.frames]))
    out["skeleton"] = torch.stack(rows)
    return out


@pytest.fixture(scope="module")
def tiny_model() -> RCMCL:
    torch.manual_seed(0)
    return RCMCL(config=preset("tiny")).eval()


def test_a_frozen_clip_makes_rgbd_absent_and_its_gate_exactly_zero(tiny_model):
    batch = real_skeleton_batch(tiny_batch([(True, True, True)] * 3))
    frozen = apply_fault(batch, "rgbd_frozen", 1.0, generator=torch.Generator().manual_seed(0))
    screened, flags = screen_batch(frozen, window_s=tiny_model.config.clip.window_s, config=HealthConfig())
    assert flags["rgbd"][:, 1:].all() and not flags["rgbd"][:, 0].any()     # every frame after the first repeats
    assert not screened["present"][:, R].any() and screened["present"][:, S].all()
    assert not flags["skeleton"].any()                                        # a real skeleton is untouched
    with torch.no_grad():
        gates = tiny_model(screened).gates
        learned = tiny_model(frozen).gates
    assert torch.equal(gates[:, R], torch.zeros(3))
    assert (learned[:, R] > 0).all()                # without the rule the frozen frames reach the model


def test_a_partly_frozen_window_stays_present_and_keeps_its_frames(tiny_model):
    batch = real_skeleton_batch(tiny_batch([(True, True, True)] * 2))
    t = batch["rgb"].shape[1]
    frozen = apply_fault(batch, "rgbd_frozen", 0.25, generator=torch.Generator().manual_seed(0))
    screened, flags = screen_batch(frozen, window_s=tiny_model.config.clip.window_s, config=HealthConfig())
    onset = round(0.75 * (t - 1))
    assert flags["rgbd"][:, onset + 1:].all() and not flags["rgbd"][:, :onset + 1].any()
    assert screened["present"].all()
    # the flagged frames are filled from the nearest accepted one: the frame the camera froze on
    assert torch.equal(screened["rgb"][:, onset + 1:], frozen["rgb"][:, onset:onset + 1].expand_as(
        frozen["rgb"][:, onset + 1:]))
    with torch.no_grad():
        assert (tiny_model(screened).gates[:, R] > 0).all()


def test_skeleton_frames_without_a_body_are_unobserved_as_in_the_node(tiny_model):
    batch = real_skeleton_batch(tiny_batch([(True, True, True)] * 2))
    batch["skeleton"][0] = 0.0                              # sample 0: the tracker reports nobody in any frame
    batch["skeleton"][1, 3] = 0.0                           # sample 1: nobody in frame 3 only
    screened, flags = screen_batch(batch, window_s=tiny_model.config.clip.window_s, config=HealthConfig())
    assert not flags["skeleton"].any()                      # not rejected by a rule: just not observed
    assert not screened["present"][0, S] and screened["present"][1, S]
    assert torch.equal(screened["skeleton"][1, 3], batch["skeleton"][1, 2])   # filled from the nearest frame
    with torch.no_grad():
        assert tiny_model(screened).gates[0, S] == 0.0       # absent: exactly 0, as the node publishes it


def test_the_off_switch_leaves_the_batch_alone():
    batch = real_skeleton_batch(tiny_batch([(True, True, True)]))
    frozen = apply_fault(batch, "rgbd_frozen", 1.0, generator=torch.Generator().manual_seed(0))
    screened, flags = screen_batch(frozen, window_s=2.0, config=HealthConfig(enabled=False))
    assert screened["present"].all() and not any(f.any() for f in flags.values())
    assert torch.equal(screened["rgb"], frozen["rgb"])


def test_a_live_sensor_never_repeats_but_a_republished_frame_does():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    depth = np.full((32, 32), 2.0, np.float32)
    check = RepeatedFrames(HealthConfig())
    assert not check.check(rgb, depth)
    assert check.check(rgb.copy(), depth.copy())                                # bit-exact repeat
    noisy = (depth + rng.normal(0, 0.0015, depth.shape)).astype(np.float32)     # time-of-flight noise
    assert not check.check(rgb.copy(), noisy)           # a still, noise-free colour image with live depth is live
    assert not check.check(np.clip(rgb.astype(int) + 1, 0, 255).astype(np.uint8), noisy)
    tolerant = RepeatedFrames(HealthConfig(repeat_rgb_tolerance=2 / 255, repeat_depth_tolerance_m=0.01))
    tolerant.check(rgb, depth)
    assert tolerant.check(np.clip(rgb.astype(int) + 1, 0, 255).astype(np.uint8), noisy)


@pytest.mark.parametrize("fps", [30.0, 3.5])           # the node's camera rate, and a compact clip's (8 over 2 s)
def test_real_fast_motions_are_never_flagged(fps):
    flagged = total = 0
    for name in FAST_CLASSES:
        for subject in range(1, 7):
            for seed in range(3):
                skeleton, times = tracked_performance(name, fps=fps, subject=subject, seed=seed)
                flagged += int(implausible_motion(skeleton, times, config=HealthConfig()).sum())
                total += len(times)
    assert total > 300 and flagged == 0


@pytest.mark.parametrize("severity, most_missed", [(1.0, 0.0), (0.0, 0.1)])
def test_tracker_jumps_are_flagged_at_camera_rate_and_nothing_else(severity, most_missed):
    """sensor_faults' jumps (a joint or the whole body, 2 frames) on real performances at 30 fps, after 3 clean
    frames of history (the node always has some): 1.0 m jumps are all flagged; 0.5 m ones all but a few (a
    head or hand tip swinging 0.5 m about its parent at 15 m/s keeps its bone length and a kick's speed);
    no clean frame is ever flagged."""
    generator = torch.Generator().manual_seed(0)
    missed = false = jumped_total = 0
    for k, name in enumerate(FAST_CLASSES + ("wave", "bow", "sit down")):
        skeleton, times = tracked_performance(name, fps=30.0, seed=k)
        clean = torch.from_numpy(skeleton)[None]
        moved = jump_joints(clean, torch.tensor([8]), jump_distance_m(torch.tensor([severity])),
                            generator=generator)[0]
        moved[:3] = clean[0, :3]
        jumped = (moved != clean[0]).flatten(1).any(dim=1).numpy()
        flags = implausible_motion(moved, times, config=HealthConfig())
        missed += int((jumped & ~flags).sum())
        false += int((flags & ~jumped).sum())
        jumped_total += int(jumped.sum())
    assert jumped_total >= 60
    assert false == 0
    assert missed <= most_missed * jumped_total, (missed, jumped_total)


def test_a_body_that_truly_moved_is_reacquired_after_a_few_consistent_frames():
    skeleton, times = tracked_performance("wave", fps=30.0)
    skeleton = skeleton[:, :1].copy()
    skeleton[:, 0] = np.where(skeleton[:, 0] != 0, skeleton[:, 0], skeleton[0, 0])   # keep every frame tracked
    skeleton[40:, 0] += np.array([3.0, 0.0, 0.0])       # a new id in the slot (or a teleport that stays)
    flags = implausible_motion(skeleton, times, config=HealthConfig(reacquire_frames=3))
    assert flags[40:42].all() and not flags[42:].any() and not flags[:40].any()
    # an id switch to a person twice the size, at 3 fps: its bones never fit, the time limit re-acquires it
    skeleton, times = tracked_performance("wave", fps=30.0)
    skeleton, times = skeleton[::10, :1].copy(), times[::10]
    skeleton[:, 0] = np.where(skeleton[:, 0] != 0, skeleton[:, 0], skeleton[0, 0])
    pelvis = skeleton[4:, :, :1]
    skeleton[4:] = pelvis + 2.0 * (skeleton[4:] - pelvis)
    flags = implausible_motion(skeleton, times, config=HealthConfig(reacquire_frames=10, reacquire_s=0.5))
    assert flags[4:6].all() and not flags[6:].any() and not flags[:4].any()


def test_lost_joints_are_not_motion_and_bad_thresholds_are_refused():
    skeleton, times = tracked_performance("wave", fps=30.0)
    check = SkeletonMotion(HealthConfig())
    for t in range(10):
        joints = skeleton[t].copy()
        joints[0, 7] = 0.0 if t % 2 else joints[0, 7]  # a hand lost every other frame (the dropout fault)
        assert check.check(times[t], joints, np.array([True, False])) is None
    with pytest.raises(HealthConfigError, match="joint_speed_mps"):
        HealthConfig(joint_speed_mps=0.0).validate()
    with pytest.raises(HealthConfigError, match="reacquire_frames"):
        HealthConfig(reacquire_frames=0).validate()


def test_repeated_frames_of_a_clip_follow_the_fault():
    batch = tiny_batch([(True, True, True)])
    frozen = apply_fault(batch, "rgbd_frozen", 0.5, generator=torch.Generator().manual_seed(0))
    flags = repeated_frames(frozen["rgb"][0], frozen["depth"][0], config=HealthConfig())
    t = batch["rgb"].shape[1]
    onset = round(0.5 * (t - 1))
    assert flags.tolist() == [False] * (onset + 1) + [True] * (t - onset - 1)
