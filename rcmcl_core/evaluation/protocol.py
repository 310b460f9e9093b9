"""The paper's whole protocol on one dataset split, as a list of resumable steps.

    rcmcl protocol --config config/protocol_lite.yaml --data-root data/synth --out runs/protocol

Steps (each in <out>/<name>/, skipped when its final checkpoint exists, resumed from last.pt otherwise):
RCMCL pretrain -> fine-tune and linear probe; the supervised late-fusion baseline (Table II 'Supervised',
Table IV config 1); CMC-CMKM pretrain -> fine-tune and probe; ablation configs 2-6 of Table IV (pretrain
+ probe; config 7 is RCMCL's own probe). Every final model is run through the robustness suite once
(<out>/<name>/eval.json); `report.py` turns the results into the markdown tables.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Literal

from rcmcl_core.training.baselines import ABLATIONS, ablation_config, cmkm_config, supervised_fusion_config
from rcmcl_core.checkpoint import load_model
from rcmcl_core.config import RCMCLConfig
from rcmcl_core.data.dataset import ClipDataset
from rcmcl_core.atomic_io import atomic_write_bytes
from rcmcl_core.evaluation.robustness import CONDITIONS, ConditionResult, evaluate, read_results, write_results

Stage = Literal["pretrain", "probe", "finetune"]


def _same(config: RCMCLConfig) -> RCMCLConfig:
    return config


@dataclass(frozen=True)
class Step:
    """One training run. `init` names an earlier step whose checkpoint initialises this one."""

    name: str
    stage: Stage
    configure: Callable[[RCMCLConfig], RCMCLConfig] = _same
    method: Literal["rcmcl", "cmkm"] = "rcmcl"
    init: str | None = None
    evaluate: bool = True
    group: Literal["main", "baseline", "ablation"] = "main"

    @property
    def checkpoint_name(self) -> str:
        return f"{self.stage}.pt"


def protocol_steps(*, ablations: bool = True, own_full_ablation: bool = False) -> list[Step]:
    """Ordered so that the deployable model (rcmcl_finetune) exists as early as possible. Ablation 7 (full
    RCMCL) is the main RCMCL probe unless `own_full_ablation` (ablations on a budget of their own)."""
    steps = [
        Step("rcmcl_pretrain", "pretrain", evaluate=False),
        Step("rcmcl_finetune", "finetune", init="rcmcl_pretrain"),
        Step("supervised", "finetune", supervised_fusion_config, group="baseline"),
        Step("rcmcl_probe", "probe", init="rcmcl_pretrain"),
        Step("cmkm_pretrain", "pretrain", cmkm_config, method="cmkm", evaluate=False, group="baseline"),
        Step("cmkm_finetune", "finetune", cmkm_config, init="cmkm_pretrain", group="baseline"),
        Step("cmkm_probe", "probe", cmkm_config, init="cmkm_pretrain", group="baseline"),
    ]
    if ablations:
        for number in sorted(ABLATIONS):
            if number == 1 or (number == 7 and not own_full_ablation):   # already in the main steps
                continue
            configure = partial(ablation_config, number=number)
            steps += [Step(f"ablation{number}_pretrain", "pretrain", configure, evaluate=False, group="ablation"),
                      Step(f"ablation{number}_probe", "probe", configure, init=f"ablation{number}_pretrain",
                           group="ablation")]
    return steps


def select_steps(steps: list[Step], names: list[str]) -> list[Step]:
    """The steps named in `names` plus the steps they start from (their `init`), in protocol order."""
    unknown = set(names) - {s.name for s in steps}
    if unknown:
        raise ValueError(f"unknown step(s) {sorted(unknown)}; steps are {[s.name for s in steps]}")
    wanted = set(names) | {s.init for s in steps if s.name in names and s.init}
    return [s for s in steps if s.name in wanted]


def with_epochs(config: RCMCLConfig, pretrain_epochs: int | None) -> RCMCLConfig:
    """`config` with another pretraining length (ablations may run on a shorter budget)."""
    if pretrain_epochs is None:
        return config
    warmup = min(config.optim.warmup_epochs, pretrain_epochs - 1)
    optim = dataclasses.replace(config.optim, pretrain_epochs=pretrain_epochs, warmup_epochs=warmup)
    return dataclasses.replace(config, optim=optim).validate()


@dataclass
class Protocol:
    """Runs `steps` in order on (root, split) and keeps <out>/timings.json (seconds per step)."""

    base: RCMCLConfig
    root: Path
    out: Path
    split: str = "xsub"
    device: str = "cpu"
    seed: int = 0
    ablation_pretrain_epochs: int | None = None
    progress: bool = True

    def config_of(self, step: Step) -> RCMCLConfig:
        config = step.configure(self.base)
        return with_epochs(config, self.ablation_pretrain_epochs) if step.group == "ablation" else config

    def checkpoint(self, step: Step) -> Path:
        return self.out / step.name / step.checkpoint_name

    def run(self, steps: list[Step]) -> dict[str, dict[str, ConditionResult]]:
        """Train what is missing, evaluate what is unevaluated; returns results per evaluated step."""
        by_name = {s.name: s for s in steps}
        results = {}
        for step in steps:
            if not self.checkpoint(step).is_file():
                started = time.perf_counter()
                self._train(step, init=self.checkpoint(by_name[step.init]) if step.init else None)
                self._add_time(step.name, time.perf_counter() - started)
            if step.evaluate:
                results[step.name] = self._evaluate(step)
        return results

    def timings(self) -> dict[str, float]:
        """Seconds per step (and per step's evaluation) so far, from <out>/timings.json."""
        path = self.out / "timings.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def _add_time(self, key: str, seconds: float) -> None:
        timings = self.timings()
        timings[key] = timings.get(key, 0.0) + seconds
        atomic_write_bytes(self.out / "timings.json", json.dumps(timings, indent=1).encode())

    def _dataset(self, config: RCMCLConfig, subset: str) -> ClipDataset:
        return ClipDataset(self.root, split=self.split, subset=subset, config=config, train=(subset == "train"),
                           seed=self.seed)

    def _train(self, step: Step, *, init: Path | None) -> None:
        from rcmcl_core.device import resolve_device
        from rcmcl_core.training.probe import probe_stage
        from rcmcl_core.training.loop import build_model, train_stage

        config = self.config_of(step)
        dataset = self._dataset(config, "train")
        heldout = self._dataset(config, "test")                    # per-epoch accuracy in curves.jsonl
        out_dir = self.out / step.name
        print(f"[protocol] {step.name}: {step.stage} ({step.method}) on {len(dataset)} clips -> {out_dir}",
              flush=True)
        if step.stage == "probe":
            device = resolve_device(self.device)
            model = build_model(config, init_checkpoint=init, device=device)
            probe_stage(config=config, model=model, dataset=dataset, labels=dataset.class_names, out_dir=out_dir,
                        device=device, seed=self.seed, progress=self.progress, heldout=heldout)
            return
        train_stage(stage=step.stage, config=config, dataset=dataset, labels=dataset.class_names, out_dir=out_dir,
                    device=self.device, seed=self.seed, init_checkpoint=init, resume=True, method=step.method,
                    progress=self.progress, heldout=heldout)

    def _evaluate(self, step: Step) -> dict[str, ConditionResult]:
        path = self.out / step.name / "eval.json"
        done = read_results(path)[step.name] if path.is_file() else {}
        missing = {name: c for name, c in CONDITIONS.items() if name not in done}
        if not missing:
            return done
        from rcmcl_core.device import resolve_device

        model, checkpoint = load_model(self.checkpoint(step))
        dataset = self._dataset(checkpoint.config, "test")
        print(f"[protocol] {step.name}: {len(missing)} robustness condition(s) on {len(dataset)} test clips",
              flush=True)
        started = time.perf_counter()
        new = evaluate(model, dataset, conditions=missing, device=resolve_device(self.device), seed=self.seed,
                       progress=self.progress)
        self._add_time(f"{step.name} (evaluation)", time.perf_counter() - started)
        result = {name: done[name] if name in done else new[name] for name in CONDITIONS}   # suite order
        write_results(path, {step.name: result})
        return result
