"""`python -m rcmcl_ros make-shards BAGS... --labels FILE --out DIR`: training clips from recordings, cut by
the node's own pipeline (rcmcl_ros/bag/make_shards.py), for `rcmcl finetune --data-root DIR`."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from rcmcl_ros.bag.files import BagError, parse_topic_map
from rcmcl_ros.bag.labels_file import LabelsError
from rcmcl_ros.bag.pipeline_options import add_pipeline_arguments, pipeline_config


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rcmcl_ros make-shards",
                                description="Cut labelled recordings into training clips exactly as the node "
                                            "windows them, and write a dataset root (manifest.json + shards/) "
                                            "for `rcmcl finetune --data-root DIR --split recordings`.")
    p.add_argument("bags", nargs="+", type=Path, help="rosbag2 folders, .mcap or .db3 files (one per recording)")
    p.add_argument("--labels", type=Path, required=True,
                   help="labels CSV: recording,start_s,end_s,label[,body_id][,split] (README, 'Teach it your "
                        "actions')")
    p.add_argument("--out", type=Path, required=True, help="dataset root to write (a rerun resumes)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="the checkpoint to fine-tune: its clip length, frame size and point count cut the windows "
                        "(default: the bundled model)")
    p.add_argument("--absolute-times", action="store_true",
                   help="the labels' times are sensor stamps in seconds, not seconds from each bag's start")
    p.add_argument("--split", choices=("auto", "file"), default="auto",
                   help="auto: recordings without a split column are drawn per label (--test-fraction); file: "
                        "they train")
    p.add_argument("--test-fraction", type=float, default=0.2, help="with --split auto (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --split auto draw")
    p.add_argument("--min-label-fraction", type=float, default=1.0, metavar="F",
                   help="keep a window when at least F of its frames carry one label (default 1: windows across "
                        "a label boundary are dropped)")
    p.add_argument("--max-people", type=int, default=3,
                   help="where the labels name body ids: bodies tracked at once (at least those named; default 3), "
                        "as the node's max_people")
    p.add_argument("--people-camera-info-topic", default=None,
                   help="where the labels name body ids: the colour camera_info for the per-person crops (default: "
                        "the one beside the rgb topic, as the node's people_camera_info_topic)")
    add_pipeline_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def make_shards_command(argv: list[str]) -> int:
    """0 on success; 2 on bad labels, bags, checkpoint or arguments (nothing is left that looks finished)."""
    args = build_parser().parse_args(argv)
    try:
        topics = parse_topic_map(args.topic)
    except ValueError as error:
        return _fail(str(error))
    from rcmcl_core.bundled import require_checkpoint
    from rcmcl_core.checkpoint import CheckpointError, load_checkpoint
    from rcmcl_ros.bag.labels_file import read_labels
    from rcmcl_ros.bag.make_shards import ShardOptions, make_shards
    from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfigError

    try:
        labels = read_labels(args.labels, absolute=args.absolute_times)
        checkpoint = require_checkpoint(str(args.checkpoint or ""), setting="--checkpoint",
                                        fix="pass --checkpoint PATH to an rcmcl .pt file")
        clip = load_checkpoint(checkpoint).config.clip
        config = dataclasses.replace(pipeline_config(args), cpu_trace=False)     # windows only, no inference
        options = ShardOptions(min_label_fraction=args.min_label_fraction, split=args.split,
                               max_people=args.max_people,
                               test_fraction=args.test_fraction, seed=args.seed)
        settings = {"checkpoint": str(checkpoint), "stride_s": config.window.stride_s,
                    "points_source": config.points_source, "skeleton_format": config.preprocess.skeleton_format,
                    "health": dataclasses.asdict(config.health)}
        result = make_shards(args.bags, labels, args.out, clip=clip, topics=topics, options=options,
                             pipeline_factory=lambda: Pipeline.from_checkpoint(checkpoint, config=config),
                             camera_info_topic=args.camera_info_topic,
                             people_info_topic=args.people_camera_info_topic, settings=settings,
                             progress=not args.no_progress, warn=_warn)
    except (BagError, CheckpointError, LabelsError, PipelineConfigError, FileNotFoundError, ValueError) as error:
        return _fail(str(error))
    print(summary(result))
    return 0


def summary(result) -> str:
    """The class balance per split, drops by reason and absent modalities, as printed at the end."""
    lines = [f"make-shards: {result.root} ({len(result.recordings)} recordings; "
             f"{sum(r.reused for r in result.recordings)} reused from an earlier run)"]
    width = max(len(c) for c in result.classes)
    train, test = result.class_balance("train"), result.class_balance("test")
    lines.append(f"  {'class':<{width}}  train  test")
    lines += [f"  {label:<{width}}  {train[label]:5d}  {test[label]:4d}" for label in result.classes]
    for label in result.classes:
        if train[label] == 0:
            lines.append(f"  warning: no training clip of {label!r}")
    windows = {}
    messages = {}
    absent = {}
    for r in result.recordings:
        for source, into in ((r.dropped_windows, windows), (r.dropped_messages, messages), (r.absent, absent)):
            for reason, count in source.items():
                into[reason] = into.get(reason, 0) + count
    lines.append(f"  windows dropped: {windows or 'none'}; messages dropped: {messages or 'none'}")
    if absent:
        lines.append(f"  kept clips without a modality (trained as absent): {absent}")
    for r in result.recordings:
        if r.missing_streams:
            lines.append(f"  {r.recording}: read without {', '.join(r.missing_streams)} "
                         f"({'; '.join(r.missing_streams.values())})")
    lines.append(f"  next: rcmcl finetune --init CHECKPOINT --data-root {result.root} --split recordings --out RUN")
    return "\n".join(lines)


def _warn(text: str) -> None:
    print(f"make-shards: warning: {text}", file=sys.stderr)


def _fail(text: str) -> int:
    print(f"make-shards: error: {text}", file=sys.stderr)
    return 2
