"""Sliding windows of synced frames -> one model batch (B=1) + presence mask
(docs/ARCHITECTURE.md, "Sync and windowing").

A window is a span of sensor time, not a count of frames: T target times evenly spaced over
[t_end - window_s, t_end] (both ends included), and each modality takes its nearest real frame per target.
The model therefore sees the same clip duration whether the camera runs at 30, 15 or 5 fps. A target
counts as observed when a real frame lies within `max_gap_s` of it; a modality is present when at least
`min_presence` of its T targets are observed, and then every target (observed or not) is filled by the
nearest frame. Window ends lie on a grid of `stride_s` multiples of sensor time, so two recordings of the
same scene at different rates give the same target times.

Payloads are the per-frame arrays of `preprocess.py`: rgb (S, S, 3) uint8, depth (S, S) float32 metres
(0 = invalid), points (N, 3) float32 metres (NaN rows = no point), skeleton ((M, 25, 3) float32 metres,
(M,) bool valid). RGB-D needs both an rgb and a depth frame from the same synced set. Frames the sensor-health
rules rejected (`reject`, rcmcl_core.sensor_health) are not observed: a target whose nearest received frame
was rejected is unobserved, and a modality with more than max_rejected_fraction of such targets is absent.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import torch

from rcmcl_core.config import MODALITIES, ClipConfig
from rcmcl_core.sensor_health import HealthConfig, trusted
from rcmcl_core.windowing import (MAX_GAP_S, MIN_PRESENCE, STAMP_EPS_S, is_present, screened_coverage, went_back,
                                  window_times)


class WindowConfigError(ValueError):
    """A WindowConfig value is impossible; the message names it."""


@dataclass
class WindowConfig:
    """How synced sets become windows. The Pipeline sets `frames` and `window_s` from the checkpoint."""

    frames: int = ClipConfig.frames           # T targets per window
    window_s: float = ClipConfig.window_s     # seconds of sensor time spanned by the T targets
    stride_s: float = 0.1333         # seconds between window ends (a decision every 4 frames at 30 fps)
    min_presence: float = MIN_PRESENCE  # fraction of observed targets for a modality to count as present
    max_gap_s: float = MAX_GAP_S        # a target is observed when a real frame lies this close (5 fps -> 0.1 s)
    skeleton_needs_body: bool = True  # a skeleton frame without a tracked body observes nothing
    max_history: int = 2048          # frames kept per modality at most (bounds memory at absurd rates)

    def validate(self) -> "WindowConfig":
        checks = (
            (self.frames >= 2, f"window.frames must be >= 2, got {self.frames}"),
            (self.window_s > 0, f"window.window_s must be > 0 s, got {self.window_s}"),
            (self.stride_s > 0, f"window.stride_s must be > 0 s, got {self.stride_s}"),
            (0.0 < self.min_presence <= 1.0, f"window.min_presence must be in (0, 1], got {self.min_presence}"),
            (self.max_gap_s >= 0, f"window.max_gap_s must be >= 0 s, got {self.max_gap_s}"),
            (self.max_history >= self.frames, f"window.max_history must be >= frames ({self.frames}), "
                                              f"got {self.max_history}"),
        )
        for ok, message in checks:
            if not ok:
                raise WindowConfigError(message)
        return self


@dataclass
class Window:
    """One model input. batch: rgb (1, T, 3, S, S) [0, 1], depth (1, T, 1, S, S) metres, skeleton
    (1, T, M, 25, 3) metres, points (1, T, N, 3) metres (None where the modality is absent) and present
    (1, 3) bool; target_s (T,) sensor seconds; coverage (3,) fraction of observed targets per modality."""

    end_s: float
    target_s: np.ndarray
    batch: dict[str, torch.Tensor | None]
    present: np.ndarray
    coverage: np.ndarray
    newest_frame_s: float            # newest real frame stamp used
    built_s: float = 0.0             # time.perf_counter() when the Pipeline handed it out (queue latency)
    closed_by_s: float = math.nan    # stamp of the synced set that completed the window (stage_timing.py)


@dataclass
class FrameSet:
    """A synced set whose payloads are final per-frame arrays: stamp_s, frames {stream: (stamp_s, payload)
    | None}. Any object with these two attributes (e.g. sync.SyncedSet) is accepted by `Windower.push`."""

    stamp_s: float
    frames: dict[str, Any]


@dataclass
class WindowStats:
    sets: int = 0
    windows: int = 0
    skipped_empty: int = 0           # window ends with no frame of any modality near them
    skipped_absent: int = 0          # window ends where no modality reached min_presence
    resets: int = 0                  # stamps went backwards (bag loop, clock reset)


def first_window_index(stamp_s: float, *, window_s: float, stride_s: float) -> int:
    """k of the first window for data starting at stamp_s (seconds): window ends lie on the grid k * stride_s
    of sensor time (rate independence) and the first is the first full one, ending >= stamp_s + window_s.
    The single-person Windower and the per-person PeopleWindower share it, so both decide at the same ends."""
    return math.ceil((stamp_s + window_s) / stride_s - STAMP_EPS_S)


def target_times(end_s: float, *, frames: int, window_s: float) -> np.ndarray:
    """(T,) float64 target stamps evenly spaced over [end_s - window_s, end_s], both ends included: the
    training clips' rule (rcmcl_core.windowing.window_times), so node and training windows match."""
    return window_times(end_s, frames=frames, window_s=window_s)


@dataclass
class _Track:
    """Observed frames of one modality, in arrival order (nearly stamp order)."""

    stamps: deque = field(default_factory=deque)
    frames: deque = field(default_factory=deque)
    rejected: deque = field(default_factory=deque)   # stamps of frames the sensor-health rules rejected


class Windower:
    """Takes synced sets in stamp order (`push`) and returns the windows that became complete.

    Not thread-safe: the Pipeline serialises access.
    """

    def __init__(self, *, config: WindowConfig, health: HealthConfig | None = None) -> None:
        self.config = config.validate()
        self.health = health     # sensor_health.trusted: too many rejected frames make a modality absent
        self.stats = WindowStats()
        self._tracks = {m: _Track() for m in MODALITIES}
        self._next_k: int | None = None  # the next window ends at _next_k * stride_s
        self._last_stamp_s: float | None = None

    def reset(self) -> None:
        """Forget every frame; the next set starts a fresh first window."""
        self._tracks = {m: _Track() for m in MODALITIES}
        self._next_k = None
        self._last_stamp_s = None

    def push(self, synced: Any) -> list[Window]:
        """Add one SyncedSet (stamp_s, frames {stream: (stamp_s, payload) | None}); return complete windows,
        oldest first. A stamp earlier than the previous one resets the windower first."""
        stamp_s = float(synced.stamp_s)
        if went_back(stamp_s, self._last_stamp_s):
            self.stats.resets += 1
            self.reset()
        self.stats.sets += 1
        self._last_stamp_s = stamp_s
        if self._next_k is None:
            self._next_k = first_window_index(stamp_s, window_s=self.config.window_s, stride_s=self.config.stride_s)
        self._observe(synced.frames)
        windows = self._complete(stamp_s)
        self._prune()
        return windows

    def reject(self, modality: str, stamp_s: float) -> None:
        """A frame of `modality` at stamp_s was received but rejected (rcmcl_core.sensor_health): a target
        whose nearest received frame is a rejected one is not observed (fill never uses it)."""
        rejected = self._tracks[modality].rejected
        rejected.append(float(stamp_s))
        if len(rejected) > self.config.max_history:
            rejected.popleft()

    def push_many(self, sets: Iterable[Any]) -> list[Window]:
        windows: list[Window] = []
        for synced in sets:
            windows += self.push(synced)
        return windows

    # -- internals ---------------------------------------------------------------------------------
    def _observe(self, frames: dict[str, Any]) -> None:
        rgb, depth = frames.get("rgb"), frames.get("depth")
        if rgb is not None and depth is not None:
            self._add("rgbd", rgb[0], (rgb[1], depth[1]))
        skeleton = frames.get("skeleton")
        if skeleton is not None and (not self.config.skeleton_needs_body or bool(np.any(skeleton[1][1]))):
            self._add("skeleton", skeleton[0], skeleton[1])
        points = frames.get("points")
        if points is not None and bool(np.isfinite(points[1]).all(axis=-1).any()):
            self._add("points", points[0], points[1])

    def _add(self, modality: str, stamp_s: float, frame: Any) -> None:
        track = self._tracks[modality]
        track.stamps.append(float(stamp_s))
        track.frames.append(frame)
        if len(track.stamps) > self.config.max_history:
            track.stamps.popleft()
            track.frames.popleft()

    def _end(self, k: int) -> float:
        return k * self.config.stride_s

    def _complete(self, newest_s: float) -> list[Window]:
        cfg = self.config
        out: list[Window] = []
        while self._end(self._next_k) <= newest_s + STAMP_EPS_S:
            end_s = self._end(self._next_k)
            lo, hi = end_s - cfg.window_s - cfg.max_gap_s, end_s + cfg.max_gap_s
            if not any(_any_between(t.stamps, lo, hi) for t in self._tracks.values()):
                # Nothing near this end: jump straight to the first end that can see the next frame.
                later = [s for t in self._tracks.values() for s in t.stamps if s > hi]
                if not later:
                    self.stats.skipped_empty += 1
                    self._next_k += 1
                    continue
                k = max(self._next_k + 1, math.ceil((min(later) - cfg.max_gap_s) / cfg.stride_s - STAMP_EPS_S))
                self.stats.skipped_empty += k - self._next_k
                self._next_k = k
                continue
            window = self._build(end_s)
            self._next_k += 1
            if window is None:
                self.stats.skipped_absent += 1
                continue
            self.stats.windows += 1
            window.closed_by_s = float(newest_s)
            out.append(window)
        return out

    def _build(self, end_s: float) -> Window | None:
        cfg = self.config
        targets = target_times(end_s, frames=cfg.frames, window_s=cfg.window_s)
        chosen: dict[str, list[Any] | None] = {}
        observed = np.zeros(len(MODALITIES))
        newest = -math.inf
        for m, modality in enumerate(MODALITIES):
            track = self._tracks[modality]
            if not track.stamps:
                chosen[modality] = None
                continue
            stamps = np.fromiter(track.stamps, dtype=np.float64, count=len(track.stamps))
            rejected = np.fromiter(track.rejected, dtype=np.float64, count=len(track.rejected))
            index, observed[m], rejected_fraction = screened_coverage(stamps, rejected, targets,
                                                                      max_gap_s=cfg.max_gap_s)
            if is_present(observed[m], min_presence=cfg.min_presence) and trusted(rejected_fraction, self.health):
                chosen[modality] = [track.frames[i] for i in index]
                newest = max(newest, float(stamps[index].max()))
            else:
                chosen[modality] = None
        present = np.array([chosen[m] is not None for m in MODALITIES])
        if not present.any():
            return None
        return Window(end_s=end_s, target_s=targets, batch=_batch(chosen, present), present=present,
                      coverage=observed, newest_frame_s=newest)

    def _prune(self) -> None:
        """Drop frames too old to matter for the next window (presence or fill)."""
        if self._next_k is None:
            return
        cfg = self.config
        oldest_useful = self._end(self._next_k) - cfg.window_s - cfg.max_gap_s - cfg.stride_s
        for track in self._tracks.values():
            # Keep at least one frame so fill-by-nearest has something when frames are sparse.
            while len(track.stamps) > 1 and track.stamps[0] < oldest_useful and track.stamps[1] < oldest_useful:
                track.stamps.popleft()
                track.frames.popleft()
            while track.rejected and track.rejected[0] < oldest_useful:
                track.rejected.popleft()


def _any_between(stamps: Iterable[float], lo: float, hi: float) -> bool:
    return any(lo - STAMP_EPS_S <= s <= hi + STAMP_EPS_S for s in stamps)


def _batch(chosen: dict[str, list[Any] | None], present: np.ndarray) -> dict[str, torch.Tensor | None]:
    """Stack the chosen frames into B=1 tensors of the model contract (docs/ARCHITECTURE.md, "Tensor contracts")."""
    batch: dict[str, torch.Tensor | None] = {"rgb": None, "depth": None, "skeleton": None, "points": None}
    if chosen["rgbd"] is not None:
        rgb = np.stack([f[0] for f in chosen["rgbd"]])                       # (T, S, S, 3) uint8
        depth = np.stack([f[1] for f in chosen["rgbd"]]).astype(np.float32)  # (T, S, S) metres
        batch["rgb"] = torch.from_numpy(rgb).permute(0, 3, 1, 2).float().div_(255.0).unsqueeze(0)
        batch["depth"] = torch.from_numpy(np.ascontiguousarray(depth))[None, :, None]
    if chosen["skeleton"] is not None:
        joints = np.stack([np.where(f[1][:, None, None], f[0], 0.0) for f in chosen["skeleton"]])
        batch["skeleton"] = torch.from_numpy(joints.astype(np.float32)).unsqueeze(0)
    if chosen["points"] is not None:
        points = np.stack(chosen["points"]).astype(np.float32)                # (T, N, 3)
        batch["points"] = torch.from_numpy(points).unsqueeze(0)
    batch["present"] = torch.from_numpy(present.copy()).reshape(1, -1)
    return batch
