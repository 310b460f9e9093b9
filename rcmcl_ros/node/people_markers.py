"""rviz MarkerArray for a round of people (`~/people_markers`): above each head a text "label (confidence)"
and three small gate bars (R, S, P), coloured like the single-person bars (gate_markers.gate_colour; grey =
absent).

Markers are in the frame of the heads (the image/cloud frame, REP-103 optical: y down), so "above" is -y.
Ids are body_id * 4 + (0 text, 1-3 bars) in namespace PEOPLE_NAMESPACE; a short lifetime removes the
markers of a person who stops being decided (left, or skeleton lost for good).
"""
from __future__ import annotations

from dataclasses import dataclass

from visualization_msgs.msg import Marker, MarkerArray

from rcmcl_core.config import MODALITIES
from rcmcl_ros.node.gate_markers import (MIN_SCALE_M, bar_height, colour_rgba, duration_msg, gate_colour,
                                        new_marker)
from rcmcl_ros.people.decisions import PersonDecision

PEOPLE_NAMESPACE = "rcmcl_people"


@dataclass(frozen=True)
class PeopleMarkerConfig:
    """Metres in the heads' optical frame."""

    text_above_m: float = 0.35        # text this far above the head joint
    bar_above_m: float = 0.15         # bars' base this far above the head joint
    bar_width_m: float = 0.05
    bar_height_m: float = 0.15        # a bar's height at gate 1
    spacing_m: float = 0.07
    text_height_m: float = 0.08
    lifetime_s: float = 0.5
    namespace: str = PEOPLE_NAMESPACE
    absent_rgba: tuple[float, float, float, float] = (0.5, 0.5, 0.5, 0.4)
    text_rgba: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)


def people_markers(decisions: list[PersonDecision], *, stamp, frame_id: str,
                   config: PeopleMarkerConfig = PeopleMarkerConfig()) -> MarkerArray:
    """One TEXT_VIEW_FACING and three CUBE markers per person (4 per decision)."""
    lifetime = duration_msg(config.lifetime_s)
    out = []
    for d in decisions:
        gates, present = d.decision.gates, d.decision.present
        x, y, z = (float(v) for v in d.head_m)
        base = int(d.body_id) * 4
        text = new_marker(base, Marker.TEXT_VIEW_FACING, stamp=stamp, frame_id=frame_id, config=config,
                       lifetime=lifetime)
        text.pose.position.x, text.pose.position.y, text.pose.position.z = x, y - config.text_above_m, z
        text.scale.z = config.text_height_m
        text.color = colour_rgba(config.text_rgba)
        text.text = f"{d.body_id}: {d.decision.label} ({d.decision.confidence:.2f})"
        out.append(text)
        for m in range(len(MODALITIES)):
            bar = new_marker(base + 1 + m, Marker.CUBE, stamp=stamp, frame_id=frame_id, config=config,
                             lifetime=lifetime)
            height = bar_height(gates[m], config=config) if present[m] else MIN_SCALE_M
            bar.pose.position.x = x + (m - 1) * config.spacing_m
            bar.pose.position.y = y - config.bar_above_m - height / 2.0
            bar.pose.position.z = z
            bar.scale.x = bar.scale.z = config.bar_width_m
            bar.scale.y = height
            bar.color = colour_rgba(gate_colour(gates[m]) if present[m] else config.absent_rgba)
            out.append(bar)
    return MarkerArray(markers=out)
