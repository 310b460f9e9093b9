"""The dataset contact sheet (matplotlib, Agg backend: no display needed): a few clips of every class, RGB
frames with the skeleton drawn over them. The result figures live in rcmcl_core/plots/results.py."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from rcmcl_core.geometry.pinhole import Intrinsics, project_points
from rcmcl_core.plots.results import pyplot, save_figure
from rcmcl_core.geometry.skeleton_layout import NTU_BONES

CONTACT_SHEET_RGB_FRAMES = 3
"""RGB frames per clip row in the contact sheet (first, middle, last)."""


def contact_sheet(clips: dict[str, np.ndarray], indices: Sequence[int], *, out_png: str | Path,
                  intrinsics: Intrinsics, class_names: Sequence[str] | None = None,
                  rgb_frames: int = CONTACT_SHEET_RGB_FRAMES) -> Path:
    """One row per clip of a shard (rcmcl_core.data.shards arrays): `rgb_frames` RGB frames spread over
    the clip, the middle depth frame (colour-mapped, invalid black), the middle skeleton projected over
    the RGB frame (NTU bones), and the middle frame's points seen from the camera (x right, y down,
    coloured by depth). Returns the PNG path."""
    plt = pyplot()
    indices = list(indices)
    columns = rgb_frames + 3
    fig, axes = plt.subplots(len(indices), columns, figsize=(1.9 * columns, 2.0 * len(indices)), squeeze=False)
    for row, clip in enumerate(indices):
        frames = len(clips["rgb"][clip])
        mid = frames // 2
        label = int(clips["label"][clip])
        title = class_names[label] if class_names is not None else f"class {label}"
        for col, f in enumerate(np.linspace(0, frames - 1, rgb_frames).round().astype(int)):
            axes[row, col].imshow(clips["rgb"][clip, f])
            axes[row, col].set_title(f"{title} t={f}" if col == 0 else f"t={f}", fontsize=7)
        depth_m = clips["depth_mm"][clip, mid].astype(np.float32) / 1000.0
        shown = np.ma.masked_equal(depth_m, 0.0)
        cmap = plt.get_cmap("turbo").copy()
        cmap.set_bad("black")
        image = axes[row, rgb_frames].imshow(shown, cmap=cmap, vmin=0.5, vmax=4.5)
        axes[row, rgb_frames].set_title(f"depth m (cam {int(clips['camera'][clip])})", fontsize=7)
        fig.colorbar(image, ax=axes[row, rgb_frames], fraction=0.046, pad=0.02).ax.tick_params(labelsize=5)
        skel_ax = axes[row, rgb_frames + 1]
        skel_ax.imshow(clips["rgb"][clip, mid], alpha=0.5)
        valid = clips["skeleton_valid"][clip, mid]
        for body in np.flatnonzero(valid):
            uv = project_points(clips["skeleton"][clip, mid, body], intrinsics=intrinsics)
            for child, parent in NTU_BONES:
                skel_ax.plot(uv[[child, parent], 0], uv[[child, parent], 1], "-", color="lime", lw=1)
            skel_ax.plot(uv[:, 0], uv[:, 1], ".", color="red", ms=2)
        skel_ax.set_title("skeleton" if valid.any() else "skeleton lost", fontsize=7)
        points = clips["points"][clip, mid]
        points = points[np.isfinite(points).all(axis=1)]
        pts_ax = axes[row, rgb_frames + 2]
        pts_ax.scatter(points[:, 0], points[:, 1], c=points[:, 2], s=2, cmap="turbo", vmin=0.5, vmax=4.5)
        pts_ax.set_xlim(-1.5, 1.5)
        pts_ax.set_ylim(1.5, -1.5)
        pts_ax.set_aspect("equal")
        pts_ax.set_title(f"points ({len(points)})", fontsize=7)
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return save_figure(fig, out_png, dpi=110)
