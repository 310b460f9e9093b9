"""Linear probe (paper Sec. IV-A-2-b): encoders and AMG frozen, a linear classifier on Z_fusion.

With frozen encoders each modality's feature Z_M of a clip is fixed, and modality dropout only removes rows
of z (Eq.5 sums over present modalities), so the features are computed once per clip view and the 50
probe epochs run on the cache: the same result as re-encoding every epoch, minutes faster on a CPU.
Training-time dropout patterns are drawn per step so the classifier learns every subset of modalities.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from rcmcl_core.checkpoint import save_checkpoint
from rcmcl_core.config import RCMCLConfig
from rcmcl_core.training.curves import CURVES, CurveLog, summarise_terms
from rcmcl_core.data.dataset import collate
from rcmcl_core.models.rcmcl import RCMCL


@dataclass
class FeatureCache:
    """z: (V*C, 3, D) frozen encoder features of V views of C clips; present: (V*C, 3); label: (V*C,)."""

    z: torch.Tensor
    present: torch.Tensor
    label: torch.Tensor


@torch.no_grad()
def cache_features(model: RCMCL, dataset: Dataset, *, views: int, batch_size: int, device: torch.device,
                   progress: bool = True) -> FeatureCache:
    """Encode every clip `views` times (a different random window per view when the dataset trains)."""
    model.eval()
    zs, presents, labels = [], [], []
    for view in range(views):
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(view)
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
        for batch in tqdm(loader, desc=f"probe features {view + 1}/{views}", disable=not progress, leave=False):
            batch = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
            z, present = model.encode(batch)
            zs.append(z.cpu())
            presents.append(present.cpu())
            labels.append(batch["label"].cpu())
    return FeatureCache(torch.cat(zs), torch.cat(presents), torch.cat(labels))


def random_presence(present: torch.Tensor, *, probability: float, generator: torch.Generator) -> torch.Tensor:
    """(B, 3) bool -> same with, per sample and with `probability`, one or two present modalities removed;
    at least one present modality always stays."""
    batch = present.shape[0]
    drop = torch.rand(batch, generator=generator) < probability
    scores = torch.rand(batch, 3, generator=generator).masked_fill(~present, 2.0)     # absent ones never kept
    keep_count = torch.randint(1, 3, (batch,), generator=generator)                    # keep 1 or 2
    ranks = scores.argsort(dim=1).argsort(dim=1)
    kept = present & (ranks < keep_count[:, None])
    kept = torch.where(kept.any(dim=1, keepdim=True), kept, present)
    return torch.where(drop[:, None], kept, present)


def linear_probe(model: RCMCL, cache: FeatureCache, *, config: RCMCLConfig, epochs: int | None = None,
                 seed: int = 0, progress: bool = True, heldout: FeatureCache | None = None,
                 curves: CurveLog | None = None) -> list[float]:
    """Train model.classifier on cached features (in place). Returns the mean loss per epoch. With `curves`,
    each epoch appends its mean cross-entropy and (with `heldout` features) the clean held-out top-1."""
    steps_per_epoch = max(1, len(cache.label) // config.optim.batch_size)
    if epochs is None:
        epochs = max(config.optim.probe_epochs, math.ceil(config.optim.min_steps / steps_per_epoch))
    generator = torch.Generator().manual_seed(seed)
    classifier = model.classifier.cpu().train()
    gate = model.gate.cpu().eval()
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=config.optim.probe_lr,
                                  weight_decay=config.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    history = []
    for epoch in tqdm(range(epochs), desc="probe", disable=not progress):
        started = time.perf_counter()
        order = torch.randperm(len(cache.label), generator=generator)
        losses = []
        for start in range(0, steps_per_epoch * config.optim.batch_size, config.optim.batch_size):
            rows = order[start:start + config.optim.batch_size]
            present = random_presence(cache.present[rows], probability=config.augment.modality_dropout,
                                      generator=generator)
            with torch.no_grad():
                z = cache.z[rows]
                fused = model.fuse(z, model.gates(z, present), present)
            loss = F.cross_entropy(classifier(fused), cache.label[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
        history.append(sum(losses) / len(losses))
        if curves is not None:
            row = {"stage": "probe", "epoch": epoch, "step": (epoch + 1) * steps_per_epoch,
                   "lr": scheduler.get_last_lr()[0], "seconds": time.perf_counter() - started, "total": history[-1],
                   **summarise_terms({"ce": history[-1]}, {"ce": 1.0})}
            if heldout is not None:
                row["heldout_accuracy"], row["heldout_metric"] = _cached_accuracy(model, heldout), "top1"
            curves.append(row)
    del gate
    return history


@torch.no_grad()
def _cached_accuracy(model: RCMCL, cache: FeatureCache) -> float:
    """Top-1 (%) of the classifier on cached features with their own presence (clean held-out clips)."""
    was_training = model.classifier.training
    model.classifier.eval()
    fused = model.fuse(cache.z, model.gates(cache.z, cache.present), cache.present)
    correct = (model.classifier(fused).argmax(dim=1) == cache.label).float().mean()
    model.classifier.train(was_training)
    return 100.0 * float(correct)


def probe_stage(*, config: RCMCLConfig, model: RCMCL, dataset: Dataset, labels: Sequence[str], out_dir: Path,
                device: torch.device, views: int = 2, seed: int = 0, progress: bool = True,
                heldout: Dataset | None = None) -> Path:
    """Cache features, train the classifier, save `<out_dir>/probe.pt` (atomic). Returns its path.
    Per-epoch loss (and held-out top-1 with `heldout`) go to `<out_dir>/curves.jsonl` (a rerun starts it anew:
    the probe has no resume)."""
    torch.manual_seed(seed)
    model = model.to(device)
    cache = cache_features(model, dataset, views=views, batch_size=config.optim.batch_size, device=device,
                           progress=progress)
    heldout_cache = None if heldout is None else cache_features(
        model, heldout, views=1, batch_size=config.optim.batch_size, device=device, progress=progress)
    curves = CurveLog(Path(out_dir) / CURVES, keep_epochs=0)
    history = linear_probe(model.cpu(), cache, config=config, seed=seed, progress=progress,
                           heldout=heldout_cache, curves=curves)
    path = Path(out_dir) / "probe.pt"
    save_checkpoint(path, model_state=model.state_dict(), config=config, labels=list(labels),
                    metrics={"probe_final_loss": history[-1], "probe_epochs": len(history)})
    return path
