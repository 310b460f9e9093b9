"""Gate-variant ablation on one small budget: fine-tune the tiny preset from scratch once per model.gate_mode
(same data, seed, steps), then measure each model's gate-vs-severity curves (rcmcl_core/evaluation/calibration.py).

    python benchmarks/gate_ablation.py --data-root data/synth --steps 150 --out runs/gate_ablation

Prints one summary row per mode and fault (clean accuracy, own-gate non-increasing, own-gate drop at full
severity) and writes <out>/ablation.json and ablation.md. Small budgets say little about converged models:
quote the step count with every figure.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from rcmcl_core.evaluation.calibration import calibrate  # noqa: E402
from rcmcl_core.config import GATE_MODES, MODALITIES, preset  # noqa: E402
from rcmcl_core.data.dataset import ClipDataset  # noqa: E402
from rcmcl_core.training.loop import train_stage  # noqa: E402

FAULTS = ("skeleton_noise", "skeleton_jumps", "points_sparsity", "points_flying_pixels", "rgbd_occlusion",
          "rgbd_blackout", "rgbd_frozen", "depth_holes")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--modes", nargs="+", default=list(GATE_MODES), choices=GATE_MODES)
    p.add_argument("--faults", nargs="+", default=list(FAULTS))
    p.add_argument("--levels", nargs="+", type=float, default=[0.25, 0.5, 1.0])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    summary = {}
    for mode in args.modes:
        base = preset("tiny")
        config = dataclasses.replace(base, model=dataclasses.replace(base.model, gate_mode=mode),
                                     optim=dataclasses.replace(base.optim, finetune_epochs=10_000)).validate()
        train = ClipDataset(args.data_root, split="xsub", subset="train", config=config, train=True, seed=args.seed)
        test = ClipDataset(args.data_root, split="xsub", subset="test", config=config, train=False, seed=args.seed)
        config = dataclasses.replace(config, model=dataclasses.replace(config.model,
                                                                       num_classes=len(train.class_names)))
        started = time.perf_counter()
        result = train_stage(stage="finetune", config=config, dataset=train, labels=train.class_names,
                             out_dir=args.out / mode, device="cpu", seed=args.seed, progress=False,
                             max_steps=args.steps, checkpoint_every=10_000)
        train_s = time.perf_counter() - started
        model = result.model.eval()
        curves = calibrate(model, test, faults=args.faults, levels=args.levels, batch_size=16, seed=args.seed,
                           progress=False)
        summary[mode] = {"steps": result.steps, "train_s": round(train_s, 1), "clean_accuracy": curves[0].accuracy[0],
                         "clean_gates": curves[0].mean_gates[0], "curves": [asdict(c) for c in curves]}
        for c in curves:
            own = " ".join(f"{g[MODALITIES.index(c.modality)]:.3f}" for g in c.mean_gates)
            print(f"{mode:13s} {c.fault:22s} clean acc {c.accuracy[0]:5.1f}  acc@1 {c.accuracy[-1]:5.1f}  "
                  f"own gate {own}  non-increasing {c.monotone!s:5s} drop {c.drop_pct:6.1f} %", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ablation.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                        "modes": summary}, indent=1))
    lines = ["| mode | steps | clean acc (%) | faults with own gate non-increasing | mean own-gate drop at s=1 (%) |",
             "|---|---|---|---|---|"]
    for mode, item in summary.items():
        curves = item["curves"]
        lines.append(f"| {mode} | {item['steps']} | {item['clean_accuracy']:.1f} | "
                     f"{sum(c['monotone'] for c in curves)}/{len(curves)} | "
                     f"{sum(c['drop_pct'] for c in curves) / len(curves):.1f} |")
    (args.out / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main())
