"""`python -m rcmcl_ros make-demo-bag`: the command over demo.py (one person) and demo_people.py (2-3 people).

It lives apart from both so that demo_people.py can build on demo.py without demo.py importing it back.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rcmcl_core.data.synthetic.classes import CLASS_SETS, DEFAULT_CLASS_SET
from rcmcl_ros.bag.annotations import parse_fault
from rcmcl_ros.bag.demo import DEFAULT_CACHE, DemoBagConfig, make_demo_bag, read_sidecar
from rcmcl_ros.bag.demo_people import make_people_demo_bag
from rcmcl_ros.bag.files import BagError


def build_parser() -> argparse.ArgumentParser:
    defaults = DemoBagConfig()
    p = argparse.ArgumentParser(prog="python -m rcmcl_ros make-demo-bag",
                                description="Write a demo rosbag2 (Azure Kinect topics, ground truth, scripted "
                                            "sensor faults) from the synthetic benchmark's held-out split; reused "
                                            "when one with the same parameters exists. Prints the bag path last.")
    p.add_argument("--out", type=Path, default=None,
                   help=f"bag folder to write (default {DEFAULT_CACHE}/demo_<parameter hash>)")
    p.add_argument("--seed", type=int, default=defaults.seed, help="picks actions, subject and noise (default 0)")
    p.add_argument("--actions", type=int, default=defaults.actions, help="actions in the sequence (default 8)")
    p.add_argument("--segment-s", type=float, default=defaults.segment_s, help="seconds per action (default 4)")
    p.add_argument("--fps", type=float, default=defaults.fps, help="frame rate (default 30)")
    p.add_argument("--size", type=int, default=defaults.image_size, help="image width = height (default 128)")
    p.add_argument("--cloud-stride", type=int, default=defaults.cloud_stride,
                   help="point cloud takes every n-th depth pixel per axis (default 2)")
    p.add_argument("--class", dest="classes", action="append", default=[], metavar="NAME",
                   help="draw actions from these classes only (repeatable; default all of --class-set)")
    p.add_argument("--class-set", default=DEFAULT_CLASS_SET, choices=sorted(CLASS_SETS),
                   help="bundled: the 24 classes of the bundled checkpoint; novel: 8 actions no pretraining saw "
                        "(for teaching the node new actions); default bundled")
    p.add_argument("--subject", type=int, default=defaults.subject,
                   help="performer id (default 0: a held-out subject chosen by the seed)")
    p.add_argument("--fault", dest="faults", action="append", default=None, metavar="NAME@T0-T1",
                   help="scripted fault, seconds from the start (repeatable; replaces the default schedule)")
    p.add_argument("--no-faults", action="store_true", help="no scripted faults")
    p.add_argument("--storage", default=defaults.storage, choices=("mcap", "sqlite3"))
    p.add_argument("--no-compress", action="store_true", help="no zstd chunk compression (mcap)")
    p.add_argument("--force", action="store_true", help="rebuild a demo bag of other parameters at --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--people", type=int, default=1,
                   help="people in view, 1-3, each with their own actions and body id (default 1)")
    return p


def demo_bag_command(argv: list[str]) -> int:
    """`python -m rcmcl_ros make-demo-bag`: 0 and the bag path on stdout, 2 on a bad argument or output path."""
    args = build_parser().parse_args(argv)
    try:
        faults = () if args.no_faults else (None if args.faults is None else tuple(parse_fault(f) for f in args.faults))
        config = DemoBagConfig(seed=args.seed, actions=args.actions, segment_s=args.segment_s, fps=args.fps,
                               image_size=args.size, cloud_stride=args.cloud_stride, classes=tuple(args.classes),
                               class_set=args.class_set,
                               subject=args.subject, faults=faults, storage=args.storage,
                               compress=not args.no_compress).validate()
        out = args.out if args.out is not None else DEFAULT_CACHE / f"demo_{config.key()}"
        if args.people != 1:
            return _people_demo_bag(config, args)
        reused = read_sidecar(out) is not None and read_sidecar(out).get("config") == config.to_dict()
        path = make_demo_bag(config, out=out, force=args.force, progress=not args.no_progress)
    except (ValueError, BagError) as error:
        print(f"make-demo-bag: error: {error}", file=sys.stderr)
        return 2
    print(f"make-demo-bag: {'reusing' if reused else 'wrote'} {config.duration_s:g} s demo bag "
          f"({', '.join(str(f) for f in config.schedule()) or 'no faults'})", file=sys.stderr)
    print(path)
    return 0


def _people_demo_bag(config: DemoBagConfig, args: argparse.Namespace) -> int:
    """`make-demo-bag --people N` (N >= 2): rcmcl_ros/bag/demo_people.py."""
    try:
        path = make_people_demo_bag(config, people=args.people, out=args.out, force=args.force,
                                    progress=not args.no_progress)
    except (ValueError, BagError) as error:
        print(f"make-demo-bag: error: {error}", file=sys.stderr)
        return 2
    print(f"make-demo-bag: {config.duration_s:g} s demo bag with {args.people} people", file=sys.stderr)
    print(path)
    return 0
