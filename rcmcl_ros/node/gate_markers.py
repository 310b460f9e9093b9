"""rviz MarkerArray for one decision: three gate bars (R, S, P) and the label text.

Each bar is a CUBE whose height is proportional to its gate g in [0, 1] and whose colour runs red (g = 0)
-> yellow (0.5) -> green (1); an absent modality is a flat grey bar. A TEXT_VIEW_FACING marker above the
bars reads "label (confidence)" and the presence of each modality. Geometry is in `MarkerConfig`; the
frame is the node's `marker_frame_id` (default the Azure driver's `camera_base`: x forward, z up).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from builtin_interfaces.msg import Duration, Time
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from rcmcl_core.config import MODALITIES, MODALITY_LETTERS
MIN_SCALE_M = 1e-3
"""rviz rejects a zero scale; a zero gate draws a bar this thin."""


@dataclass(frozen=True)
class MarkerConfig:
    """Layout of the gate bars, metres in the marker frame. Bars stand along +z, side by side along -y."""

    origin_xyz: tuple[float, float, float] = (1.5, 0.4, 0.0)  # base centre of the R bar
    bar_width_m: float = 0.1
    bar_height_m: float = 0.5         # height of a bar at gate 1
    spacing_m: float = 0.15           # centre-to-centre distance between bars
    text_height_m: float = 0.08
    text_gap_m: float = 0.12          # text sits this far above the tallest possible bar
    lifetime_s: float = 1.0           # markers vanish when decisions stop
    namespace: str = "rcmcl_gates"
    absent_rgba: tuple[float, float, float, float] = (0.5, 0.5, 0.5, 0.4)
    warn_rgba: tuple[float, float, float, float] = (1.0, 0.0, 1.0, 1.0)   # magenta: gate warning active
    text_rgba: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)


def gate_colour(gate: float) -> tuple[float, float, float, float]:
    """RGBA for a gate in [0, 1]: red -> yellow -> green, opaque. Values outside [0, 1] are clipped."""
    g = float(np.clip(gate, 0.0, 1.0))
    return (min(1.0, 2.0 * (1.0 - g)), min(1.0, 2.0 * g), 0.0, 1.0)


def bar_height(gate: float, *, config: MarkerConfig) -> float:
    """Metres: proportional to the gate (clipped to [0, 1]), never below MIN_SCALE_M."""
    return max(MIN_SCALE_M, float(np.clip(gate, 0.0, 1.0)) * config.bar_height_m)


def decision_text(*, label: str, confidence: float, gates: np.ndarray, present: np.ndarray,
                  warned: np.ndarray | None = None) -> str:
    """'label (0.87)' over a line 'R 0.82  S --  P 0.40!' (-- marks an absent modality, ! a gate warning)."""
    warned = np.zeros(len(gates), bool) if warned is None else warned
    parts = [(f"{letter} {float(g):.2f}" + ("!" if w else "")) if p else f"{letter} --"
             for letter, g, p, w in zip(MODALITY_LETTERS, gates, present, warned)]
    return f"{label} ({confidence:.2f})\n" + "  ".join(parts)


def gate_markers(*, gates: np.ndarray, present: np.ndarray, label: str, confidence: float, stamp: Time,
                 frame_id: str, config: MarkerConfig = MarkerConfig(), warned: np.ndarray | None = None
                 ) -> MarkerArray:
    """gates (3,) in [0, 1], present (3,) bool, warned (3,) bool (gate warning active: the bar turns
    config.warn_rgba and the text marks the modality with '!'), in MODALITIES order -> 3 CUBE bars (ids 0-2)
    + 1 TEXT (id 3)."""
    gates = np.asarray(gates, dtype=np.float64).reshape(len(MODALITIES))
    present = np.asarray(present, dtype=bool).reshape(len(MODALITIES))
    warned = np.zeros(len(MODALITIES), bool) if warned is None else np.asarray(warned, bool).reshape(len(MODALITIES))
    x0, y0, z0 = config.origin_xyz
    lifetime = duration_msg(config.lifetime_s)
    markers = []
    for index in range(len(MODALITIES)):
        marker = new_marker(index, Marker.CUBE, stamp=stamp, frame_id=frame_id, config=config, lifetime=lifetime)
        height = bar_height(gates[index], config=config) if present[index] else MIN_SCALE_M
        marker.pose.position.x = x0
        marker.pose.position.y = y0 - index * config.spacing_m
        marker.pose.position.z = z0 + height / 2.0
        marker.scale.x = marker.scale.y = config.bar_width_m
        marker.scale.z = height
        colour = gate_colour(gates[index]) if present[index] else config.absent_rgba
        marker.color = colour_rgba(config.warn_rgba if warned[index] and present[index] else colour)
        markers.append(marker)
    text = new_marker(len(MODALITIES), Marker.TEXT_VIEW_FACING, stamp=stamp, frame_id=frame_id, config=config,
                   lifetime=lifetime)
    text.pose.position.x = x0
    text.pose.position.y = y0 - config.spacing_m * (len(MODALITIES) - 1) / 2.0
    text.pose.position.z = z0 + config.bar_height_m + config.text_gap_m
    text.scale.z = config.text_height_m
    text.color = colour_rgba(config.text_rgba)
    text.text = decision_text(label=label, confidence=confidence, gates=gates, present=present, warned=warned)
    markers.append(text)
    return MarkerArray(markers=markers)


def new_marker(marker_id: int, kind: int, *, stamp: Time, frame_id: str, config: MarkerConfig,
               lifetime: Duration) -> Marker:
    """An ADD marker of `kind` in config.namespace, identity orientation; the caller sets pose, scale, colour.
    `config`: anything with a `namespace` (MarkerConfig, people_markers.PeopleMarkerConfig)."""
    marker = Marker()
    marker.header.stamp = stamp
    marker.header.frame_id = frame_id
    marker.ns = config.namespace
    marker.id = marker_id
    marker.type = kind
    marker.action = Marker.ADD
    marker.pose.orientation.w = 1.0
    marker.lifetime = lifetime
    return marker


def colour_rgba(values: tuple[float, float, float, float]) -> ColorRGBA:
    """(r, g, b, a) in [0, 1] -> std_msgs/ColorRGBA."""
    r, g, b, a = (float(v) for v in values)
    return ColorRGBA(r=r, g=g, b=b, a=a)


def duration_msg(seconds: float) -> Duration:
    """Seconds >= 0 -> builtin_interfaces/Duration (a marker lifetime)."""
    whole = int(seconds)
    return Duration(sec=whole, nanosec=int(round((seconds - whole) * 1e9)))
