"""How a window of T frames is laid over time: one rule for training clips and for the live node, so what
the model learned is what the node feeds it (DESIGN.md section 6)."""
from __future__ import annotations

import numpy as np


def window_times(end_s: float, *, frames: int, window_s: float) -> np.ndarray:
    """(T,) float64 sample times evenly spaced over [end_s - window_s, end_s], both ends included, seconds."""
    return end_s - window_s + np.linspace(0.0, window_s, frames)


def nearest_frame_indices(times_s: np.ndarray, *, fps: float, num_frames: int) -> np.ndarray:
    """(T,) int64 index of the stored frame (frame k at k / fps seconds) nearest to each time, clamped."""
    return np.clip(np.rint(np.asarray(times_s) * fps).astype(np.int64), 0, num_frames - 1)
