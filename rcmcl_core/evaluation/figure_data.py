"""What the result figures show, computed from a model: fused / per-modality features of test clips (Fig.6)
and the gates of sliding windows over a stream in which one modality drops out part-way (Fig.7).

The stream is a sequence of frames at a fixed rate, as a sensor would deliver them. `stream_from_dataset`
builds one by laying dataset items (each T frames over window_s seconds) end to end, so the frames are
exactly the preprocessed tensors the model is evaluated on. Windows over the stream follow the one
windowing rule of rcmcl_core/windowing.py that the ROS node uses too: T targets over window_s seconds; a
target is observed for a modality when the nearest frame that has the modality lies within max_gap_s; a
modality is present when at least `min_presence` of its targets are observed, and every target then takes
the nearest frame that has it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from rcmcl_core.config import MODALITIES
from rcmcl_core.data.dataset import collate
from rcmcl_core.models.rcmcl import INPUTS, RCMCL
from rcmcl_core.windowing import MAX_GAP_S, MIN_PRESENCE, coverage, is_present, nearest_frame_indices, window_times


@dataclass
class Features:
    """fused (N, D) Eq.5 features; z (N, 3, D) per-modality features (absent rows 0); present (N, 3) bool;
    labels (N,) int64 ground truth; all float32 numpy on the CPU."""

    fused: np.ndarray
    z: np.ndarray
    present: np.ndarray
    labels: np.ndarray


@torch.no_grad()
def collect_features(model: RCMCL, dataset: Dataset, *, indices: Sequence[int] | None = None, batch_size: int = 32,
                     device: torch.device | str = "cpu", progress: bool = True) -> Features:
    """Run the model (eval mode) over dataset items `indices` (default all) and keep its features."""
    model = model.eval().to(device)
    subset = dataset if indices is None else Subset(dataset, list(indices))
    fused, z, present, labels = [], [], [], []
    for batch in tqdm(DataLoader(subset, batch_size=batch_size, collate_fn=collate), desc="features",
                      disable=not progress, leave=False):
        output = model(_to(batch, device))
        fused.append(output.fused.float().cpu())
        z.append(output.z.float().cpu())
        present.append(batch["present"])
        labels.append(batch["label"])
    if not fused:
        raise ValueError("no clips to embed (empty dataset or indices)")
    return Features(fused=torch.cat(fused).numpy(), z=torch.cat(z).numpy(), present=torch.cat(present).numpy(),
                    labels=torch.cat(labels).numpy())


@dataclass
class Stream:
    """Frames at `fps` frames per second. rgb (F, 3, S, S) [0, 1]; depth (F, 1, S, S) metres;
    skeleton (F, M, 25, 3) metres; points (F, N, 3) metres; observed (F, 3) bool: frame f has modality m;
    labels (F,) int64 action of each frame (-1 unknown)."""

    rgb: torch.Tensor
    depth: torch.Tensor
    skeleton: torch.Tensor
    points: torch.Tensor
    observed: torch.Tensor
    labels: torch.Tensor
    fps: float

    @property
    def duration_s(self) -> float:
        return len(self.labels) / self.fps


def stream_from_dataset(dataset: Dataset, indices: Sequence[int], *, window_s: float) -> Stream:
    """Items `indices` of a (non-training) ClipDataset laid end to end: each item's T frames span window_s
    seconds, so the stream runs at (T - 1) / window_s frames per second."""
    items = [dataset[i] for i in indices]
    if not items:
        raise ValueError("stream_from_dataset needs at least one item")
    frames = items[0]["rgb"].shape[0]
    return Stream(rgb=torch.cat([item["rgb"] for item in items]), depth=torch.cat([item["depth"] for item in items]),
                  skeleton=torch.cat([item["skeleton"] for item in items]),
                  points=torch.cat([item["points"] for item in items]),
                  observed=torch.cat([item["present"][None].expand(frames, 3) for item in items]),
                  labels=torch.cat([item["label"].expand(frames) for item in items]),
                  fps=(frames - 1) / window_s)


@dataclass
class GateTimeline:
    """Per window: times_s (W,) window centre, seconds from the stream start; gates (W, 3) (0 where the
    modality is absent, NaN-free); present (W, 3) bool; predicted (W,) int64 class (-1: nothing present);
    truth (W,) int64 label of the centre frame. dropped: (modality, t0_s, t1_s) or None."""

    times_s: np.ndarray
    gates: np.ndarray
    present: np.ndarray
    predicted: np.ndarray
    truth: np.ndarray
    dropped: tuple[str, float, float] | None


@torch.no_grad()
def gate_timeline_for_clip(model: RCMCL, stream: Stream, *, drop: tuple[str, float, float] | None = None,
                           stride_frames: int = 1, min_presence: float = MIN_PRESENCE,
                           max_gap_s: float = MAX_GAP_S, batch_size: int = 32,
                           device: torch.device | str = "cpu") -> GateTimeline:
    """Slide the model's window (clip.frames targets over clip.window_s) along `stream`, one window every
    `stride_frames` frames, and record gates and predictions.

    drop: (modality, t0_frac, t1_frac) removes `modality` (one of MODALITIES) from the frames in
    [t0_frac, t1_frac) of the stream's duration, as when a sensor stream dies mid-way (paper Fig.7)."""
    clip = model.config.clip
    observed = stream.observed.clone()
    dropped = None
    if drop is not None:
        modality, t0_frac, t1_frac = drop
        if modality not in MODALITIES or not 0.0 <= t0_frac < t1_frac <= 1.0:
            raise ValueError(f"drop must be (one of {MODALITIES}, t0_frac, t1_frac) with 0 <= t0 < t1 <= 1, "
                             f"got {drop}")
        dropped = (modality, t0_frac * stream.duration_s, t1_frac * stream.duration_s)
        frame_times = torch.arange(len(observed)) / stream.fps
        observed[(frame_times >= dropped[1]) & (frame_times < dropped[2]), MODALITIES.index(modality)] = False
    count = len(observed)
    first_end = int(np.ceil(clip.window_s * stream.fps - 1e-9))
    if first_end >= count or stride_frames < 1:
        raise ValueError(f"a stream of {count} frames at {stream.fps:.2f} fps is shorter than one "
                         f"{clip.window_s} s window (or stride_frames {stride_frames} < 1)")
    ends = np.arange(first_end, count, stride_frames)
    targets = np.stack([nearest_frame_indices(window_times(end / stream.fps, frames=clip.frames,
                                                           window_s=clip.window_s),
                                              fps=stream.fps, num_frames=count) for end in ends])   # (W, T)
    sources = _fill_sources(observed, torch.from_numpy(targets))                                      # (3, W, T)
    target_s = np.stack([window_times(end / stream.fps, frames=clip.frames, window_s=clip.window_s) for end in ends])
    distance_s = np.abs(sources.numpy() / stream.fps - target_s[None])                                # (3, W, T)
    having = observed.any(dim=0).numpy()[:, None]                                                     # (3, 1)
    present = torch.from_numpy(is_present(coverage(distance_s, max_gap_s=max_gap_s) * having,
                                          min_presence=min_presence).T.copy())                        # (W, 3)
    gates = torch.zeros(len(ends), 3)
    predicted = torch.full((len(ends),), -1, dtype=torch.long)
    model = model.eval().to(device)
    runnable = present.any(dim=1).nonzero().squeeze(1)
    for chunk in runnable.split(batch_size):
        batch = {"present": present[chunk]}
        for m, modality in enumerate(MODALITIES):
            for key in INPUTS[modality]:
                batch[key] = getattr(stream, key)[sources[m, chunk]]
        output = model(_to(batch, device))
        gates[chunk] = output.gates.float().cpu()
        predicted[chunk] = output.logits.argmax(dim=1).cpu()
    centre_s = ends / stream.fps - clip.window_s / 2
    truth = stream.labels[torch.from_numpy(nearest_frame_indices(centre_s, fps=stream.fps, num_frames=count))]
    return GateTimeline(times_s=centre_s, gates=gates.numpy(), present=present.numpy(), predicted=predicted.numpy(),
                        truth=truth.numpy(), dropped=dropped)


def _fill_sources(observed: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(F, 3) bool, (W, T) frame indices -> (3, W, T): per modality the nearest frame that has it (the
    target itself when observed; the target when the modality is never observed, then it is absent)."""
    frame = torch.arange(len(observed))
    sources = []
    for m in range(observed.shape[1]):
        having = observed[:, m].nonzero().squeeze(1)
        if len(having) == 0:
            sources.append(targets)
            continue
        right = torch.searchsorted(having, frame).clamp(max=len(having) - 1)
        left = (right - 1).clamp(min=0)
        left_closer = (frame - having[left]).abs() <= (having[right] - frame).abs()
        nearest = torch.where(left_closer, having[left], having[right])
        sources.append(nearest[targets])
    return torch.stack(sources)


def _to(batch: dict, device: torch.device | str) -> dict:
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
