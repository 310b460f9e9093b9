"""`python -m rcmcl_ros evaluate-bag`: the node's pipeline over a bag offline, one person (bag/evaluate.py,
report.py) or per person (`--max-people N`, bag/people_eval.py). Both go through the same Pipeline, so
--topic, --points-source, --camera-info-topic and the health options apply to both.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from rcmcl_ros.bag.evaluate import evaluate_bag
from rcmcl_ros.bag.files import DEFAULT_TOPICS, BagError, parse_topic_map
from rcmcl_ros.bag.pipeline_options import add_pipeline_arguments, pipeline_config


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rcmcl_ros evaluate-bag",
                                description="Run the node's pipeline over a bag offline (no ROS graph) and write "
                                            "decisions.csv, report.md, gates.png and confusion.png to --out.")
    p.add_argument("bag", type=Path, help="rosbag2 folder, .mcap or .db3 file")
    p.add_argument("--out", type=Path, required=True, help="folder for the results (created if missing)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="rcmcl checkpoint (default: the bundled rcmcl_core/assets/rcmcl_compact.pt)")
    p.add_argument("--labels", type=Path, default=None, metavar="FILE",
                   help="labels CSV (recording,start_s,end_s,label,...; README 'Teach it your actions'): the truth "
                        "for this bag's recording, in place of /rcmcl/ground_truth")
    p.add_argument("--absolute-times", action="store_true",
                   help="with --labels: its times are sensor stamps in seconds, not seconds from the bag's start")
    add_pipeline_arguments(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--max-people", type=int, default=1,
                   help="N >= 2: per-person evaluation of up to N tracked bodies (people.json, people.csv)")
    p.add_argument("--people-second-body", action=argparse.BooleanOptionalAction, default=True,
                   help="with --max-people: the nearest other person fills skeleton body 2 (default: on, as the "
                        "node's people_second_body)")
    p.add_argument("--people-camera-info-topic", default=None,
                   help="with --max-people: the colour camera_info for the per-person crops (default: the one "
                        "beside the rgb topic, as the node's people_camera_info_topic)")
    return p


def evaluate_command(argv: list[str]) -> int:
    """`python -m rcmcl_ros evaluate-bag`: 0 on success, 2 on a bad bag, checkpoint or argument."""
    args = build_parser().parse_args(argv)
    try:
        topics = parse_topic_map(args.topic)
    except ValueError as error:
        return _fail(str(error))
    if not args.bag.exists():   # before loading torch: the commonest mistake answers at once
        return _fail(f"bag not found: {args.bag}")
    from rcmcl_core.bundled import require_checkpoint
    from rcmcl_core.checkpoint import CheckpointError
    from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfigError

    try:
        checkpoint = require_checkpoint(str(args.checkpoint or ""), setting="--checkpoint",
                                        fix="pass --checkpoint PATH to an rcmcl .pt file")
        pipeline = Pipeline.from_checkpoint(checkpoint, config=pipeline_config(args))
        print(f"evaluate-bag: {checkpoint.name} on {pipeline.device}: {pipeline.runtime.describe()}", flush=True)
        if args.max_people > 1:
            truths = people_truths(args.labels, args.bag, classes=pipeline.labels, absolute=args.absolute_times) \
                if args.labels is not None else None
            return _people(args, pipeline=pipeline, topics=topics, truths=truths)
        truth = labels_truth(args.labels, args.bag, classes=pipeline.labels, absolute=args.absolute_times) \
            if args.labels is not None else None
        result = evaluate_bag(args.bag, pipeline=pipeline, topics=topics, progress=not args.no_progress,
                              warn=_warn, camera_info_topic=args.camera_info_topic, truth_source=truth)
    except (BagError, CheckpointError, FileNotFoundError, PipelineConfigError, ValueError) as error:
        return _fail(str(error))
    from rcmcl_ros.bag.report import write_report

    paths = write_report(result, out_dir=args.out)
    print(f"evaluate-bag: {len(result.decisions)} decisions in {result.wall_s:.1f} s "
          f"({result.windows_per_s:.1f} windows/s, {result.real_time_factor:.1f}x real time)")
    for name in ("report", "gates", "decisions", "confusion"):
        if name in paths:
            print(f"{name}: {paths[name]}")
    return 0


def people_truths(path: Path, bag: Path, *, classes: list[str], absolute: bool) -> dict:
    """{body id: truth} of `bag`'s rows with a body_id in the labels file, checked as labels_truth checks."""
    from rcmcl_ros.bag.labels_file import LabelsError

    labels, recording, start_s = _checked_labels(path, bag, classes=classes, absolute=absolute)
    bodies = sorted({s.body_id for s in labels.of(recording) if s.body_id is not None})
    if not bodies:
        raise LabelsError(f"{path}: no row of {recording!r} names a body_id; --max-people scores body ids")
    return {body: labels.truth(recording, bag_start_s=start_s, body_id=body) for body in bodies}


def labels_truth(path: Path, bag: Path, *, classes: list[str], absolute: bool):
    """The labels file's truth for `bag` (its recording name, rcmcl_ros/bag/labels_file.py), checked against
    the bag's span and the checkpoint's classes. Raises LabelsError (a ValueError)."""
    from rcmcl_ros.bag.labels_file import LabelsError

    labels, recording, start_s = _checked_labels(path, bag, classes=classes, absolute=absolute)
    if all(s.body_id is not None for s in labels.of(recording)):
        raise LabelsError(f"{path}: every row of {recording!r} names a body_id; the single-person evaluation "
                          f"scores the followed person (rows with an empty body_id); --max-people N scores ids")
    return labels.truth(recording, bag_start_s=start_s)


def _checked_labels(path: Path, bag: Path, *, classes: list[str], absolute: bool):
    """(labels, the bag's recording name, the bag's start s): the file read, its rows of this bag checked
    against the bag's span and the checkpoint's classes."""
    from rcmcl_ros.bag.files import BagReader
    from rcmcl_ros.bag.labels_file import LabelsError, read_labels, recording_name

    labels = read_labels(path, absolute=absolute)
    recording = recording_name(bag)
    if recording not in labels.recordings:
        raise LabelsError(f"{path} has no rows for recording {recording!r} (the bag's name); it names "
                          f"{', '.join(labels.recordings)}")
    with BagReader(bag) as reader:
        start_s, end_s = reader.start_ns / 1e9, reader.end_ns / 1e9
    only = dataclasses.replace(labels, segments=labels.of(recording))
    only.check_recordings({recording: (start_s, end_s)})
    only.check_known(classes, what="the checkpoint")
    return labels, recording, start_s


def _people(args: argparse.Namespace, *, pipeline, topics: dict[str, str], truths: dict | None = None) -> int:
    """--max-people N: people.json / people.csv, and the summary line."""
    from rcmcl_ros.bag.people_eval import evaluate_people_bag, write_people_report
    from rcmcl_ros.people.path import PeoplePath
    from rcmcl_ros.people.tracker import PeopleConfig
    from rcmcl_ros.topics import camera_info_beside

    people = PeopleConfig(max_people=args.max_people, max_batch=args.max_people, second_body=args.people_second_body)
    PeoplePath.for_pipeline(pipeline, people)
    info_topic = args.people_camera_info_topic or camera_info_beside(topics.get("rgb", DEFAULT_TOPICS["rgb"]))
    result = evaluate_people_bag(args.bag, pipeline=pipeline, topics=topics, people_info_topic=info_topic,
                                 camera_info_topic=args.camera_info_topic, progress=not args.no_progress, warn=_warn,
                                 truths=truths)
    path = write_people_report(result, out_dir=args.out)
    summary = result.summary()
    per_person = ", ".join(f"{i}: {v['accuracy']:.2f} ({v['clean_windows']})"
                           for i, v in summary["per_person"].items())
    print(f"evaluate-bag: {summary['decisions']} person decisions in {result.rounds} rounds, {result.wall_s:.1f} s; "
          f"accuracy {summary['accuracy']:.3f} overall, per body id {per_person}; identity consistency "
          f"{summary['identity_consistency']:.3f}")
    print(f"people: {path}")
    return 0


def _warn(text: str) -> None:
    print(f"evaluate-bag: warning: {text}", file=sys.stderr)


def _fail(text: str) -> int:
    print(f"evaluate-bag: error: {text}", file=sys.stderr)
    return 2
