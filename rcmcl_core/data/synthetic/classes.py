"""The class table of the synthetic benchmark: which motion program, which held object, and which
modality alone separates each designed pair (docs/DATASET.md explains the design).

`kind` says which sensor sees the difference between the two members of a pair:
- "rgb": same motion and same object geometry, only the object's colour differs (RGB only);
- "skeleton": same arm motion and rendered body, only hand-tip/thumb joints differ (skeleton only;
  the renderer draws hands as mittens that ignore the finger joints, as a real sensor cannot resolve them);
- "depth": same motion and colours, a bulky object in the clothing colour is present or not (depth and
  points see its volume; the skeleton does not, RGB colour statistics barely change);
- "ordinary": distinct whole-body motions, seen by every modality.
"""
from __future__ import annotations

from dataclasses import dataclass

KINDS = ("ordinary", "rgb", "skeleton", "depth")


@dataclass(frozen=True)
class ActionClass:
    """One class: `program` names the motion program (synthetic_motion.PROGRAMS); `variant` selects the
    pair member's difference inside it (object colour name, hand gesture or object presence)."""

    name: str
    program: str
    kind: str
    variant: str = ""
    partner: str | None = None       # the name of the class it is paired with


def _pair(kind: str, program: str, first: tuple[str, str], second: tuple[str, str]) -> tuple[ActionClass, ...]:
    (name_a, variant_a), (name_b, variant_b) = first, second
    return (ActionClass(name_a, program, kind, variant_a, partner=name_b),
            ActionClass(name_b, program, kind, variant_b, partner=name_a))


CLASSES: tuple[ActionClass, ...] = (
    ActionClass("wave", "wave", "ordinary"),
    ActionClass("clap", "clap", "ordinary"),
    ActionClass("sit down", "sit_down", "ordinary"),
    ActionClass("stand up", "stand_up", "ordinary"),
    ActionClass("kick", "kick", "ordinary"),
    ActionClass("jump", "jump", "ordinary"),
    ActionClass("bow", "bow", "ordinary"),
    ActionClass("punch", "punch", "ordinary"),
    *_pair("rgb", "hold_sign", ("hold up red sign", "red"), ("hold up green sign", "green")),
    *_pair("rgb", "bounce_ball", ("bounce orange ball", "orange"), ("bounce blue ball", "blue")),
    *_pair("rgb", "read_book", ("read yellow book", "yellow"), ("read purple book", "purple")),
    *_pair("skeleton", "thumb", ("thumbs up", "up"), ("thumbs down", "down")),
    *_pair("skeleton", "hand_open_close", ("open and close hand", "pump"), ("hold hand open", "still")),
    *_pair("skeleton", "finger", ("wag finger", "wag"), ("point finger", "still")),
    *_pair("depth", "carry", ("carry a box", "object"), ("mime carrying", "none")),
    *_pair("depth", "hug", ("hug a big ball", "object"), ("hug the air", "none")),
)
CLASS_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSES)
NUM_CLASSES = len(CLASSES)

OBJECT_COLOURS = {
    "red": (0.85, 0.08, 0.08), "green": (0.10, 0.70, 0.20), "orange": (0.95, 0.50, 0.05),
    "blue": (0.10, 0.30, 0.90), "yellow": (0.95, 0.85, 0.10), "purple": (0.55, 0.15, 0.70),
}
"""Saturated RGB colours in [0, 1]; clothing palettes (synthetic_body) stay muted so objects stand out."""


def class_index(name: str) -> int:
    """Index of the class called `name`."""
    if name not in CLASS_NAMES:
        raise KeyError(f"unknown synthetic class {name!r}; known: {', '.join(CLASS_NAMES)}")
    return CLASS_NAMES.index(name)


def modality_pairs() -> dict[str, list[tuple[int, int]]]:
    """{'rgb' | 'skeleton' | 'depth': [(index_a, index_b), ...]}: the pairs only that modality separates."""
    pairs: dict[str, list[tuple[int, int]]] = {kind: [] for kind in KINDS if kind != "ordinary"}
    for index, action in enumerate(CLASSES):
        if action.partner is not None and index < class_index(action.partner):
            pairs[action.kind].append((index, class_index(action.partner)))
    return pairs


def _check_table() -> None:
    for action in CLASSES:
        if action.kind not in KINDS:
            raise ValueError(f"class {action.name!r}: kind must be one of {KINDS}, got {action.kind!r}")
        if action.kind == "rgb" and action.variant not in OBJECT_COLOURS:
            raise ValueError(f"class {action.name!r}: colour {action.variant!r} not in OBJECT_COLOURS")
    if len(set(CLASS_NAMES)) != len(CLASS_NAMES):
        raise ValueError("synthetic class names must be unique")


_check_table()
