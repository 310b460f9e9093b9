"""rcmcl_core.inference_runtime and its use by Pipeline: which path (autocast dtype, pinned copies, CUDA graph,
warm-up, checkpoint device) is chosen, and that the CPU path gives the model's own numbers.

There is no GPU here: CUDA capability checks are replaced where a test is about selection only; numbers
always come from real CPU forwards."""
import numpy as np
import pytest
import torch

from rcmcl_core import inference_runtime
from rcmcl_core.config import preset
from rcmcl_core.inference_runtime import (HostStaging, InferenceRuntime, RuntimeConfigError, autocast_dtype,
                                          cuda_graph_blocker, example_batch, normalise_amp, staging_is_pinned)
from rcmcl_core.models.rcmcl import RCMCL
import rcmcl_ros.pipeline.runner as pipeline_module
from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig, PipelineConfigError

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 1)


@pytest.fixture
def tiny_model() -> RCMCL:
    torch.manual_seed(0)
    return RCMCL(config=preset("tiny")).eval()


def test_amp_takes_off_bf16_fp16_and_the_former_booleans():
    assert [normalise_amp(v) for v in ("off", "BF16", " fp16 ", True, False)] == ["off", "bf16", "fp16", "bf16", "off"]
    with pytest.raises(RuntimeConfigError, match="amp must be one of"):
        normalise_amp("fp8")
    with pytest.raises(PipelineConfigError, match="amp must be one of"):
        PipelineConfig(amp="half").validate()
    assert PipelineConfig(amp=True).validate().amp == "bf16"


def test_autocast_dtype_is_chosen_per_device_and_bf16_support():
    for mode in ("off", "bf16", "fp16"):
        assert autocast_dtype(mode, CPU) is None                          # CPU inference stays float32
    assert autocast_dtype("off", CUDA, bf16_supported=lambda: True) is None
    assert autocast_dtype("bf16", CUDA, bf16_supported=lambda: True) is torch.bfloat16
    assert autocast_dtype("bf16", CUDA, bf16_supported=lambda: False) is torch.float16   # pre-Ampere GPUs
    assert autocast_dtype("fp16", CUDA, bf16_supported=lambda: True) is torch.float16


def test_pinned_staging_only_for_cuda_and_cpu_copies_are_the_inputs():
    assert staging_is_pinned(CUDA) and not staging_is_pinned(CPU)
    assert HostStaging(CUDA).pinned                                       # chosen without touching the GPU
    batch = {"rgb": torch.rand(1, 2, 3), "depth": None, "present": torch.tensor([[True, False, True]])}
    moved = HostStaging(CPU).to_device(batch)
    assert moved["depth"] is None and torch.equal(moved["rgb"], batch["rgb"])
    assert torch.equal(moved["present"], batch["present"])


def test_cuda_graph_is_used_only_on_cuda_when_enabled():
    assert cuda_graph_blocker(CPU, enabled=True) == "device is cpu"
    assert cuda_graph_blocker(CUDA, enabled=False) == "off by parameter"
    assert cuda_graph_blocker(CUDA, enabled=True) is None


def test_cpu_runtime_warms_up_once_and_returns_the_models_output(tiny_model):
    calls = []
    tiny_model.register_forward_hook(lambda *_: calls.append(1))
    runtime = InferenceRuntime(tiny_model, device=CPU, amp="fp16")
    assert calls == [1] and runtime.warmup_s > 0                          # one forward on a synthetic window
    assert runtime.graph is None and runtime.dtype is None
    assert "amp fp16 (float32)" in runtime.describe() and "CUDA graph off (device is cpu)" in runtime.describe()
    batch = example_batch(tiny_model.config, device=CPU)
    batch["points"][:, :, :5] = float("nan")
    with torch.inference_mode():
        expected = tiny_model(batch)
    got = runtime.forward(runtime.to_device(batch), all_present=True)
    assert torch.equal(got.logits, expected.logits) and torch.equal(got.gates, expected.gates)
    assert InferenceRuntime(tiny_model, device=CPU, warmup=False).warmup_s is None and len(calls) == 3  # no more
    with pytest.raises(RuntimeConfigError, match="eval mode"):
        InferenceRuntime(tiny_model.train(), device=CPU)


def test_all_present_windows_take_the_graph_and_others_the_eager_forward(tiny_model):
    class RecordingGraph:                                                 # stands in for a captured CUDA graph
        def __init__(self):
            self.calls = 0

        def accepts(self, batch):
            return batch["rgb"] is not None

        def __call__(self, batch):
            self.calls += 1
            return tiny_model.forward_all_present(batch)

    runtime = InferenceRuntime(tiny_model, device=CPU, warmup=False)
    runtime.graph = RecordingGraph()
    batch = example_batch(tiny_model.config, device=CPU)
    all_present = runtime.forward(batch, all_present=True)
    assert runtime.graph.calls == 1
    with torch.inference_mode():
        assert torch.allclose(all_present.logits, tiny_model(batch).logits, atol=1e-6)
    partial = dict(batch, rgb=None, depth=None, present=torch.tensor([[False, True, True]]))
    runtime.forward(partial, all_present=False)
    assert runtime.graph.calls == 1                                       # eager forward() for missing modalities


def test_a_failed_capture_falls_back_to_eager_and_says_why(tiny_model, monkeypatch):
    monkeypatch.setattr(inference_runtime, "cuda_graph_blocker", lambda device, enabled: None)

    def refuse(*_, **__):
        raise RuntimeError("capture not supported")
    monkeypatch.setattr(inference_runtime, "GraphedForward", refuse)
    runtime = InferenceRuntime(tiny_model, device=CPU, warmup=False)
    assert runtime.graph is None and runtime.graph_blocker == "capture failed: RuntimeError: capture not supported"
    out = runtime.forward(example_batch(tiny_model.config, device=CPU), all_present=True)
    assert torch.isfinite(out.logits).all()


def test_the_checkpoint_is_loaded_straight_to_the_requested_device(tiny_checkpoint, monkeypatch):
    class Stop(Exception):
        pass
    seen = []
    real_load = pipeline_module.load_checkpoint

    def recording_load(path, *, map_location="cpu", **kwargs):
        seen.append(map_location)
        if torch.device(map_location).type == "cuda":
            raise Stop   # the selection is checked; this machine cannot load onto a GPU
        return real_load(path, map_location=map_location, **kwargs)
    monkeypatch.setattr(pipeline_module, "load_checkpoint", recording_load)
    pipeline = Pipeline.from_checkpoint(tiny_checkpoint(), config=PipelineConfig(device="cpu", warmup=False))
    assert seen == [CPU] and pipeline.runtime.warmup_s is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(Stop):
        Pipeline.from_checkpoint(tiny_checkpoint(), config=PipelineConfig(device="cuda"))
    assert seen[-1] == torch.device("cuda")


def test_pipeline_decisions_do_not_depend_on_amp_or_warmup_on_cpu(tiny_checkpoint):
    path = tiny_checkpoint()
    first = Pipeline.from_checkpoint(path, config=PipelineConfig(device="cpu", amp="off", warmup=False))
    second = Pipeline.from_checkpoint(path, config=PipelineConfig(device="cpu", amp="fp16", warmup=True))
    batch = example_batch(first.model_config, device=CPU)
    outputs = [p.runtime.forward(p.runtime.to_device(batch), all_present=True) for p in (first, second)]
    assert torch.equal(outputs[0].logits, outputs[1].logits)
    assert np.isfinite(outputs[0].logits.numpy()).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (selection is tested above on CPU)")
def test_on_a_gpu_pinned_copies_and_the_graph_give_the_eager_forward(tiny_model):
    device = torch.device("cuda")
    model = tiny_model.to(device)
    runtime = InferenceRuntime(model, device=device, amp="off")
    assert runtime.staging.pinned and runtime.graph is not None, runtime.graph_blocker
    for seed in range(2):                                          # the second window reuses the pinned buffers
        batch = example_batch(model.config, device=CPU)
        batch["points"][:, :, : 5 + seed] = float("nan")
        moved = runtime.to_device(batch)
        replayed = runtime.forward(moved, all_present=True).logits.clone()
        with torch.inference_mode():
            eager = model(moved).logits
        assert torch.allclose(replayed, eager, atol=1e-4)
