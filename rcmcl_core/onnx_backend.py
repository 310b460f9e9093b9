"""The model run by onnxruntime from an `rcmcl export --format onnx` file (issue 27), with its providers.

Providers are tried in PROVIDER_ORDER (TensorRT, CUDA, CPU), each only when this onnxruntime build has it.
With providers "auto" a provider that fails to initialise is dropped with a note and the next one is tried;
with an explicit list a failure is an error naming the provider. onnxruntime itself may also drop a provider
it cannot load (it only warns): the session's active providers are compared with the requested ones, and a
missing one is a note (auto) or an error (explicit). TensorRT options: fp16 engines (`fp16`) and an engine
cache folder (`trt_cache`: engines take minutes to build, the cache makes the next start fast).

`OnnxForward(batch)` takes the model's batch contract (None or any values in absent slots: they are sent as
zeros) and returns the model's Output as CPU torch tensors. No ROS imports.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from rcmcl_core.config import MODALITIES, RCMCLConfig
from rcmcl_core.models.rcmcl import INPUTS, Output
from rcmcl_core.onnx_export import INPUT_NAMES, OUTPUT_NAMES, check_matches, clip_shapes

PROVIDER_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
PROVIDER_NAMES = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
                  "cpu": "CPUExecutionProvider"}
"""Short names (parameter values) -> onnxruntime's provider names."""
GPU_PROVIDERS = PROVIDER_ORDER[:2]


class OnnxBackendError(RuntimeError):
    """onnxruntime cannot run the file as asked; the message names the package, provider or file."""


def onnxruntime_version() -> str | None:
    """The installed onnxruntime's version, or None when it does not import."""
    try:
        import onnxruntime
    except ImportError:
        return None
    return str(onnxruntime.__version__)


def available_providers() -> list[str]:
    """This onnxruntime build's providers ([] without onnxruntime)."""
    try:
        import onnxruntime
    except ImportError:
        return []
    return list(onnxruntime.get_available_providers())


def parse_providers(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...] | None:
    """'auto' -> None; 'tensorrt,cuda,cpu' (or a list, short or full names) -> full names in the given order.
    Raises ValueError on an unknown name."""
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    if not items or items == ["auto"]:
        return None
    full = {name.lower(): name for name in PROVIDER_ORDER}
    names = []
    for item in items:
        name = PROVIDER_NAMES.get(item.lower()) or full.get(item.lower())
        if name is None:
            raise ValueError(f"unknown onnxruntime provider {item!r}: use auto or a list of "
                             f"{', '.join(PROVIDER_NAMES)}")
        names.append(name)
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class ProviderOptions:
    """What the providers are told: the GPU, TensorRT fp16 and its engine cache folder ('' = no cache)."""

    device_id: int = 0
    fp16: bool = False
    trt_cache: str = ""

    def for_provider(self, name: str) -> dict[str, Any]:
        if name == "TensorrtExecutionProvider":
            options: dict[str, Any] = {"device_id": self.device_id, "trt_fp16_enable": self.fp16}
            if self.trt_cache:
                options.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(Path(self.trt_cache)
                                                                                   .expanduser()))
            return options
        if name == "CUDAExecutionProvider":
            return {"device_id": self.device_id}
        return {}


@dataclass
class ProviderPlan:
    """The providers to try, in order, and why others are not tried."""

    providers: list[str]
    notes: list[str] = field(default_factory=list)
    strict: bool = False             # an explicit list: any provider that does not start is an error


def plan_providers(requested: tuple[str, ...] | None, available: list[str]) -> ProviderPlan:
    """requested None (auto): PROVIDER_ORDER filtered by `available`, with a note per one this build lacks.
    An explicit list must be installed, else OnnxBackendError naming the package to install."""
    if requested is None:
        missing = [p for p in PROVIDER_ORDER if p not in available]
        notes = [f"{', '.join(short(p) for p in missing)} not in this onnxruntime build"] if missing else []
        providers = [p for p in PROVIDER_ORDER if p in available]
        if not providers:
            raise OnnxBackendError(f"this onnxruntime has none of {', '.join(PROVIDER_ORDER)} (it has {available})")
        return ProviderPlan(providers=providers, notes=notes)
    lacking = [p for p in requested if p not in available]
    if lacking:
        hint = (" (the GPU providers come with the onnxruntime-gpu package, or NVIDIA's onnxruntime wheel for "
                "Jetson; see README)") if set(lacking) & set(GPU_PROVIDERS) else ""
        raise OnnxBackendError(f"onnx_providers asks for {', '.join(short(p) for p in lacking)}, which this "
                               f"onnxruntime does not have (it has {', '.join(available) or 'none'}){hint}")
    return ProviderPlan(providers=list(requested), strict=True)


def short(provider: str) -> str:
    """'CUDAExecutionProvider' -> 'cuda'."""
    return next((k for k, v in PROVIDER_NAMES.items() if v == provider), provider)


def open_session(model: str | bytes, plan: ProviderPlan, options: ProviderOptions, *, threads: int,
                 factory: Callable[..., Any] | None = None) -> tuple[Any, list[str]]:
    """(an InferenceSession on the first providers of `plan` that start, notes on each one dropped).
    factory(model, session_options, providers=[(name, options)]) defaults to onnxruntime.InferenceSession
    (tests pass a fake). A failure with plan.strict, or of every provider, is OnnxBackendError."""
    import onnxruntime

    factory = factory or onnxruntime.InferenceSession
    session_options = onnxruntime.SessionOptions()
    session_options.intra_op_num_threads = max(0, int(threads))
    session_options.inter_op_num_threads = 1
    session_options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    notes: list[str] = []
    providers = list(plan.providers)
    while providers:
        try:
            session = factory(model, session_options, providers=[(p, options.for_provider(p)) for p in providers])
        except Exception as error:  # onnxruntime raises its own kinds (Fail, RuntimeException, ...)
            if plan.strict:
                raise OnnxBackendError(f"onnxruntime could not start with {', '.join(map(short, providers))}: "
                                       f"{type(error).__name__}: {error}") from error
            notes.append(f"{short(providers[0])} failed to start ({type(error).__name__}: {error}); trying the next")
            providers.pop(0)
            continue
        active = list(session.get_providers())
        dropped = [p for p in providers if p not in active]
        if dropped and plan.strict:
            raise OnnxBackendError(f"onnxruntime did not start {', '.join(map(short, dropped))} (active: "
                                   f"{', '.join(map(short, active))}); see onnxruntime's warning above")
        notes += [f"{short(p)} did not start (onnxruntime dropped it)" for p in dropped]
        return session, notes
    raise OnnxBackendError("no onnxruntime provider started: " + "; ".join(notes))


class OnnxForward:
    """The ONNX file `path` in an onnxruntime session, checked against the checkpoint it is run with
    (OnnxMismatchError naming what differs). `__call__(batch) -> Output` for any batch size and presence."""

    def __init__(self, path: str | Path, *, config: RCMCLConfig, labels: list[str],
                 model_state: Mapping[str, torch.Tensor], providers: str | tuple[str, ...] = "auto",
                 options: ProviderOptions = ProviderOptions(), threads: int = 1,
                 factory: Callable[..., Any] | None = None) -> None:
        if onnxruntime_version() is None:
            raise OnnxBackendError("backend onnxruntime needs the onnxruntime package: pip install onnxruntime "
                                   "(CPU), onnxruntime-gpu (CUDA, TensorRT) or NVIDIA's wheel on a Jetson")
        self.path = Path(path)
        if not self.path.is_file():
            raise OnnxBackendError(f"ONNX file not found: {self.path} (write it with `rcmcl export CHECKPOINT "
                                   f"{self.path} --format onnx`)")
        plan = plan_providers(parse_providers(providers), available_providers())
        self.session, started_notes = open_session(str(self.path), plan, options, threads=threads, factory=factory)
        self.notes = plan.notes + started_notes
        check_matches(self.session.get_modelmeta().custom_metadata_map, config=config, labels=labels,
                      model_state=model_state, path=self.path)
        self.providers = list(self.session.get_providers())
        self.fp16 = options.fp16 and self.providers[0] == "TensorrtExecutionProvider"
        self._shapes = clip_shapes(config)

    def feeds(self, batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The session's inputs: float32 arrays (zeros for a None or absent slot) and the bool mask. Raises
        ValueError for a sample with no modality present."""
        present = batch["present"]
        present = (present.detach().cpu().numpy() if isinstance(present, torch.Tensor)
                   else np.asarray(present)).astype(bool).reshape(-1, len(MODALITIES))
        if not present.any(axis=1).all():
            raise ValueError("no modality present in a sample of the batch: at least one of rgbd, skeleton, "
                             "points is needed")
        feeds: dict[str, np.ndarray] = {"present": present}
        for m, modality in enumerate(MODALITIES):
            for key in INPUTS[modality]:
                value = batch.get(key)
                if value is None or not present[:, m].any():
                    feeds[key] = np.zeros((len(present), *self._shapes[key]), np.float32)
                    continue
                array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
                if array.shape != (len(present), *self._shapes[key]):
                    raise ValueError(f"{key} must have shape {(len(present), *self._shapes[key])}, got {array.shape}")
                array = array.astype(np.float32, copy=False)
                if not present[:, m].all():                  # absent rows: zeros, whatever the slot held
                    array = np.where(present[:, m].reshape(-1, *[1] * (array.ndim - 1)), array, np.float32(0))
                feeds[key] = np.ascontiguousarray(array)
        return {name: feeds[name] for name in INPUT_NAMES}

    def __call__(self, batch: Mapping[str, Any]) -> Output:
        logits, gates, z, fused = (torch.from_numpy(a) for a in self.session.run(list(OUTPUT_NAMES),
                                                                                  self.feeds(batch)))
        return Output(logits=logits, gates=gates, z=z, fused=fused)

    def describe(self) -> str:
        """'onnxruntime 1.32.0 on cpu (<file>)' plus the notes, for the start-up log."""
        active = ", ".join(short(p) for p in self.providers)
        extra = f"; {'; '.join(self.notes)}" if self.notes else ""
        return (f"onnxruntime {onnxruntime_version()} on {active}{' fp16' if self.fp16 else ''} "
                f"({self.path.name}){extra}")
