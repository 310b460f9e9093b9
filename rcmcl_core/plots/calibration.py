"""The gate-calibration files: <out>/calibration.json (the curves), calibration.md (the table of
rcmcl_core/evaluation/calibration.py) and calibration.png (mean gate per modality against severity, one panel
per fault)."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from rcmcl_core.atomic_io import atomic_write_bytes
from rcmcl_core.config import MODALITIES
from rcmcl_core.evaluation.calibration import FaultCurve, calibration_table
from rcmcl_core.plots.results import pyplot, save_figure


def write_calibration(out: Path, curves: Sequence[FaultCurve], *, header: dict) -> list[Path]:
    """<out>/calibration.json, calibration.md and calibration.png. Returns the three paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path, png_path = out / "calibration.json", out / "calibration.md", out / "calibration.png"
    atomic_write_bytes(json_path, json.dumps({**header, "curves": [asdict(c) for c in curves]}, indent=1).encode())
    text = ["# Gate calibration: mean gate vs fault severity", "",
            ", ".join(f"{k}: {v}" for k, v in header.items()), "", calibration_table(curves)]
    atomic_write_bytes(md_path, ("\n".join(text) + "\n").encode())
    plt = pyplot()
    columns = 4
    rows = (len(curves) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
    colours = {"rgbd": "tab:red", "skeleton": "tab:green", "points": "tab:blue"}
    for ax, curve in zip(axes.flat, curves):
        for m, modality in enumerate(MODALITIES):
            ax.plot(curve.severities, [g[m] for g in curve.mean_gates], "o-", color=colours[modality],
                    lw=2.5 if modality == curve.modality or modality in (curve.also_drop_pct or {}) else 1.0,
                    label=f"g_{modality[0].upper()}")
        ax.set_title(curve.fault, fontsize=8)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("severity", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(curves):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.suptitle("mean gate per modality vs severity (thick: the faulted modality)", fontsize=9)
    fig.tight_layout()
    save_figure(fig, png_path, dpi=100)
    return [json_path, md_path, png_path]
