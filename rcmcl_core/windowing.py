"""How a window of T frames is laid over time and when a modality counts as present in it: one rule for
training clips, the result figures and the live node, so what the model learned is what the node feeds
it (docs/ARCHITECTURE.md, "Sync and windowing").

A window is T target times evenly spaced over [end - window_s, end]. Each target takes the nearest frame
of each modality; a target is *observed* for a modality when that frame lies within `max_gap_s` of it. A
modality is present when at least `min_presence` of its T targets are observed (and at least one is);
its unobserved targets are then filled by their nearest frame.
"""
from __future__ import annotations

import numpy as np

MIN_PRESENCE = 0.5
"""Default fraction of a window's targets a modality must observe to count as present."""
MAX_GAP_S = 0.25
"""Default largest distance (s) between a target time and the frame that observes it (5 fps -> 0.1 s)."""
STAMP_EPS_S = 1e-9
"""Stamps closer than this (s) are equal (float round-off of rates and strides)."""


def went_back(stamp_s: float, newest_s: float | None, *, by_more_than_s: float = STAMP_EPS_S) -> bool:
    """True when `stamp_s` lies more than `by_more_than_s` before `newest_s` (None: nothing seen yet): the one
    rule for "the clock went back" (a bag loop, a clock reset, or with a small margin one late message).
    Each caller says what follows: the synchroniser and the windowers reset, the health rules forget."""
    return newest_s is not None and stamp_s < newest_s - by_more_than_s


def window_times(end_s: float, *, frames: int, window_s: float) -> np.ndarray:
    """(T,) float64 sample times evenly spaced over [end_s - window_s, end_s], both ends included, seconds."""
    return end_s - window_s + np.linspace(0.0, window_s, frames)


def nearest_frame_indices(times_s: np.ndarray, *, fps: float, num_frames: int) -> np.ndarray:
    """(T,) int64 index of the stored frame (frame k at k / fps seconds) nearest to each time, clamped."""
    return np.clip(np.rint(np.asarray(times_s) * fps).astype(np.int64), 0, num_frames - 1)


def nearest_stamps(stamps_s: np.ndarray, targets_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each target (T,), the index into `stamps_s` (K,), any order, K >= 1, of the nearest stamp and its
    distance in seconds; ties go to the earlier stamp."""
    order = np.argsort(stamps_s, kind="stable")
    ordered = stamps_s[order]
    right = np.clip(np.searchsorted(ordered, targets_s), 0, len(ordered) - 1)
    left = np.clip(right - 1, 0, len(ordered) - 1)
    take_left = np.abs(ordered[left] - targets_s) <= np.abs(ordered[right] - targets_s)
    pick = np.where(take_left, left, right)
    return order[pick], np.abs(ordered[pick] - targets_s)


def coverage(distance_s: np.ndarray, *, max_gap_s: float = MAX_GAP_S) -> np.ndarray:
    """Fraction of targets observed: (..., T) distances (s) to the nearest frame -> (...) float64 in [0, 1]."""
    return np.mean(np.asarray(distance_s) <= max_gap_s + STAMP_EPS_S, axis=-1)


def is_present(coverage_fraction: np.ndarray | float, *, min_presence: float = MIN_PRESENCE) -> np.ndarray:
    """The presence rule on `coverage` values: at least `min_presence` and not zero (bool, same shape)."""
    fraction = np.asarray(coverage_fraction)
    return (fraction >= min_presence) & (fraction > 0)


def screened_coverage(stamps_s: np.ndarray, rejected_s: np.ndarray, targets_s: np.ndarray, *,
                      max_gap_s: float = MAX_GAP_S) -> tuple[np.ndarray, float, float]:
    """Nearest received frames (K,) >= 1 of the targets (T,) when some other frames (R,) were received but
    rejected by the sensor-health rules (rcmcl_core/sensor_health.py): a target whose nearest frame is a
    rejected one is not observed. -> (index into stamps_s (T,), coverage in [0, 1], rejected fraction of the
    targets in [0, 1])."""
    index, distance = nearest_stamps(stamps_s, targets_s)
    nearer_rejected = np.zeros(len(targets_s), dtype=bool)
    if len(rejected_s):
        nearer_rejected = nearest_stamps(rejected_s, targets_s)[1] < distance
    observed = float(coverage(np.where(nearer_rejected, np.inf, distance), max_gap_s=max_gap_s))
    return index, observed, float(nearer_rejected.mean())
