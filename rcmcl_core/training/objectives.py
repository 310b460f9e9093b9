"""Training objectives as modules, so DistributedDataParallel can wrap them whole.

`PretrainObjective` is Eq.6 plus the fusion term that trains AMG during pretraining; `SupervisedObjective`
is cross-entropy on the gate-fused logits (probe and fine-tuning), plus loss.lambda_subset times the same over
every modality subset (subset_loss.py). Both apply the training-time
degradations themselves, so a batch straight from the Dataset goes in and loss terms come out.

Why a fusion term: the paper trains AMG "using the overall loss signal" in pretraining (Sec. III-D) and
its Fig. 1 names a fusion loss, but Eq.1-3 never touch the gates, so they would get no gradient. We make
the signal explicit: InfoNCE (Eq.1 form) between the AMG-fused features of two views that suffered
independent modality dropout and corruption. Gates that favour the modalities which still identify the
clip make the two fused features agree, which is what reliability means here. Weight `lambda_fusion`.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

import rcmcl_core.augment.batch as augment
from rcmcl_core.augment.bystander import add_bystander
from rcmcl_core.augment.views import uniform
from rcmcl_core.config import RCMCLConfig
from rcmcl_core.training.gate_target import evidence_target, gate_target_loss
from rcmcl_core.training.subset_loss import subset_cross_entropy
from rcmcl_core.training.losses import cross_modal_loss, degradation_loss, info_nce_pair, intra_modal_loss
from rcmcl_core.models.rcmcl import RCMCL
from rcmcl_core.models.stgcn import centre_skeleton
from rcmcl_core.augment.sensor_faults import sample_faults

SKELETON = 1  # index of the skeleton in the modality order (rgbd, skeleton, points)


def degrade_for_training(batch: dict, *, config: RCMCLConfig, generator: torch.Generator) -> dict:
    """Per sample: random modality dropout (never all three), then with probability
    augment.fault_probability one sensor fault of sensor_faults.FAULTS at a U(0, 1) severity, so AMG sees
    every kind of unreliable input. With gate_mode 'aux_target', a share augment.blank_dropout of the dropped
    modalities stay marked present with their zeroed input (a sensor delivering nothing), so the gate sees
    them and gate_target teaches it their weight (masked dropout gives the gate no gradient)."""
    degraded = augment.random_modality_dropout(batch, probability=config.augment.modality_dropout,
                                               generator=generator)
    if config.model.gate_mode == "aux_target" and config.augment.blank_dropout > 0:
        dropped = batch["present"] & ~degraded["present"]
        draw = uniform(tuple(dropped.shape), 0.0, 1.0, generator=generator, device=dropped.device)
        degraded["present"] = degraded["present"] | (dropped & (draw < config.augment.blank_dropout))
    degraded, _ = sample_faults(degraded, probability=config.augment.fault_probability, generator=generator)
    return degraded


def reliability_loss(model: RCMCL, clean: dict, z: torch.Tensor, present: torch.Tensor, *,
                     config: RCMCLConfig, labels: torch.Tensor | None = None) -> torch.Tensor:
    """gate_mode 'aux_target' (beyond the paper): gate_target_loss of the gates on z (B, 3, D) against the
    features of `clean` (the batch before degrade_for_training), encoded without gradient. With labels and
    loss.gate_target 'movement_evidence', the target is also capped by the class evidence each modality kept."""
    with torch.no_grad():
        z_clean, _ = model.encode(clean)
    evidence = None
    if labels is not None and config.loss.gate_target == "movement_evidence":
        evidence = evidence_target(model.classifier, z.detach(), z_clean, labels)
    return gate_target_loss(model.gate(z), z, z_clean, present, scale=config.loss.gate_aux_scale, evidence=evidence)


class PretrainObjective(nn.Module):
    """Self-supervised loss of one batch: lambda_CM L_CM + lambda_IM L_IM + lambda_deg L_deg (Eq.6)
    + lambda_fusion L_fusion. forward(batch, generator) -> dict of scalar tensors ('total' first)."""

    def __init__(self, *, model: RCMCL, config: RCMCLConfig) -> None:
        super().__init__()
        self.model = model
        self.config = config

    def forward(self, batch: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
        loss_config, aug = self.config.loss, self.config.augment
        batch = add_bystander(batch, probability=aug.bystander, generator=generator)   # part of the scene
        view1, view2 = augment.make_views(batch, config=aug, generator=generator)
        degraded1 = degrade_for_training(view1, config=self.config, generator=generator)
        degraded2 = degrade_for_training(view2, config=self.config, generator=generator)
        z1, present1 = self.model.encode(degraded1)
        z2, present2 = self.model.encode(degraded2)
        h1, h2 = self.model.project(z1, present1), self.model.project(z2, present2)

        cm1, _ = cross_modal_loss(h1, present1, temperature=loss_config.temperature)
        cm2, _ = cross_modal_loss(h2, present2, temperature=loss_config.temperature)
        l_cm = 0.5 * (cm1 + cm2)                                               # Eq.1, both views
        l_im, _ = intra_modal_loss(h1, h2, present1 & present2,               # Eq.2
                                   offdiag_weight=loss_config.barlow_offdiag)
        if loss_config.im_per_dimension:
            # Eq.2 sums over P dimensions (146 at P=64 at the start here, against ~12 for L_CM), which would
            # make lambda_IM = 0.5 dominate Eq.6; per dimension it is O(1) like the other terms.
            l_im = l_im / h1.shape[-1]
        l_deg = self._degradation(batch, generator)                           # Eq.3
        fused1 = self.model.fuse(z1, self.model.gates(z1, present1), present1)
        fused2 = self.model.fuse(z2, self.model.gates(z2, present2), present2)
        l_fusion = info_nce_pair(fused1, fused2, temperature=loss_config.temperature)
        total = (loss_config.lambda_cm * l_cm + loss_config.lambda_im * l_im
                 + loss_config.lambda_deg * l_deg + loss_config.lambda_fusion * l_fusion)   # Eq.6 + fusion
        terms = {"cm": l_cm.detach(), "im": l_im.detach(), "deg": l_deg.detach(), "fusion": l_fusion.detach()}
        if self.config.model.gate_mode == "aux_target":
            l_gate = 0.5 * (reliability_loss(self.model, view1, z1, present1, config=self.config)
                            + reliability_loss(self.model, view2, z2, present2, config=self.config))
            total = total + loss_config.lambda_gate_aux * l_gate
            terms["gate"] = l_gate.detach()
        return {"total": total, **terms}

    def _degradation(self, batch: dict, generator: torch.Generator) -> torch.Tensor:
        """Eq.3: encode a joint/frame-masked skeleton, decode, compare with the clean centred skeleton."""
        present = batch["present"][:, SKELETON]
        if not bool(present.any()):
            return self.model.skeleton_decoder.parameters().__next__().sum() * 0.0
        skeleton = batch["skeleton"][present]
        masked, _ = augment.mask_skeleton(skeleton, joint_fraction=self.config.augment.deg_joint_mask,
                                          frame_fraction=self.config.augment.deg_frame_mask, generator=generator)
        reconstruction = self.model.reconstruct_skeleton(self.model.encoders["skeleton"](masked))
        target, tracked = centre_skeleton(skeleton)
        return degradation_loss(reconstruction, target, valid=tracked, reduction=self.config.loss.deg_reduction)


class SupervisedObjective(nn.Module):
    """Cross-entropy on C(Z_fusion) after training-time degradation. forward(batch, generator) ->
    {'total', 'ce', 'accuracy'}. With `frozen_backbone`, encoders/projections/gate run in eval mode
    without gradient (the paper's linear probe); only the classifier learns."""

    def __init__(self, *, model: RCMCL, config: RCMCLConfig, frozen_backbone: bool) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.frozen_backbone = frozen_backbone
        if frozen_backbone:
            for name, parameter in model.named_parameters():
                parameter.requires_grad_(name.startswith("classifier."))
        self.train()                        # applies the frozen-backbone mode rule below from the start

    def train(self, mode: bool = True) -> "SupervisedObjective":
        super().train(mode)
        if self.frozen_backbone:            # BN statistics stay those of pretraining
            self.model.eval()
            self.model.classifier.train(mode)
        return self

    def forward(self, batch: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
        batch = add_bystander(batch, probability=self.config.augment.bystander, generator=generator)
        degraded = degrade_for_training(batch, config=self.config, generator=generator)
        if self.frozen_backbone:
            with torch.no_grad():
                z, present = self.model.encode(degraded)
                gates = self.model.gates(z, present)
                fused = self.model.fuse(z, gates, present)
            logits = self.model.classifier(fused)
        else:
            output = self.model(degraded)
            logits, z, gates, present = output.logits, output.z, output.gates, degraded["present"]
        ce = F.cross_entropy(logits, batch["label"])
        accuracy = (logits.argmax(dim=1) == batch["label"]).float().mean()
        result = {"total": ce, "ce": ce.detach(), "accuracy": accuracy.detach()}
        if self.config.loss.lambda_subset > 0:
            l_subset = subset_cross_entropy(self.model.classifier, z, gates, present, batch["label"],
                                            eps=self.config.model.gate_eps)
            result["total"] = result["total"] + self.config.loss.lambda_subset * l_subset
            result["subset"] = l_subset.detach()
        if self.config.model.gate_mode == "aux_target" and not self.frozen_backbone:
            l_gate = reliability_loss(self.model, batch, z, present, config=self.config, labels=batch["label"])
            result["total"] = result["total"] + self.config.loss.lambda_gate_aux * l_gate
            result["gate"] = l_gate.detach()
        return result
