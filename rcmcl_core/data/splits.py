"""Named splits of a dataset root, and the validation split derived from each cross-subject split.

A manifest lists its own splits (e.g. 'xsub': train / test subject ids). For every split over subjects,
'<name>_val' is derived here, never stored: its 'test' subset is a fixed fifth of the train subjects (every
VALIDATION_EVERY-th, counted from the highest id, at least one) and its 'train' subset the rest. The test
subjects of '<name>' are in neither, so recipe choices made on '<name>_val' never read the test split.
Synthetic benchmark: xsub trains on subjects 1 3 5 7 9 and tests on 2 4 6 8 10; xsub_val trains on 1 3 5 7
and validates on 9.
"""
from __future__ import annotations

from rcmcl_core.data.shards import Manifest, ShardError

VALIDATION_SUFFIX = "_val"
VALIDATION_EVERY = 5
SPLIT_FIELDS = ("subject", "camera", "setup")


def validation_ids(train_ids: list[int]) -> list[int]:
    """The held-out validation ids of a split's train ids: every VALIDATION_EVERY-th from the highest."""
    ordered = sorted(set(int(i) for i in train_ids), reverse=True)
    if len(ordered) < 2:
        raise ShardError(f"a validation split needs at least 2 train subjects, the split has {len(ordered)}")
    return sorted(ordered[::VALIDATION_EVERY])


def split_names(manifest: Manifest) -> list[str]:
    """Every split a dataset root offers: the manifest's own and their derived '<name>_val'."""
    names = list(manifest.splits)
    return names + [n + VALIDATION_SUFFIX for n in names if manifest.split_fields.get(n) == "subject"]


def resolve_split(manifest: Manifest, name: str, *, root: object = "") -> tuple[str, dict[str, list[int]]]:
    """(field, {'train': ids, 'test': ids}) of split `name`; raises ValueError for an unknown name."""
    if name in manifest.splits:
        field = manifest.split_fields.get(name)
        if field not in SPLIT_FIELDS:
            raise ShardError(f"{root}: split {name!r} has split field {field!r}; expected one of {SPLIT_FIELDS}")
        return field, {k: list(v) for k, v in manifest.splits[name].items()}
    base = name[:-len(VALIDATION_SUFFIX)] if name.endswith(VALIDATION_SUFFIX) else None
    if base in manifest.splits and manifest.split_fields.get(base) == "subject":
        held_out = validation_ids(manifest.splits[base]["train"])
        train = [i for i in manifest.splits[base]["train"] if i not in held_out]
        return "subject", {"train": train, "test": held_out}
    offered = ", ".join(split_names(manifest)) or "no splits"
    raise ValueError(f"{root}: unknown split {name!r}; the dataset has {offered}")
