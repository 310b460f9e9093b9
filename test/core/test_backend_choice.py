"""onnxruntime's provider selection (onnx_backend.py) without a
GPU (a fake session factory stands in for providers that fail), and InferenceRuntime on each backend."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rcmcl_core.checkpoint import load_model
from rcmcl_core.inference_runtime import InferenceRuntime, OnnxSettings, RuntimeConfigError
from rcmcl_core.onnx_backend import (PROVIDER_ORDER, OnnxBackendError, ProviderOptions, ProviderPlan,
                                     open_session, parse_providers, plan_providers)
from rcmcl_core.onnx_export import random_windows

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # conftest.py

TRT, CUDA, CPU = PROVIDER_ORDER
CPU_DEVICE = torch.device("cpu")


def test_provider_lists_parse_and_plans_follow_the_installed_build():
    assert parse_providers("auto") is None and parse_providers("") is None
    assert parse_providers("cuda, cpu") == (CUDA, CPU)
    assert parse_providers([TRT, "cpu"]) == (TRT, CPU)
    with pytest.raises(ValueError, match="unknown onnxruntime provider 'rocm'"):
        parse_providers("rocm,cpu")
    everything = plan_providers(None, [TRT, CUDA, CPU, "AzureExecutionProvider"])
    assert everything.providers == [TRT, CUDA, CPU] and not everything.notes and not everything.strict
    cpu_only = plan_providers(None, [CPU])
    assert cpu_only.providers == [CPU] and "tensorrt, cuda not in this onnxruntime build" in cpu_only.notes[0]
    with pytest.raises(OnnxBackendError, match="onnxruntime-gpu"):
        plan_providers((CUDA, CPU), [CPU])
    assert plan_providers((CUDA, CPU), [CUDA, CPU]).strict


class FakeSession:
    def __init__(self, providers):
        self.providers = providers

    def get_providers(self):
        return self.providers


def fake_factory(*, failing=(), dropping=()):
    """An InferenceSession stand-in: raises when the first provider is in `failing`, leaves out `dropping`."""
    calls = []

    def factory(model, options, providers):
        names = [name for name, _ in providers]
        calls.append((names, dict(providers)))
        if names[0] in failing:
            raise RuntimeError(f"{names[0]} init failed: libnvinfer.so not found")
        return FakeSession([n for n in names if n not in dropping])

    return factory, calls


def test_auto_falls_back_past_a_provider_that_fails_and_says_why():
    factory, calls = fake_factory(failing=(TRT,))
    session, notes = open_session("m.onnx", ProviderPlan([TRT, CUDA, CPU]), ProviderOptions(fp16=True,
                                  trt_cache="/tmp/engines"), threads=1, factory=factory)
    assert session.get_providers() == [CUDA, CPU]
    assert "tensorrt failed to start" in notes[0] and "libnvinfer" in notes[0]
    assert calls[0][1][TRT] == {"device_id": 0, "trt_fp16_enable": True, "trt_engine_cache_enable": True,
                                "trt_engine_cache_path": "/tmp/engines"}
    dropped_factory, _ = fake_factory(dropping=(CUDA,))       # onnxruntime itself dropped it (a warning only)
    session, notes = open_session("m.onnx", ProviderPlan([CUDA, CPU]), ProviderOptions(), threads=1,
                                  factory=dropped_factory)
    assert session.get_providers() == [CPU] and notes == ["cuda did not start (onnxruntime dropped it)"]


def test_an_explicit_provider_list_that_does_not_start_is_an_error_naming_it():
    factory, _ = fake_factory(failing=(CUDA,))
    with pytest.raises(OnnxBackendError, match="could not start with cuda, cpu.*libnvinfer"):
        open_session("m.onnx", ProviderPlan([CUDA, CPU], strict=True), ProviderOptions(), threads=1,
                     factory=factory)
    dropped_factory, _ = fake_factory(dropping=(CUDA,))
    with pytest.raises(OnnxBackendError, match="did not start cuda"):
        open_session("m.onnx", ProviderPlan([CUDA, CPU], strict=True), ProviderOptions(), threads=1,
                     factory=dropped_factory)
    everything_fails, _ = fake_factory(failing=(CUDA, CPU))
    with pytest.raises(OnnxBackendError, match="no onnxruntime provider started"):
        open_session("m.onnx", ProviderPlan([CUDA, CPU]), ProviderOptions(), threads=1, factory=everything_fails)


def settings(path, labels, **kw):
    return OnnxSettings(path=Path(path), labels=labels, **kw)


def test_the_runtime_runs_every_window_through_onnxruntime_and_says_so(tiny_checkpoint, tiny_onnx):
    model, checkpoint = load_model(tiny_checkpoint())
    runtime = InferenceRuntime(model, device=CPU_DEVICE, warmup=True, cpu_trace=True,
                               onnx=settings(tiny_onnx(), checkpoint.labels))
    assert runtime.choice.backend == "onnxruntime" and runtime.traced is None
    described = runtime.describe()
    assert "backend onnxruntime (auto: tiny.onnx found" in described and "on cpu" in described
    partial = random_windows(model.config, np.array([[False, True, True], [True, True, False], [True, True, True]]),
                             seed=5)
    calls = []
    model.register_forward_pre_hook(lambda *a: calls.append(1))
    output = runtime.forward(runtime.to_device(partial), all_present=False)
    assert calls == []                                                   # the eager model never ran
    with torch.inference_mode():
        eager = model(dict(partial))
    assert torch.allclose(torch.softmax(output.logits, 1), torch.softmax(eager.logits, 1), atol=1e-4)


def test_bad_backend_settings_are_clear_errors_or_logged_fallbacks(tiny_checkpoint, tiny_onnx, tmp_path,
                                                                   monkeypatch):
    model, checkpoint = load_model(tiny_checkpoint())
    missing = settings(tmp_path / "none.onnx", checkpoint.labels)
    auto = InferenceRuntime(model, device=CPU_DEVICE, warmup=False, cpu_trace=True, onnx=missing)
    assert auto.choice.backend == "torchscript" and "no ONNX file at" in auto.describe()
    with pytest.raises(RuntimeConfigError, match="ONNX file not found.*rcmcl export"):
        InferenceRuntime(model, device=CPU_DEVICE, warmup=False, backend="onnxruntime", onnx=missing)
    other, other_checkpoint = load_model(tiny_checkpoint(seed=1))
    for backend in ("auto", "onnxruntime"):                   # a file of another checkpoint: never silently run
        with pytest.raises(RuntimeConfigError, match="another checkpoint"):
            InferenceRuntime(other, device=CPU_DEVICE, warmup=False, backend=backend,
                             onnx=settings(tiny_onnx(), other_checkpoint.labels))
    with pytest.raises(RuntimeConfigError, match="onnx_providers asks for cuda"):
        InferenceRuntime(model, device=CPU_DEVICE, warmup=False, backend="onnxruntime",
                         onnx=settings(tiny_onnx(), checkpoint.labels, providers="cuda"))
    import rcmcl_core.onnx_backend as onnx_backend

    monkeypatch.setattr(onnx_backend, "onnxruntime_version", lambda: None)   # as without the package
    fallback = InferenceRuntime(model, device=CPU_DEVICE, warmup=False, cpu_trace=True,
                                onnx=settings(tiny_onnx(), checkpoint.labels))
    assert fallback.choice.backend == "torchscript" and "onnxruntime is not installed" in fallback.describe()
    with pytest.raises(RuntimeConfigError, match="needs the onnxruntime package"):
        InferenceRuntime(model, device=CPU_DEVICE, warmup=False, backend="onnxruntime",
                         onnx=settings(tiny_onnx(), checkpoint.labels))
