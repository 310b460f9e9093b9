"""Checkpoints: atomic save, `weights_only` load, with the config and class labels embedded.

A checkpoint is one `torch.save` zip file holding only tensors and builtins, so `torch.load(...,
weights_only=True)` reads it without executing code from the file:

    {"format": "rcmcl-checkpoint", "format_version": 1, "rcmcl_version": str,
     "config": RCMCLConfig.to_dict(), "labels": [str] * num_classes, "metrics": {str: float},
     "model_state": {str: Tensor}, "train_state": dict | None}

`train_state` is free-form for the trainer (optimizer/scheduler state_dicts, step/epoch ints, RNG states
as uint8 tensors) but must be plain too; `save_checkpoint` names the first value that is not.
"""
from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from rcmcl_core import __version__
from rcmcl_core.config import ConfigError, RCMCLConfig
from rcmcl_core.atomic_io import atomic_file

FORMAT = "rcmcl-checkpoint"
FORMAT_VERSION = 1
MAX_LISTED = 10
"""At most this many differing config keys / mismatched weights are named in an error message."""

_PLAIN_LEAVES = (torch.Tensor, str, bytes, int, float, bool, type(None), torch.dtype, torch.device, torch.Size)
_ZIP_MAGIC = b"PK\x03\x04"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, unsafe, of another format version, or does not fit."""


@dataclass
class Checkpoint:
    """A loaded checkpoint. model_state maps parameter names to tensors on the requested device."""

    config: RCMCLConfig
    labels: list[str]
    metrics: dict[str, float]
    model_state: dict[str, torch.Tensor]
    train_state: dict[str, Any] | None
    path: Path


def save_checkpoint(path: str | Path, *, model_state: Mapping[str, torch.Tensor], config: RCMCLConfig,
                    labels: list[str], metrics: Mapping[str, float] | None = None,
                    train_state: Mapping[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically and return its path.

    The payload goes to a temp file in the same folder, is flushed and fsync'd, then `os.replace`s `path`,
    so a reader sees either the old or the new checkpoint, never half of one; on any error the temp file
    is removed and an existing `path` is left untouched.
    """
    path = Path(path)
    labels = list(labels)
    if len(labels) != config.model.num_classes or not all(isinstance(label, str) for label in labels):
        raise CheckpointError(f"labels must be {config.model.num_classes} strings (config model.num_classes), "
                              f"got {len(labels)}: {labels[:MAX_LISTED]}")
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "rcmcl_version": __version__,
        "config": config.to_dict(), "labels": labels,
        "metrics": {str(name): float(value) for name, value in (metrics or {}).items()},
        # a state_dict's OrderedDict carries `_metadata` (module versions) that load_state_dict uses
        "model_state": model_state if isinstance(model_state, dict) else dict(model_state),
        "train_state": None if train_state is None else dict(train_state),
    }
    for name, value in payload["model_state"].items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"model_state[{name!r}] must be a tensor, got {type(value).__name__}")
    _check_plain(payload["train_state"], "train_state")
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(path, payload)
    return path


def load_checkpoint(path: str | Path, *, expected_config: RCMCLConfig | None = None,
                    ignore: Iterable[str] = (), map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint with `torch.load(weights_only=True)` and check it; raise CheckpointError if bad.

    expected_config: when given, every config key must match (the preset name alone may differ); keys
    starting with a prefix in `ignore` (e.g. "optim.", "augment.") are not compared.
    """
    path = Path(path)
    payload = _read_payload(path, map_location)
    _check_format(path, payload)
    try:
        config = RCMCLConfig.from_dict(payload["config"])
    except ConfigError as error:
        raise CheckpointError(f"checkpoint {path} holds an invalid config: {error}") from error
    if expected_config is not None:
        _check_config(path, config, expected_config, tuple(ignore))
    labels = payload["labels"]
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise CheckpointError(f"checkpoint {path}: labels must be a list of strings, got {labels!r:.200}")
    if len(labels) != config.model.num_classes:
        raise CheckpointError(f"checkpoint {path} has {len(labels)} labels but its config says "
                              f"model.num_classes = {config.model.num_classes}")
    model_state = payload["model_state"]
    if not isinstance(model_state, dict) or not all(isinstance(v, torch.Tensor) for v in model_state.values()):
        raise CheckpointError(f"checkpoint {path}: model_state must map names to tensors")
    return Checkpoint(config=config, labels=labels, metrics=dict(payload["metrics"]), model_state=model_state,
                      train_state=payload["train_state"], path=path)


def load_model(path: str | Path) -> tuple[Any, Checkpoint]:
    """(RCMCL in eval mode on the CPU, its Checkpoint) from a checkpoint file: load, check that the weights fit
    the model its config builds (check_model_compatible), load them. Raises CheckpointError."""
    from rcmcl_core.models.rcmcl import RCMCL   # models never import checkpoint; imported when a model is wanted

    checkpoint = load_checkpoint(path)
    model = RCMCL(config=checkpoint.config)
    check_model_compatible(checkpoint.model_state, model)
    model.load_state_dict(checkpoint.model_state)
    return model.eval(), checkpoint


def check_model_compatible(model_state: Mapping[str, torch.Tensor], model: torch.nn.Module) -> None:
    """Raise CheckpointError naming missing, unexpected and shape-mismatched keys, if any.

    Call before `model.load_state_dict(model_state)` to turn "a checkpoint from another config" into one
    readable message instead of torch's per-key dump.
    """
    wanted = model.state_dict()
    missing = [key for key in wanted if key not in model_state]
    unexpected = [key for key in model_state if key not in wanted]
    mismatched = [f"{key}: checkpoint {tuple(model_state[key].shape)} vs model {tuple(value.shape)}"
                  for key, value in wanted.items()
                  if key in model_state and model_state[key].shape != value.shape]
    problems = [f"{len(items)} {what} ({_listing(items)})"
                for what, items in (("missing", missing), ("unexpected", unexpected),
                                    ("shape mismatches", mismatched)) if items]
    if problems:
        raise CheckpointError(f"checkpoint weights do not fit this model: {'; '.join(problems)}. "
                              f"Was it trained with another config?")


# -- reading -----------------------------------------------------------------------------------------
def _read_payload(path: Path, map_location: str | torch.device) -> Any:
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    with path.open("rb") as handle:
        head = handle.read(len(_ZIP_MAGIC))
    if head != _ZIP_MAGIC:
        raise CheckpointError(f"{path} is not a torch checkpoint: expected a zip archive written by "
                              f"torch.save, got {path.stat().st_size} bytes starting {head!r}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is truncated or corrupt: the zip archive has no central directory "
                              f"({path.stat().st_size} bytes; was the write interrupted?)")
    damage = _archive_damage(path)  # torch.load does not check CRCs: a flipped bit would load silently
    if damage is not None:
        raise CheckpointError(f"{path} is truncated or corrupt: {damage}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"{path} is not a plain-tensor rcmcl checkpoint (refused by weights_only load): "
                              f"{_weights_only_reason(error)}") from error
    except Exception as error:  # torch reports other archive damage as RuntimeError, EOFError, KeyError, ...
        raise CheckpointError(f"{path} is truncated or corrupt: torch.load failed with "
                              f"{type(error).__name__}: {_first_line(str(error))}") from error


def _archive_damage(path: Path) -> str | None:
    """What is broken in the zip archive (a member failing its CRC, ...), or None."""
    try:
        with zipfile.ZipFile(path) as archive:
            member = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        return f"the zip archive is unreadable ({error})"
    return None if member is None else f"archive member {member} fails its CRC check"


def _weights_only_reason(error: Exception) -> str:
    """The informative part of torch's long weights_only message, e.g. 'Unsupported global: GLOBAL x.Y' or
    'Trying to load unsupported GLOBAL posix.system whose module posix is blocked' (never its first line,
    which suggests retrying with weights_only=False: exactly what must not be done with such a file)."""
    text = str(error)
    if "WeightsUnpickler error:" in text:
        return _first_line(text.split("WeightsUnpickler error:", 1)[1]).split(" Please use", 1)[0] or \
            type(error).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    named = [line for line in lines[1:] if "global" in line.lower()]
    return named[0] if named else (lines[-1] if lines else type(error).__name__)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _check_format(path: Path, payload: Any) -> None:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        if isinstance(payload, dict) and "format" in payload:
            what = f"format {payload['format']!r}"
        elif isinstance(payload, dict):
            what = f"a dict with keys {_listing([str(k) for k in payload])}"
        else:
            what = f"a {type(payload).__name__}"
        raise CheckpointError(f"{path} is not an rcmcl checkpoint: expected a dict with format {FORMAT!r}, "
                              f"got {what} (a bare state_dict? save with rcmcl_core.checkpoint.save_checkpoint)")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} was made by format version {version}, "
                              f"this rcmcl reads {FORMAT_VERSION}")
    missing = [key for key in ("config", "labels", "metrics", "model_state", "train_state") if key not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}")


def _check_config(path: Path, config: RCMCLConfig, expected: RCMCLConfig, ignore: tuple[str, ...]) -> None:
    differences = [line for line in config.diff(expected)
                   if not line.startswith("preset:") and not line.startswith(ignore)]
    if differences:
        raise CheckpointError(f"checkpoint {path} was trained with preset {config.preset!r}, expected "
                              f"{expected.preset!r}; differs in: {_listing(differences)}")


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown if len(items) <= MAX_LISTED else f"{shown}, and {len(items) - MAX_LISTED} more"


# -- writing -----------------------------------------------------------------------------------------
def _check_plain(value: Any, where: str) -> None:
    """Refuse (naming `where`) anything torch.load(weights_only=True) would refuse to read back."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise CheckpointError(f"{where} has a {type(key).__name__} key {key!r}; use str or int keys")
            _check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple, set)) and not isinstance(value, torch.Size):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
    elif not isinstance(value, _PLAIN_LEAVES):
        raise CheckpointError(f"{where} is a {type(value).__module__}.{type(value).__qualname__}; checkpoints "
                              f"hold only tensors and builtins (convert arrays with torch.from_numpy, "
                              f"objects with .state_dict())")


def _write_atomically(path: Path, payload: dict) -> None:
    with atomic_file(path, permissions=0o644) as handle:   # a checkpoint is meant to be shared
        torch.save(payload, handle)
    _fsync_directory(path.parent)


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable (POSIX); not all platforms can open a directory."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
