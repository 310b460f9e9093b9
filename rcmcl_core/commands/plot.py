"""`rcmcl plot tsne | gates | robustness | calibration`: the paper's figures from checkpoints and evaluation
results (calibration: rcmcl_core/commands/calibration.py).

    rcmcl plot tsne runs/finetune/finetune.pt --data-root data/synth --out docs/figures
    rcmcl plot gates runs/finetune/finetune.pt --data-root data/synth --out docs/figures
    rcmcl plot robustness runs/eval/results.json --out docs/figures
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from rcmcl_core.checkpoint import load_model
from rcmcl_core.commands.training import DATA_SOURCES, open_dataset
from rcmcl_core.config import MODALITIES
from rcmcl_core.atomic_io import atomic_write_bytes

DROPOUT_GROUP = ("clean", "R missing", "S missing", "P missing", "R&S missing", "R&P missing", "S&P missing")
CORRUPTION_GROUP = ("clean", "SJN 0.05", "SJN 0.10", "PCS 50%", "PCS 70%")
"""Default condition groups of `plot robustness` (rcmcl_core.evaluation.robustness.CONDITIONS names)."""


EXAMPLES = {
    "tsne": "rcmcl plot tsne supervised=runs/sup/finetune.pt rcmcl=runs/rcmcl/finetune.pt \\\n"
            "    --data synthetic --data-root data/synth --split xsub --out docs/figures --per-modality",
    "gates": "rcmcl plot gates runs/rcmcl/finetune.pt --data-root data/synth --split xsub \\\n"
             "    --drop skeleton --drop-window 0.5 1.0 --out docs/figures",
    "curves": "rcmcl plot curves runs/rcmcl_pretrain runs/rcmcl_finetune --out docs/figures/curves.png",
    "robustness": "rcmcl evaluate supervised=runs/sup/finetune.pt rcmcl=runs/rcmcl/finetune.pt --out runs/eval\n"
                  "rcmcl plot robustness runs/eval/results.json --out docs/figures",
}


def register(subparsers) -> None:
    """Add `plot` with its three figure subcommands to the `rcmcl` parser."""
    plot = subparsers.add_parser(
        "plot", help="figures: t-SNE of features, gate timeline, robustness bars",
        description="Draw the paper's figures as PNGs in --out. Model figures (tsne, gates) load a checkpoint "
                    "(its config fixes the clip size; no --preset needed) and read clips of a dataset made by "
                    "`rcmcl generate`; robustness reads the results.json of `rcmcl evaluate`.")
    figures = plot.add_subparsers(dest="figure", required=True, metavar="FIGURE")

    p = _figure_parser(
        figures, "tsne", summary="Fig.6: t-SNE of fused features of test clips, coloured by class",
        description="Embed test clips with each checkpoint and draw a 2-D t-SNE coloured by true class: "
                    "<out>/tsne_<name>.png (fused Eq.5 features) and, with --per-modality, "
                    "<out>/tsne_<name>_modalities.png (Z_R, Z_S, Z_P as circle/square/triangle). Tight "
                    "single-colour clusters mean the features separate the actions.")
    _add_model_options(p)
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT",
                   help="NAME=PATH or PATH (name = file stem); one figure per checkpoint, e.g. baseline and RCMCL")
    p.add_argument("--max-clips", type=int, default=600,
                   help="embed at most this many clips, drawn at random by --seed (default 600; t-SNE is O(N^2))")
    p.add_argument("--perplexity", type=float, default=30.0, help="t-SNE neighbourhood size (default 30)")
    p.add_argument("--iterations", type=int, default=1000, help="t-SNE gradient steps (default 1000)")
    p.add_argument("--per-modality", action="store_true", help="also embed the three per-modality features")
    p.set_defaults(handler=plot_tsne)

    p = _figure_parser(
        figures, "gates", summary="Fig.7: gates over time while one modality drops out mid-way",
        description="Lay --clips test clips end to end as one sensor stream, slide the model's window over it, "
                    "and remove one modality during --drop-window (fractions of the stream). Writes "
                    "<out>/gates_drop_<modality>.png per dropped modality (gates, shaded drop, predicted labels "
                    "underneath) and <out>/gates.md (mean gates and accuracy inside / outside the drop).")
    _add_model_options(p)
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="checkpoint file (.pt)")
    p.add_argument("--drop", nargs="+", choices=MODALITIES, default=list(MODALITIES),
                   help="modalities to drop, one figure each (default: all three)")
    p.add_argument("--drop-window", nargs=2, type=float, default=(0.4, 0.7), metavar=("FROM", "TO"),
                   help="part of the stream without the modality, as fractions 0..1 (default 0.4 0.7)")
    p.add_argument("--clips", type=int, default=8, help="clips in the stream, spread over the subset (default 8)")
    p.add_argument("--stride-frames", type=int, default=1, help="frames between windows (default 1)")
    p.set_defaults(handler=plot_gates)

    p = _figure_parser(
        figures, "robustness", summary="grouped accuracy bars per condition from `rcmcl evaluate` results.json",
        description="Bar chart of top-1 accuracy per method and condition. Writes <out>/robustness_dropout.png "
                    "(clean + missing modalities, Table II) and <out>/robustness_corruption.png (SJN / PCS, "
                    "Table III), or one <out>/robustness.png with --conditions.")
    p.add_argument("results", type=Path, metavar="RESULTS.json", help="results.json written by `rcmcl evaluate`")
    p.add_argument("--out", type=Path, required=True, help="folder for the PNGs (created if missing)")
    p.add_argument("--methods", nargs="+", help="methods to show, in this order (default: all in the file)")
    p.add_argument("--conditions", nargs="+",
                   help="conditions to show, e.g. clean 'R&P missing' (default: the two groups above)")
    p.set_defaults(handler=plot_robustness)

    p = _figure_parser(
        figures, "curves", summary="learning curves (loss terms, held-out accuracy) of training runs",
        description="Read <run dir>/curves.jsonl of each run (written by pretrain, finetune, probe and the "
                    "baselines after every epoch) and draw the weighted loss terms and the held-out accuracy "
                    "per epoch into one PNG.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="NAME=DIR or DIR (name = folder name)")
    p.add_argument("--out", type=Path, required=True, help="PNG file to write")
    p.set_defaults(handler=plot_curves)
    from rcmcl_core.commands.calibration import register as register_calibration
    register_calibration(figures, add_model_options=_add_model_options)


def _figure_parser(figures, name: str, *, summary: str, description: str) -> argparse.ArgumentParser:
    example = "\n".join("  " + line for line in EXAMPLES[name].splitlines())
    return figures.add_parser(name, help=summary, description=description, epilog=f"example:\n{example}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options of the figures that run a checkpoint over dataset clips (like commands.add_common)."""
    parser.add_argument("--data", choices=sorted(DATA_SOURCES), default="synthetic", help="dataset kind")
    parser.add_argument("--data-root", type=Path, help="dataset folder (default data/synth, data/ntu60, ...)")
    parser.add_argument("--split", help="split name: xsub or xview (ntu120: xsub or xset); default xsub")
    parser.add_argument("--subset", choices=("test", "train", "all"), default="test",
                        help="clips to use (default test)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs (created if missing)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    parser.add_argument("--seed", type=int, default=0, help="seed of clip sampling and t-SNE (default 0)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="clips or windows per forward pass (default 32)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def plot_tsne(args: argparse.Namespace) -> int:
    from rcmcl_core.device import resolve_device
    from rcmcl_core.data.dataset import draw_clips
    from rcmcl_core.evaluation.figure_data import collect_features
    from rcmcl_core.plots.results import tsne_figure
    _check_positive(max_clips=args.max_clips, iterations=args.iterations, batch_size=args.batch_size)
    device = resolve_device(args.device)
    for spec in args.checkpoints:
        name, _, path = spec.rpartition("=")
        name = name or Path(path).stem
        model, checkpoint = load_model(Path(path))
        dataset = open_dataset(args, checkpoint.config, subset=args.subset, train=False)
        count = len(dataset)
        if count < 2:
            raise ValueError(f"t-SNE needs at least 2 clips, the {args.subset} subset has {count}")
        indices = draw_clips(count, args.max_clips, seed=args.seed)
        features = collect_features(model, dataset, indices=indices.tolist(), batch_size=args.batch_size,
                                    device=device, progress=not args.no_progress)
        out = tsne_figure(features.fused, features.labels, dataset.class_names, args.out / f"tsne_{_slug(name)}.png",
                          title=f"{name}: t-SNE of fused features, {len(indices)} {args.subset} clips",
                          perplexity=args.perplexity, seed=args.seed, iterations=args.iterations)
        print(f"wrote {out}")
        if args.per_modality:
            rows, kinds = np.nonzero(features.present)                    # present (clip, modality) pairs
            out = tsne_figure(features.z[rows, kinds], features.labels[rows], dataset.class_names,
                              args.out / f"tsne_{_slug(name)}_modalities.png", modality=kinds,
                              title=f"{name}: t-SNE of per-modality features Z_M ({len(rows)} points)",
                              perplexity=args.perplexity, seed=args.seed, iterations=args.iterations)
            print(f"wrote {out}")
    return 0


def plot_gates(args: argparse.Namespace) -> int:
    from rcmcl_core.device import resolve_device
    from rcmcl_core.evaluation.figure_data import gate_timeline_for_clip, stream_from_dataset
    from rcmcl_core.plots.results import gate_timeline
    _check_positive(clips=args.clips, stride_frames=args.stride_frames, batch_size=args.batch_size)
    t0_frac, t1_frac = args.drop_window
    if not 0.0 <= t0_frac < t1_frac <= 1.0:
        raise ValueError(f"--drop-window needs 0 <= FROM < TO <= 1, got {t0_frac} {t1_frac}")
    model, checkpoint = load_model(args.checkpoint)
    dataset = open_dataset(args, checkpoint.config, subset=args.subset, train=False)
    if len(dataset) == 0:
        raise ValueError(f"the {args.subset} subset holds no clips")
    indices = np.unique(np.linspace(0, len(dataset) - 1, min(args.clips, len(dataset))).round().astype(int))
    stream = stream_from_dataset(dataset, indices.tolist(), window_s=checkpoint.config.clip.window_s)
    same_classes = list(dataset.class_names) == list(checkpoint.labels)
    rows = []
    for modality in args.drop:
        timeline = gate_timeline_for_clip(model, stream, drop=(modality, t0_frac, t1_frac),
                                          stride_frames=args.stride_frames, batch_size=args.batch_size,
                                          device=resolve_device(args.device))
        _, t0, t1 = timeline.dropped
        names = [checkpoint.labels[k] if k >= 0 else "-" for k in timeline.predicted]
        out = gate_timeline(timeline.times_s, timeline.gates, args.out / f"gates_drop_{modality}.png",
                            segments=[(t0, t1, f"{modality} dropped")], labels=names, labels_name="predicted",
                            title=f"{args.checkpoint.name}: AMG gates, {modality} dropped {t0:.1f}-{t1:.1f} s "
                                  f"({len(indices)} {args.subset}-subset clips end to end)")
        print(f"wrote {out}")
        half = checkpoint.config.clip.window_s / 2
        start_s, end_s = timeline.times_s - half, timeline.times_s + half
        inside = (start_s >= t0) & (end_s < t1)                          # the whole window lacks the modality
        outside = (end_s < t0) | (start_s >= t1)                         # the whole window has it
        for where, mask in (("outside", outside), ("partly", ~inside & ~outside), ("inside", inside)):
            gates = timeline.gates[mask].mean(axis=0) if mask.any() else np.full(3, np.nan)
            correct = timeline.predicted[mask] == timeline.truth[mask]
            accuracy = f"{100 * correct.mean():.1f}" if same_classes and mask.any() else "n/a"
            rows.append(f"| {modality} | {where} | {int(mask.sum())} | " + " | ".join(f"{g:.3f}" for g in gates)
                        + f" | {accuracy} |")
    report = ["# Gates with one modality dropped mid-stream", "",
              f"Checkpoint {args.checkpoint}; {len(indices)} clips of the {args.subset} subset end to end "
              f"({stream.duration_s:.1f} s at {stream.fps:.1f} fps); drop from {t0_frac:g} to {t1_frac:g} of "
              "the stream. A window is inside when all of it lies in the drop, outside when none does, partly "
              "otherwise (there the modality counts as absent once more than half of the window lacks it).", "",
              "| dropped | window | count | g_R | g_S | g_P | accuracy (%) |", "|---|---|---|---|---|---|---|", *rows]
    if not same_classes:
        report += ["", "Accuracy n/a: the dataset's classes differ from the checkpoint's labels."]
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out / "gates.md", ("\n".join(report) + "\n").encode())
    print("\n".join(report[4:]))
    print(f"wrote {args.out / 'gates.md'}")
    return 0


def plot_robustness(args: argparse.Namespace) -> int:
    from rcmcl_core.evaluation.robustness import read_results
    from rcmcl_core.plots.results import robustness_bars
    try:
        results = read_results(args.results)
    except (TypeError, KeyError, AttributeError) as err:
        raise ValueError(f"{args.results}: not a results.json written by `rcmcl evaluate` ({err})") from err
    methods = args.methods or list(results)
    unknown = [m for m in methods if m not in results]
    if unknown:
        raise ValueError(f"{args.results} has no method(s) {unknown}; it has {list(results)}")
    accuracy = {m: {c: r.accuracy for c, r in results[m].items()} for m in methods}
    known = {c for m in methods for c in accuracy[m]}
    if args.conditions:
        groups = {"robustness": (args.conditions, "Accuracy per condition")}
    else:
        groups = {"robustness_dropout": (DROPOUT_GROUP, "Accuracy with modalities missing (Table II)"),
                  "robustness_corruption": (CORRUPTION_GROUP, "Accuracy under corruption (Table III)")}
    for stem, (conditions, title) in groups.items():
        shown = [c for c in conditions if c in known] if not args.conditions else list(conditions)
        if not shown:
            print(f"skipped {stem}.png: {args.results} has none of {list(conditions)}")
            continue
        print(f"wrote {robustness_bars(accuracy, args.out / f'{stem}.png', conditions=shown, title=title)}")
    return 0


def plot_curves(args: argparse.Namespace) -> int:
    from rcmcl_core.training.curves import read_curves
    from rcmcl_core.plots.curves import curves_figure
    runs = {}
    for spec in args.runs:
        name, _, folder = spec.rpartition("=")
        rows = read_curves(Path(folder))
        if not rows:
            raise ValueError(f"{folder}: curves.jsonl has no finished epoch yet")
        runs[name or Path(folder).name] = rows
    path = curves_figure(runs, out_png=args.out)
    print(f"written: {path}")
    return 0
