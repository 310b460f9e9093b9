"""`rcmcl prepare ntu | ntu-fixture`: the NTU RGB+D converter (rcmcl_core/data/ntu/prepare.py) and the
format-faithful fixture writer (rcmcl_core/data/ntu/fixture.py) on the command line."""
from __future__ import annotations

import argparse
from pathlib import Path

from rcmcl_core.config import PRESETS, RCMCLConfig, preset

DEFAULT_PREPARE_PRESET = "paper"


def _modalities(text: str) -> tuple[str, ...]:
    return tuple(m.strip() for m in text.split(",") if m.strip())


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("prepare", help="convert a dataset to clip shards (NTU RGB+D 60 / 120)")
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")

    ntu = kinds.add_parser("ntu", help="NTU RGB+D -> shards: parallel, resumable per shard, --part i/n",
                           description="Convert the official NTU RGB+D release under --root (docs/DATASET.md, "
                                       "section 3) into shards + manifest.json under --out. Rerunning continues "
                                       "where a killed run stopped; --part i/n converts one slice of the shards "
                                       "(a SLURM array over one --out); the manifest is written when every shard "
                                       "is done.")
    ntu.add_argument("--root", type=Path, required=True, help="folder with nturgb+d_skeletons/ (and depth, rgb)")
    ntu.add_argument("--version", type=int, choices=(60, 120), required=True)
    ntu.add_argument("--out", type=Path, required=True, help="dataset root to write (e.g. data/ntu120)")
    ntu.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    ntu.add_argument("--modalities", type=_modalities, default=("skeleton", "depth", "rgb"),
                     help="comma list from skeleton,depth,rgb (skeleton required; default all three); skeleton "
                          "alone reads only the 5.8 GB of .skeleton files")
    ntu.add_argument("--part", default="1/1", help="i/n: convert the shards with index %% n == i-1 (default 1/1)")
    ntu.add_argument("--fps", type=float, default=15.0, help="stored frame rate, <= 30 (default 15)")
    ntu.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PREPARE_PRESET,
                     help=f"clip config (image size, points, bodies) of the shards (default {DEFAULT_PREPARE_PRESET})")
    ntu.add_argument("--config", type=Path, default=None, help="YAML config instead of --preset")
    ntu.add_argument("--seed", type=int, default=0, help="point-sampling seed (per shard: seed, shard index)")
    ntu.add_argument("--limit", type=int, default=None, help="convert at most this many samples (a trial run)")
    ntu.add_argument("--quiet", action="store_true", help="no progress bar")
    ntu.set_defaults(handler=run_prepare_ntu)

    fixture = kinds.add_parser("ntu-fixture", help="write NTU-format fixture samples (no NTU data needed)",
                               description="Write procedural samples in the official NTU formats and sizes "
                                           "(.skeleton text, 512x424 16-bit masked depth PNGs, 1920x1080 30 fps "
                                           "videos) for tests, benchmarks and trying `prepare ntu`.")
    fixture.add_argument("--out", type=Path, required=True)
    fixture.add_argument("--version", type=int, choices=(60, 120), default=60)
    fixture.add_argument("--samples", type=int, default=8)
    fixture.add_argument("--frames", type=int, default=None, help="frames per sample (default 90: 3 s)")
    fixture.add_argument("--modalities", type=_modalities, default=("skeleton", "depth", "rgb"))
    fixture.add_argument("--seed", type=int, default=0)
    fixture.set_defaults(handler=run_ntu_fixture)


def _config(args: argparse.Namespace) -> RCMCLConfig:
    return RCMCLConfig.from_yaml(args.config) if args.config is not None else preset(args.preset)


def run_prepare_ntu(args: argparse.Namespace) -> int:
    from rcmcl_core.data.ntu.prepare import PrepareRequest, parse_part, prepare_ntu

    request = PrepareRequest(root=args.root, out=args.out, version=args.version, config=_config(args),
                             fps=args.fps, workers=args.workers, modalities=args.modalities,
                             part=parse_part(args.part), seed=args.seed, limit=args.limit, progress=not args.quiet)
    result = prepare_ntu(request)
    i, n = request.part
    rate = result.clips_this_run / result.seconds if result.seconds > 0 else 0.0
    print(f"prepare ntu: part {i}/{n}: {result.shards_this_run} shards ({result.clips_this_run} clips) in "
          f"{result.seconds:.1f} s ({rate:.2f} clips/s with {request.workers} workers); "
          f"{result.shards_done} of {result.shards_total} shards of the plan done")
    if result.skipped_counts:
        counts = sorted(result.skipped_counts.items())
        print("skipped this run: " + ", ".join(f"{kind}: {count}" for kind, count in counts))
    if result.manifest is None:
        print("the manifest is written when every shard is done: rerun any part (finished shards are skipped)")
    else:
        extra = result.manifest.extra
        print(f"manifest: {args.out / 'manifest.json'}: {result.manifest.num_clips} clips in "
              f"{len(result.manifest.shards)} shards, {extra['prepare']['bytes'] / 1e6:.1f} MB; skipped in all: "
              + (", ".join(f"{k}: {v}" for k, v in sorted(extra['skipped_counts'].items())) or "none"))
    return 0


def run_ntu_fixture(args: argparse.Namespace) -> int:
    from rcmcl_core.data.ntu.fixture import FIXTURE_FRAMES, write_fixture

    if args.samples < 1:
        raise ValueError(f"--samples must be >= 1, got {args.samples}")
    fixture = write_fixture(args.out, version=args.version, samples=args.samples,
                            frames=args.frames or FIXTURE_FRAMES, modalities=args.modalities, seed=args.seed,
                            progress=True)
    print(f"wrote {len(fixture.names)} NTU-{args.version} samples ({', '.join(args.modalities)}) to {args.out}")
    return 0
