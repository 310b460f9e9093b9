"""decisions_from_output (rcmcl_ros/pipeline/runner.py): the one place a model Output becomes Decisions, for
the single-person path (B=1) and the per-person path (B people)."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rcmcl_ros.pipeline.runner import decisions_from_output

LABELS = ["sit", "wave", "walk"]


def _output(logits, gates):
    return SimpleNamespace(logits=torch.tensor(logits), gates=torch.tensor(gates))


def test_each_row_becomes_a_decision_with_softmax_scores_and_the_argmax_label():
    output = _output([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]], [[0.0, 0.6, 0.3], [0.5, 0.5, 0.5]])
    present = np.array([[False, True, True], [True, True, True]])
    coverage = np.array([[0.0, 1.0, 0.9], [1.0, 1.0, 1.0]])
    first, second = decisions_from_output(output, labels=LABELS, stamp_s=7.5, present=present, coverage=coverage)
    expected = np.exp([0.0, 2.0, 1.0]) / np.exp([0.0, 2.0, 1.0]).sum()
    np.testing.assert_allclose(first.scores, expected, rtol=1e-6)
    assert (first.label, first.label_index, first.confidence) == ("wave", 1, pytest.approx(expected[1]))
    assert (second.label, second.label_index) == ("sit", 0) and second.stamp_s == first.stamp_s == 7.5
    np.testing.assert_allclose(first.gates, [0.0, 0.6, 0.3])
    assert first.present.tolist() == [False, True, True] and first.coverage.tolist() == [0.0, 1.0, 0.9]
    assert first.latency == {} and first.latency is not second.latency
    present[0, 0] = True                       # the decision keeps its own copy
    assert not first.present[0]


def test_an_output_that_does_not_fit_the_windows_or_labels_is_a_value_error():
    output = _output([[0.0, 2.0, 1.0]], [[0.0, 0.6, 0.3]])
    with pytest.raises(ValueError, match="2 windows"):
        decisions_from_output(output, labels=LABELS, stamp_s=1.0, present=np.ones((2, 3), bool),
                              coverage=np.ones((2, 3)))
    with pytest.raises(ValueError, match="4 labels"):
        decisions_from_output(output, labels=LABELS + ["kick"], stamp_s=1.0, present=np.ones((1, 3), bool),
                              coverage=np.ones((1, 3)))
