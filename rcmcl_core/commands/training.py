"""`rcmcl pretrain | probe | finetune | evaluate | export`: thin command-line shells over
rcmcl_core/training/loop.py, rcmcl_core/training/probe.py and rcmcl_core/evaluation/robustness.py. Each
command is one function of parsed arguments returning an exit code."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from rcmcl_core.checkpoint import CheckpointError, load_checkpoint, load_model, save_checkpoint
from rcmcl_core.config import PRESETS, ConfigError, RCMCLConfig, preset
from rcmcl_core.data.dataset import ClipDataset
from rcmcl_core.atomic_io import atomic_write_bytes
from rcmcl_core.data.shards import ShardError
from rcmcl_core.device import resolve_device

DEFAULT_PRESET = "lite"
DATA_SOURCES = {"synthetic": ("data/synth", "xsub"), "ntu60": ("data/ntu60", "xsub"),
                "ntu120": ("data/ntu120", "xsub")}
"""--data name -> (default dataset root made by `rcmcl generate` / the NTU builder, default split)."""


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options every training/evaluation command takes."""
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="model/clip sizes (default lite; with --init and no --config: the checkpoint's own)")
    parser.add_argument("--config", type=Path, help="YAML overriding the preset (keys as in config.py)")
    parser.add_argument("--data", choices=sorted(DATA_SOURCES), default="synthetic", help="dataset kind")
    parser.add_argument("--data-root", type=Path, help="dataset folder (default data/synth, data/ntu60, ...)")
    parser.add_argument("--split", help="split name: xsub or xview (ntu120: xsub or xset); default xsub")
    parser.add_argument("--out", type=Path, required=True, help="output folder for checkpoints and metrics")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--threads", type=int, help="torch CPU threads (torch.set_num_threads); default: torch's "
                        "(OMP_NUM_THREADS or the core count)")
    parser.add_argument("--no-heldout", action="store_true",
                        help="skip the per-epoch held-out (test subset) accuracy in <out>/curves.jsonl")


def load_config(args: argparse.Namespace) -> RCMCLConfig:
    if getattr(args, "threads", None):
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        import torch
        torch.set_num_threads(args.threads)
    if args.config is not None:
        config = RCMCLConfig.from_yaml(args.config)
        if args.preset is not None and config.preset != args.preset:
            raise ConfigError(f"--preset {args.preset} contradicts preset {config.preset!r} in {args.config}")
        return config
    init = getattr(args, "init", None)
    if args.preset is None and init is not None:
        config = load_checkpoint(init).config       # fine-tune or probe a checkpoint as it was built
        print(f"[rcmcl] the config of {init} (preset {config.preset!r}): pass --config to change budgets",
              file=sys.stderr)
        return config
    return preset(args.preset or DEFAULT_PRESET)


def open_dataset(args: argparse.Namespace, config: RCMCLConfig, *, subset: str, train: bool) -> ClipDataset:
    root_default, split_default = DATA_SOURCES[args.data]
    root = args.data_root or Path(root_default)
    return ClipDataset(root, split=args.split or split_default, subset=subset, config=config, train=train,
                       seed=args.seed)


def add_label_subset(parser: argparse.ArgumentParser) -> None:
    """--labels-per-class K | --label-fraction F | --labelled-clips FILE (rcmcl_core/data/label_subset.py)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--labels-per-class", type=int, metavar="K",
                       help="train on K labelled clips of each class (stratified, drawn by --label-seed)")
    group.add_argument("--label-fraction", type=float, metavar="F",
                       help="train on a fraction F in (0, 1] of each class's clips, at least one per class")
    group.add_argument("--labelled-clips", type=Path, metavar="FILE",
                       help="train on the clips named in FILE (a run's labelled_clips.json): rebuild a run exactly")
    parser.add_argument("--label-seed", type=int, default=0, help="seed of the labelled-clip draw (default 0)")


def labelled_training_set(args: argparse.Namespace, dataset: ClipDataset):
    """The train subset, narrowed to the labelled clips asked for; their ids go to <out>/labelled_clips.json."""
    from rcmcl_core.data.label_subset import (LABELLED_CLIPS, LabelRequest, labelled_subset, read_labelled_clips,
                                              subset_from_ids, write_labelled_clips)
    if getattr(args, "labelled_clips", None) is not None:
        request, ids = read_labelled_clips(args.labelled_clips)
        subset = subset_from_ids(dataset, ids)
    else:
        request = LabelRequest(per_class=getattr(args, "labels_per_class", None),
                               fraction=getattr(args, "label_fraction", None), seed=getattr(args, "label_seed", 0))
        if request.everything:
            return dataset
        subset = labelled_subset(dataset, request)
    args.out.mkdir(parents=True, exist_ok=True)
    write_labelled_clips(args.out / LABELLED_CLIPS, subset, request)
    print(f"labelled clips: {len(subset)} of {len(dataset)} ({request.describe()}, seed {request.seed}) -> "
          f"{args.out / LABELLED_CLIPS}")
    return subset


def fit_classes(config: RCMCLConfig, class_names: list[str]) -> RCMCLConfig:
    """`config` with model.num_classes set to the dataset's class count (e.g. the 8 novel synthetic classes
    under a 24-class preset), said on stderr when it changes."""
    if config.model.num_classes == len(class_names):
        return config
    print(f"[rcmcl] the dataset has {len(class_names)} classes: model.num_classes {config.model.num_classes} -> "
          f"{len(class_names)}", file=sys.stderr)
    return dataclasses.replace(config, model=dataclasses.replace(config.model, num_classes=len(class_names)))


def kept_classes(args: argparse.Namespace, config: RCMCLConfig, *, subset: str, new, train: bool):
    """--keep-classes: the --init checkpoint's classes (their clips from --old-data-root) followed by the new
    dataset's, as one ClassUnion. ValueError for a new class that has an old class's name, or old data whose
    classes are not the checkpoint's."""
    from rcmcl_core.data.class_union import ClassUnion

    if args.init is None or args.old_data_root is None:
        raise ValueError("--keep-classes needs --init CHECKPOINT and --old-data-root DIR (the old classes' clips: "
                         "without them the old classes would only ever be trained as wrong answers)")
    old_labels = load_checkpoint(args.init).labels
    taken = sorted(set(old_labels) & set(new.class_names))
    if taken:
        raise ValueError(f"new classes {', '.join(taken)} are already classes of {args.init}; rename them in the "
                         f"labels, or fine-tune without --keep-classes (the head then holds the new classes only)")
    old = ClipDataset(args.old_data_root, split=args.old_split or "xsub", subset=subset, config=config,
                      train=train, seed=args.seed)
    if old.class_names != old_labels:
        raise ValueError(f"{args.old_data_root} has classes {old.class_names[:5]}... but {args.init} was trained "
                         f"on {old_labels[:5]}...; --old-data-root must hold the checkpoint's classes in its order")
    return ClassUnion([old, new])


def _train(args: argparse.Namespace, stage: str) -> int:
    from rcmcl_core.training.loop import train_stage
    config = load_config(args)
    dataset = open_dataset(args, config, subset="train", train=True)
    keep = getattr(args, "keep_classes", False)
    if stage != "pretrain":
        dataset = labelled_training_set(args, dataset)
    if keep:
        dataset = kept_classes(args, config, subset="train", new=dataset, train=True)
    config = fit_classes(config, dataset.class_names)
    heldout = None if args.no_heldout else open_dataset(args, config, subset="test", train=False)
    if keep and heldout is not None:
        heldout = kept_classes(args, config, subset="test", new=heldout, train=False)
    result = train_stage(stage=stage, config=config, dataset=dataset, labels=dataset.class_names,
                         out_dir=args.out, device=args.device, seed=args.seed, resume=args.resume,
                         init_checkpoint=getattr(args, "init", None), method=getattr(args, "method", "rcmcl"),
                         progress=not args.no_progress, heldout=heldout)
    print(f"{stage}: {result.steps} steps in {result.seconds:.0f} s -> {result.checkpoint}")
    return 0


def pretrain(args: argparse.Namespace) -> int:
    return _train(args, "pretrain")


def finetune(args: argparse.Namespace) -> int:
    return _train(args, "finetune")


def probe(args: argparse.Namespace) -> int:
    from rcmcl_core.training.probe import probe_stage
    from rcmcl_core.training.loop import build_model
    config = load_config(args)
    dataset = labelled_training_set(args, open_dataset(args, config, subset="train", train=True))
    config = fit_classes(config, dataset.class_names)
    device = resolve_device(args.device)
    model = build_model(config, init_checkpoint=args.init, device=device)
    heldout = None if args.no_heldout else open_dataset(args, config, subset="test", train=False)
    path = probe_stage(config=config, model=model, dataset=dataset, labels=dataset.class_names, out_dir=args.out,
                       device=device, seed=args.seed, progress=not args.no_progress, heldout=heldout)
    print(f"linear probe -> {path}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from rcmcl_core.evaluation.robustness import dropout_table, evaluate as run_suite, gate_table, write_results
    methods = {}
    for spec in args.checkpoints:
        name, _, path = spec.rpartition("=")
        model, checkpoint = load_model(Path(path))
        dataset = open_dataset(args, checkpoint.config, subset="test", train=False)
        methods[name or Path(path).stem] = run_suite(model, dataset, device=resolve_device(args.device),
                                                     seed=args.seed, progress=not args.no_progress)
    args.out.mkdir(parents=True, exist_ok=True)
    write_results(args.out / "results.json", methods)
    baseline = args.baseline or next(iter(methods))
    report = [f"# Robustness evaluation\n\nBaseline for RGS: {baseline}\n", dropout_table(methods, supervised=baseline)]
    for name, result in methods.items():
        report += [f"\n## Mean gates per condition: {name}\n", gate_table(result)]
    atomic_write_bytes(args.out / "report.md", ("\n".join(report) + "\n").encode())
    print("\n".join(report))
    print(f"\nwritten: {args.out / 'results.json'}, {args.out / 'report.md'}")
    return 0


def export(args: argparse.Namespace) -> int:
    """Strip optimiser/resume state: a small deployable checkpoint for the node; or (--format onnx) the model
    as an ONNX file with its parity check (rcmcl_core/onnx_export.py)."""
    if args.format == "onnx":
        return export_onnx_file(args)
    if args.output is None:
        raise ValueError("export needs an OUTPUT path (the slim checkpoint to write)")
    checkpoint = load_checkpoint(args.checkpoint)
    save_checkpoint(args.output, model_state=checkpoint.model_state, config=checkpoint.config,
                    labels=checkpoint.labels, metrics=checkpoint.metrics)
    size = args.output.stat().st_size / 1e6
    print(f"exported {args.checkpoint} -> {args.output} ({size:.1f} MB, preset {checkpoint.config.preset})")
    return 0


def export_onnx_file(args: argparse.Namespace) -> int:
    """`export --format onnx`: the checkpoint's model, every absent pattern checked against eager, written last."""
    import torch

    from rcmcl_core.onnx_export import export_onnx

    model, checkpoint = load_model(args.checkpoint)
    output = args.output or args.checkpoint.with_suffix(".onnx")
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    print(f"exporting {args.checkpoint} (preset {checkpoint.config.preset}, {len(checkpoint.labels)} classes) "
          f"to ONNX opset {args.opset} ...", flush=True)
    report = export_onnx(model, labels=checkpoint.labels, path=output, opset=args.opset)
    print(f"exported -> {report.path} ({report.nbytes / 1e6:.1f} MB, {report.nodes} nodes, opset {report.opset}, "
          f"{report.seconds:.0f} s); parity with eager over {report.windows_checked} windows, every absent pattern: "
          f"max |d| scores {report.scores_error:.1e}, gates {report.gates_error:.1e}")
    if output != args.checkpoint.with_suffix(".onnx"):
        print(f"the node and evaluate-bag find it with onnx_model:={output} (or name it "
              f"{args.checkpoint.with_suffix('.onnx').name} beside the checkpoint)")
    return 0


def protocol(args: argparse.Namespace) -> int:
    """Run (or continue) every step of the protocol, then write <out>/results.md and <out>/results.json."""
    from rcmcl_core.evaluation.robustness import write_results
    from rcmcl_core.evaluation.protocol import Protocol, protocol_steps, select_steps
    from rcmcl_core.evaluation.tables import results_markdown
    if args.tables_only:
        return protocol_tables(args.out)
    config = load_config(args)
    root = args.data_root or Path(DATA_SOURCES[args.data][0])
    runner = Protocol(base=config, root=root, out=args.out, split=args.split or DATA_SOURCES[args.data][1],
                      device=args.device, seed=args.seed, ablation_pretrain_epochs=args.ablation_pretrain_epochs,
                      progress=not args.no_progress)
    steps = protocol_steps(ablations=not args.no_ablations,
                           own_full_ablation=args.ablation_pretrain_epochs is not None)
    if args.only:
        steps = select_steps(steps, args.only)
    results = runner.run(steps)
    write_results(args.out / "results.json", results)
    markdown = results_markdown(results, runner.timings())
    atomic_write_bytes(args.out / "results.md", markdown.encode())
    print(markdown)
    print(f"written: {args.out / 'results.md'}, {args.out / 'results.json'}")
    return 0


def protocol_tables(out: Path) -> int:
    """Rewrite <out>/results.md from <out>/results.json and <out>/timings.json alone (no training)."""
    import json
    from rcmcl_core.evaluation.robustness import read_results
    from rcmcl_core.evaluation.tables import results_markdown
    for name in ("results.json", "timings.json"):
        if not (out / name).is_file():
            raise FileNotFoundError(f"--tables-only needs {out / name}")
    markdown = results_markdown(read_results(out / "results.json"), json.loads((out / "timings.json").read_text()))
    atomic_write_bytes(out / "results.md", markdown.encode())
    print(markdown)
    print(f"written: {out / 'results.md'}")
    return 0


def register(subparsers) -> None:
    """Add the training/evaluation subcommands to the `rcmcl` parser."""
    p = subparsers.add_parser("pretrain", help="self-supervised pretraining (Eq.6) on the train subset",
                              description="Self-supervised RCMCL pretraining. Writes <out>/last.pt every 50 steps "
                              "and each epoch, <out>/pretrain.pt at the end, <out>/metrics.csv per step. Multi-GPU: "
                              "torchrun --nproc_per_node N -m rcmcl_core.cli pretrain ...")
    add_common(p)
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.add_argument("--method", choices=("rcmcl", "cmkm"), default="rcmcl", help="objective (cmkm: baseline)")
    p.set_defaults(handler=pretrain)

    p = subparsers.add_parser("probe", help="linear probe on frozen encoders + AMG",
                              description="Train only the linear classifier on Z_fusion of a pretrained model.")
    add_common(p)
    p.add_argument("--init", type=Path, required=True, help="pretrained checkpoint (e.g. runs/x/pretrain.pt)")
    add_label_subset(p)
    p.set_defaults(handler=probe)

    p = subparsers.add_parser("finetune", help="supervised end-to-end training (from --init or from scratch)")
    add_common(p)
    p.add_argument("--init", type=Path, help="checkpoint to start from; omit to train from scratch")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    add_label_subset(p)
    p.add_argument("--keep-classes", action="store_true",
                   help="the head holds the --init checkpoint's classes and then the dataset's (default: the "
                        "dataset's only); needs --old-data-root. Label subsets apply to the new classes")
    p.add_argument("--old-data-root", type=Path, help="with --keep-classes: a dataset root of the checkpoint's "
                   "classes (e.g. `rcmcl generate --preset compact` for the bundled model)")
    p.add_argument("--old-split", help="with --keep-classes: the split of --old-data-root (default xsub)")
    p.set_defaults(handler=finetune)

    p = subparsers.add_parser("evaluate", help="robustness suite on the test subset (Tables II/III + gates)")
    add_common(p)
    p.add_argument("checkpoints", nargs="+", help="NAME=PATH or PATH of checkpoints to compare")
    p.add_argument("--baseline", help="NAME of the baseline for RGS (default: the first checkpoint)")
    p.set_defaults(handler=evaluate)

    p = subparsers.add_parser("protocol", help="the whole paper protocol: RCMCL, baselines, ablations, tables",
                              description="Pretrain/fine-tune/probe RCMCL, the supervised fusion and CMC-CMKM "
                              "baselines and Table IV ablations 2-6, evaluate each on the robustness suite and "
                              "write <out>/results.md (Tables I-IV analogs) + results.json. Rerunning continues "
                              "where it stopped (finished steps are skipped, interrupted ones resume).")
    add_common(p)
    p.add_argument("--ablation-pretrain-epochs", type=int, help="pretraining epochs of ablations 2-7 (then config 7, "
                   "full RCMCL, is rerun on that budget so the rows compare)")
    p.add_argument("--no-ablations", action="store_true", help="skip Table IV ablations 2-6")
    p.add_argument("--only", nargs="+", metavar="STEP", help="run only these steps (and what they start from)")
    p.add_argument("--tables-only", action="store_true",
                   help="train nothing: rewrite <out>/results.md from <out>/results.json and timings.json")
    p.set_defaults(handler=protocol)

    p = subparsers.add_parser("export", help="write a slim deployable checkpoint (no optimiser state), or with "
                                             "--format onnx the model as ONNX for onnxruntime / TensorRT")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("output", type=Path, nargs="?", default=None,
                   help="file to write (--format onnx: default the checkpoint's path with .onnx, where the node "
                        "looks for it)")
    p.add_argument("--format", choices=("checkpoint", "onnx"), default="checkpoint")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (>= 18)")
    p.set_defaults(handler=export)


USER_ERRORS = (ConfigError, CheckpointError, ShardError, FileNotFoundError, ValueError, RuntimeError)
"""Errors that are the user's input, reported as one line rather than a traceback."""


def run_handler(args: argparse.Namespace) -> int:
    try:
        return int(args.handler(args) or 0)
    except USER_ERRORS as err:
        print(f"rcmcl {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rcmcl {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        leave_process_group()


def leave_process_group() -> None:
    """Destroy a torchrun process group before the interpreter exits: a gloo group left alive is torn down
    with its threads still joinable, and the process aborts after its work is done ('terminate called without
    an active exception', seen in about one of five two-process runs)."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()

