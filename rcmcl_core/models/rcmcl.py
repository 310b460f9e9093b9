"""The full RCMCL model: encode each present modality, project (H_M), gate (Eq.4), fuse (Eq.5), classify (C).

Batch contract (docs/ARCHITECTURE.md, "Tensor contracts"): a dict with rgb (B, T, 3, H, W) [0, 1],
depth (B, T, 1, H, W) metres, skeleton (B, T, M, 25, 3) metres, points (B, T, N, 3) metres and present (B, 3)
bool in MODALITIES order.
A modality's tensors may be missing or None when no sample has it. Absent samples never reach an encoder,
their z rows and gates are exactly 0, so garbage (NaN, huge values) in their slots changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from rcmcl_core.config import MODALITIES, RCMCLConfig
from rcmcl_core.models.gating import AdaptiveModalityGate, fuse, gate_weighted_mean, require_any_present
from rcmcl_core.models.heads import Classifier, ProjectionHead, SkeletonDecoder
from rcmcl_core.models.pointnet import PointEncoder
from rcmcl_core.models.rgbd import RGBDEncoder
from rcmcl_core.models.stgcn import SkeletonEncoder

INPUTS = {"rgbd": ("rgb", "depth"), "skeleton": ("skeleton",), "points": ("points",)}
"""Batch keys each modality's encoder reads, in its forward's argument order."""
INPUT_DTYPE = torch.float32


@dataclass
class Output:
    """logits (B, K); gates (B, 3), exactly 0 for absent modalities; z (B, 3, D) with absent rows exactly 0;
    fused (B, D) = Eq.5 over present modalities."""

    logits: torch.Tensor
    gates: torch.Tensor
    z: torch.Tensor
    fused: torch.Tensor


class RCMCL(nn.Module):
    """Three encoders (E_R, E_S, E_P) -> Z (B, 3, D); AMG gates; gate-weighted fusion; linear classifier."""

    def __init__(self, *, config: RCMCLConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        d = config.model.feature_dim
        self.encoders = nn.ModuleDict({
            "rgbd": RGBDEncoder(config=config.rgbd, clip=config.clip, feature_dim=d),
            "skeleton": SkeletonEncoder(config=config.skeleton, clip=config.clip, feature_dim=d),
            "points": PointEncoder(config=config.points, clip=config.clip, feature_dim=d),
        })
        self.projections = nn.ModuleDict({
            m: ProjectionHead(in_dim=d, hidden_dim=config.model.projection_hidden, out_dim=config.model.projection_dim)
            for m in MODALITIES})
        self.gate = AdaptiveModalityGate(feature_dim=d, num_modalities=len(MODALITIES), mode=config.model.gate_mode)
        self.classifier = Classifier(in_dim=d, num_classes=config.model.num_classes)
        self.skeleton_decoder = SkeletonDecoder(feature_dim=d, hidden_dim=config.model.decoder_hidden,
                                                clip=config.clip)

    # -- batch checking ---------------------------------------------------------------------------
    def expected_shapes(self, batch_size: int) -> dict[str, tuple[int, ...]]:
        """Shape of every input tensor for `batch_size` samples under this model's clip config."""
        c = self.config.clip
        return {
            "rgb": (batch_size, c.frames, 3, c.image_size, c.image_size),
            "depth": (batch_size, c.frames, 1, c.image_size, c.image_size),
            "skeleton": (batch_size, c.frames, c.max_bodies, c.num_joints, 3),
            "points": (batch_size, c.frames, c.num_points, 3),
        }

    def validate_batch(self, batch: Mapping[str, Any]) -> None:
        """Raise ValueError naming the tensor, its expected shape/dtype/device and what came."""
        device = next(self.parameters()).device
        present = batch.get("present")
        if not isinstance(present, torch.Tensor) or present.dtype != torch.bool or present.dim() != 2 \
                or present.shape[1] != len(MODALITIES):
            got = (f"{tuple(present.shape)} {present.dtype}" if isinstance(present, torch.Tensor)
                   else type(present).__name__)
            raise ValueError(f"present must be a (B, {len(MODALITIES)}) torch.bool tensor in order "
                             f"{MODALITIES}, got {got}")
        _check_device("present", present, device)
        shapes = self.expected_shapes(present.shape[0])
        for m, modality in enumerate(MODALITIES):
            needed = bool(present[:, m].any())
            for key in INPUTS[modality]:
                tensor = batch.get(key)
                if tensor is None and not needed:
                    continue
                expected = f"shape {shapes[key]} {INPUT_DTYPE}"
                if not isinstance(tensor, torch.Tensor):
                    raise ValueError(f"{key} must be a tensor of {expected} (present[:, {m}] marks {modality} "
                                     f"present), got {type(tensor).__name__}")
                if tuple(tensor.shape) != shapes[key] or tensor.dtype != INPUT_DTYPE:
                    raise ValueError(f"{key} must have {expected}, got {tuple(tensor.shape)} {tensor.dtype}")
                _check_device(key, tensor, device)

    # -- the model ----------------------------------------------------------------------------------
    def encode(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (z (B, 3, D), present (B, 3) bool). Runs an encoder only on the samples where its modality is
        present (so garbage cannot leak and BatchNorm statistics see real inputs only); other rows are 0."""
        present = batch["present"]
        b = present.shape[0]
        rows: dict[str, torch.Tensor] = {}
        for m, modality in enumerate(MODALITIES):
            mask = present[:, m]
            if not bool(mask.any()):
                continue
            inputs = [batch[key] for key in INPUTS[modality]]
            if bool(mask.all()):
                rows[modality] = self.encoders[modality](*inputs)
                continue
            index = mask.nonzero().squeeze(1)
            z_m = self.encoders[modality](*(x.index_select(0, index) for x in inputs))
            rows[modality] = z_m.new_zeros(b, z_m.shape[1]).index_copy(0, index, z_m)
        if not rows:
            raise ValueError("no modality present in any sample of the batch")
        # Zeros take the encoders' output dtype (bf16 under autocast) so the stack does not mix dtypes.
        like = next(iter(rows.values()))
        return torch.stack([rows.get(m, torch.zeros_like(like)) for m in MODALITIES], dim=1), present

    def project(self, z: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, 3, D) -> h (B, 3, P) via H_M. With `present` (B, 3) bool, absent rows skip the head (they
        stay out of its BatchNorm statistics) and come out exactly 0."""
        rows = []
        for m, modality in enumerate(MODALITIES):
            head = self.projections[modality]
            if present is None or bool(present[:, m].all()):
                rows.append(head(z[:, m]))
                continue
            index = present[:, m].nonzero().squeeze(1)
            if index.numel() == 0:
                rows.append(z.new_zeros(z.shape[0], self.config.model.projection_dim))
                continue
            if index.numel() == 1 and head.training:
                # BatchNorm cannot train on one row: project the whole batch (absent rows of z are 0) and mask.
                h_all = head(z[:, m])
                rows.append(torch.where(present[:, m, None], h_all, torch.zeros_like(h_all)))
                continue
            h_present = head(z[index, m])
            rows.append(h_present.new_zeros(z.shape[0], h_present.shape[1]).index_copy(0, index, h_present))
        return torch.stack(rows, dim=1)

    def gates(self, z: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """(B, 3): Eq.4 for present modalities ('amg') or 1 ('average'); exactly 0 where absent."""
        if self.config.model.fusion == "average":
            return present.to(z.dtype)
        raw = self.gate(z)
        return torch.where(present, raw, torch.zeros_like(raw))

    def fuse(self, z: torch.Tensor, gates: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Eq.5 over present modalities: (B, 3, D), (B, 3), (B, 3) -> (B, D)."""
        return fuse(z, gates, present, eps=self.config.model.gate_eps)

    def forward(self, batch: Mapping[str, Any]) -> Output:
        self.validate_batch(batch)
        require_any_present(batch["present"])  # before any encoder runs
        z, present = self.encode(batch)
        gates = self.gates(z, present)
        fused = self.fuse(z, gates, present)
        return Output(logits=self.classifier(fused), gates=gates, z=z, fused=fused)

    def forward_all_present(self, batch: Mapping[str, torch.Tensor]) -> Output:
        """forward() for a batch in which every sample has all three modalities, without forward()'s checks
        and presence branches (they read tensors back to the host): one static graph that a CUDA graph can
        capture and torch.compile can take whole. The caller guarantees presence and shapes; the result
        equals forward()'s."""
        z = torch.stack([self.encoders[m](*(batch[key] for key in INPUTS[m])) for m in MODALITIES], dim=1)
        gates = self.gates(z, torch.ones(z.shape[:2], dtype=torch.bool, device=z.device))
        fused = gate_weighted_mean(z, gates, eps=self.config.model.gate_eps)
        return Output(logits=self.classifier(fused), gates=gates, z=z, fused=fused)

    def forward_masked(self, batch: Mapping[str, torch.Tensor]) -> Output:
        """forward() as one fixed graph for export (ONNX): every encoder runs on every sample and absent rows
        are then replaced by exact zeros with torch.where (never multiplied, so NaN in an absent slot cannot
        leak), gates are 0 where absent and Eq.5 runs over the present rows. Nothing reads a tensor back to
        the host, so the presence mask (B, 3) bool is a graph input. Every input tensor must be given (zeros
        where absent). Equal to forward() in eval mode: each sample's encoders see only that sample (eval
        BatchNorm), and a sample with no modality present gets fused 0 and gates 0 instead of an error."""
        present = batch["present"]
        z = torch.stack([self.encoders[m](*(batch[key] for key in INPUTS[m])) for m in MODALITIES], dim=1)
        z = torch.where(present[..., None], z, torch.zeros_like(z))
        gates = self.gates(z, present)
        fused = gate_weighted_mean(z, gates, eps=self.config.model.gate_eps)
        return Output(logits=self.classifier(fused), gates=gates, z=z, fused=fused)

    def reconstruct_skeleton(self, z_skeleton: torch.Tensor) -> torch.Tensor:
        """D_S (Eq.3): (B, D) -> (B, T, M, 25, 3) in the skeleton encoder's centred frame."""
        return self.skeleton_decoder(z_skeleton)


def _check_device(name: str, tensor: torch.Tensor, device: torch.device) -> None:
    same = tensor.device.type == device.type and (
        tensor.device.index is None or device.index is None or tensor.device.index == device.index)
    if not same:
        raise ValueError(f"{name} is on {tensor.device} but the model is on {device}")
