"""The class tables of the synthetic benchmark: which motion program, which held object, and which
modality alone separates each designed pair (docs/DATASET.md explains the design).

Two class sets (CLASS_SETS): "bundled", the 24 classes every pretraining and the bundled checkpoint see, and
"novel", 8 actions with motion programs of their own that no pretraining sees, for transfer and few-shot
learning (docs/RESULTS.md, "Label efficiency and transfer"). The sets share no class name and no program.

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
    """One class: `program` names the motion program (rcmcl_core.data.synthetic.motion.PROGRAMS); `variant` selects the
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

NOVEL_CLASSES: tuple[ActionClass, ...] = (
    ActionClass("squat", "squat", "ordinary"),
    ActionClass("stretch arms overhead", "arms_overhead", "ordinary"),
    ActionClass("side step", "side_step", "ordinary"),
    ActionClass("throw a ball", "throw", "ordinary"),
    *_pair("depth", "push", ("push a crate", "object"), ("push the air", "none")),
    *_pair("rgb", "lift", ("lift a red box", "red"), ("lift a blue box", "blue")),
)
"""Actions disjoint from CLASSES (own programs in synthetic_motion): four whole-body motions, a pair that only
depth and points separate (a crate in the clothing colour or nothing) and a pair that only colour separates."""


@dataclass(frozen=True)
class ClassSet:
    """A named class table. `seed_base` is added to a class's index in the generator's random seeds, so the
    motion draws of novel class k are not those of bundled class k."""

    name: str
    classes: tuple[ActionClass, ...]
    seed_base: int

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    def index(self, name: str) -> int:
        """Index of the class called `name` in this set."""
        if name not in self.names:
            raise KeyError(f"unknown class {name!r} in class set {self.name!r}; known: {', '.join(self.names)}")
        return self.names.index(name)


CLASS_SETS: dict[str, ClassSet] = {"bundled": ClassSet("bundled", CLASSES, 0),
                                   "novel": ClassSet("novel", NOVEL_CLASSES, 1000)}
DEFAULT_CLASS_SET = "bundled"


def class_set(name: str) -> ClassSet:
    """The class set called `name` (bundled or novel)."""
    if name not in CLASS_SETS:
        raise ValueError(f"unknown class set {name!r}; choose one of {', '.join(CLASS_SETS)}")
    return CLASS_SETS[name]

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


def modality_pairs(classes: ClassSet | None = None) -> dict[str, list[tuple[int, int]]]:
    """{'rgb' | 'skeleton' | 'depth': [(index_a, index_b), ...]}: the pairs only that modality separates, as
    indices into `classes` (default: the bundled set)."""
    classes = classes or CLASS_SETS[DEFAULT_CLASS_SET]
    pairs: dict[str, list[tuple[int, int]]] = {kind: [] for kind in KINDS if kind != "ordinary"}
    for index, action in enumerate(classes.classes):
        if action.partner is not None and index < classes.index(action.partner):
            pairs[action.kind].append((index, classes.index(action.partner)))
    return pairs


def _check_table() -> None:
    for table in CLASS_SETS.values():
        for action in table.classes:
            if action.kind not in KINDS:
                raise ValueError(f"class {action.name!r}: kind must be one of {KINDS}, got {action.kind!r}")
            if action.kind == "rgb" and action.variant not in OBJECT_COLOURS:
                raise ValueError(f"class {action.name!r}: colour {action.variant!r} not in OBJECT_COLOURS")
        if len(set(table.names)) != len(table.names):
            raise ValueError(f"class names of set {table.name!r} must be unique")
    bundled, novel = CLASS_SETS["bundled"].classes, CLASS_SETS["novel"].classes
    if {c.name for c in bundled} & {c.name for c in novel} or {c.program for c in bundled} & {c.program for c in novel}:
        raise ValueError("the novel class set must share no class name and no motion program with the bundled one")


_check_table()
