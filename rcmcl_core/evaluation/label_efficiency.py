"""Label efficiency and transfer: does the pretraining buy learning from few labels?

The grid (docs/RESULTS.md, "Label efficiency and transfer"): each cell trains one model and evaluates it.
- task `novel`: the 8 novel synthetic classes (classes.NOVEL_CLASSES, never seen by a pretraining) with K = 1,
  5, 10 or 20 labelled clips per class; task `bundled`: the 24 bundled classes with 1 %, 10 % or 100 % of
  each class's labelled clips.
- start `rcmcl` (the RCMCL pretraining), `cmkm` (the CMC-CMKM pretraining) or `scratch` (random weights).
- mode `finetune` (everything learns, the bundled fine-tuning recipe: AMG mode, gate target, modality
  dropout, faults, epochs, with optim.min_steps for few labels) or `probe` (a linear classifier on frozen
  encoders and gate).
- seed 0, 1, 2: the labelled-clip draw and the training seed. The pretrainings are shared by all seeds, and a
  seed draws the same labelled clips for every start and mode, so cells of one seed are paired.

A cell trains on the cross-subject train subjects and is scored on the held-out test subjects (clean and the
Table II dropout columns, learned gates only). Each cell writes `<results>/cells/<name>/result.json` (and the
labelled_clips.json it trained on) when it finishes, so the grid runs in parts and resumes: a finished cell
is skipped, an interrupted fine-tune continues from its last.pt under `<work>/<name>/`.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal, Sequence

import torch

from rcmcl_core.atomic_io import atomic_write_bytes
from rcmcl_core.config import RCMCLConfig
from rcmcl_core.data.dataset import ClipDataset
from rcmcl_core.data.label_subset import LABELLED_CLIPS, LabelRequest, labelled_subset, write_labelled_clips
from rcmcl_core.evaluation.robustness import CONDITIONS, DROPOUT_COLUMNS, evaluate

Task = Literal["novel", "bundled"]
Start = Literal["rcmcl", "cmkm", "scratch"]
Mode = Literal["finetune", "probe"]

TASKS: tuple[Task, ...] = ("novel", "bundled")
STARTS: tuple[Start, ...] = ("rcmcl", "cmkm", "scratch")
MODES: tuple[Mode, ...] = ("finetune", "probe")
SEEDS = (0, 1, 2)
NOVEL_LABELS_PER_CLASS = (1, 5, 10, 20)
BUNDLED_LABEL_FRACTIONS = (0.01, 0.1, 1.0)
EVAL_CONDITIONS = ("clean", *DROPOUT_COLUMNS)
"""Scored per cell: clean and Table II's dropout columns (R, S, P, R&P missing)."""
RESULT = "result.json"
SPLIT = "xsub"


@dataclass(frozen=True, order=True)
class Cell:
    """One run of the grid. `amount` is K (labels per class) for task novel, the label fraction for bundled."""

    task: Task
    amount: float
    start: Start
    mode: Mode
    seed: int

    @property
    def name(self) -> str:
        amount = f"K{int(self.amount)}" if self.task == "novel" else f"F{self.amount:g}"
        return f"{self.task}_{amount}_{self.start}_{self.mode}_s{self.seed}"

    @property
    def request(self) -> LabelRequest:
        if self.task == "novel":
            return LabelRequest(per_class=int(self.amount), seed=self.seed)
        return LabelRequest(fraction=float(self.amount), seed=self.seed)

    @property
    def cost(self) -> float:
        """Rough relative CPU cost, for ordering and splitting the grid into parts."""
        if self.mode == "probe":
            return 0.3
        return 5.0 if self.task == "bundled" and self.amount >= 1.0 else 1.0


def grid(*, tasks: Sequence[Task] = TASKS, starts: Sequence[Start] = STARTS, modes: Sequence[Mode] = MODES,
         seeds: Sequence[int] = SEEDS) -> list[Cell]:
    """Every cell, cheapest task amounts first."""
    cells = []
    for task in tasks:
        amounts = NOVEL_LABELS_PER_CLASS if task == "novel" else BUNDLED_LABEL_FRACTIONS
        cells += [Cell(task, float(a), start, mode, seed)
                  for a in amounts for seed in seeds for start in starts for mode in modes]
    return cells


def select(cells: Iterable[Cell], patterns: Sequence[str]) -> list[Cell]:
    """Cells whose name contains every pattern (e.g. ['novel', '_s0'])."""
    return [c for c in cells if all(p in c.name for p in patterns)]


def part(cells: Sequence[Cell], index: int, count: int) -> list[Cell]:
    """Part `index` of `count` (1-based) of `cells`: dealt out by cost, so the parts take similar time."""
    if not 1 <= index <= count:
        raise ValueError(f"part must be i/n with 1 <= i <= n, got {index}/{count}")
    ordered = sorted(cells, key=lambda c: (-c.cost, c.name))
    loads = [0.0] * count
    mine = []
    for cell in ordered:
        slot = loads.index(min(loads))
        loads[slot] += cell.cost
        if slot == index - 1:
            mine.append(cell)
    return sorted(mine, key=lambda c: c.name)


@dataclass
class Plan:
    """What the cells need: the base recipe, dataset roots per task, pretrained checkpoints per start."""

    config: RCMCLConfig
    roots: dict[str, Path]
    pretrained: dict[str, Path]
    work: Path
    results: Path
    device: str = "cpu"
    progress: bool = True

    def cell_config(self, classes: int) -> RCMCLConfig:
        model = dataclasses.replace(self.config.model, num_classes=classes)
        return dataclasses.replace(self.config, model=model).validate()

    def result_path(self, cell: Cell) -> Path:
        return self.results / "cells" / cell.name / RESULT


def run_cell(cell: Cell, plan: Plan) -> dict:
    """Train and score one cell (resuming an interrupted fine-tune); write and return its result."""
    from rcmcl_core.training.loop import build_model, train_stage
    from rcmcl_core.training.probe import probe_stage

    if cell.start != "scratch" and cell.start not in plan.pretrained:
        raise ValueError(f"cell {cell.name} needs the {cell.start} pretraining: pass {cell.start}=PATH")
    root = plan.roots[cell.task]
    started = time.perf_counter()
    probe_config = plan.config
    train = ClipDataset(root, split=SPLIT, subset="train", config=probe_config, train=True, seed=cell.seed)
    test = ClipDataset(root, split=SPLIT, subset="test", config=probe_config, train=False)
    config = plan.cell_config(len(train.class_names))
    subset = labelled_subset(train, cell.request)
    work = plan.work / cell.name
    work.mkdir(parents=True, exist_ok=True)
    write_labelled_clips(work / LABELLED_CLIPS, subset, cell.request)
    init = plan.pretrained.get(cell.start) if cell.start != "scratch" else None
    torch.manual_seed(cell.seed)
    if cell.mode == "finetune":
        result = train_stage(stage="finetune", config=config, dataset=subset, labels=train.class_names, out_dir=work,
                             device=plan.device, seed=cell.seed, init_checkpoint=init, resume=True,
                             progress=plan.progress)
        model, steps = result.model, result.steps
    else:
        device = torch.device(plan.device)
        model = build_model(config, init_checkpoint=init, device=device)
        probe_stage(config=config, model=model, dataset=subset, labels=train.class_names, out_dir=work,
                    device=device, seed=cell.seed, progress=plan.progress)
        steps = None
    trained_s = time.perf_counter() - started
    scores = evaluate(model, test, conditions={c: CONDITIONS[c] for c in EVAL_CONDITIONS},
                      device=plan.device, seed=0, progress=False)
    payload = {"cell": dataclasses.asdict(cell), "name": cell.name, "labelled_clips": len(subset),
               "train_clips": len(train), "test_clips": len(test), "classes": train.class_names,
               "init": str(init) if init is not None else None, "steps": steps,
               "train_seconds": trained_s, "seconds": time.perf_counter() - started,
               "threads": torch.get_num_threads(),
               "conditions": {name: dataclasses.asdict(r) for name, r in scores.items()}}
    path = plan.result_path(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(work / LABELLED_CLIPS, path.parent / LABELLED_CLIPS)
    atomic_write_bytes(path, (json.dumps(payload, indent=1) + "\n").encode())
    return payload


def read_cell_results(results: Path) -> list[dict]:
    """Every finished cell's result.json under `results`/cells, sorted by name."""
    return [json.loads(p.read_text()) for p in sorted((Path(results) / "cells").glob(f"*/{RESULT}"))]
