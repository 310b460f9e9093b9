"""Per-person windows, budget, batched decisions and the ~/decision contract (rcmcl_ros/people/), on
a rendered 2- and 3-person synthetic scene and the bundled lite checkpoint."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rcmcl_core.data.synthetic.generate import synthetic_intrinsics
from rcmcl_core.data.synthetic.classes import CLASS_NAMES
from rcmcl_core.data.synthetic.scene import make_scene_clip
from rcmcl_ros.people.tracker import PeopleConfig, PeopleConfigError, SceneFrame, people_windower
from rcmcl_ros.people.synthetic import scene_frames

BUNDLED = Path(__file__).resolve().parents[3] / "rcmcl_core" / "assets" / "rcmcl_compact.pt"
FPS = 10.0
SIZE = 64
INTRINSICS = synthetic_intrinsics(width=SIZE, height=SIZE)


@pytest.fixture(scope="module")
def checkpoint():
    """(the bundled model's InferenceRuntime on the CPU, labels, clip): rounds run as the node runs them."""
    import torch

    from rcmcl_core.checkpoint import load_model
    from rcmcl_core.inference_runtime import InferenceRuntime

    model, loaded = load_model(BUNDLED)
    runtime = InferenceRuntime(model.eval(), device=torch.device("cpu"), warmup=False, cpu_trace=True)
    return runtime, loaded.labels, loaded.config.clip


@pytest.fixture(scope="module")
def two_people():
    """6 s of two people (wave, kick), body ids 1 and 2, every frame tracked (no random tracker loss)."""
    clip = make_scene_clip([CLASS_NAMES.index("wave"), CLASS_NAMES.index("kick")], [2, 4], camera=1, seed=3,
                           intrinsics=INTRINSICS, fps=FPS, frames=60)
    for p in range(2):      # frames the tracker lost repeat the last tracked pose
        valid = clip["skeleton_valid"][:, p]
        last = np.maximum.accumulate(np.where(valid, np.arange(len(valid)), 0))
        clip["skeleton"][:, p] = clip["skeleton"][last, p]
    clip["skeleton_valid"][:] = np.abs(clip["skeleton"]).sum(axis=(2, 3)) > 0
    return list(scene_frames(clip, intrinsics=INTRINSICS, fps=FPS, body_ids=[1, 2]))


def windower(clip, **people):
    return people_windower(clip, people=PeopleConfig(**{"max_people": 3, "max_batch": 3, **people}), stride_s=0.5)


def rounds_of(w, frames):
    return [r for f in frames for r in w.push(f)]


def without(frame: SceneFrame, body_id: int) -> SceneFrame:
    return replace(frame, bodies={i: j for i, j in frame.bodies.items() if i != body_id})


def test_each_tracked_person_gets_a_window_and_all_share_one_batch(checkpoint, two_people):
    from rcmcl_ros.people.decisions import infer_round

    model, labels, clip = checkpoint
    rounds = rounds_of(windower(clip), two_people)
    assert rounds and all(r.body_ids == [1, 2] for r in rounds)
    first = rounds[0]
    assert first.batch["rgb"].shape == (2, clip.frames, 3, clip.image_size, clip.image_size)
    assert first.batch["points"].shape == (2, clip.frames, clip.num_points, 3)
    assert first.present.all()
    # each person's crop is centred on them: the two RGB crops differ
    assert not np.allclose(first.batch["rgb"][0].numpy(), first.batch["rgb"][1].numpy())
    decisions = infer_round(model, first, labels=labels)
    assert [d.body_id for d in decisions] == [1, 2] and [d.second_body_id for d in decisions] == [2, 1]
    for d in (p.decision for p in decisions):     # the single-person Decision, one per person
        assert abs(d.scores.sum() - 1) < 1e-4 and (d.gates > 0).all() and d.stamp_s == first.end_s
        assert d.label == labels[d.label_index] and d.confidence == d.scores.max()
    # one forward for the round: every person carries its time
    forward_s = {d.decision.latency["inference_s"] for d in decisions}
    assert len(forward_s) == 1 and forward_s.pop() > 0


def test_a_person_who_leaves_stops_after_stale_after_s_while_the_other_continues(checkpoint, two_people):
    _, _, clip = checkpoint
    w = windower(clip, stale_after_s=1.0)
    frames = [f if f.stamp_s < 3.0 else without(f, 2) for f in two_people]
    rounds = rounds_of(w, frames)
    with_two = [r.end_s for r in rounds if 2 in r.body_ids]
    assert max(with_two) <= 3.0 + 1.0 + 1e-6          # gone from the output within stale_after_s
    assert all(1 in r.body_ids for r in rounds)
    assert rounds[-1].body_ids == [1] and w.tracked_ids == [1] and w.stats.tracks_dropped == 1


def test_lost_skeleton_drops_that_persons_skeleton_gate_only_and_then_the_person(checkpoint, two_people):
    from rcmcl_ros.people.decisions import infer_round

    model, labels, clip = checkpoint
    w = windower(clip, stale_after_s=2.5)
    frames = [f if f.stamp_s < 3.0 else without(f, 2) for f in two_people]
    by_end = {}
    for r in rounds_of(w, frames):
        by_end[r.end_s] = {d.body_id: d for d in infer_round(model, r, labels=labels)}
    early = {i: d.decision for i, d in by_end[2.5].items()}
    held = {i: d.decision for i, d in by_end[4.5].items()}
    assert early[2].present.all() and early[2].gates[1] > 0
    # 1.5 s after body 2's skeleton went: its skeleton is absent (gate exactly 0), RGB-D and points carry on
    assert held[2].present.tolist() == [True, False, True] and held[2].gates[1] == 0.0
    assert held[1].present.all() and held[1].gates[1] > 0
    assert all(2 not in people for end, people in by_end.items() if end > 3.0 + 2.5)   # no phantom label


def test_a_new_body_id_after_occlusion_starts_a_fresh_track(checkpoint, two_people):
    _, _, clip = checkpoint
    w = windower(clip, stale_after_s=0.5)
    # body 2 is occluded for 1.5 s and comes back as body 7 (the tracker re-numbers it)
    frames = [without(f, 2) if 2.0 <= f.stamp_s < 3.5 else f for f in two_people]
    frames = [replace(f, bodies={(7 if i == 2 and f.stamp_s >= 3.5 else i): j for i, j in f.bodies.items()})
              for f in frames]
    rounds = rounds_of(w, frames)
    assert w.stats.tracks_started == 3 and w.tracked_ids == [1, 7]
    first_seven = min(r.end_s for r in rounds if 7 in r.body_ids)
    # its first window needs min_presence of a window of frames of its own
    assert first_seven >= 3.5 + clip.window_s * w.window.min_presence - w.window.max_gap_s - 1e-6
    assert all(2 not in r.body_ids for r in rounds if r.end_s > 2.5)


def test_more_people_than_max_batch_are_served_round_robin_and_never_queued(checkpoint, two_people):
    _, _, clip = checkpoint
    body = two_people[0].bodies[1]
    frames = [SceneFrame(stamp_s=k / FPS, bodies={i: body + [0.3 * i, 0, 0] for i in range(1, 6)})
              for k in range(50)]
    w = windower(clip, max_people=5, max_batch=2)
    rounds = rounds_of(w, frames)
    assert all(len(r.body_ids) == 2 for r in rounds)
    served = [i for r in rounds[:3] for i in r.body_ids]
    assert sorted(set(served)) == [1, 2, 3, 4, 5]           # everyone within ceil(5 / 2) rounds
    assert w.stats.deferred == 3 * len(rounds)


def test_the_batch_shrinks_to_fit_the_forward_budget_and_everyone_is_still_served(checkpoint, two_people):
    from rcmcl_ros.people.tracker import batch_for_budget

    assert batch_for_budget(seconds_per_person=0.01, budget_s=0.1, max_batch=3) == 3     # all fit: one forward
    assert batch_for_budget(seconds_per_person=0.045, budget_s=0.1, max_batch=3) == 2
    assert batch_for_budget(seconds_per_person=0.3, budget_s=0.1, max_batch=3) == 1      # never 0
    _, _, clip = checkpoint
    w = windower(clip)
    w.batch_limit = 1
    rounds = rounds_of(w, two_people)
    assert [r.body_ids for r in rounds[:4]] == [[1], [2], [1], [2]] and w.stats.deferred == len(rounds)


def test_hostile_bodies_are_counted_not_raised(checkpoint, two_people):
    _, _, clip = checkpoint
    body = two_people[0].bodies[1]
    w = windower(clip, max_people=3)
    hostile = {1: body, 2: body * 1000.0, 3: np.full((25, 3), np.nan), 4: body[:10], -5: body,
               2 ** 40: body, 5: np.zeros((25, 3))}
    kept = w.clean_bodies(hostile, extrinsic=None)
    assert list(kept) == [1] and w.stats.bad_bodies == 6
    many = {i: body + [0.01 * i, 0, 0] for i in range(40)}          # more than 31 bodies
    assert len(w.clean_bodies(many, extrinsic=None)) == 3 and w.stats.people_over_limit == 37
    for k in range(30):                                             # 0 people, no skeleton stream at all
        assert w.push(SceneFrame(stamp_s=k / FPS, bodies={} if k % 2 else None)) == []


def test_duplicate_ids_in_markers_keep_one_body_per_id(two_people):
    from rcmcl_ros.conversions.body_markers import skeleton_to_markers
    from rcmcl_ros.conversions.body_markers import markers_to_bodies

    body = two_people[0].bodies[1]
    msg = skeleton_to_markers(np.stack([body, body + 0.5]), layout="ntu25", body_ids=(3, 4))
    for marker in list(msg.markers)[:25]:                   # body 3 again, shifted: a duplicate id
        copy = type(marker)()
        copy.id, copy.action, copy.pose.position.x = marker.id, marker.action, marker.pose.position.x + 1.0
        copy.pose.position.y, copy.pose.position.z = marker.pose.position.y, marker.pose.position.z
        msg.markers.append(copy)
    bodies, stats = markers_to_bodies(msg, layout="ntu25")
    assert sorted(bodies) == [3, 4] and stats.duplicate_joints == 25


def test_config_rejects_impossible_values():
    with pytest.raises(PeopleConfigError, match="max_batch"):
        PeopleConfig(max_batch=0).validate()


def test_decision_array_round_trips_the_contract(checkpoint, two_people):
    from builtin_interfaces.msg import Time

    from rcmcl_ros.people.decisions import infer_round
    from rcmcl_ros.node.people_markers import people_markers
    from rcmcl_ros.node.decision_message import decision_from_message
    from rcmcl_ros.node.decision_message import people_decision_message

    model, labels, clip = checkpoint
    r = rounds_of(windower(clip), two_people)[0]
    decisions = infer_round(model, r, labels=labels)
    msg = people_decision_message(decisions, stamp_s=12.0, labels=labels, window_s=clip.window_s, node_name="/rcmcl")
    assert msg.header.stamp.sec == 12 and [s.name for s in msg.status] == ["rcmcl/person/1", "rcmcl/person/2"]
    keys = [kv.key for kv in msg.status[0].values]
    assert keys[:10] == ["label", "label_index", "confidence", "g_rgbd", "g_skeleton", "g_points", "present_rgbd",
                         "present_skeleton", "present_points", "window_start_s"]
    assert keys[-1] == "body_id" and sum(k.startswith("score/") for k in keys) == len(labels)
    back = {p.body_id: p for p in decision_from_message(msg)}
    for person in decisions:
        d, parsed = person.decision, back[person.body_id]
        assert parsed.label == d.label and parsed.window_end_s == pytest.approx(d.stamp_s, abs=1e-6)
        assert parsed.window_start_s == pytest.approx(d.stamp_s - clip.window_s, abs=1e-6)
        np.testing.assert_allclose([parsed.scores[name] for name in labels], d.scores, atol=1e-4)
        np.testing.assert_allclose(list(parsed.gates.values()), d.gates, atol=1e-4)
    markers = people_markers(decisions, stamp=Time(sec=12), frame_id="rgb_camera_link").markers
    assert len(markers) == 8 and markers[0].text.startswith(f"1: {decisions[0].decision.label}")
    assert markers[0].pose.position.y < decisions[0].head_m[1]            # above the head (optical y down)


def test_a_late_frame_is_dropped_and_a_long_jump_back_resets(checkpoint, two_people):
    _, _, clip = checkpoint
    w = windower(clip)
    rounds_of(w, two_people[:30])
    w.push(replace(two_people[25], bodies={9: two_people[25].bodies[1]}))       # 0.4 s late: dropped
    assert w.stats.late_frames == 1 and w.tracked_ids == [1, 2]
    w.push(two_people[0])                                                       # 2.9 s back: a bag loop
    assert w.stats.resets == 1


def test_cropping_from_the_union_region_gives_each_person_exactly_their_full_cloud_crop(two_people):
    from rcmcl_ros.people.crop import people_region, person_points

    frame = two_people[10]
    joints = np.stack(list(frame.bodies.values()))
    region = people_region(frame.points, joints)
    assert len(region) < len(frame.points)
    for body in joints:
        np.testing.assert_array_equal(person_points(region, body), person_points(frame.points, body))


def health_windower(clip, health=True):
    from rcmcl_core.sensor_health import HealthConfig

    return people_windower(clip, people=PeopleConfig(max_people=3, max_batch=3), stride_s=0.5,
                           health=HealthConfig() if health else None)


def test_health_rules_accept_the_clean_scene(checkpoint, two_people):
    _, _, clip = checkpoint
    w = health_windower(clip)
    rounds = rounds_of(w, two_people)
    assert w.stats.rejected == {}
    assert rounds and all(r.present.all() for r in rounds)


def test_a_frozen_camera_takes_rgbd_away_from_every_person(checkpoint, two_people):
    _, _, clip = checkpoint
    frozen_from = 30                      # the camera repeats frame 29 from 3.0 s on
    still = two_people[frozen_from - 1]
    frames = [f if k < frozen_from else replace(f, rgb=still.rgb, depth=still.depth)
              for k, f in enumerate(two_people)]
    w = health_windower(clip)
    rounds = rounds_of(w, frames)
    assert w.stats.rejected == {"rgbd/repeated": len(frames) - frozen_from}
    late = [r for r in rounds if r.end_s - clip.window_s >= frozen_from / FPS]   # windows wholly frozen
    assert late and all(not r.present[:, 0].any() and r.present[:, 1:].all() for r in late)
    early = [r for r in rounds if r.end_s < frozen_from / FPS]
    assert early and all(r.present.all() for r in early)
    # the rules off: the frozen frames are RGB-D like any other (what the learned gate alone must handle)
    assert all(r.present.all() for r in rounds_of(health_windower(clip, health=False), frames))


def test_a_jumping_tracker_takes_that_person_s_skeleton_away_only(checkpoint, two_people):
    _, _, clip = checkpoint
    def jumpy(k, frame):                  # body 1 teleports 1.5 m sideways on every other frame from 2.0 s
        if k < 20 or k % 2:
            return frame
        bodies = dict(frame.bodies)
        bodies[1] = bodies[1] + np.array([1.5, 0.0, 0.0], np.float32)
        return replace(frame, bodies=bodies)
    w = health_windower(clip)
    rounds = rounds_of(w, [jumpy(k, f) for k, f in enumerate(two_people)])
    assert w.stats.rejected.get("skeleton/jump", 0) >= 15 and set(w.stats.rejected) == {"skeleton/jump"}
    late = [r for r in rounds if r.end_s - clip.window_s >= 2.0]
    assert late
    for r in late:
        rows = dict(zip(r.body_ids, r.present))
        assert not rows[1][1] and rows[1][0] and rows[1][2]      # body 1: skeleton absent, RGB-D and points kept
        assert rows[2].all()                                      # body 2 untouched


def test_the_people_batch_runs_through_onnxruntime_as_through_torch(checkpoint, two_people):
    """The shipped ONNX file (backend auto finds it beside the bundled checkpoint) decides each person's
    round as the torch runtime does, the round where body 2's skeleton is gone (mixed presence) included."""
    import torch

    from rcmcl_core.bundled import BUNDLED_ONNX
    from rcmcl_core.checkpoint import load_model
    from rcmcl_core.inference_runtime import InferenceRuntime, OnnxSettings
    from rcmcl_ros.people.decisions import infer_round

    runtime, labels, clip = checkpoint
    model, _ = load_model(BUNDLED)
    onnx = InferenceRuntime(model, device=torch.device("cpu"), warmup=False,
                            onnx=OnnxSettings(path=BUNDLED_ONNX, labels=labels))
    assert onnx.choice.backend == "onnxruntime"
    frames = [f if f.stamp_s < 3.0 else without(f, 2) for f in two_people]
    rounds = rounds_of(windower(clip, stale_after_s=2.5), frames)
    assert any(not r.present.all() for r in rounds) and any(len(r.body_ids) == 2 for r in rounds)
    for r in rounds:
        ours, theirs = infer_round(onnx, r, labels=labels), infer_round(runtime, r, labels=labels)
        for a, b in zip(ours, theirs):
            assert a.body_id == b.body_id and a.decision.label == b.decision.label
            assert np.allclose(a.decision.scores, b.decision.scores, atol=1e-4)
            assert np.allclose(a.decision.gates, b.decision.gates, atol=1e-4)
