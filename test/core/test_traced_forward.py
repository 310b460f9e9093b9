"""rcmcl_core.traced_forward: the CPU trace of forward_all_present gives the eager model's numbers on windows it
was not traced on, runs only for all-present windows of its shapes, and a trace that disagrees is refused."""
import pytest
import torch

from rcmcl_core.config import preset
from rcmcl_core.inference_runtime import InferenceRuntime, example_batch
from rcmcl_core.models.rcmcl import RCMCL
from rcmcl_core.traced_forward import TracedForward

CPU = torch.device("cpu")
pytestmark = pytest.mark.usefixtures("one_torch_thread")   # conftest.py


@pytest.fixture
def tiny_model() -> RCMCL:
    torch.manual_seed(0)
    return RCMCL(config=preset("tiny")).eval()


def random_window(model: RCMCL, seed: int) -> dict:
    """An all-present batch unlike the trace's example: random frames, a moving second body, NaN cloud rows."""
    g = torch.Generator().manual_seed(seed)
    batch = example_batch(model.config, device=CPU)
    batch["rgb"] = torch.rand(batch["rgb"].shape, generator=g)
    batch["depth"] = 0.5 + 4.0 * torch.rand(batch["depth"].shape, generator=g)
    batch["skeleton"][:, :, -1] = torch.rand(batch["skeleton"][:, :, -1].shape, generator=g) + 2.0
    batch["points"] = torch.rand(batch["points"].shape, generator=g) * 2.0 + 1.0
    batch["points"][:, :, ::7] = float("nan")                            # the preprocessor's "no point" rows
    return batch


def test_the_trace_gives_the_eager_numbers_on_other_windows(tiny_model):
    traced = TracedForward(tiny_model, example=example_batch(tiny_model.config, device=CPU))
    for seed in range(3):
        batch = random_window(tiny_model, seed)
        assert traced.accepts(batch)
        with torch.inference_mode():
            expected, got = tiny_model(batch), traced(batch)
        assert torch.allclose(got.logits, expected.logits, atol=1e-5)
        assert torch.allclose(got.gates, expected.gates, atol=1e-6)
    assert not traced.accepts(dict(batch, rgb=None))                       # a missing modality: eager
    assert not traced.accepts(dict(batch, points=batch["points"][:, :, :5]))  # other shapes: eager


def test_the_runtime_traces_on_cpu_when_asked_and_keeps_eager_for_partial_windows(tiny_model):
    runtime = InferenceRuntime(tiny_model, device=CPU, warmup=False, cpu_trace=True)
    assert runtime.traced is not None and "CPU trace on" in runtime.describe()
    calls = []
    tiny_model.register_forward_hook(lambda *_: calls.append(1))          # forward() only, not the trace
    batch = random_window(tiny_model, 5)
    with torch.inference_mode():
        expected = tiny_model(batch).logits
    calls.clear()
    assert torch.allclose(runtime.forward(batch, all_present=True).logits, expected, atol=1e-5) and calls == []
    partial = dict(batch, rgb=None, depth=None, present=torch.tensor([[False, True, True]]))
    runtime.forward(partial, all_present=False)
    assert calls == [1]
    off = InferenceRuntime(tiny_model, device=CPU, warmup=False)
    assert off.traced is None and "CPU trace off (backend torch)" in off.describe()
    assert "cpu_trace off" in off.describe()


def test_a_trace_that_disagrees_with_the_model_is_refused_and_the_runtime_stays_eager(tiny_model, monkeypatch):
    real_trace = torch.jit.trace

    def wrong_trace(module, inputs, **kwargs):               # a trace whose logits are off by one
        class Off(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = module

            def forward(self, *args):
                logits, gates, z, fused = self.inner(*args)
                return logits + 1.0, gates, z, fused
        return real_trace(Off().eval(), inputs, **kwargs)

    monkeypatch.setattr(torch.jit, "trace", wrong_trace)
    with pytest.raises(RuntimeError, match="differs from the eager model"):
        TracedForward(tiny_model, example=example_batch(tiny_model.config, device=CPU))
    runtime = InferenceRuntime(tiny_model, device=CPU, warmup=False, cpu_trace=True)
    assert runtime.traced is None and runtime.trace_blocker.startswith("trace failed: RuntimeError: the trace differs")
