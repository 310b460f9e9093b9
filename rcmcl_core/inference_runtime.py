"""How one model runs batch-1 inference on its device: autocast, host->device copies, warm-up, CUDA graph.

No ROS imports; rcmcl_ros.pipeline.runner uses it per window, benchmarks can use it alone.

- amp "off" | "bf16" | "fp16": autocast dtype on CUDA (bf16 on a GPU without bf16 falls back to fp16);
  on CPU inference always runs in float32.
- HostStaging: on CUDA, each input is copied into a reused pinned (page-locked) host buffer and sent with
  non_blocking=True; elsewhere tensors move as they are.
- warm_up: forwards on a synthetic all-present batch at start-up, so the first real decision does not pay
  for lazy initialisation (allocator, oneDNN / cuDNN plans, Triton compilation).
- GraphedForward: `RCMCL.forward_all_present` captured in a CUDA graph for windows in which all three
  modalities are present (the static shapes of the checkpoint's clip config); other windows run eagerly.
- cpu_trace: on the CPU the same all-present windows run a frozen TorchScript trace (traced_forward.py):
  the graph in C++, without the interpreter between small ops.
- backend (backend_choice.py): torch | torchscript | onnxruntime, or auto (an ONNX file for the checkpoint
  and onnxruntime -> onnxruntime; else the CPU trace when cpu_trace; else torch). onnxruntime runs every
  window, any presence and any batch of people (onnx_backend.py).
"""
from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Mapping

import torch

from rcmcl_core.backend_choice import BackendChoice, BackendError, choose_backend, fallback_choice
from rcmcl_core.config import MODALITIES, RCMCLConfig
from rcmcl_core.models.rcmcl import RCMCL

AMP_MODES = ("off", "bf16", "fp16")
WARMUP_RUNS = {"cpu": 1, "cuda": 3}   # CUDA: cuDNN benchmarking and the graph's side-stream runs need a few
EXAMPLE_DEPTH_M = 2.0                 # synthetic warm-up inputs: a flat wall this far away


class RuntimeConfigError(ValueError):
    """An impossible runtime setting; the message names it."""


def normalise_amp(value: Any) -> str:
    """'off' | 'bf16' | 'fp16' (case-insensitive); the former boolean parameter maps True -> 'bf16', False -> 'off'."""
    if isinstance(value, bool):
        return "bf16" if value else "off"
    mode = str(value).strip().lower()
    if mode not in AMP_MODES:
        raise RuntimeConfigError(f"amp must be one of {AMP_MODES}, got {value!r}")
    return mode


def autocast_dtype(amp: Any, device: torch.device, *,
                   bf16_supported: Callable[[], bool] | None = None) -> torch.dtype | None:
    """The autocast dtype for `amp` on `device`, or None for float32 (amp off, or not CUDA).
    bf16_supported: defaults to torch.cuda.is_bf16_supported (pre-Ampere GPUs lack bf16: fp16 then)."""
    mode = normalise_amp(amp)
    if mode == "off" or device.type != "cuda":
        return None
    if mode == "fp16":
        return torch.float16
    supported = bf16_supported or torch.cuda.is_bf16_supported
    return torch.bfloat16 if supported() else torch.float16


def autocast(dtype: torch.dtype | None, device: torch.device) -> ContextManager[Any]:
    return torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None else nullcontext()


def example_batch(config: RCMCLConfig, *, device: torch.device, batch_size: int = 1) -> dict[str, torch.Tensor]:
    """A valid all-present batch of the model contract (grey frames, a wall, a standing skeleton, a cloud)."""
    c = config.clip
    g = torch.Generator().manual_seed(0)
    skeleton = torch.zeros(batch_size, c.frames, c.max_bodies, c.num_joints, 3)
    skeleton[:, :, 0] = torch.rand(c.num_joints, 3, generator=g) * 0.5 + torch.tensor([0.0, 0.0, EXAMPLE_DEPTH_M])
    batch = {
        "rgb": torch.full((batch_size, c.frames, 3, c.image_size, c.image_size), 0.5),
        "depth": torch.full((batch_size, c.frames, 1, c.image_size, c.image_size), EXAMPLE_DEPTH_M),
        "skeleton": skeleton,
        "points": torch.rand(batch_size, c.frames, c.num_points, 3, generator=g) * 0.5 + EXAMPLE_DEPTH_M,
        "present": torch.ones(batch_size, len(MODALITIES), dtype=torch.bool),
    }
    return {key: value.to(device) for key, value in batch.items()}


def staging_is_pinned(device: torch.device) -> bool:
    """Pinned buffers and non-blocking copies only pay off (and only work) for a CUDA target."""
    return device.type == "cuda"


class HostStaging:
    """Moves a batch {name: tensor or None} of CPU tensors to `device`. When pinned, each name owns a
    pinned host buffer (reallocated when shape or dtype change), filled and sent with non_blocking=True;
    a buffer is not refilled before its previous copy has finished (a CUDA event)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.pinned = staging_is_pinned(device)
        self._buffers: dict[str, torch.Tensor] = {}
        self._copied: Any = None

    def to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        if not self.pinned:
            return {k: (v.to(self.device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        if self._copied is not None:
            self._copied.synchronize()
        out: dict[str, Any] = {}
        for key, value in batch.items():
            if not isinstance(value, torch.Tensor) or value.device.type != "cpu":
                out[key] = value.to(self.device) if isinstance(value, torch.Tensor) else value
                continue
            buffer = self._buffers.get(key)
            if buffer is None or buffer.shape != value.shape or buffer.dtype != value.dtype:
                buffer = self._buffers[key] = torch.empty(value.shape, dtype=value.dtype, pin_memory=True)
            buffer.copy_(value)
            out[key] = buffer.to(self.device, non_blocking=True)
        self._copied = torch.cuda.Event()
        self._copied.record()
        return out


def warm_up(model: RCMCL, *, device: torch.device, dtype: torch.dtype | None, runs: int | None = None) -> float:
    """Run `runs` (default WARMUP_RUNS[device]) forwards on example_batch; returns the seconds it took."""
    batch = example_batch(model.config, device=device)
    started = time.perf_counter()
    with torch.inference_mode(), autocast(dtype, device):
        for _ in range(WARMUP_RUNS.get(device.type, 1) if runs is None else runs):
            model(batch)
            if device.type == "cuda":          # the graph's path; the CPU pipeline never takes it
                model.forward_all_present(batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - started


@dataclass(frozen=True)
class OnnxSettings:
    """What the onnxruntime backend needs besides the model: the file (None: none known), the checkpoint's
    label names (checked against the file's), the providers ('auto' or a list, onnx_backend.parse_providers),
    TensorRT fp16 and its engine cache folder ('' = none)."""

    path: Path | None
    labels: list[str]
    providers: str = "auto"
    fp16: bool = False
    trt_cache: str = ""


def warm_up_onnx(onnx: Any, config: RCMCLConfig, runs: int = 2) -> float:
    """Run the onnxruntime session on example_batch (TensorRT builds or loads its engine here)."""
    batch = example_batch(config, device=torch.device("cpu"))
    started = time.perf_counter()
    for _ in range(runs):
        onnx(batch)
    return time.perf_counter() - started


def cuda_graph_blocker(device: torch.device, *, enabled: bool) -> str | None:
    """None when forward_all_present may be captured in a CUDA graph, else why not (for the logs)."""
    if not enabled:
        return "off by parameter"
    if device.type != "cuda":
        return f"device is {device.type}"
    if not hasattr(torch.cuda, "CUDAGraph"):
        return f"torch {torch.__version__} has no CUDA graphs"
    return None


class GraphedForward:
    """forward_all_present (batch 1, all modalities present) captured once in a CUDA graph. Calling it copies
    the inputs into the graph's static tensors and replays; the Output's tensors are the graph's own
    (overwritten by the next call: read them before that)."""

    KEYS = ("rgb", "depth", "skeleton", "points")

    def __init__(self, model: RCMCL, *, device: torch.device, dtype: torch.dtype | None) -> None:
        self.static = {k: v for k, v in example_batch(model.config, device=device).items() if k in self.KEYS}
        with torch.inference_mode(), autocast(dtype, device):
            stream = torch.cuda.Stream(device)
            stream.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(stream):            # lazy initialisation off the graph
                for _ in range(WARMUP_RUNS["cuda"]):
                    model.forward_all_present(self.static)
            torch.cuda.current_stream(device).wait_stream(stream)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.output = model.forward_all_present(self.static)

    def accepts(self, batch: Mapping[str, Any]) -> bool:
        """True when every input is a tensor of the captured shape and dtype."""
        return all(isinstance(batch.get(k), torch.Tensor) and batch[k].shape == v.shape and batch[k].dtype == v.dtype
                   for k, v in self.static.items())

    def __call__(self, batch: Mapping[str, torch.Tensor]) -> Any:
        for key, tensor in self.static.items():
            tensor.copy_(batch[key], non_blocking=True)
        self.graph.replay()
        return self.output


class InferenceRuntime:
    """Batch-1 inference of `model` (already on `device`, eval) with the options above. `forward` takes a
    batch already on the device (`to_device`); `all_present` says every modality is present, which lets
    the CUDA graph run it. Threads that share a runtime (the node's single-person and per-person workers)
    hold `lock` from `to_device` until they have read the outputs: on CUDA the pinned buffers and the graph's
    output tensors are shared (on the CPU nothing is, and the lock is a no-op)."""

    def __init__(self, model: RCMCL, *, device: torch.device, amp: Any = "bf16", cuda_graph: bool = True,
                 warmup: bool = True, cpu_trace: bool = False, backend: str = "auto",
                 onnx: OnnxSettings | None = None) -> None:
        if model.training:   # warm-up forwards would move BatchNorm statistics
            raise RuntimeConfigError("InferenceRuntime needs a model in eval mode (call model.eval())")
        self.model = model
        self.device = device
        self.lock: ContextManager[Any] = threading.Lock() if device.type == "cuda" else nullcontext()
        self.amp = normalise_amp(amp)
        self.dtype = autocast_dtype(self.amp, device)
        self.choice, self.onnx = self._open_backend(backend, onnx, cpu_trace=cpu_trace)
        self.staging = HostStaging(device if self.onnx is None else torch.device("cpu"))
        self.graph: GraphedForward | None = None
        self.graph_blocker = ("backend onnxruntime" if self.onnx is not None
                              else cuda_graph_blocker(device, enabled=cuda_graph))
        self.warmup_s = None
        if warmup:
            self.warmup_s = (warm_up_onnx(self.onnx, model.config) if self.onnx is not None
                             else warm_up(model, device=device, dtype=self.dtype))
        if self.graph_blocker is None:
            try:
                self.graph = GraphedForward(model, device=device, dtype=self.dtype)
            except Exception as error:  # a model the graph cannot capture still runs eagerly; say why
                self.graph_blocker = f"capture failed: {type(error).__name__}: {error}"
        self.traced: Any = None
        self.trace_blocker: str | None = (None if self.choice.backend == "torchscript"
                                          else f"backend {self.choice.backend}")
        if self.trace_blocker is None:
            from rcmcl_core.traced_forward import TracedForward

            try:
                self.traced = TracedForward(model, example=example_batch(model.config, device=device))
            except Exception as error:  # an untraceable model still runs eagerly; say why
                self.trace_blocker = f"trace failed: {type(error).__name__}: {error}"

    def _open_backend(self, backend: str, onnx: OnnxSettings | None, *,
                      cpu_trace: bool) -> tuple[BackendChoice, Any]:
        """(the choice, an OnnxForward or None). auto falls back with the reason when onnxruntime cannot start;
        an explicit onnxruntime that cannot is a RuntimeConfigError. A file of another checkpoint always is."""
        from rcmcl_core.onnx_backend import (OnnxBackendError, OnnxForward, ProviderOptions, available_providers,
                                             onnxruntime_version)
        from rcmcl_core.onnx_export import OnnxMismatchError

        path = onnx.path if onnx is not None else None
        try:
            choice = choose_backend(backend, device_type=self.device.type, onnx_path=path,
                                    onnx_exists=path is not None and path.is_file(),
                                    onnxruntime_version=onnxruntime_version(),
                                    onnxruntime_providers=available_providers(), cpu_trace=cpu_trace)
        except BackendError as error:
            raise RuntimeConfigError(str(error)) from None
        if choice.backend != "onnxruntime":
            return choice, None
        if onnx is None or path is None:
            raise RuntimeConfigError("backend onnxruntime needs an ONNX file (parameter onnx_model)")
        options = ProviderOptions(device_id=self.device.index or 0, fp16=onnx.fp16, trt_cache=onnx.trt_cache)
        try:
            return choice, OnnxForward(path, config=self.model.config, labels=onnx.labels,
                                       model_state=self.model.state_dict(), providers=onnx.providers,
                                       options=options, threads=torch.get_num_threads())
        except OnnxMismatchError as error:
            raise RuntimeConfigError(str(error)) from None
        except (OnnxBackendError, ValueError) as error:
            if choice.requested != "auto":
                raise RuntimeConfigError(str(error)) from None
            return fallback_choice(device_type=self.device.type, cpu_trace=cpu_trace,
                                   why=f"onnxruntime could not start ({error})"), None

    def to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        return self.staging.to_device(batch)

    def autocast(self) -> ContextManager[Any]:
        return autocast(self.dtype, self.device)

    def forward(self, batch: Mapping[str, Any], *, all_present: bool) -> Any:
        """The model's Output for a batch on the device (the graph's when it applies, else forward())."""
        if self.onnx is not None:
            return self.onnx(batch)
        with torch.inference_mode(), self.autocast():
            if self.graph is not None and all_present and self.graph.accepts(batch):
                return self.graph(batch)
            if self.traced is not None and all_present and self.traced.accepts(batch):
                return self.traced(batch)
            return self.model(batch)

    def describe(self) -> str:
        """One line for the start-up log."""
        dtype = "float32" if self.dtype is None else str(self.dtype).removeprefix("torch.")
        graph = "on" if self.graph is not None else f"off ({self.graph_blocker})"
        warm = "no warm-up" if self.warmup_s is None else f"warm-up {self.warmup_s:.2f} s"
        trace = "on" if self.traced is not None else f"off ({self.trace_blocker})"
        backend = f"backend {self.choice.backend} ({self.choice.requested}: {self.choice.reason})"
        if self.onnx is not None:
            return f"{backend}, {self.onnx.describe()}, {warm}"
        return (f"{backend}, amp {self.amp} ({dtype}), {'pinned non-blocking' if self.staging.pinned else 'plain'} "
                f"copies, CUDA graph {graph}, CPU trace {trace}, {warm}")
