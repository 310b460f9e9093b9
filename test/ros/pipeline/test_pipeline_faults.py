"""Sensor faults, driven through the Pipeline with synthetic stamps (deterministic, no DDS): every presence
pattern entered and left repeatedly at 30 Hz, a camera that restarts at another frame rate, and the clock
jumping back as a bag loop does. Whenever a modality is alive, decisions keep >= 90 % of their nominal rate;
a dead modality's gate is exactly 0 from one window after it stops, and > 0 from one window after it is back.
benchmarks/faults.py runs the same faults through a live node."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pytest

from rcmcl_core.config import MODALITIES
from rcmcl_ros.pipeline.runner import Decision, Pipeline, PipelineConfig
from rcmcl_ros.pipeline.window import WindowConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # conftest.py

FPS = 30.0
WINDOW_S = 1.0               # the checkpoint's clip: T=8 over 1 s
STRIDE_S = 0.1333
PHASE_S = 2.0                # two windows per phase
ARRIVAL_S = 0.01             # stamp -> ingest delay of every message
STREAMS_OF = {"rgbd": ("rgb", "depth"), "skeleton": ("skeleton",), "points": ("points",)}
PATTERNS = [p for p in itertools.product((True, False), repeat=3) if any(p)]
"""The 7 presence patterns (R, S, P) with at least one modality alive."""


@dataclass
class Phase:
    start_s: float
    stop_s: float
    alive: tuple[bool, bool, bool]                          # R, S, P
    every: dict[str, int] = field(default_factory=dict)     # stream published every k-th frame (30 / k Hz)

    def streams(self) -> list[str]:
        return [s for m, on in zip(MODALITIES, self.alive) if on for s in STREAMS_OF[m]]



@pytest.fixture
def pipeline(tiny_checkpoint) -> Pipeline:
    config = PipelineConfig(device="cpu", window=WindowConfig(stride_s=STRIDE_S))
    return Pipeline.from_checkpoint(tiny_checkpoint(window_s=WINDOW_S), config=config)


def drive(pipeline: Pipeline, scene, phases: list[Phase]) -> list[tuple[float, Decision]]:
    """Play the phases frame by frame; (clock when produced, decision) for every decision."""
    made = []
    for phase in phases:
        frames = np.arange(round(phase.start_s * FPS), round(phase.stop_s * FPS))
        for k in frames:
            t = float(k) / FPS
            messages = scene.messages(t)
            for stream in phase.streams():
                if k % phase.every.get(stream, 1) == 0:
                    assert pipeline.ingest(stream, t, messages[stream], now_s=t + ARRIVAL_S) is None
            made += [(t + ARRIVAL_S, d) for d in pipeline.step(t + ARRIVAL_S)]
    return made


def check_phase(made: list[tuple[float, Decision]], phase: Phase, *, settle_s: float = WINDOW_S) -> None:
    """>= 90 % of the nominal decisions stamped inside the phase; from `settle_s` in, gates match presence."""
    inside = [(clock, d) for clock, d in made if phase.start_s <= d.stamp_s < phase.stop_s]
    nominal = (phase.stop_s - phase.start_s) / STRIDE_S
    assert len(inside) >= 0.9 * nominal, f"{len(inside)} decisions in {phase}, nominal {nominal:.1f}"
    alive = np.array(phase.alive)
    for clock, d in inside:
        assert np.isfinite(d.gates).all()
        if d.stamp_s >= phase.start_s + settle_s:
            assert np.all(d.gates[~alive] == 0.0), (phase, d.stamp_s, d.gates)
            assert np.all(d.gates[alive] > 0.0), (phase, d.stamp_s, d.gates)
            assert list(d.present) == list(alive)


def reaction_windows(made: list[tuple[float, Decision]], *, modality: int, at_s: float, dead: bool) -> float:
    """Windows from `at_s` to the first decision whose gate shows the change (0 when dead, > 0 when back)."""
    for _, d in sorted(made, key=lambda item: item[1].stamp_s):
        if d.stamp_s >= at_s and (d.gates[modality] == 0.0) == dead:
            return (d.stamp_s - at_s) / WINDOW_S
    return float("inf")


def pattern_sequence(rounds: int, *, seed: int = 0) -> list[tuple[bool, bool, bool]]:
    """Each pattern `rounds` times, shuffled per round, never twice in a row, starting from all alive."""
    rng = np.random.default_rng(seed)
    sequence = [PATTERNS[0]]
    for _ in range(rounds):
        order = [PATTERNS[i] for i in rng.permutation(len(PATTERNS))]
        if order[0] == sequence[-1]:
            order.append(order.pop(0))
        sequence += order
    return sequence


def test_every_presence_pattern_entered_and_left_keeps_the_rate_and_gates_follow_within_a_window(pipeline, scene):
    sequence = pattern_sequence(rounds=3)
    phases = [Phase(start_s=1.0 + i * PHASE_S, stop_s=1.0 + (i + 1) * PHASE_S, alive=alive)
              for i, alive in enumerate(sequence)]
    made = drive(pipeline, scene, phases)
    for phase in phases[1:]:
        check_phase(made, phase)
    for before, after in zip(phases, phases[1:]):
        for m in range(3):
            if before.alive[m] and not after.alive[m]:
                assert reaction_windows(made, modality=m, at_s=after.start_s, dead=True) <= 1.0
            if after.alive[m] and not before.alive[m]:
                assert reaction_windows(made, modality=m, at_s=after.start_s, dead=False) <= 1.0
    # The reference stream (rgb) dying stalls sets until it is declared dead; nothing is lost, only delayed.
    lag = max(clock - d.stamp_s for clock, d in made)
    assert lag <= pipeline.config.sync.stale_after_s + pipeline.config.sync.max_wait_s + STRIDE_S + 2 / FPS
    assert sorted(pattern_sequence(3)[1:]) == sorted(PATTERNS * 3)


def test_a_camera_restarting_at_another_frame_rate_is_absent_meanwhile_and_back_within_a_window(pipeline, scene):
    every_15hz = {"rgb": 2, "depth": 2}
    every_5hz = {"rgb": 6, "depth": 6}
    phases = [Phase(1.0, 4.0, (True, True, True)), Phase(4.0, 6.0, (False, True, True)),
              Phase(6.0, 9.0, (True, True, True), every=every_15hz), Phase(9.0, 10.5, (False, True, True)),
              Phase(10.5, 13.5, (True, True, True), every=every_5hz)]
    made = drive(pipeline, scene, phases)
    for phase in phases[1:]:
        check_phase(made, phase)
    for restart in (6.0, 10.5):
        assert reaction_windows(made, modality=0, at_s=restart, dead=False) <= 1.0
    rates = pipeline.snapshot(13.5)["rates_hz"]
    assert rates["rgb"] == pytest.approx(5.0, rel=0.2) and rates["skeleton"] == pytest.approx(FPS, rel=0.1)


def test_the_clock_jumping_back_restarts_windows_and_decisions_resume_within_a_window(pipeline, scene):
    all_alive = (True, True, True)
    before, after = Phase(20.0, 24.0, all_alive), Phase(1.0, 5.0, all_alive)      # the bag loops to 1 s
    made = drive(pipeline, scene, [before, after])
    looped = [d for _, d in made][len([d for _, d in made if d.stamp_s >= 20.0]):]
    assert looped and all(d.stamp_s < 5.0 for d in looped)
    assert pipeline.synchroniser.stats.resets == 1 and pipeline.windower.stats.resets == 1
    # A new timeline has no history: the first window must fill once, then the rate is nominal again.
    assert looped[0].stamp_s <= after.start_s + WINDOW_S + STRIDE_S
    check_phase(made, Phase(after.start_s + WINDOW_S + STRIDE_S, after.stop_s, all_alive), settle_s=0.0)
    check_phase(made, Phase(before.start_s + WINDOW_S + STRIDE_S, before.stop_s, all_alive), settle_s=0.0)
