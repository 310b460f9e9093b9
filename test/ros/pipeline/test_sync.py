"""The ROS-free synchroniser, driven by synthetic stamp sequences (docs/ARCHITECTURE.md, "Sync and windowing")."""
import random
import threading

import numpy as np
import pytest

from rcmcl_ros.pipeline.sync import SyncConfig, Synchroniser

RATES_HZ = {"rgb": 30.0, "depth": 30.0, "points": 15.0, "skeleton": 5.0}
LATENCY_S = 0.01   # stamp-to-arrival delay of every simulated message


def stamps(rate_hz: float, start_s: float, end_s: float) -> list[float]:
    """Stamps k / rate in [start_s, end_s), computed from integers so they match across streams."""
    first, last = int(np.ceil(start_s * rate_hz - 1e-9)), int(np.ceil(end_s * rate_hz - 1e-9))
    return [k / rate_hz for k in range(first, last)]


def events_for(rates: dict[str, float], *, start_s: float = 0.0, end_s: float = 2.0,
               gaps: dict[str, tuple[float, float]] | None = None) -> list[tuple[float, str, float]]:
    """(arrival_s, stream, stamp_s) sorted by arrival; `gaps` silences a stream over [from, to)."""
    gaps = gaps or {}
    events = []
    for stream, rate in rates.items():
        for stamp in stamps(rate, start_s, end_s):
            gap = gaps.get(stream)
            if gap is None or not gap[0] <= stamp < gap[1]:
                events.append((stamp + LATENCY_S, stream, stamp))
    return sorted(events, key=lambda e: (e[0], e[1]))


def run(sync: Synchroniser, events, *, tail_s: float = 0.2):
    """Push the events and poll once per arrival time (as a node's timer would), then a little past the
    end."""
    sets = []
    for index, (arrival, stream, stamp) in enumerate(events):
        sync.push(stream, stamp, (stream, stamp))
        if index + 1 == len(events) or events[index + 1][0] != arrival:
            sets += sync.poll(arrival)
    if events:
        sets += sync.poll(events[-1][0] + tail_s)
    return sets


def frame_stamp(synced, stream):
    frame = synced.frames[stream]
    return None if frame is None else frame[0]


def test_jittered_stamps_within_slop_pair_each_rgb_frame_with_its_own_depth_frame():
    rng = random.Random(0)
    sync = Synchroniser(config=SyncConfig(streams=("rgb", "depth")))
    events = []
    for k in range(60):
        rgb, depth = k / 30 + rng.uniform(-0.01, 0.01), k / 30 + rng.uniform(-0.01, 0.01)
        events += [(max(rgb, depth) + LATENCY_S, "rgb", rgb), (max(rgb, depth) + LATENCY_S, "depth", depth)]
    sets = run(sync, sorted(events))
    assert len(sets) == 60
    for k, synced in enumerate(sets):
        assert synced.frames["depth"][1][1] == pytest.approx(k / 30, abs=0.011)
        assert synced.frames["rgb"][1][1] == synced.stamp_s


def test_streams_at_different_rates_pair_with_the_nearest_message_within_slop_else_absent():
    sync = Synchroniser(config=SyncConfig())
    sets = run(sync, events_for(RATES_HZ, end_s=2.0))
    assert [s.stamp_s for s in sets] == stamps(30.0, 0.0, 2.0)
    for synced in sets:
        for stream in ("depth", "points", "skeleton"):
            candidates = np.array(stamps(RATES_HZ[stream], 0.0, 2.0))
            nearest = candidates[np.argmin(np.abs(candidates - synced.stamp_s))]
            if abs(nearest - synced.stamp_s) <= 0.05 + 1e-9:
                assert frame_stamp(synced, stream) == pytest.approx(nearest)
            else:
                assert synced.frames[stream] is None
    skeleton_present = sum(s.present["skeleton"] for s in sets)
    assert 0 < skeleton_present < len(sets)          # 5 Hz: only rgb frames within 50 ms of a body frame


def test_a_set_waits_for_a_late_stream_until_max_wait_then_marks_it_absent():
    sync = Synchroniser(config=SyncConfig(streams=("rgb", "depth"), max_wait_s=0.1))
    sync.push("depth", 0.0, "d0")
    sync.push("rgb", 0.0, "r0")
    assert len(sync.poll(0.01)) == 1
    sync.push("rgb", 0.1, "r1")                       # its depth frame is late
    assert sync.poll(0.15) == []
    (late,) = sync.poll(0.2)
    assert late.frames["depth"] is None and late.frames["rgb"] == (0.1, "r1")


def test_a_set_is_emitted_without_waiting_once_every_alive_stream_reached_its_stamp():
    sync = Synchroniser(config=SyncConfig(streams=("rgb", "depth"), max_wait_s=10.0))
    sync.push("depth", 0.97, "d0")
    sync.push("rgb", 1.0, "r")
    assert sync.poll(1.0) == []                       # depth is alive but has not reached 1.0 yet
    sync.push("depth", 1.01, "d")
    (synced,) = sync.poll(1.01)
    assert synced.frames["depth"] == (1.01, "d")


def test_a_dead_stream_is_absent_after_stale_after_and_present_again_on_its_first_message():
    config = SyncConfig(stale_after_s=1.0)
    sync = Synchroniser(config=config)
    events = events_for(RATES_HZ, end_s=6.0, gaps={"depth": (2.0, 4.0)})
    alive_seen, sets = [], []
    for arrival, stream, stamp in events:
        sync.push(stream, stamp, None)
        sets += sync.poll(arrival)
        alive_seen.append((arrival, sync.stats.alive["depth"]))
    assert any(not alive for t, alive in alive_seen if 3.05 < t < 4.0)
    assert all(alive for t, alive in alive_seen if 4.0 < t < 6.0)
    for synced in sets:
        in_gap = 2.0 - 1 / 30 + 0.05 < synced.stamp_s < 4.0 - 0.05     # no depth frame within slop
        assert synced.present["depth"] is not in_gap
    assert {s.reference for s in sets} == {"rgb"}     # rgb never died: sets kept coming at 30 Hz
    assert [s.stamp_s for s in sets] == stamps(30.0, 0.0, 6.0)[:len(sets)] and len(sets) >= 175


def test_sets_are_emitted_within_max_wait_while_a_stream_is_dying():
    sync = Synchroniser(config=SyncConfig(max_wait_s=0.1))
    for arrival, stream, stamp in events_for(RATES_HZ, end_s=4.0, gaps={"depth": (2.0, 4.0)}):
        sync.push(stream, stamp, None)
        for synced in sync.poll(arrival):
            assert arrival - synced.stamp_s <= 0.1 + 1 / 30 + LATENCY_S


def test_when_the_reference_stream_dies_the_fallback_reference_keeps_sets_coming():
    sync = Synchroniser(config=SyncConfig(stale_after_s=1.0))
    sets = run(sync, events_for(RATES_HZ, end_s=7.0, gaps={"rgb": (2.0, 5.0)}))
    during = [s for s in sets if 2.1 < s.stamp_s < 4.9]
    assert during and all(s.reference == "depth" and s.frames["rgb"] is None for s in during)
    assert [s.stamp_s for s in during] == [t for t in stamps(30.0, 2.0, 5.0) if 2.1 < t < 4.9]
    after = [s for s in sets if s.stamp_s > 5.0]
    assert after and all(s.reference == "rgb" and s.present["rgb"] for s in after)
    assert sync.stats.reference_switches == 2


def test_with_only_the_skeleton_alive_sets_come_at_the_skeleton_rate():
    sync = Synchroniser(config=SyncConfig())
    sets = run(sync, events_for({"skeleton": 5.0}, end_s=2.0))
    assert [s.stamp_s for s in sets] == stamps(5.0, 0.0, 2.0)
    assert all(s.reference == "skeleton" and s.present == {"rgb": False, "depth": False, "points": False,
                                                           "skeleton": True} for s in sets)


def test_messages_reordered_within_slop_still_pair_with_the_nearest():
    sync = Synchroniser(config=SyncConfig(streams=("rgb", "depth"), slop_s=0.05))
    sync.push("rgb", 0.0, "r0")
    sync.push("rgb", 0.02, "r1")
    sync.push("depth", 0.021, "d1")     # arrives before the older depth frame
    sync.push("depth", 0.001, "d0")
    sets = sync.poll(0.03)
    assert [s.frames["depth"][1] for s in sets] == ["d0", "d1"]


def test_duplicate_messages_are_ignored_and_counted():
    sync = Synchroniser(config=SyncConfig(streams=("rgb", "depth")))
    for _ in range(3):
        sync.push("rgb", 1.0, "r")
    sync.push("depth", 1.0, "d")
    sets = sync.poll(1.2)
    assert len(sets) == 1
    stats = sync.stats.streams["rgb"]
    assert (stats.received, stats.duplicates, stats.used) == (3, 2, 1)


def test_a_message_too_old_for_any_future_set_is_dropped_and_counted_late():
    sync = Synchroniser(config=SyncConfig(streams=("rgb", "depth"), slop_s=0.05))
    sync.push("rgb", 1.0, "r")
    sync.poll(1.2)
    sync.push("depth", 0.9, "too late")
    assert sync.stats.streams["depth"].dropped_late == 1


def test_each_reference_message_yields_at_most_one_set_in_stamp_order():
    rng = random.Random(3)
    sync = Synchroniser(config=SyncConfig())
    events = [(s + rng.uniform(0, 0.08), name, s) for s_, name, s in events_for(RATES_HZ, end_s=3.0)]
    sets = run(sync, sorted(events))
    emitted = [s.stamp_s for s in sets]
    assert emitted == sorted(set(emitted))


def test_stamps_jumping_backwards_reset_the_state_and_synchronisation_keeps_working():
    sync = Synchroniser(config=SyncConfig(reset_backwards_s=1.0))
    first = run(sync, events_for(RATES_HZ, end_s=3.0))
    second = run(sync, events_for(RATES_HZ, end_s=2.0))      # the bag loops back to 0
    assert sync.stats.resets == 1
    assert [s.stamp_s for s in second] == stamps(30.0, 0.0, 2.0)
    assert all(s.present["depth"] and s.present["points"] for s in second)
    assert len(first) == 90


def test_one_message_stamped_far_back_is_counted_late_and_resets_nothing():
    sync = Synchroniser(config=SyncConfig(reset_backwards_s=1.0))
    events = events_for(RATES_HZ, end_s=3.0)
    events.append((2.0 + LATENCY_S + 1e-4, "rgb", 0.5))      # a stale or forged stamp 1.5 s back
    sets = run(sync, sorted(events))
    assert sync.stats.resets == 0 and sync.stats.streams["rgb"].dropped_late == 1
    assert [s.stamp_s for s in sets] == stamps(30.0, 0.0, 3.0)


def test_a_jump_back_pushed_before_any_poll_is_confirmed_by_consecutive_messages_and_replayed():
    sync = Synchroniser(config=SyncConfig(reset_backwards_s=1.0, confirm_backwards=3))
    run(sync, events_for(RATES_HZ, end_s=3.0))
    restarted = [0.0, 1 / 30, 2 / 30]                       # a looped recording ingested in one go
    for stamp in restarted[:2]:
        sync.push("rgb", stamp, ("rgb", stamp))
    assert sync.stats.resets == 0                           # two could still be stale messages
    sync.push("rgb", restarted[2], ("rgb", restarted[2]))
    assert sync.stats.resets == 1
    assert [s.stamp_s for s in sync.flush()] == restarted, "the held first messages are replayed"


def test_buffers_stay_bounded_under_a_flood():
    config = SyncConfig(buffer_size=16)
    sync = Synchroniser(config=config)
    for k in range(5000):
        sync.push("depth", k * 1e-3, bytearray(8))
    assert sync.stats.streams["depth"].overflow == 5000 - 16
    assert all(len(buffer) <= 16 for buffer in sync._buffers.values())
    assert all(len(keys) <= 16 for keys in sync._seen_keys.values())


def test_the_same_input_gives_the_same_output():
    rng = random.Random(7)
    events = [(a + rng.uniform(0, 0.05), n, s)
              for a, n, s in events_for(RATES_HZ, end_s=4.0, gaps={"rgb": (1.0, 2.5)})]
    events.sort()

    def summary():
        return [(s.stamp_s, s.reference, tuple(frame_stamp(s, n) for n in RATES_HZ))
                for s in run(Synchroniser(config=SyncConfig()), events)]

    assert summary() == summary()


def test_flush_emits_pending_sets_without_waiting():
    sync = Synchroniser(config=SyncConfig(streams=("rgb", "depth"), max_wait_s=1.0))
    sync.push("depth", 0.0, "d")
    sync.push("rgb", 0.0, "r0")
    sync.push("rgb", 0.1, "r1")
    assert len(sync.poll(0.1)) == 1
    (last,) = sync.flush()
    assert last.stamp_s == 0.1 and last.frames["depth"] is None


def test_pushes_from_several_threads_are_all_counted():
    # Threads run unevenly, so stamps across streams drift apart: no backward-jump resets or staleness here.
    sync = Synchroniser(config=SyncConfig(buffer_size=1000, reset_backwards_s=1e6, stale_after_s=1e6))

    def feed(stream):
        for k in range(500):
            sync.push(stream, k / 30, k)

    threads = [threading.Thread(target=feed, args=(name,)) for name in RATES_HZ]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        sync.poll(5.0)
    for thread in threads:
        thread.join()
    assert all(stats.received == 500 for stats in sync.stats.streams.values())
    sync.poll(500 / 30 + 1.0)
    assert sync.stats.sets == 500


def test_unknown_stream_and_non_finite_stamp_are_rejected():
    sync = Synchroniser()
    with pytest.raises(ValueError, match="unknown stream 'thermal'"):
        sync.push("thermal", 0.0, None)
    with pytest.raises(ValueError, match="finite"):
        sync.push("rgb", float("nan"), None)


@pytest.mark.parametrize("kwargs, field", [
    ({"reference": "thermal"}, "reference"),
    ({"streams": ("rgb", "rgb")}, "streams"),
    ({"streams": ()}, "streams"),
    ({"slop_s": -0.1}, "slop_s"),
    ({"max_wait_s": float("inf")}, "max_wait_s"),
    ({"stale_after_s": 0.0}, "stale_after_s"),
    ({"buffer_size": 1}, "buffer_size"),
    ({"reset_backwards_s": -1.0}, "reset_backwards_s"),
    ({"confirm_backwards": 0}, "confirm_backwards"),
])
def test_invalid_sync_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SyncConfig(**kwargs)


def late_stream_events(delay_s: float, *, late: str = "skeleton", end_s: float = 3.0):
    """rgb, depth, points at 30 Hz arriving 10 ms after their stamps; `late` stamped alike (the capture time)
    but arriving delay_s later, as CPU body tracking publishes."""
    events = []
    for stream in ("rgb", "depth", "points", late):
        for stamp in stamps(30.0, 0.0, end_s):
            events.append((stamp + (delay_s if stream == late else LATENCY_S), stream, stamp))
    return sorted(events, key=lambda e: (e[0], e[1]))


def run_with_arrivals(sync: Synchroniser, events, *, poll_every_s: float = 0.02):
    """Push with arrival times and poll every poll_every_s of the clock, as the node's timer does."""
    sets, next_poll = [], 0.0
    for arrival, stream, stamp in events:
        while next_poll < arrival:
            sets += sync.poll(next_poll)
            next_poll += poll_every_s
        sync.push(stream, stamp, (stream, stamp), arrival_s=arrival)
    sets += sync.poll(events[-1][0] + 1.0)
    return sets


def test_a_steadily_250_ms_late_skeleton_stream_still_joins_its_sets():
    sync = Synchroniser(config=SyncConfig())                     # defaults: max_wait_s 0.1
    sets = run_with_arrivals(sync, late_stream_events(0.25))
    learned = [s for s in sets if s.stamp_s >= 1.0]               # after the first second of learning
    assert len(learned) >= 55
    assert all(frame_stamp(s, "skeleton") == s.stamp_s for s in learned)
    assert all(frame_stamp(s, "depth") == s.stamp_s for s in learned)
    assert 0.25 < sync.wait_s("skeleton") <= SyncConfig().max_stream_delay_s
    assert sync.wait_s("depth") == SyncConfig().max_wait_s           # punctual streams keep max_wait_s


def test_without_learning_the_late_skeleton_misses_every_set_and_beyond_the_cap_it_goes_without():
    off = Synchroniser(config=SyncConfig(max_stream_delay_s=0.0))
    sets = run_with_arrivals(off, late_stream_events(0.25))
    assert sets and all(s.frames["skeleton"] is None for s in sets if s.stamp_s >= 1.0)
    capped = Synchroniser(config=SyncConfig(max_stream_delay_s=0.3))
    sets = run_with_arrivals(capped, late_stream_events(0.6))     # later than the cap: not waited for
    assert all(s.frames["skeleton"] is None for s in sets if s.stamp_s >= 1.0)
    assert capped.wait_s("skeleton") == 0.3
