"""`rcmcl label-efficiency run | report`: the label-efficiency and transfer grid
(rcmcl_core/evaluation/label_efficiency.py) and the section rebuilt from its files."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rcmcl_core.atomic_io import atomic_write_bytes

DEFAULT_RESULTS = Path("docs/results/label_efficiency")


def _pretrained(specs: list[str]) -> dict[str, Path]:
    out = {}
    for spec in specs or []:
        name, sep, path = spec.partition("=")
        if not sep or name not in ("rcmcl", "cmkm"):
            raise ValueError(f"--pretrained takes rcmcl=PATH and cmkm=PATH, got {spec!r}")
        if not Path(path).is_file():
            raise FileNotFoundError(f"--pretrained {name}: no checkpoint at {path}")
        out[name] = Path(path)
    return out


def _part(text: str | None) -> tuple[int, int]:
    if text is None:
        return 1, 1
    index, sep, count = text.partition("/")
    if not sep or not index.isdigit() or not count.isdigit():
        raise ValueError(f"--part takes i/n, e.g. 1/2; got {text!r}")
    return int(index), int(count)


def run_order(cell) -> tuple:
    """Novel classes first, fewest labels first, seed by seed: every finished seed pairs all starts."""
    from rcmcl_core.evaluation.label_efficiency import STARTS, TASKS
    return (TASKS.index(cell.task), cell.amount, cell.seed, STARTS.index(cell.start), cell.mode)


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm
    from rcmcl_core.config import RCMCLConfig
    from rcmcl_core.evaluation.label_efficiency import Plan, grid, part, run_cell, select

    if args.threads:
        torch.set_num_threads(args.threads)
    roots = {"novel": args.novel_root, "bundled": args.bundled_root}
    plan = Plan(config=RCMCLConfig.from_yaml(args.config), roots=roots,
                pretrained=_pretrained(args.pretrained), work=args.work, results=args.results,
                progress=not args.no_progress)
    cells = part(select(grid(), args.only or []), *_part(args.part))
    todo = sorted((c for c in cells if not plan.result_path(c).is_file()), key=run_order)
    done = len(cells) - len(todo)
    waiting = [c for c in todo if c.start != "scratch" and c.start not in plan.pretrained]
    if args.skip_missing_pretraining:
        todo = [c for c in todo if c not in waiting]
    skipped = f", {len(waiting)} skipped (no {'/'.join(sorted({c.start for c in waiting}))} pretraining given)" \
        if args.skip_missing_pretraining and waiting else ""
    print(f"label-efficiency: {done} of {len(cells)} cells already done, {len(todo)} to run{skipped}")
    for cell in tqdm(todo, desc="cells", unit="cell", disable=args.no_progress):
        result = run_cell(cell, plan)
        acc = result["conditions"]
        print(f"{cell.name}: clean {acc['clean']['accuracy']:.1f} %, "
              f"R&P missing {acc['R&P missing']['accuracy']:.1f} % ({result['labelled_clips']} labelled clips, "
              f"{result['seconds'] / 60:.1f} min)", flush=True)
    return 0


def report(args: argparse.Namespace) -> int:
    from rcmcl_core.evaluation.label_efficiency import grid, read_cell_results
    from rcmcl_core.evaluation.label_efficiency_report import report_markdown, summarise
    from rcmcl_core.plots.label_efficiency import label_efficiency_figure

    results = read_cell_results(args.results)
    if not results:
        raise FileNotFoundError(f"no finished cells under {args.results}/cells (run `rcmcl label-efficiency run`)")
    summary = summarise(results)
    atomic_write_bytes(args.results / "summary.json", (json.dumps(summary, indent=1) + "\n").encode())
    markdown = report_markdown(summary, cells_done=len(results), cells_planned=len(grid()))
    atomic_write_bytes(args.results / "report.md", markdown.encode())
    label_efficiency_figure(summary, out_png=args.results / "label_efficiency.png")
    print(markdown)
    print(f"written: {args.results / 'report.md'}, summary.json, label_efficiency.png", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    """Add `label-efficiency run | report` to the `rcmcl` parser."""
    top = subparsers.add_parser("label-efficiency", help="few-label and transfer grid: run cells, build the report",
                                description="Does the pretraining buy few-label learning? docs/RESULTS.md, "
                                            "'Label efficiency and transfer'.")
    commands = top.add_subparsers(dest="label_efficiency_command", required=True, metavar="{run,report}")
    p = commands.add_parser("run", help="train and score the grid's cells (resumable; finished cells are skipped)")
    p.add_argument("--config", type=Path, default=Path("config/label_efficiency.yaml"),
                   help="the fine-tuning / probe recipe (default config/label_efficiency.yaml)")
    p.add_argument("--novel-root", type=Path, default=Path("data/synth_novel"),
                   help="`rcmcl generate --preset compact --class-set novel` output")
    p.add_argument("--bundled-root", type=Path, default=Path("data/synth_compact"),
                   help="`rcmcl generate --preset compact` output")
    p.add_argument("--pretrained", nargs="*", metavar="START=PATH",
                   help="rcmcl=PATH cmkm=PATH: the pretrainings the non-scratch cells start from")
    p.add_argument("--work", type=Path, default=Path("runs/label_efficiency"), help="checkpoints per cell")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="result.json per cell (committed)")
    p.add_argument("--only", nargs="+", metavar="TEXT", help="only cells whose name contains every TEXT")
    p.add_argument("--part", help="i/n: run part i of n of the selected cells (parallel processes or machines)")
    p.add_argument("--skip-missing-pretraining", action="store_true",
                   help="skip cells whose pretraining was not given instead of failing")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=run)
    p = commands.add_parser("report", help="rebuild report.md, summary.json and label_efficiency.png from the cells")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    p.set_defaults(handler=report)
