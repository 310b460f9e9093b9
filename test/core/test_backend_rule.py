"""The backend rule (rcmcl_core/backend_choice.py): `auto`'s documented order and the impossible settings.
Pure Python (no torch): it also runs on Python 3.10 and 3.12 (scripts/test-pythons)."""
from __future__ import annotations

from pathlib import Path

import pytest

from rcmcl_core.backend_choice import BackendError, choose_backend, default_onnx_path

TRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"


def choose(requested="auto", *, device="cpu", exists=True, version="1.32.0", providers=(CPU,), cpu_trace=True):
    return choose_backend(requested, device_type=device, onnx_path=Path("/m/model.onnx"), onnx_exists=exists,
                          onnxruntime_version=version, onnxruntime_providers=list(providers), cpu_trace=cpu_trace)


def test_auto_follows_its_documented_order():
    assert choose().backend == "onnxruntime" and "model.onnx found" in choose().reason
    assert choose(exists=False).backend == "torchscript" and "no ONNX file at /m/model.onnx" in choose(
        exists=False).reason
    assert choose(exists=False, cpu_trace=False).backend == "torch"
    assert choose(version=None).backend == "torchscript" and "not installed" in choose(version=None).reason
    cuda_cpu_build = choose(device="cuda")
    assert cuda_cpu_build.backend == "torch" and "no GPU provider" in cuda_cpu_build.reason
    assert choose(device="cuda", providers=(CUDA, CPU)).backend == "onnxruntime"
    assert choose("torch").backend == "torch" and choose("onnxruntime", exists=False).backend == "onnxruntime"
    with pytest.raises(BackendError, match="CPU only"):
        choose("torchscript", device="cuda")
    with pytest.raises(BackendError, match="backend must be one of"):
        choose("tensorflow")


def test_the_onnx_file_is_the_parameter_or_beside_the_checkpoint():
    assert default_onnx_path("/m/model.pt") == Path("/m/model.onnx")
    assert default_onnx_path("/m/model.pt", "~/other.onnx") == Path("~/other.onnx").expanduser()
    assert default_onnx_path(None) is None
