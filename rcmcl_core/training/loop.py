"""Training loops: self-supervised pretraining (Eq.6), linear probe and full fine-tuning.

One loop serves the three stages; they differ in the objective and in which parameters learn.
Nothing is lost: `last.pt` is written atomically every `checkpoint_every` steps and at each epoch end, and
`resume=True` continues from it exactly (same step, optimiser and scheduler state, augmentation RNG and
data order, skipping the batches of the interrupted epoch already seen). Every step appends a row to
`metrics.csv`; rows past the checkpoint are dropped on resume so the file never double-counts. Every
finished epoch appends its mean loss terms, their weighted shares and (with `heldout`) the held-out
accuracy to `curves.jsonl` (rcmcl_core/training/curves.py), before the epoch's checkpoint, so a resumed run has
each epoch once.
"""
from __future__ import annotations

import csv
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal, Sequence

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from rcmcl_core.training.baselines import CMKMObjective
from rcmcl_core.checkpoint import load_checkpoint, save_checkpoint
from rcmcl_core.config import RCMCLConfig
from rcmcl_core.training.curves import CURVES, CurveLog, epoch_means, summarise_terms, term_weights
from rcmcl_core.data.dataset import collate
from rcmcl_core.data.shards import ShardError
from rcmcl_core.training.distributed import World, average_buffers, barrier, init_world
from rcmcl_core.training.heldout import classifier_accuracy, knn_accuracy
from rcmcl_core.models.rcmcl import RCMCL
from rcmcl_core.training.objectives import PretrainObjective, SupervisedObjective

Stage = Literal["pretrain", "probe", "finetune"]
STAGES = ("pretrain", "probe", "finetune")
LAST = "last.pt"
METRICS = "metrics.csv"


@dataclass
class StageResult:
    """What a finished stage leaves behind."""

    checkpoint: Path          # <out>/<stage>.pt, the final weights with metrics
    metrics_csv: Path
    steps: int
    seconds: float
    final_loss: float
    model: RCMCL | None = None   # the trained model of this process (each rank's replica under DDP)


def stage_epochs(config: RCMCLConfig, stage: Stage) -> int:
    return {"pretrain": config.optim.pretrain_epochs, "probe": config.optim.probe_epochs,
            "finetune": config.optim.finetune_epochs}[stage]


def warmup_cosine(*, total_steps: int, warmup_steps: int):
    """LR multiplier: linear warm-up from ~0 to 1 over warmup_steps, then cosine decay to 0 at total_steps."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return factor


def epoch_batches(*, num_items: int, batch_size: int, seed: int, epoch: int, world: World) -> list[list[int]]:
    """This rank's batches for `epoch`: a permutation fixed by (seed, epoch), split evenly across ranks,
    cut into full batches (contrastive losses need full batches; the tail is dropped)."""
    order = np.random.default_rng([seed, epoch]).permutation(num_items)
    per_rank = num_items // world.size
    mine = order[world.rank * per_rank:(world.rank + 1) * per_rank]
    usable = len(mine) - len(mine) % batch_size
    return [mine[i:i + batch_size].tolist() for i in range(0, usable, batch_size)]


HEAD = "classifier."
"""State-dict prefix of the classifier, the one part a checkpoint for another class set leaves out."""


def build_model(config: RCMCLConfig, *, init_checkpoint: Path | None, device: torch.device,
                labels: Sequence[str] | None = None) -> RCMCL:
    """A fresh model, optionally with the weights of a checkpoint of the same architecture (e.g. pretrain.pt).
    A checkpoint trained on another number of classes gives everything but the classifier, which starts
    fresh (transfer to a new class set), except the rows of classes whose names are in both the checkpoint's
    labels and `labels` (a fine-tune that keeps the old classes: their rows move to their new positions);
    the log says so."""
    model = RCMCL(config=config)
    if init_checkpoint is not None:
        # Later stages may change the optimiser, augmentation or loss weights and the class count, never the
        # architecture.
        checkpoint = load_checkpoint(init_checkpoint, expected_config=config,
                                     ignore=("optim.", "augment.", "loss.", "model.num_classes:"))
        state = checkpoint.model_state
        if checkpoint.config.model.num_classes != config.model.num_classes:
            state = {k: v for k, v in state.items() if not k.startswith(HEAD)}
            head = {k: v.clone() for k, v in model.state_dict().items() if k.startswith(HEAD)}
            kept = _kept_rows(checkpoint.labels, list(labels or ()))
            for key, value in head.items():
                for old, new in kept:
                    value[new] = checkpoint.model_state[key][old]
            state.update(head)
            print(f"[rcmcl] {init_checkpoint}: {checkpoint.config.model.num_classes} classes there, "
                  f"{config.model.num_classes} here: encoders and gate loaded, classifier new"
                  + (f" but for the {len(kept)} classes kept" if kept else ""), file=sys.stderr)
        model.load_state_dict(state)
    return model.to(device)


def _kept_rows(old_labels: Sequence[str], new_labels: Sequence[str]) -> list[tuple[int, int]]:
    """(row in the old head, row in the new head) of every class name in both."""
    position = {name: i for i, name in enumerate(new_labels)}
    return [(i, position[name]) for i, name in enumerate(old_labels) if name in position]


def stage_batch_size(config: RCMCLConfig, *, num_items: int, world: World) -> int:
    """optim.batch_size, or every clip of this rank when fewer (a few-label subset); at least 2."""
    return max(2, min(config.optim.batch_size, num_items // world.size))


def stage_length(config: RCMCLConfig, stage: Stage, *, steps_per_epoch: int) -> int:
    """Epochs of `stage`: its configured count, raised for probe and fine-tuning until the stage makes at
    least optim.min_steps optimiser steps (so a few-label subset gets as many updates as a larger one)."""
    epochs = stage_epochs(config, stage)
    if stage == "pretrain" or config.optim.min_steps <= 0:
        return epochs
    return max(epochs, math.ceil(config.optim.min_steps / max(1, steps_per_epoch)))


def _remove_stale_temp_files(out_dir: Path) -> None:
    """Delete `.NAME.*.tmp` files that a killed run (SIGKILL mid-save) left behind; the files they were
    meant to replace are intact because saves are atomic renames."""
    stale = sorted(out_dir.glob(".*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        print(f"[rcmcl] removed {len(stale)} temp file(s) left by an interrupted save in {out_dir}", file=sys.stderr)


def train_stage(*, stage: Stage, config: RCMCLConfig, dataset: Dataset, labels: Sequence[str], out_dir: Path,
                device: str = "auto", seed: int = 0, init_checkpoint: Path | None = None, resume: bool = False,
                checkpoint_every: int = 50, progress: bool = True, max_steps: int | None = None,
                method: Literal["rcmcl", "cmkm"] = "rcmcl", heldout: Dataset | None = None) -> StageResult:
    """Run one stage to completion (or to `max_steps` total steps, for tests and kill/resume drills).
    `method` picks the pretraining objective: RCMCL (Eq.6) or the CMC-CMKM baseline. `heldout`: clips
    whose accuracy goes into curves.jsonl after each epoch (classifier top-1; kNN top-1 when pretraining)."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    world = init_world(device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = build_model(config, init_checkpoint=init_checkpoint, device=world.device, labels=labels)
    objective: torch.nn.Module
    if stage == "pretrain" and method == "cmkm":
        objective = CMKMObjective(model=model, config=config)
    elif stage == "pretrain":
        objective = PretrainObjective(model=model, config=config)
    else:
        objective = SupervisedObjective(model=model, config=config, frozen_backbone=(stage == "probe"))
    trainable = [p for p in objective.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.optim.lr, weight_decay=config.optim.weight_decay)
    batch_size = stage_batch_size(config, num_items=len(dataset), world=world) if stage != "pretrain" \
        else config.optim.batch_size
    steps_per_epoch = len(epoch_batches(num_items=len(dataset), batch_size=batch_size, seed=seed,
                                        epoch=0, world=world))
    if steps_per_epoch == 0:
        raise ValueError(f"{len(dataset)} clips cannot fill one batch of {batch_size} per rank "
                         f"({world.size} ranks); lower optim.batch_size")
    epochs = stage_length(config, stage, steps_per_epoch=steps_per_epoch)
    total_steps = epochs * steps_per_epoch
    warmup = config.optim.warmup_epochs * steps_per_epoch if stage == "pretrain" else 0
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total_steps=total_steps,
                                                                           warmup_steps=warmup))
    generator = torch.Generator().manual_seed(seed * 1000 + world.rank)
    position = {"epoch": 0, "batch": 0, "step": 0}
    if world.is_main:
        _remove_stale_temp_files(out_dir)
    if resume and (out_dir / LAST).is_file():
        position = _restore(out_dir / LAST, stage=stage, config=config, model=model, optimizer=optimizer,
                            scheduler=scheduler, generator=generator)
    metrics = _MetricsLog(out_dir / METRICS, keep_until_step=position["step"], enabled=world.is_main)
    curves = CurveLog(out_dir / CURVES, keep_epochs=position["epoch"], enabled=world.is_main)
    runner = DistributedDataParallel(objective, find_unused_parameters=True) if world.distributed else objective
    use_amp = world.device.type == "cuda" and config.optim.amp

    started, last_loss = time.perf_counter(), float("nan")
    bar = tqdm(total=total_steps, initial=position["step"], desc=stage, disable=not (progress and world.is_main),
               dynamic_ncols=True)
    runner.train()
    for epoch in range(position["epoch"], epochs):
        epoch_started = time.perf_counter()
        batches = epoch_batches(num_items=len(dataset), batch_size=batch_size, seed=seed, epoch=epoch,
                                world=world)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        first = position["batch"] if epoch == position["epoch"] else 0
        for batch_index, batch in enumerate(_load(dataset, batches[first:], config), start=first):
            batch = _to_device(batch, world.device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                terms = runner(batch, generator)
            optimizer.zero_grad(set_to_none=True)
            terms["total"].backward()
            if config.optim.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(trainable, config.optim.grad_clip)
            optimizer.step()
            scheduler.step()
            position = {"epoch": epoch, "batch": batch_index + 1, "step": position["step"] + 1}
            last_loss = float(terms["total"].detach())
            row = {k: float(v.detach()) for k, v in terms.items()}
            metrics.append(stage=stage, epoch=epoch, step=position["step"], lr=scheduler.get_last_lr()[0], **row)
            bar.update(1)
            bar.set_postfix({k: f"{v:.3f}" for k, v in row.items()})
            if position["step"] % checkpoint_every == 0:
                _save_last(out_dir, world, stage, config, labels, model, optimizer, scheduler, generator, position,
                           seed)
            if max_steps is not None and position["step"] >= max_steps:
                bar.close()
                _save_last(out_dir, world, stage, config, labels, model, optimizer, scheduler, generator,
                           position, seed)
                return StageResult(out_dir / LAST, metrics.path, position["step"], time.perf_counter() - started,
                                   last_loss, model)
        position = {"epoch": epoch + 1, "batch": 0, "step": position["step"]}
        average_buffers(model, world)
        if world.is_main:
            curves.append(_curve_row(stage, epoch, position["step"], scheduler.get_last_lr()[0], config, metrics.path,
                                     time.perf_counter() - epoch_started, model=model, train=dataset,
                                     heldout=heldout, device=world.device))
        _save_last(out_dir, world, stage, config, labels, model, optimizer, scheduler, generator, position, seed)
    bar.close()
    final = out_dir / f"{stage}.pt"
    if world.is_main:
        save_checkpoint(final, model_state=model.state_dict(), config=config, labels=list(labels),
                        metrics={"final_loss": last_loss, "steps": position["step"]})
    barrier(world)
    return StageResult(final, metrics.path, position["step"], time.perf_counter() - started, last_loss, model)


def _curve_row(stage: str, epoch: int, step: int, lr: float, config: RCMCLConfig, metrics_csv: Path,
               seconds: float, *, model: RCMCL, train: Dataset, heldout: Dataset | None,
               device: torch.device) -> dict:
    """One curves.jsonl row: epoch means of the terms of metrics.csv, weighted shares, held-out accuracy."""
    means = epoch_means(metrics_csv, epoch=epoch)
    terms = {k: v for k, v in means.items() if k not in ("lr", "total", "accuracy")}
    row = {"stage": stage, "epoch": epoch, "step": step, "lr": lr, "seconds": seconds,
           "total": means.get("total", float("nan")), **summarise_terms(terms, term_weights(config, terms))}
    if "accuracy" in means:
        row["train_accuracy"] = 100.0 * means["accuracy"]
    if heldout is not None:
        batch_size = config.optim.batch_size
        row["heldout_accuracy"] = (
            knn_accuracy(model, train, heldout, batch_size=batch_size, device=device,
                         num_classes=config.model.num_classes) if stage == "pretrain"
            else classifier_accuracy(model, heldout, batch_size=batch_size, device=device))
        row["heldout_metric"] = "knn_top1" if stage == "pretrain" else "top1"
    return row


def _load(dataset: Dataset, batches: list[list[int]], config: RCMCLConfig) -> Iterator[dict]:
    """Batches of `dataset`. A bad shard read by a DataLoader worker arrives as a ShardError whose message is
    the worker's whole traceback; it is re-raised with the original one-line message naming the file."""
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate, num_workers=config.optim.num_workers,
                        persistent_workers=False)
    try:
        yield from loader
    except ShardError as err:
        lines = [line for line in str(err).splitlines() if line.strip()]
        if len(lines) <= 1:
            raise
        raise ShardError(lines[-1].split("ShardError: ", 1)[-1]) from None


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def _save_last(out_dir: Path, world: World, stage: str, config: RCMCLConfig, labels: Sequence[str], model: RCMCL,
               optimizer, scheduler, generator: torch.Generator, position: dict, seed: int) -> None:
    if not world.is_main:
        return
    train_state = {"stage": stage, "seed": seed, "world_size": world.size, **position,
                   "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                   "generator": generator.get_state(), "torch_rng": torch.get_rng_state()}
    save_checkpoint(out_dir / LAST, model_state=model.state_dict(), config=config, labels=list(labels),
                    metrics={"step": position["step"]}, train_state=train_state)


SCHEDULE_LENGTHS = ("optim.pretrain_epochs:", "optim.finetune_epochs:", "optim.probe_epochs:")
"""Config lines a resumed run may change: extending or shortening a schedule is allowed, nothing else."""


def _restore(path: Path, *, stage: str, config: RCMCLConfig, model: RCMCL, optimizer, scheduler,
             generator: torch.Generator) -> dict:
    checkpoint = load_checkpoint(path, expected_config=config, ignore=SCHEDULE_LENGTHS)
    lengths = [line for line in checkpoint.config.diff(config) if line.startswith(SCHEDULE_LENGTHS)]
    if lengths:
        print(f"[rcmcl] resuming {path} with another schedule length (was != now: {'; '.join(lengths)}): "
              f"the learning rate follows the new schedule from step {checkpoint.train_state['step']}", file=sys.stderr)
    state = checkpoint.train_state or {}
    if state.get("stage") != stage:
        raise ValueError(f"cannot resume {stage} from {path}: it holds stage {state.get('stage')!r}; "
                         f"use another --out folder or drop --resume")
    model.load_state_dict(checkpoint.model_state)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    return {"epoch": int(state["epoch"]), "batch": int(state["batch"]), "step": int(state["step"])}


class _MetricsLog:
    """Append-only CSV of per-step terms; on resume keeps only rows up to the checkpoint's step."""

    def __init__(self, path: Path, *, keep_until_step: int, enabled: bool) -> None:
        self.path, self.enabled, self._fields = path, enabled, None
        if enabled and path.is_file():
            with path.open(newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= keep_until_step]
            with path.open("w", newline="") as handle:
                if rows:
                    writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                    writer.writeheader()
                    writer.writerows(rows)
                    self._fields = list(rows[0])
        elif enabled:
            path.write_text("")

    def append(self, **row) -> None:
        if not self.enabled:
            return
        with self.path.open("a", newline="") as handle:
            if self._fields is None:
                self._fields = list(row)
                csv.DictWriter(handle, fieldnames=self._fields).writeheader()
            csv.DictWriter(handle, fieldnames=self._fields, extrasaction="ignore").writerow(row)
