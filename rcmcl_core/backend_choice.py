"""Which engine runs the model: the rule behind `backend: auto | torch | torchscript | onnxruntime` (issue 27).

- torch: the eager model (on CUDA with its CUDA graph for windows with every modality present).
- torchscript: on the CPU, windows with every modality present run a TorchScript trace (traced_forward.py),
  the others run eagerly. CPU only.
- onnxruntime: every window (any presence, any batch of people) runs the `rcmcl export --format onnx` file.
- auto, in this order:
  1. onnxruntime when an ONNX file for the checkpoint exists (`onnx_model`, else the checkpoint's path with
     the suffix .onnx) and onnxruntime imports, and the device is the CPU or onnxruntime has a GPU provider;
  2. else torchscript on the CPU when `cpu_trace` is on;
  3. else torch.
  When onnxruntime was picked by auto and cannot start, the runtime falls back to 2/3 and logs why. A file
  made from another checkpoint is an error either way (onnx_export.OnnxMismatchError).

No torch import here: a pure function the tests call with every combination.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("auto", "torch", "torchscript", "onnxruntime")
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


class BackendError(ValueError):
    """An impossible backend setting; the message names it."""


@dataclass(frozen=True)
class BackendChoice:
    backend: str            # torch | torchscript | onnxruntime
    reason: str             # for the start-up log
    requested: str          # what the setting said


def default_onnx_path(checkpoint: str | Path | None, onnx_model: str = "") -> Path | None:
    """onnx_model when set, else the checkpoint's path with the suffix .onnx (None without either)."""
    if onnx_model:
        return Path(onnx_model).expanduser()
    return None if checkpoint is None else Path(checkpoint).with_suffix(".onnx")


def check_backend(name: str) -> str:
    value = str(name).strip().lower()
    if value not in BACKENDS:
        raise BackendError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    return value


def fallback_choice(*, device_type: str, cpu_trace: bool, why: str, requested: str = "auto") -> BackendChoice:
    """Steps 2-3 of auto: torchscript on the CPU with cpu_trace, else torch; `why` says why not onnxruntime."""
    if device_type == "cpu" and cpu_trace:
        return BackendChoice("torchscript", f"{why}; the CPU trace (cpu_trace on)", requested)
    return BackendChoice("torch", f"{why}; torch on {device_type}{' (cpu_trace off)' if device_type == 'cpu' else ''}",
                         requested)


def choose_backend(requested: str, *, device_type: str, onnx_path: Path | None, onnx_exists: bool,
                   onnxruntime_version: str | None, onnxruntime_providers: list[str],
                   cpu_trace: bool) -> BackendChoice:
    """The backend for `requested` (BACKENDS) on `device_type` ('cpu' or 'cuda'). Raises BackendError for a
    combination that cannot run (torchscript off the CPU)."""
    requested = check_backend(requested)
    if requested == "torchscript":
        if device_type != "cpu":
            raise BackendError(f"backend torchscript runs on the CPU only (device is {device_type}): use torch "
                               "(CUDA graph) or onnxruntime there")
        return BackendChoice("torchscript", "set by parameter", requested)
    if requested in ("torch", "onnxruntime"):
        return BackendChoice(requested, "set by parameter", requested)
    if onnx_path is None or not onnx_exists:
        return fallback_choice(device_type=device_type, cpu_trace=cpu_trace,
                               why=f"no ONNX file{f' at {onnx_path}' if onnx_path is not None else ''}")
    if onnxruntime_version is None:
        return fallback_choice(device_type=device_type, cpu_trace=cpu_trace,
                               why=f"{onnx_path.name} found but onnxruntime is not installed")
    if device_type != "cpu" and not set(onnxruntime_providers) & set(GPU_PROVIDERS):
        return fallback_choice(device_type=device_type, cpu_trace=cpu_trace,
                               why=f"onnxruntime {onnxruntime_version} has no GPU provider (CPU build)")
    return BackendChoice("onnxruntime", f"{onnx_path.name} found and onnxruntime {onnxruntime_version} installed",
                         requested)
