"""t-SNE layout for the feature-space figure (paper Fig.6), by scikit-learn.

A thin, validated wrapper: scikit-learn's Barnes-Hut t-SNE with a PCA start, seeded, so the same features
and seed give the same layout on a given machine.
"""
from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

MIN_ITERATIONS = 250
"""scikit-learn's smallest `max_iter`; fewer asked iterations are raised to it."""


def tsne(embeddings: np.ndarray, *, perplexity: float = 30.0, seed: int = 0, iterations: int = 1000) -> np.ndarray:
    """(N, D) features -> (N, 2) float32 layout.

    perplexity: effective number of neighbours (lowered, with a log line, to (N - 1) / 3 when N is small).
    iterations: optimisation steps (at least MIN_ITERATIONS). Raises ValueError on a non-2-D, non-finite
    or too small input.
    """
    from sklearn.manifold import TSNE  # heavy import, only when a figure is drawn

    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"t-SNE needs (N, D) features with N >= 2, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"t-SNE features hold {int((~np.isfinite(x)).sum())} non-finite values")
    if perplexity <= 0 or iterations < 1:
        raise ValueError(f"t-SNE needs perplexity > 0 and iterations >= 1, got {perplexity}, {iterations}")
    n = x.shape[0]
    if perplexity > (n - 1) / 3:
        log.info("t-SNE: perplexity %.1f too large for %d points, using %.1f", perplexity, n, (n - 1) / 3)
        perplexity = max((n - 1) / 3, 0.5)
    init = "pca" if min(x.shape) >= 2 else "random"
    layout = TSNE(n_components=2, perplexity=perplexity, init=init, learning_rate="auto",
                  max_iter=max(iterations, MIN_ITERATIONS), random_state=seed).fit_transform(x)
    return layout.astype(np.float32)
