"""`rcmcl plot calibration`: mean gate of each modality vs fault severity (rcmcl_core/evaluation/calibration.py).

    rcmcl plot calibration rcmcl_core/assets/rcmcl_compact.pt --data-root data/synth --out docs/figures
"""
from __future__ import annotations

import argparse
from pathlib import Path


EXAMPLE = ("rcmcl plot calibration rcmcl_core/assets/rcmcl_compact.pt --data-root data/synth --split xsub \\\n"
           "    --max-clips 64 --out docs/figures")


def register(figures, *, add_model_options) -> None:
    """Add the `calibration` figure to `rcmcl plot`'s subparsers."""
    from rcmcl_core.evaluation.calibration import LEVELS
    from rcmcl_core.augment.sensor_faults import FAULTS
    p = figures.add_parser(
        "calibration", help="mean gate per modality vs severity of every sensor fault",
        description="Run a checkpoint over test clips under every sensor fault (rcmcl_core/augment/sensor_faults.py) "
                    "at each --levels severity and write <out>/calibration.png, calibration.md and "
                    "calibration.json: accuracy and mean gates per level, and per fault whether the faulted "
                    "modality's gate is non-increasing, its drop at the strongest level and how far the other "
                    "gates fall.",
        epilog="example:\n" + "\n".join("  " + line for line in EXAMPLE.splitlines()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_options(p)
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="checkpoint file (.pt)")
    p.add_argument("--faults", nargs="+", choices=list(FAULTS), help="faults to measure (default: all)")
    p.add_argument("--levels", nargs="+", type=float, default=list(LEVELS),
                   help=f"severities in [0, 1] (default {' '.join(f'{s:g}' for s in LEVELS)}; 0 is always run)")
    p.add_argument("--max-clips", type=int, default=0,
                   help="use at most this many clips, drawn by --seed (default 0: all of the subset)")
    p.add_argument("--no-health-rule", action="store_true",
                   help="feed the model the degraded clips as they are (learned gates only); by default the "
                        "node's sensor-health rules (rcmcl_core/sensor_health.py: repeated RGB-D frames, "
                        "implausible skeleton motion) reject frames first, as the node does")
    p.add_argument("--health-max-rejected-fraction", type=float, default=None, metavar="F",
                   help="with the health rule: a modality with more than this share of a clip's frames rejected is "
                        "absent (default: HealthConfig's, the node's health_max_rejected_fraction)")
    p.set_defaults(handler=plot_calibration)


def plot_calibration(args: argparse.Namespace) -> int:
    import torch.utils.data

    from rcmcl_core.evaluation.calibration import calibrate
    from rcmcl_core.plots.calibration import write_calibration
    from rcmcl_core.commands.training import open_dataset
    from rcmcl_core.data.dataset import draw_clips
    from rcmcl_core.checkpoint import load_model
    from rcmcl_core.device import resolve_device
    if args.max_clips < 0 or args.batch_size < 1:
        raise ValueError(f"--max-clips must be >= 0 and --batch-size >= 1, got {args.max_clips}, {args.batch_size}")
    model, checkpoint = load_model(args.checkpoint)
    dataset = open_dataset(args, checkpoint.config, subset=args.subset, train=False)
    if len(dataset) == 0:
        raise ValueError(f"the {args.subset} subset holds no clips")
    if args.max_clips and args.max_clips < len(dataset):
        chosen = draw_clips(len(dataset), args.max_clips, seed=args.seed)
        dataset = torch.utils.data.Subset(dataset, chosen.tolist())
    from rcmcl_core.sensor_health import HealthConfig
    health = None if args.no_health_rule else HealthConfig()
    if health is not None and args.health_max_rejected_fraction is not None:
        health.max_rejected_fraction = args.health_max_rejected_fraction
        health.validate()
    curves = calibrate(model, dataset, faults=args.faults, levels=args.levels, batch_size=args.batch_size,
                       device=resolve_device(args.device), seed=args.seed, progress=not args.no_progress,
                       health=health)
    header = {"checkpoint": str(args.checkpoint), "gate_mode": checkpoint.config.model.gate_mode,
              "subset": args.subset, "clips": len(dataset), "seed": args.seed,
              "health_rule": "off (learned gates only)" if health is None else
              "on (frames rejected by rcmcl_core/sensor_health.py before the model: detected by rule, not learned; "
              f"max_rejected_fraction {health.max_rejected_fraction:g})"}
    for path in write_calibration(args.out, curves, header=header):
        print(f"wrote {path}")
    return 0
