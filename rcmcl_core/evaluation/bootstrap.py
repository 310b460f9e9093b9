"""Percentile bootstrap intervals over test clips, for accuracies and for RGS (paired: the same resampled clips
for every method and condition, so a method's clips stay matched with the baseline's).

Clips are resampled independently. Clips of one subject or one performance seen by three cameras are not
independent, so these intervals are a lower bound on the true uncertainty (docs/RESULTS.md says so).
"""
from __future__ import annotations

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95


def bits_to_array(bits: str) -> np.ndarray:
    """'0'/'1' per clip (ConditionResult.correct) -> (N,) bool."""
    return np.frombuffer(bits.encode("ascii"), dtype=np.uint8) == ord("1")


def array_to_bits(correct: np.ndarray) -> str:
    """(N,) bool -> '0'/'1' per clip."""
    return np.where(np.asarray(correct, dtype=bool), b"1", b"0").tobytes().decode("ascii")


def resample_indices(clips: int, *, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """(resamples, clips) int64 clip indices drawn with replacement."""
    return np.random.default_rng(seed).integers(0, clips, size=(resamples, clips))


def accuracy_interval(correct: np.ndarray, *, resamples: int = RESAMPLES, level: float = LEVEL,
                      seed: int = 0) -> list[float]:
    """(N,) bool correct per clip -> [low, high] accuracy in % (percentile bootstrap)."""
    correct = np.asarray(correct, dtype=bool)
    if len(correct) == 0:
        return [float("nan"), float("nan")]
    accuracies = 100.0 * correct[resample_indices(len(correct), resamples=resamples, seed=seed)].mean(axis=1)
    return _percentiles(accuracies, level)


def rgs_interval(method: dict[str, np.ndarray], supervised: dict[str, np.ndarray], *, resamples: int = RESAMPLES,
                 level: float = LEVEL, seed: int = 0) -> list[float]:
    """Paired bootstrap of RGS = RDP_supervised - RDP_method (points; RDP of 'R&P missing' against 'clean').
    Each argument maps 'clean' and 'R&P missing' to (N,) bool correct per clip, the same N clips in the same
    order for all four arrays."""
    arrays = [method["clean"], method["R&P missing"], supervised["clean"], supervised["R&P missing"]]
    clips = {len(a) for a in arrays}
    if len(clips) != 1:
        raise ValueError(f"RGS needs the same clips for both methods and both conditions, got sizes {sorted(clips)}")
    index = resample_indices(clips.pop(), resamples=resamples, seed=seed)
    m_clean, m_rp, s_clean, s_rp = (np.asarray(a, dtype=np.float64)[index].mean(axis=1) for a in arrays)
    with np.errstate(divide="ignore", invalid="ignore"):
        rgs = 100.0 * ((s_clean - s_rp) / s_clean - (m_clean - m_rp) / m_clean)
    return _percentiles(rgs[np.isfinite(rgs)], level)


def _percentiles(values: np.ndarray, level: float) -> list[float]:
    if len(values) == 0:
        return [float("nan"), float("nan")]
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return [float(low), float(high)]


def seeds_and_clips_interval(correct: np.ndarray, *, baseline: np.ndarray | None = None,
                             resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0) -> list[float]:
    """Two-level percentile bootstrap over training seeds and test clips. correct: (S, N) bool, seed s's
    result on clip n (the same N clips for every seed). Each resample draws S seeds with replacement, then N
    clips with replacement, and takes the mean accuracy (%). With `baseline` (S, N), paired by seed (the same
    labelled clips and seed) and clip, the interval is of the difference correct - baseline in points."""
    correct = np.asarray(correct, dtype=np.float64)
    if correct.ndim != 2 or correct.size == 0:
        raise ValueError(f"need (seeds, clips) results, got shape {correct.shape}")
    values = correct if baseline is None else correct - np.asarray(baseline, dtype=np.float64)
    if values.shape != correct.shape:
        raise ValueError(f"baseline shape {np.shape(baseline)} differs from {correct.shape}")
    rng = np.random.default_rng(seed)
    seeds, clips = values.shape
    per_seed_clip_means = np.empty(resamples)
    for r in range(resamples):
        rows = rng.integers(0, seeds, seeds)
        cols = rng.integers(0, clips, clips)
        per_seed_clip_means[r] = values[rows][:, cols].mean()
    return _percentiles(100.0 * per_seed_clip_means, level)


def paired_difference_interval(a: np.ndarray, b: np.ndarray, *, resamples: int = RESAMPLES, level: float = LEVEL,
                               seed: int = 0) -> list[float]:
    """(N,) bool correct per clip of two models on the same clips -> [low, high] of accuracy(a) - accuracy(b)
    in points (percentile bootstrap, the same resampled clips for both)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a paired difference needs two (N,) results on the same clips, got {a.shape}, {b.shape}")
    index = resample_indices(len(a), resamples=resamples, seed=seed)
    return _percentiles(100.0 * (a[index].mean(axis=1) - b[index].mean(axis=1)), level)
