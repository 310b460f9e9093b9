"""Where the checkpoint installed with the package lives, and the one rule for finding a checkpoint file.

No torch import: the node, the bag tools and the CLI answer a missing file before loading the model.
"""
from __future__ import annotations

from pathlib import Path

BUNDLED_CHECKPOINT = Path(__file__).resolve().parent / "assets" / "rcmcl_compact.pt"
"""The checkpoint installed with the package (compact preset, the 24 synthetic classes); "" means this one."""
BUNDLED_ONNX = BUNDLED_CHECKPOINT.with_suffix(".onnx")
"""Its `rcmcl export --format onnx` file (backend auto runs it with onnxruntime when that is installed)."""


def resolve_checkpoint(path: str) -> Path:
    """'' -> BUNDLED_CHECKPOINT; otherwise the path with '~' expanded."""
    return BUNDLED_CHECKPOINT if not path else Path(path).expanduser()


def require_checkpoint(path: str, *, setting: str, fix: str) -> Path:
    """resolve_checkpoint(path), or FileNotFoundError saying which file is missing, whether it was the bundled
    one or `setting` (e.g. "parameter 'checkpoint'", "--checkpoint"), and `fix` (how to point at another)."""
    resolved = resolve_checkpoint(path)
    if not resolved.is_file():
        which = "the bundled checkpoint" if not path else setting
        raise FileNotFoundError(f"checkpoint not found: {resolved} ({which}; {fix})")
    return resolved
