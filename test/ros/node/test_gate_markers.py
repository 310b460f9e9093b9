"""Gate bars and label text for rviz."""
from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from visualization_msgs.msg import Marker

from rcmcl_ros.node.gate_markers import MIN_SCALE_M, MarkerConfig, gate_colour, gate_markers

STAMP = Time(sec=12, nanosec=500)


def build(gates=(0.2, 0.5, 1.0), present=(True, True, True), **kwargs):
    return gate_markers(gates=np.array(gates), present=np.array(present), label="wave", confidence=0.87,
                        stamp=STAMP, frame_id="camera_base", **kwargs).markers


def test_three_cube_bars_and_one_view_facing_text_in_the_configured_frame():
    markers = build()
    assert [m.type for m in markers] == [Marker.CUBE] * 3 + [Marker.TEXT_VIEW_FACING]
    assert len({m.id for m in markers}) == 4
    assert all(m.header.frame_id == "camera_base" and m.header.stamp == STAMP for m in markers)


def test_bar_heights_are_proportional_to_the_gates():
    config = MarkerConfig(bar_height_m=0.5)
    bars = build(gates=(0.2, 0.5, 1.0), config=config)[:3]
    np.testing.assert_allclose([b.scale.z for b in bars], [0.1, 0.25, 0.5])
    # Bars stand on the base plane: their centres are half their heights above it.
    np.testing.assert_allclose([b.pose.position.z for b in bars], [0.05, 0.125, 0.25])


def test_colour_runs_from_red_at_gate_zero_to_green_at_gate_one():
    assert gate_colour(0.0) == (1.0, 0.0, 0.0, 1.0)
    assert gate_colour(0.5) == (1.0, 1.0, 0.0, 1.0)
    assert gate_colour(1.0) == (0.0, 1.0, 0.0, 1.0)
    reds = [gate_colour(g)[0] for g in np.linspace(0, 1, 11)]
    greens = [gate_colour(g)[1] for g in np.linspace(0, 1, 11)]
    assert all(np.diff(reds) <= 0) and all(np.diff(greens) >= 0)


def test_bar_colours_follow_their_gates():
    bars = build(gates=(0.0, 0.5, 1.0))[:3]
    assert [(b.color.r, b.color.g) for b in bars] == [(1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


def test_absent_modality_is_a_flat_grey_bar_even_with_a_stale_gate():
    bar = build(gates=(0.9, 0.9, 0.9), present=(True, False, True))[1]
    assert bar.scale.z == pytest.approx(MIN_SCALE_M)
    assert bar.color.r == bar.color.g == bar.color.b == pytest.approx(0.5)


def test_zero_gate_keeps_a_nonzero_scale_that_rviz_accepts():
    bar = build(gates=(0.0, 0.5, 0.5))[0]
    assert bar.scale.z == pytest.approx(MIN_SCALE_M) and bar.scale.x > 0 and bar.scale.y > 0


def test_text_shows_label_confidence_and_presence():
    text = build(gates=(0.82, 0.0, 0.4), present=(True, False, True))[3].text
    assert text.splitlines() == ["wave (0.87)", "R 0.82  S --  P 0.40"]


def test_markers_expire_so_a_silent_node_leaves_no_stale_bars():
    markers = build(config=MarkerConfig(lifetime_s=1.5))
    assert all(m.lifetime.sec == 1 and m.lifetime.nanosec == 500_000_000 for m in markers)
