"""Exact t-SNE (van der Maaten & Hinton 2008) for the feature-space figure (paper Fig.6).

Dense O(N^2) maths in torch on the CPU, exact gradients (no Barnes-Hut): fine up to a few thousand points
(N = 2000 in about 15 s on one busy core), which is all a scatter plot can show. Steps: per-point Gaussian
bandwidths found by a vectorised, safeguarded Newton search so that every conditional distribution has
the asked perplexity; symmetric joint P; a Student-t (1 dof) layout in 2-D optimised by gradient descent
with early exaggeration, momentum and per-coordinate gains (van der Maaten 2014's schedule).
Deterministic for a given seed on a given machine.
"""
from __future__ import annotations

import logging
import math

import numpy as np
import torch

log = logging.getLogger(__name__)

EARLY_EXAGGERATION = 12.0
"""P is multiplied by this for the first `exaggeration_iterations` steps, so clusters form first."""
MOMENTUM_EARLY, MOMENTUM_LATE = 0.5, 0.8
MIN_GAIN = 0.01
BANDWIDTH_STEPS = 100
"""Most Newton steps of the bandwidth search; it usually meets ENTROPY_TOLERANCE in well under 20."""
MAX_NEWTON_STEP = 2.0
"""Largest change of log(beta) per Newton step."""
ENTROPY_TOLERANCE = 1e-5
"""The bandwidth search stops once every row's entropy is this close (nats) to log(perplexity)."""
P_FLOOR = 1e-12
BLOCK_ROWS = 128
"""Rows of the N x N kernel computed at a time: 128 x 2000 float32 is 1 MB, cache-sized."""


def tsne(embeddings: np.ndarray, *, perplexity: float = 30.0, seed: int = 0, iterations: int = 1000,
         exaggeration_iterations: int | None = None, learning_rate: float | None = None,
         threads: int | None = 1) -> np.ndarray:
    """(N, D) features -> (N, 2) float32 layout.

    perplexity: effective number of neighbours (lowered, with a log line, to (N - 1) / 3 when N is small).
    exaggeration_iterations: early steps with P exaggerated (None: min(250, iterations // 4)).
    learning_rate: None picks max(N / EARLY_EXAGGERATION, 50) (Belkina et al. 2019).
    threads: torch intra-op threads while optimising, restored afterwards (None: leave torch's setting).
    One by default: the (BLOCK_ROWS, N) steps are small, and on cores shared with other work OpenMP
    made N = 2000 take 194 s with 2 threads against 16.5 s with 1 (2-core machine under load 4-7).
    Raises ValueError on a non-2-D, non-finite or too small input.
    """
    x = np.asarray(embeddings)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"t-SNE needs (N, D) features with N >= 2, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"t-SNE features hold {int((~np.isfinite(x)).sum())} non-finite values")
    if exaggeration_iterations is None:
        exaggeration_iterations = min(250, iterations // 4)
    if perplexity <= 0 or iterations < 1 or not 0 <= exaggeration_iterations <= iterations:
        raise ValueError(f"need perplexity > 0 and 0 <= exaggeration_iterations <= iterations >= 1, got "
                         f"{perplexity}, {exaggeration_iterations}, {iterations}")
    n = x.shape[0]
    if perplexity > (n - 1) / 3:
        log.info("t-SNE: perplexity %.1f too large for %d points, using %.1f", perplexity, n, (n - 1) / 3)
        perplexity = max((n - 1) / 3, 1.0)
    lr = learning_rate if learning_rate is not None else max(n / EARLY_EXAGGERATION, 50.0)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        p = joint_probabilities(torch.from_numpy(x.astype(np.float64)), perplexity=perplexity).float()
        return _optimise(p, seed=seed, iterations=iterations, exaggeration_iterations=exaggeration_iterations,
                         learning_rate=lr).numpy()
    finally:
        torch.set_num_threads(previous)


def joint_probabilities(x: torch.Tensor, *, perplexity: float) -> torch.Tensor:
    """(N, D) float64 -> (N, N) symmetric P summing to 1, zero diagonal: p_ij = (p_j|i + p_i|j) / 2N where
    each p_.|i is a Gaussian over squared distances whose bandwidth gives entropy log(perplexity)."""
    n = x.shape[0]
    sq = (x * x).sum(dim=1)
    dist = (sq[:, None] + sq[None, :] - 2.0 * x @ x.T).clamp_(min=0.0)
    off_diagonal = ~torch.eye(n, dtype=torch.bool)
    dist = dist[off_diagonal].view(n, n - 1)                               # p_i|i is 0: leave it out
    # Shift each row by its nearest distance: exp() then never underflows to an all-zero row.
    dist = dist - dist.min(dim=1, keepdim=True).values
    # Solve on each point's nearest neighbours first (cheap, and they carry almost all of the mass), then
    # polish on all points from there: Newton then needs a step or two on the full rows.
    start = -torch.log(dist.mean(dim=1).clamp(min=1e-12))
    nearest = dist.topk(min(n - 1, max(int(3 * perplexity), 10)), dim=1, largest=False).values
    log_beta = _bandwidths(dist, _bandwidths(nearest, start, perplexity=perplexity), perplexity=perplexity)
    conditional = torch.exp(-dist * log_beta.exp()[:, None])
    conditional = conditional / conditional.sum(dim=1, keepdim=True)
    full = torch.zeros(n, n, dtype=x.dtype)
    full[off_diagonal] = conditional.flatten()
    joint = (full + full.T) / (2.0 * n)
    return joint.clamp_(min=P_FLOOR).fill_diagonal_(0.0)


def _bandwidths(dist: torch.Tensor, log_beta: torch.Tensor, *, perplexity: float) -> torch.Tensor:
    """(N, K) shifted squared distances, (N,) first guess -> (N,) log(beta) whose Gaussian over each row has
    entropy log(perplexity). Entropy falls monotonically from log K to 0 as beta grows: Newton steps on
    log(beta), capped at MAX_NEWTON_STEP to walk out of the flat ends, inside a bracket of the root that
    every step tightens; a step that would leave the bracket bisects it instead."""
    target = math.log(perplexity)
    low = torch.full_like(log_beta, -math.inf)
    high = torch.full_like(log_beta, math.inf)
    for _ in range(BANDWIDTH_STEPS):
        entropy, slope = _entropy(dist, log_beta)
        error = entropy - target
        done = error.abs() < ENTROPY_TOLERANCE
        if bool(done.all()):
            return log_beta
        too_flat = error > 0                                              # bandwidth too wide: raise beta
        low = torch.where(too_flat, log_beta, low)
        high = torch.where(too_flat, high, log_beta)
        step = (-error / slope).clamp(-MAX_NEWTON_STEP, MAX_NEWTON_STEP)  # slope 0 at a flat end: +-inf
        candidate = log_beta + step
        # The current point is now one end of the bracket, so a step leaving it crossed the other (finite) end.
        inside = (candidate > low) & (candidate < high)
        log_beta = torch.where(done, log_beta, torch.where(inside, candidate, 0.5 * (low + high)))
    log.info("t-SNE: bandwidths within %.1e nats of log(perplexity) after %d steps", float(error.abs().max()),
             BANDWIDTH_STEPS)
    return log_beta


def _entropy(dist: torch.Tensor, log_beta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, K) distances, (N,) log(beta) -> each row's Gaussian entropy H = log Z + beta E[d] (nats) and its
    slope dH/dlog(beta) = -beta^2 Var[d], both (N,)."""
    beta = log_beta.exp()
    weights = torch.exp(-dist * beta[:, None])
    total = weights.sum(dim=1)
    weighted = dist * weights
    mean = weighted.sum(dim=1) / total
    variance = ((dist * weighted).sum(dim=1) / total - mean * mean).clamp(min=0.0)
    return torch.log(total) + beta * mean, -beta * beta * variance


def _optimise(p: torch.Tensor, *, seed: int, iterations: int, exaggeration_iterations: int,
              learning_rate: float) -> torch.Tensor:
    """Gradient descent on KL(P || Q) with the Student-t kernel; returns (N, 2) float32."""
    n = p.shape[0]
    generator = torch.Generator().manual_seed(seed)
    y = 1e-4 * torch.randn(n, 2, generator=generator)
    update = torch.zeros_like(y)
    gains = torch.ones_like(y)
    for step in range(iterations):
        early = step < exaggeration_iterations
        grad = _gradient(p, y, exaggeration=EARLY_EXAGGERATION if early else 1.0)
        same_direction = (grad > 0) == (update > 0)
        gains = torch.where(same_direction, gains * 0.8, gains + 0.2).clamp_(min=MIN_GAIN)
        momentum = MOMENTUM_EARLY if early else MOMENTUM_LATE
        update = momentum * update - learning_rate * gains * grad
        y = y + update
        y = y - y.mean(dim=0, keepdim=True)
    return y


def _gradient(p: torch.Tensor, y: torch.Tensor, *, exaggeration: float) -> torch.Tensor:
    """dKL/dy (N, 2) = 4 sum_j (a p_ij - k_ij / Z) k_ij (y_i - y_j) with k_ij = (1 + |y_i - y_j|^2)^-1,
    Z = sum_ij k_ij and a the exaggeration.

    Computed over blocks of BLOCK_ROWS rows so each (rows, N) kernel stays in cache; row sums ride along in
    the matmuls as a column of ones. Repulsion is normalised by Z once every block has been summed."""
    n = y.shape[0]
    sq = (y * y).sum(dim=1)
    y_one = torch.cat([y, torch.ones(n, 1)], dim=1)                        # (N, 3)
    attract, repel = torch.empty(n, 3), torch.empty(n, 3)
    total = 0.0
    for start in range(0, n, BLOCK_ROWS):
        rows = slice(start, min(start + BLOCK_ROWS, n))
        kernel = torch.addmm(sq[None, :], y[rows], y.T, alpha=-2.0)        # |y_j|^2 - 2 y_i.y_j
        kernel.add_(sq[rows, None] + 1.0).reciprocal_()
        local = torch.arange(kernel.shape[0])
        kernel[local, local + start] = 0.0
        total += float(kernel.sum())
        attract[rows] = (p[rows] * kernel) @ y_one                         # (A y, A 1) with A = P o K
        repel[rows] = kernel.mul_(kernel) @ y_one                          # (K^2 y, K^2 1)
    force = exaggeration * attract - repel / total
    return 4.0 * (force[:, 2:] * y - force[:, :2])
