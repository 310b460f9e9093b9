"""The model as an ONNX file (issue 27): `RCMCL.forward_masked` with the presence mask as a graph input.

One file is one checkpoint at its clip config. Inputs: rgb (B, T, 3, S, S) [0, 1], depth (B, T, 1, S, S) m,
skeleton (B, T, M, 25, 3) m, points (B, T, N, 3) m, all float32 (zeros where absent), present (B, 3) bool in
MODALITIES order; B is dynamic (1 to MAX_BATCH). Outputs: logits (B, K), gates (B, 3), z (B, 3, D), fused (B, D).
The model's metadata (`metadata_props`) carries the label names, the checkpoint's config and weights hashes
and the clip shapes, so a runtime can refuse a file made from another checkpoint or clip config
(`check_matches`).

At export the file is checked against the eager forward() through onnxruntime on random windows, every absent
pattern and batch sizes 1 and 3 included: scores (softmax) and gates within PARITY_ATOL. A file that fails is
never written (it is written atomically, after the check). No ROS imports.
"""
from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from rcmcl_core.atomic_io import atomic_write_bytes
from rcmcl_core.config import MODALITIES, RCMCLConfig
from rcmcl_core.models.rcmcl import RCMCL

INPUT_NAMES = ("rgb", "depth", "skeleton", "points", "present")
OUTPUT_NAMES = ("logits", "gates", "z", "fused")
FORMAT_VERSION = "1"
DEFAULT_OPSET = 18
MAX_BATCH = 64
PARITY_ATOL = 1e-4
"""Largest |onnxruntime - eager| allowed on scores and gates at export (float rounding is ~1e-6)."""
ABSENT_PATTERNS = tuple(p for p in itertools.product((True, False), repeat=len(MODALITIES)) if any(p))
"""Every presence pattern a window can have (at least one modality present), in MODALITIES order."""
META = {"format": "rcmcl_format", "labels": "rcmcl_labels", "config_sha256": "rcmcl_config_sha256",
        "weights_sha256": "rcmcl_weights_sha256", "clip": "rcmcl_clip", "preset": "rcmcl_preset"}
"""metadata_props keys."""


class OnnxExportError(RuntimeError):
    """The export failed or its parity check did; nothing was written."""


class OnnxMismatchError(ValueError):
    """An ONNX file that does not belong to the checkpoint it is run with; the message names the mismatch."""


def config_sha256(config: RCMCLConfig) -> str:
    """sha256 of the config as canonical JSON (the preset name left out: it does not change the model)."""
    values = {k: v for k, v in config.to_dict().items() if k != "preset"}
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def weights_sha256(model_state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the state dict's names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(model_state):
        tensor = model_state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def clip_shapes(config: RCMCLConfig) -> dict[str, list[int]]:
    """{input name: shape without the batch} under the config's clip."""
    c = config.clip
    return {"rgb": [c.frames, 3, c.image_size, c.image_size], "depth": [c.frames, 1, c.image_size, c.image_size],
            "skeleton": [c.frames, c.max_bodies, c.num_joints, 3], "points": [c.frames, c.num_points, 3],
            "present": [len(MODALITIES)]}


def expected_metadata(config: RCMCLConfig, labels: list[str],
                      model_state: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """The metadata_props an export of this checkpoint carries."""
    return {META["format"]: FORMAT_VERSION, META["labels"]: json.dumps(list(labels)),
            META["config_sha256"]: config_sha256(config), META["weights_sha256"]: weights_sha256(model_state),
            META["clip"]: json.dumps(clip_shapes(config), sort_keys=True), META["preset"]: config.preset}


def check_matches(metadata: Mapping[str, str], *, config: RCMCLConfig, labels: list[str],
                  model_state: Mapping[str, torch.Tensor], path: str | Path = "the ONNX file") -> None:
    """Raise OnnxMismatchError naming what differs between the file's metadata and the checkpoint
    (model_state: the model's state_dict(), as the export hashed it)."""
    if metadata.get(META["format"]) != FORMAT_VERSION:
        raise OnnxMismatchError(f"{path} is not an rcmcl export of format {FORMAT_VERSION} "
                                f"(metadata {META['format']}={metadata.get(META['format'])!r}); "
                                "re-export it with `rcmcl export CHECKPOINT OUT.onnx --format onnx`")
    expected = expected_metadata(config, labels, model_state)
    clip_file, clip_here = json.loads(metadata.get(META["clip"], "{}")), json.loads(expected[META["clip"]])
    if clip_file != clip_here:
        differ = {k: (clip_file.get(k), v) for k, v in clip_here.items() if clip_file.get(k) != v}
        raise OnnxMismatchError(f"{path} was exported for another clip config: (file, checkpoint) shapes {differ}")
    if metadata.get(META["config_sha256"]) != expected[META["config_sha256"]]:
        raise OnnxMismatchError(f"{path} was exported from a checkpoint with another model config (config sha256 "
                                f"{metadata.get(META['config_sha256'], '?')[:12]} vs "
                                f"{expected[META['config_sha256']][:12]})")
    if metadata.get(META["weights_sha256"]) != expected[META["weights_sha256"]]:
        raise OnnxMismatchError(f"{path} was exported from another checkpoint (weights sha256 "
                                f"{metadata.get(META['weights_sha256'], '?')[:12]} vs "
                                f"{expected[META['weights_sha256']][:12]}); re-export it from this checkpoint")
    file_labels = json.loads(metadata.get(META["labels"], "[]"))
    if file_labels != list(labels):
        raise OnnxMismatchError(f"{path} has other label names than the checkpoint: {file_labels[:4]}... vs "
                                f"{list(labels)[:4]}...")


class _Masked(nn.Module):
    """forward_masked with positional tensors in INPUT_NAMES order and a tuple in OUTPUT_NAMES order."""

    def __init__(self, model: RCMCL) -> None:
        super().__init__()
        self.model = model

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor, skeleton: torch.Tensor, points: torch.Tensor,
                present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        output = self.model.forward_masked({"rgb": rgb, "depth": depth, "skeleton": skeleton, "points": points,
                                            "present": present})
        return output.logits, output.gates, output.z, output.fused


def random_windows(config: RCMCLConfig, present: np.ndarray, *, seed: int) -> dict[str, torch.Tensor]:
    """A batch of random windows of the contract, one per row of present (B, 3) bool: frames in [0, 1], depth
    0.5-4.5 m, a skeleton and a cloud about 2 m away. Absent slots hold random values too (forward ignores them)."""
    g = torch.Generator().manual_seed(seed)
    b = len(present)
    shapes = clip_shapes(config)
    skeleton = torch.zeros(b, *shapes["skeleton"])
    skeleton[:, :, 0] = torch.rand(b, shapes["skeleton"][0], shapes["skeleton"][2], 3, generator=g) + torch.tensor(
        [-0.5, -0.8, 1.5])
    return {"rgb": torch.rand(b, *shapes["rgb"], generator=g),
            "depth": 0.5 + 4.0 * torch.rand(b, *shapes["depth"], generator=g),
            "skeleton": skeleton,
            "points": torch.rand(b, *shapes["points"], generator=g) * 2.0 + torch.tensor([-1.0, -1.0, 1.0]),
            "present": torch.as_tensor(np.asarray(present, dtype=bool))}


def parity_batches(config: RCMCLConfig) -> list[dict[str, torch.Tensor]]:
    """The check's batches: each absent pattern alone (batch 1), all patterns in one batch, and a batch of 3
    with the node's people mix (all present, skeleton only, RGB-D absent)."""
    batches = [random_windows(config, np.array([pattern]), seed=i) for i, pattern in enumerate(ABSENT_PATTERNS)]
    batches.append(random_windows(config, np.array(ABSENT_PATTERNS), seed=100))
    batches.append(random_windows(config, np.array([[True, True, True], [False, True, False], [False, True, True]]),
                                  seed=101))
    return batches


def session_from_bytes(data: bytes, *, threads: int = 1) -> Any:
    """An onnxruntime CPU session of a serialised model (for the export's check)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def parity_error(model: RCMCL, session: Any, batches: list[dict[str, torch.Tensor]]) -> tuple[float, float]:
    """(max |Δ| on scores, max |Δ| on gates) of the session against the eager forward() over the batches."""
    scores_error = gates_error = 0.0
    for batch in batches:
        with torch.inference_mode():
            eager = model(dict(batch))
        out = session.run(list(OUTPUT_NAMES[:2]), {k: batch[k].numpy() for k in INPUT_NAMES})
        scores = torch.softmax(torch.from_numpy(out[0]), dim=1)
        scores_error = max(scores_error, float((scores - torch.softmax(eager.logits, dim=1)).abs().max()))
        gates_error = max(gates_error, float((torch.from_numpy(out[1]) - eager.gates).abs().max()))
    return scores_error, gates_error


@dataclass
class ExportReport:
    path: Path
    nbytes: int
    nodes: int
    opset: int
    scores_error: float
    gates_error: float
    windows_checked: int
    seconds: float


def export_onnx(model: RCMCL, *, labels: list[str], path: str | Path, opset: int = DEFAULT_OPSET) -> ExportReport:
    """Export `model` (eval, CPU) to `path` with its metadata, after the parity check. Raises OnnxExportError
    (nothing written) when the export fails or the check exceeds PARITY_ATOL."""
    import importlib.util
    import time

    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise OnnxExportError(f"export to ONNX needs {', '.join(missing)}: pip install onnx onnxscript onnxruntime "
                              "(requirements.txt has them)")
    import onnx

    if opset < DEFAULT_OPSET:
        raise OnnxExportError(f"opset {opset} is too old: the exporter needs >= {DEFAULT_OPSET}")
    started = time.perf_counter()
    model = model.eval()
    example = random_windows(model.config, np.array([[True, True, True], [True, False, True]]), seed=7)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)   # the example has B = 2: B = 1 would be baked in
    quiet = logging.getLogger("torch.onnx._internal.exporter._registration")   # "torchvision is not installed"
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(_Masked(model), tuple(example[k] for k in INPUT_NAMES), dynamo=True,
                                        opset_version=opset, input_names=list(INPUT_NAMES),
                                        output_names=list(OUTPUT_NAMES), verbose=False,
                                        dynamic_shapes={k: {0: batch} for k in INPUT_NAMES})
        buffer = io.BytesIO()
        program.save(buffer)
    except Exception as error:  # the exporter's own errors are many kinds; name it and write nothing
        raise OnnxExportError(f"torch.onnx.export failed: {type(error).__name__}: {error}") from error
    finally:
        quiet.setLevel(level)
    proto = onnx.load_from_string(buffer.getvalue())
    for key, value in expected_metadata(model.config, labels, model.state_dict()).items():
        proto.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    data = proto.SerializeToString()
    batches = parity_batches(model.config)
    scores_error, gates_error = parity_error(model, session_from_bytes(data), batches)
    if not (scores_error <= PARITY_ATOL and gates_error <= PARITY_ATOL):
        raise OnnxExportError(f"the ONNX model differs from the eager model by {scores_error:.2e} on scores and "
                              f"{gates_error:.2e} on gates (> {PARITY_ATOL}); not written")
    path = Path(path)
    atomic_write_bytes(path, data)
    return ExportReport(path=path, nbytes=len(data), nodes=len(proto.graph.node), opset=opset,
                        scores_error=scores_error, gates_error=gates_error,
                        windows_checked=sum(len(b["present"]) for b in batches),
                        seconds=time.perf_counter() - started)


def read_metadata(path: str | Path) -> dict[str, str]:
    """metadata_props of an ONNX file (reads the whole model; onnxruntime's session has them too)."""
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
