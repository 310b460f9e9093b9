"""Gate-variant ablation at the bundled budget: one pretraining, then one fine-tuning per model.gate_mode.

Every mode starts from the same pretrained encoders (the bundled recipe's pretraining) with a freshly initialised
gate (seeded, so every mode's gate starts from the same draw where shapes agree), and is fine-tuned for the same
epochs with the same data, faults and seed; only model.gate_mode differs. Then each model is measured on the
test split: the robustness conditions (all clips) and the gate calibration (learned gates only, no health rules,
--max-clips clips).

    python benchmarks/gate_mode_compact.py run --mode paper_shared --pretrain runs/bundled/pretrain/pretrain.pt \\
        --config config/train_bundled.yaml --data-root data/synth_compact --epochs 15 --out runs/gate_modes
    python benchmarks/gate_mode_compact.py report --out runs/gate_modes --dest docs/results/gate_modes

`run` is resumable (an interrupted fine-tuning continues from <out>/<mode>/last.pt) and writes
<out>/<mode>/results.json and calibration/ (`--name` picks another folder, e.g. to run a mode from its own
pretraining). `report` writes ablation.json, ablation.md and ablation.png, one row per finished run. A fine-tuning-stage
ablation: the encoders were pretrained once, with the recipe's own gate mode.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from rcmcl_core.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from rcmcl_core.config import GATE_MODES, RCMCLConfig  # noqa: E402

GATE_PREFIX = "gate."


def ablation_config(base: RCMCLConfig, *, mode: str, epochs: int) -> RCMCLConfig:
    """The recipe `base` with model.gate_mode = mode and optim.finetune_epochs = epochs."""
    return dataclasses.replace(base, model=dataclasses.replace(base.model, gate_mode=mode),
                               optim=dataclasses.replace(base.optim, finetune_epochs=epochs)).validate()


def fresh_gate_init(pretrain: Path, config: RCMCLConfig, out: Path, *, seed: int) -> Path:
    """<out>/init.pt: the pretrained weights with the gate of `config`'s mode drawn anew (torch seed `seed`)."""
    from rcmcl_core.models.rcmcl import RCMCL
    ignore = ("optim.", "augment.", "loss.", "model.gate_mode")
    checkpoint = load_checkpoint(pretrain, expected_config=config, ignore=ignore)
    torch.manual_seed(seed)
    model = RCMCL(config=config)
    state = {k: v for k, v in checkpoint.model_state.items() if not k.startswith(GATE_PREFIX)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(GATE_PREFIX) for k in missing):
        raise RuntimeError(f"{pretrain} does not fit beyond the gate: missing {missing}, unexpected {unexpected}")
    return save_checkpoint(out / "init.pt", model_state=model.state_dict(), config=config, labels=checkpoint.labels)


def run(args: argparse.Namespace) -> int:
    from rcmcl_core.data.dataset import ClipDataset, draw_clips
    from rcmcl_core.evaluation.calibration import calibrate
    from rcmcl_core.plots.calibration import write_calibration
    from rcmcl_core.evaluation.robustness import evaluate, write_results
    from rcmcl_core.training.loop import train_stage
    torch.set_num_threads(args.threads)
    config = ablation_config(RCMCLConfig.from_yaml(args.config), mode=args.mode, epochs=args.epochs)
    out = args.out / (args.name or args.mode)
    out.mkdir(parents=True, exist_ok=True)
    config.to_yaml(out / "config.yaml")
    init = out / "init.pt"
    if not init.exists():
        init = fresh_gate_init(args.pretrain, config, out, seed=args.seed)
    train = ClipDataset(args.data_root, split="xsub", subset="train", config=config, train=True, seed=args.seed)
    test = ClipDataset(args.data_root, split="xsub", subset="test", config=config, train=False, seed=args.seed)
    result = train_stage(stage="finetune", config=config, dataset=train, labels=train.class_names, out_dir=out,
                         device="cpu", seed=args.seed, init_checkpoint=init, resume=True, progress=False)
    model = result.model.eval()
    write_results(out / "results.json", {args.mode: evaluate(model, test, progress=False)})
    chosen = draw_clips(len(test), args.max_clips, seed=args.seed)
    curves = calibrate(model, torch.utils.data.Subset(test, chosen.tolist()), seed=args.seed, progress=False)
    header = {"gate_mode": args.mode, "epochs": args.epochs, "pretrain": str(args.pretrain), "clips": len(chosen),
              "health_rule": "off"}
    write_calibration(out / "calibration", curves, header=header)
    print(f"{args.mode}: {result.steps} steps, results in {out}")
    return 0


def summarise(mode_dir: Path) -> dict:
    """One mode's row: accuracy (%) clean / R missing / R&P missing, and the calibration criteria."""
    results = json.loads((mode_dir / "results.json").read_text())
    conditions = next(iter(results.values()))
    curves = json.loads((mode_dir / "calibration" / "calibration.json").read_text())["curves"]
    return {"mode": mode_dir.name,
            "accuracy": {k: conditions[k]["accuracy"]
                         for k in ("clean", "R missing", "S missing", "P missing", "R&P missing")},
            "clean_gates": curves[0]["mean_gates"][0],
            "non_increasing": sum(c["monotone"] for c in curves),
            "drop_50": sum(c["drop_pct"] >= 50 for c in curves),
            "others_within_005": sum(c["others_max_fall"] <= 0.05 for c in curves),
            "faults": len(curves),
            "drop_pct": {c["fault"]: c["drop_pct"] for c in curves}}


def report(args: argparse.Namespace) -> int:
    from rcmcl_core.data.shards import atomic_write_bytes
    from rcmcl_core.plots.results import pyplot, save_figure
    finished = {d.name: d for d in args.out.iterdir() if (d / "calibration" / "calibration.json").exists()}
    order = [m for m in GATE_MODES if m in finished] + sorted(set(finished) - set(GATE_MODES))
    rows = [summarise(finished[name]) for name in order]
    if not rows:
        raise SystemExit(f"no finished mode under {args.out}")
    args.dest.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.dest / "ablation.json", json.dumps({"modes": rows}, indent=1).encode())
    faults = list(rows[0]["drop_pct"])
    lines = ["| gate_mode | clean | R missing | R&P missing | mean gates clean (R, S, P) | own gate non-increasing "
             "| own gate >= 50 % down at s=1 | others within 0.05 |", "|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        a = r["accuracy"]
        lines.append(f"| {r['mode']} | {a['clean']:.1f} | {a['R missing']:.1f} | {a['R&P missing']:.1f} | "
                     + ", ".join(f"{g:.2f}" for g in r["clean_gates"])
                     + f" | {r['non_increasing']} / {r['faults']} | {r['drop_50']} / {r['faults']} "
                       f"| {r['others_within_005']} / {r['faults']} |")
    lines += ["", "Own-gate drop at s=1 (%), per fault:", "",
              "| fault | " + " | ".join(r["mode"] for r in rows) + " |", "|---|" + "---:|" * len(rows)]
    lines += [f"| {f} | " + " | ".join(f"{r['drop_pct'][f]:.1f}" for r in rows) + " |" for f in faults]
    atomic_write_bytes(args.dest / "ablation.md", ("\n".join(lines) + "\n").encode())
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    width = 0.8 / len(rows)
    for k, r in enumerate(rows):
        ax.bar(np.arange(len(faults)) + k * width, [r["drop_pct"][f] for f in faults], width, label=r["mode"])
    ax.axhline(50, color="k", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(faults)) + 0.4 - width / 2, faults, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("own gate drop at s=1 (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, args.dest / "ablation.png", dpi=110)
    print("\n".join(lines))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="fine-tune and measure one gate mode")
    r.add_argument("--mode", choices=GATE_MODES, required=True)
    r.add_argument("--pretrain", type=Path, required=True)
    r.add_argument("--config", type=Path, required=True)
    r.add_argument("--data-root", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--epochs", type=int, default=15)
    r.add_argument("--max-clips", type=int, default=240)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--name", help="the run's folder under --out and its row in the report (default: --mode)")
    r.set_defaults(handler=run)
    s = sub.add_parser("report", help="collect the finished modes into a table and figure")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--dest", type=Path, required=True)
    s.set_defaults(handler=report)
    args = p.parse_args()
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
