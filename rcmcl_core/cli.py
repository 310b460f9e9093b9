"""The `rcmcl` command. Each subcommand is one `add_<name>(subparsers)` function that declares its
arguments and sets `handler` (args -> exit code); add a new one to SUBCOMMANDS.

    rcmcl generate --preset lite --out data/synth [--seed S] [--workers N]
    rcmcl pretrain | probe | finetune | evaluate | export ...   (rcmcl_core/commands/training.py)
    rcmcl plot tsne | gates | robustness | calibration ...     (rcmcl_core/commands/plot.py)
    rcmcl label-efficiency run | report                          (rcmcl_core/commands/label_efficiency.py)
    rcmcl prepare ntu | ntu-fixture ...                          (rcmcl_core/commands/prepare.py)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

from rcmcl_core.config import PRESETS, RCMCLConfig, preset
from rcmcl_core.data.synthetic.classes import CLASS_SETS


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--preset NAME and --config FILE.yaml (a YAML file overrides the preset, see RCMCLConfig.from_yaml)."""
    parser.add_argument("--preset", default="lite", choices=sorted(PRESETS), help="configuration preset (default lite)")
    parser.add_argument("--config", type=Path, default=None, help="YAML config file; its `preset:` key wins")


def config_from_args(args: argparse.Namespace) -> RCMCLConfig:
    """The validated config named by --config, else by --preset."""
    return RCMCLConfig.from_yaml(args.config) if args.config is not None else preset(args.preset)


# -- generate ------------------------------------------------------------------------------------------
def add_generate(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("generate", help="write the procedural tri-modal benchmark (docs/DATASET.md)",
                              description="Render the synthetic RGB / depth / skeleton / points benchmark "
                                          "into shards + manifest.json under --out.")
    add_config_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="dataset root to write (created if missing)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed: same seed, same data (default 0)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--clips-per-class-per-view", type=int, default=None,
                   help="performances per class, each seen by every camera (default: the preset's size)")
    p.add_argument("--subjects", type=int, default=None, help="number of performers (default: the preset's)")
    p.add_argument("--class-set", default="bundled", choices=sorted(CLASS_SETS),
                   help="bundled: the 24 classes the bundled checkpoint knows; novel: 8 actions no pretraining "
                        "sees (transfer and few-shot runs); default bundled")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from rcmcl_core.data.synthetic.generate import generate  # keeps `rcmcl --help` fast

    for name in ("workers", "clips_per_class_per_view", "subjects"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    config = config_from_args(args)
    start = time.perf_counter()
    manifest = generate(out=args.out, config=config, clips_per_class_per_view=args.clips_per_class_per_view,
                        subjects=args.subjects, seed=args.seed, workers=args.workers, progress=not args.quiet,
                        class_set=args.class_set)
    size_mb = sum((args.out / s).stat().st_size for s in manifest.shards) / 1e6
    print(f"wrote {manifest.num_clips} clips of {len(manifest.classes)} classes in {len(manifest.shards)} shards "
          f"({size_mb:.1f} MB) to {args.out} in {time.perf_counter() - start:.1f} s")
    return 0


def add_training_commands(subparsers: argparse._SubParsersAction) -> None:
    """pretrain, probe, finetune, evaluate, export (rcmcl_core/commands/training.py)."""
    from rcmcl_core.commands.training import register
    register(subparsers)


def add_plot_commands(subparsers: argparse._SubParsersAction) -> None:
    """plot tsne | gates | robustness (rcmcl_core/commands/plot.py)."""
    from rcmcl_core.commands.plot import register
    register(subparsers)


def add_label_efficiency_commands(subparsers: argparse._SubParsersAction) -> None:
    """label-efficiency run | report (rcmcl_core/commands/label_efficiency.py)."""
    from rcmcl_core.commands.label_efficiency import register
    register(subparsers)


def add_prepare_commands(subparsers: argparse._SubParsersAction) -> None:
    """prepare ntu | ntu-fixture (rcmcl_core/commands/prepare.py)."""
    from rcmcl_core.commands.prepare import register
    register(subparsers)


SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    add_generate, add_training_commands, add_plot_commands, add_label_efficiency_commands, add_prepare_commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rcmcl", description="RCMCL: robust multi-modal action recognition")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse argv (default sys.argv[1:]) and run the subcommand; returns the exit code (2 on bad input)."""
    from rcmcl_core.commands.training import run_handler
    args = build_parser().parse_args(argv)
    return run_handler(args)


if __name__ == "__main__":
    sys.exit(main())
