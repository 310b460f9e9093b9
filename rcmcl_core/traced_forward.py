"""RCMCL.forward_all_present as a frozen TorchScript trace, for batch-1 CPU inference (issue 15).

On the CPU the eager model spends a good part of a compact-preset forward in Python between its small ops
(~9 ms eagerly, ~5 ms traced on this machine), and in a node every one of those Python steps waits for the
interpreter lock while the subscription callbacks convert frames (3-4x the idle time on 2 shared cores). A
trace runs the whole graph in C++. It is taken once per model on the checkpoint's static shapes (batch 1,
the clip config) for windows in which all three modalities are present, the same case the CUDA graph covers
(inference_runtime.GraphedForward); other windows run eagerly. The trace is checked against the eager
forward on two synthetic batches when it is built: a mismatch beyond TRACE_ATOL (or any failure to trace) leaves
the model eager, with the reason for the start-up log.
"""
from __future__ import annotations

import warnings
from typing import Any, Mapping

import torch
from torch import nn

from rcmcl_core.models.rcmcl import RCMCL, Output

KEYS = ("rgb", "depth", "skeleton", "points")
TRACE_ATOL = 1e-4
"""Largest |traced - eager| allowed on logits and gates of the check batch (float rounding is ~1e-6)."""


class _AllPresent(nn.Module):
    """forward_all_present with positional tensors (what torch.jit.trace takes) and a tuple out."""

    def __init__(self, model: RCMCL) -> None:
        super().__init__()
        self.model = model

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor, skeleton: torch.Tensor,
                points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        output = self.model.forward_all_present({"rgb": rgb, "depth": depth, "skeleton": skeleton, "points": points})
        return output.logits, output.gates, output.z, output.fused


class TracedForward:
    """forward_all_present traced on `example` (an all-present batch on the CPU: rgb (1, T, 3, S, S), depth
    (1, T, 1, S, S), skeleton (1, T, M, 25, 3), points (1, T, N, 3)). Raises RuntimeError when the trace
    disagrees with the eager model on that batch or a perturbed copy."""

    def __init__(self, model: RCMCL, *, example: Mapping[str, torch.Tensor]) -> None:
        self.shapes = {key: (tuple(example[key].shape), example[key].dtype) for key in KEYS}
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")      # TracerWarning: the shape checks become constants (static shapes)
            self.module = torch.jit.freeze(torch.jit.trace(_AllPresent(model).eval(),
                                                           tuple(example[key] for key in KEYS), check_trace=False))
            generator = torch.Generator().manual_seed(0)
            other = {key: example[key] * (1.0 + 0.1 * torch.rand(example[key].shape, generator=generator))
                     for key in KEYS}           # a second batch: nothing of the first may be baked in
            for batch in (example, other):
                eager = model.forward_all_present(dict(batch))
                traced = self.module(*(batch[key] for key in KEYS))
                error = max(float((eager.logits - traced[0]).abs().max()),
                            float((eager.gates - traced[1]).abs().max()))
                if not error <= TRACE_ATOL:
                    raise RuntimeError(f"the trace differs from the eager model by {error:.2e} (> {TRACE_ATOL})")

    def accepts(self, batch: Mapping[str, Any]) -> bool:
        """True when every input is a CPU tensor of the traced shape and dtype."""
        return all(isinstance(batch.get(key), torch.Tensor) and batch[key].device.type == "cpu"
                   and (tuple(batch[key].shape), batch[key].dtype) == shape for key, shape in self.shapes.items())

    def __call__(self, batch: Mapping[str, torch.Tensor]) -> Output:
        logits, gates, z, fused = self.module(*(batch[key] for key in KEYS))
        return Output(logits=logits, gates=gates, z=z, fused=fused)
