"""Result figures: feature-space t-SNE (paper Fig.6), gate timeline under a dropout (Fig.7) and robustness
bars (Tables II/III as a chart). matplotlib with the Agg backend (no display); PNGs written atomically.
Each function takes plain arrays / dicts and returns the PNG path, so the CLI and the bag evaluation share
them."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from rcmcl_core.atomic_io import atomic_write_bytes
from rcmcl_core.plots.tsne import tsne

MODALITY_LABELS = ("RGB-D ($g_R$)", "skeleton ($g_S$)", "points ($g_P$)")
"""Legend of the three gates, in MODALITIES order."""
MODALITY_COLOURS = ("tab:blue", "tab:orange", "tab:green")
MODALITY_MARKERS = ("o", "s", "^")
"""Paper Fig.6 shapes: circle RGB-D, square skeleton, triangle point cloud."""
DPI = 120


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def figure_png(fig, *, dpi: int = DPI) -> bytes:
    """Render `fig` to PNG bytes and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    pyplot().close(fig)
    return buffer.getvalue()


def save_figure(fig, out_png: str | Path, *, dpi: int = DPI) -> Path:
    """Render `fig` to PNG, write it atomically to `out_png` (folders created), close the figure."""
    out_png = Path(out_png)
    atomic_write_bytes(out_png, figure_png(fig, dpi=dpi))
    return out_png


def class_colours(count: int) -> np.ndarray:
    """(count, 4) RGBA, one distinct colour per class: tab20, then tab20b and tab20c (60 in all, NTU-60),
    else evenly spaced hues of 'turbo' (NTU-120)."""
    plt = pyplot()
    if count <= 60:
        palette = np.concatenate([plt.get_cmap(name)(np.arange(20)) for name in ("tab20", "tab20b", "tab20c")])
        return palette[:count]
    return plt.get_cmap("turbo")(np.linspace(0.0, 1.0, count))


def tsne_figure(features: np.ndarray, labels: np.ndarray, class_names: Sequence[str], out_png: str | Path, *,
                modality: np.ndarray | None = None, title: str | None = None, perplexity: float = 30.0,
                seed: int = 0, iterations: int = 1000) -> Path:
    """Fig.6 analog: t-SNE (rcmcl_core.plots.tsne) of `features` (N, D), one colour per class.

    labels: (N,) int class index into class_names. modality: optional (N,) int in 0..2 drawing RGB-D /
    skeleton / points rows with circle / square / triangle, as the paper does when it embeds the three
    Z_M of each clip together."""
    features = np.asarray(features, np.float64)
    labels = np.asarray(labels)
    if features.ndim != 2 or labels.shape != (len(features),):
        raise ValueError(f"tsne_figure needs features (N, D) and labels (N,), got {features.shape} and {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(f"labels must index class_names (0..{len(class_names) - 1}), "
                         f"got {labels.min()}..{labels.max()}")
    if modality is not None and np.asarray(modality).shape != labels.shape:
        raise ValueError(f"modality must be (N,) = {labels.shape}, got {np.asarray(modality).shape}")
    layout = tsne(features, perplexity=perplexity, seed=seed, iterations=iterations)
    plt = pyplot()
    colours = class_colours(len(class_names))
    fig, ax = plt.subplots(figsize=(9.5, 7.0))
    kinds = np.zeros(len(labels), int) if modality is None else np.asarray(modality)
    for kind in np.unique(kinds):
        rows = kinds == kind
        ax.scatter(layout[rows, 0], layout[rows, 1], c=colours[labels[rows]], s=14, alpha=0.8, linewidths=0,
                   marker=MODALITY_MARKERS[kind] if modality is not None else "o")
    shown = np.unique(labels)
    handles = [plt.Line2D([], [], ls="", marker="o", color=colours[k], label=class_names[k]) for k in shown]
    if modality is not None:
        handles += [plt.Line2D([], [], ls="", marker=MODALITY_MARKERS[k], color="grey",
                               label=MODALITY_LABELS[k].split()[0]) for k in np.unique(kinds)]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False,
              ncol=1 + len(handles) // 32)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"t-SNE of {len(labels)} embeddings (perplexity {perplexity:g})", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_png)


def gate_timeline(times_s: np.ndarray, gates: np.ndarray, out_png: str | Path, *,
                  segments: Sequence[tuple[float, float, str]] = (), labels: Sequence[str] | None = None,
                  labels_name: str = "label", title: str | None = None) -> Path:
    """Fig.7 analog: the AMG gate of each modality over time.

    times_s: (W,) seconds, increasing (window times: the x axis). gates: (W, 3) in MODALITIES order (R, S, P);
    NaN leaves a gap (e.g. no decision). segments: (t0_s, t1_s, name) spans shaded grey and named, e.g. a
    dropped stream. labels: optional (W,) action label per window (e.g. the prediction), drawn as a coloured
    strip under the gates with each run of one label named; labels_name titles that strip."""
    times_s = np.asarray(times_s, np.float64)
    gates = np.asarray(gates, np.float64)
    if times_s.ndim != 1 or gates.shape != (len(times_s), 3) or len(times_s) == 0:
        raise ValueError(f"gate_timeline needs times (W,) and gates (W, 3) with W >= 1, got {times_s.shape} "
                         f"and {gates.shape}")
    if labels is not None and len(labels) != len(times_s):
        raise ValueError(f"labels must have one entry per window ({len(times_s)}), got {len(labels)}")
    plt = pyplot()
    rows = 2 if labels is not None else 1
    fig, axes = plt.subplots(rows, 1, figsize=(10, 4.2 if labels is None else 4.8), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [8, 1][:rows]})
    ax = axes[0, 0]
    for t0, t1, name in segments:
        ax.axvspan(t0, t1, color="grey", alpha=0.25, lw=0)
        ax.text(0.5 * (t0 + t1), 1.07, name, ha="center", va="bottom", fontsize=8)
    for m in range(3):
        ax.plot(times_s, gates[:, m], color=MODALITY_COLOURS[m], label=MODALITY_LABELS[m], lw=1.6)
    ax.set_ylim(-0.03, 1.15)
    ax.set_ylabel("gate $G_M$ (Eq.4)")
    ax.legend(loc="lower left", fontsize=8, ncol=3)
    ax.grid(alpha=0.3)
    ax.set_title(title or "AMG gates over time", fontsize=10)
    if labels is not None:
        _label_strip(axes[1, 0], times_s, list(labels), name=labels_name)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    return save_figure(fig, out_png)


def _label_strip(ax, times_s: np.ndarray, labels: list[str], *, name: str) -> None:
    """One coloured span per run of equal labels, named when wide enough to read."""
    names = sorted(set(labels))
    colours = class_colours(len(names))
    step = np.median(np.diff(times_s)) if len(times_s) > 1 else 1.0
    edges = np.concatenate([times_s - step / 2, [times_s[-1] + step / 2]])
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            ax.axvspan(edges[start], edges[i], color=colours[names.index(labels[start])], lw=0)
            if edges[i] - edges[start] > 0.06 * (edges[-1] - edges[0]):
                ax.text(0.5 * (edges[start] + edges[i]), 0.5, labels[start], ha="center", va="center", fontsize=6)
            start = i
    ax.set_yticks([])
    ax.set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")


def robustness_bars(results: Mapping[str, Mapping[str, float]], out_png: str | Path, *,
                    conditions: Sequence[str] | None = None, title: str | None = None) -> Path:
    """Grouped bars: top-1 accuracy (%) of each method (RCMCL vs baselines) under each condition.

    results: {method: {condition: accuracy %}} (rcmcl_core.evaluation.robustness conditions, e.g. 'clean',
    'R&P missing'). conditions: the groups, in order (default: the first method's conditions). A method
    without a condition leaves its bar out; a condition no method has is an error."""
    if not results:
        raise ValueError("robustness_bars needs at least one method")
    methods = list(results)
    conditions = list(conditions) if conditions is not None else list(results[methods[0]])
    unknown = [c for c in conditions if not any(c in results[m] for m in methods)]
    if unknown or not conditions:
        known = sorted({c for m in methods for c in results[m]})
        raise ValueError(f"no method has condition(s) {unknown}; known: {known}")
    plt = pyplot()
    width = 0.8 / len(methods)
    x = np.arange(len(conditions))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(conditions) * max(1, len(methods) / 2) + 2), 4.5))
    for i, method in enumerate(methods):
        values = np.array([results[method].get(c, np.nan) for c in conditions], np.float64)
        bars = ax.bar(x + (i - (len(methods) - 1) / 2) * width, values, width, label=method)
        ax.bar_label(bars, labels=["" if np.isnan(v) else f"{v:.1f}" for v in values], fontsize=6, padding=1)
    ax.set_xticks(x)
    ax.set_xticklabels(conditions, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_ylim(0, 118)                                                   # headroom for the legend
    ax.set_yticks(np.arange(0, 101, 20))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", ncol=min(len(methods), 4), frameon=False)
    ax.set_title(title or "Accuracy under missing and corrupted modalities", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out_png)
