"""The one windowing rule (rcmcl_core/windowing.py) shared by training clips, figures and the node."""
import numpy as np

from rcmcl_core.windowing import coverage, is_present, nearest_stamps, window_times


def test_window_times_span_the_window_with_both_ends_included():
    times = window_times(10.0, frames=5, window_s=2.0)
    assert np.allclose(times, [8.0, 8.5, 9.0, 9.5, 10.0])


def test_nearest_stamps_works_on_unordered_stamps_and_breaks_ties_to_the_earlier():
    stamps = np.array([3.0, 1.0, 2.0])
    index, distance = nearest_stamps(stamps, np.array([0.9, 1.5, 2.6, 9.0]))
    assert stamps[index].tolist() == [1.0, 1.0, 3.0, 3.0]
    assert np.allclose(distance, [0.1, 0.5, 0.4, 6.0])


def test_a_target_is_observed_only_within_the_gap_and_presence_needs_the_fraction():
    distances = np.array([[0.0, 0.1, 0.25, 0.3], [0.5, 0.5, 0.5, 0.0]])
    fractions = coverage(distances, max_gap_s=0.25)
    assert fractions.tolist() == [0.75, 0.25]
    assert is_present(fractions, min_presence=0.5).tolist() == [True, False]
    assert not is_present(0.0, min_presence=0.0)   # a modality with no observed target is never present
