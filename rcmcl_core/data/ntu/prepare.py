"""`rcmcl prepare ntu`: NTU RGB+D 60 / 120 -> clip shards, in parallel and resumable (issue 28).

The plan: every NTU-`version` sample under the root, in name order, minus the skips known before reading
(names that do not parse, the published missing-skeleton lists), cut into shards of `clips_per_shard` samples.
Shard i is one task: its samples are converted (convert.convert_sample) and written as shards/shard_i.npz,
then `progress/shard_i.json` records it (clips, skips by reason, missing modalities, seconds by stage). A
rerun skips every shard with a record (a killed run continues where it stopped; a shard being written when
it was killed is redone: shards and records are written atomically, the record last). `part i/n` takes the
shards whose index is i-1 modulo n, so a batch scheduler spreads one plan over machines writing to one --out.
The manifest is written by whichever run finds every shard's record present. `progress/plan.json` keeps
the plan: a rerun with other settings or another set of files is refused, naming what differs.

Workers are spawned processes; each task carries its own file paths, so workers never list the root. Bad
samples are counted skips; a disk that fills up stops the run with one line (finished shards are kept).
"""
from __future__ import annotations

import errno
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rcmcl_core.atomic_io import atomic_write_bytes
from rcmcl_core.config import RCMCLConfig
from rcmcl_core.data.dataset import NUM_FRAMES_FIELD
from rcmcl_core.data.ntu import media
from rcmcl_core.data.ntu.classes import ntu_class_names
from rcmcl_core.data.ntu.convert import (NTU_CLIPS_PER_SHARD, STAGES, NTUSkip, NTUSources, convert_sample,
                                         find_ntu_files, stack_clips)
from rcmcl_core.data.ntu.missing import missing_skeletons
from rcmcl_core.data.ntu.skeleton_file import NTUFormatError
from rcmcl_core.data.ntu.splits import NTUNameError, ntu_splits, parse_sample_name
from rcmcl_core.data.shards import Manifest, write_shard
from rcmcl_core.geometry.pinhole import scale_intrinsics

MODALITIES = ("skeleton", "depth", "rgb")
PROGRESS_DIR = "progress"
PLAN_FILE = "plan.json"
_NAME_IN_TEXT = re.compile(r"S\d{3}C\d{3}P\d{3}R\d{3}A\d{3}")


class PrepareError(RuntimeError):
    """The conversion cannot start or go on (bad request, a plan of other settings, a full disk)."""


@dataclass
class PrepareRequest:
    root: Path
    out: Path
    version: int
    config: RCMCLConfig                      # its clip config: image size, point count, bodies
    fps: float = 15.0                        # stored frame rate (NTU is captured at 30)
    workers: int = 1
    modalities: tuple[str, ...] = MODALITIES
    part: tuple[int, int] = (1, 1)           # (i, n), 1-based: the shards with index % n == i - 1
    seed: int = 0
    limit: int | None = None                 # at most this many samples in the plan
    clips_per_shard: int = NTU_CLIPS_PER_SHARD
    progress: bool = True

    def validate(self) -> "PrepareRequest":
        if self.version not in (60, 120):
            raise PrepareError(f"NTU version must be 60 or 120, got {self.version!r}")
        if not 0 < self.fps <= media.NTU_FPS:
            raise ValueError(f"fps must be in (0, {media.NTU_FPS}] (NTU is captured at 30 fps), got {self.fps}")
        if self.workers < 1:
            raise PrepareError(f"--workers must be >= 1, got {self.workers}")
        unknown = sorted(set(self.modalities) - set(MODALITIES))
        if unknown or "skeleton" not in self.modalities:
            raise PrepareError(f"--modalities must include skeleton and come from {', '.join(MODALITIES)}, got "
                               f"{','.join(self.modalities)}")
        i, n = self.part
        if not (n >= 1 and 1 <= i <= n):
            raise PrepareError(f"--part must be i/n with 1 <= i <= n, got {i}/{n}")
        if self.clips_per_shard < 1:
            raise PrepareError(f"clips per shard must be >= 1, got {self.clips_per_shard}")
        self.modalities = tuple(m for m in MODALITIES if m in self.modalities)
        return self


def parse_part(text: str) -> tuple[int, int]:
    """'3/16' -> (3, 16); PrepareError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise PrepareError(f"--part must look like i/n (e.g. 3/16), got {text!r}")
    return int(match.group(1)), int(match.group(2))


@dataclass
class ShardTask:
    """Shard `index`: its samples with their files (depth folder, video: None when absent or not asked)."""

    index: int
    names: list[str]
    skeletons: list[str]
    depth: list[str | None]
    rgb: list[str | None]


@dataclass
class Plan:
    tasks: list[ShardTask]
    skipped: dict[str, tuple[str, str]] = field(default_factory=dict)      # known before reading: name -> (kind, why)
    samples: int = 0


def listed_missing(version: int, sources: NTUSources) -> set[str]:
    """The published missing-skeleton samples: ours, plus any official list file found under the root."""
    missing = set(missing_skeletons(version))
    for path in sources.missing_lists:
        missing.update(_NAME_IN_TEXT.findall(path.read_text(errors="replace")))
    return missing


def make_plan(request: PrepareRequest, sources: NTUSources) -> Plan:
    """The deterministic plan of a request (see the module docstring)."""
    missing = listed_missing(request.version, sources)
    skipped: dict[str, tuple[str, str]] = {}
    eligible: list[str] = []
    for name in sorted(sources.skeletons):
        try:
            sample = parse_sample_name(name)
        except NTUNameError as error:
            skipped[name] = ("bad name", str(error))
            continue
        if not sample.in_version(request.version):
            continue
        if name in missing:
            skipped[name] = ("listed missing", "on the published list of samples with missing skeletons")
            continue
        eligible.append(name)
    if request.limit is not None:
        eligible = eligible[:max(0, request.limit)]
    size = request.clips_per_shard
    tasks = []
    for index, start in enumerate(range(0, len(eligible), size)):
        names = eligible[start:start + size]
        tasks.append(ShardTask(
            index=index, names=names, skeletons=[str(sources.skeletons[n]) for n in names],
            depth=[str(sources.depth[n]) if "depth" in request.modalities and n in sources.depth else None
                   for n in names],
            rgb=[str(sources.rgb[n]) if "rgb" in request.modalities and n in sources.rgb else None for n in names]))
    return Plan(tasks=tasks, skipped=skipped, samples=len(eligible))


def plan_identity(request: PrepareRequest, plan: Plan) -> dict[str, Any]:
    """What a rerun must share with the run that started --out (written to progress/plan.json)."""
    clip = request.config.clip
    return {"version": request.version, "fps": request.fps, "modalities": list(request.modalities),
            "seed": request.seed, "clips_per_shard": request.clips_per_shard,
            "clip": {"image_size": clip.image_size, "num_points": clip.num_points, "max_bodies": clip.max_bodies},
            "shards": [task.names for task in plan.tasks],
            "files": [[bool(d), bool(r)] for task in plan.tasks for d, r in zip(task.depth, task.rgb)]}


def check_plan(out: Path, identity: dict[str, Any]) -> None:
    """Write progress/plan.json, or check that the one there is this plan (PrepareError naming the difference)."""
    path = out / PROGRESS_DIR / PLAN_FILE
    if path.is_file():
        before = json.loads(path.read_text())
        differ = [key for key in identity if before.get(key) != identity[key]]
        if differ:
            what = {"shards": "the samples found under the root", "files": "which depth / video files exist"}
            named = ", ".join(what.get(k, f"{k} ({before.get(k)} -> {identity[k]})") for k in differ)
            raise PrepareError(f"{out} holds a conversion with other settings or files: {named} differ; resume "
                               f"it with its own settings, or use a new --out")
        return
    atomic_write_bytes(path, json.dumps(identity).encode())


def record_path(out: Path, index: int) -> Path:
    return out / PROGRESS_DIR / f"shard_{index:05d}.json"


def convert_shard(task: ShardTask, request: PrepareRequest) -> dict[str, Any]:
    """One task in a worker: convert, write the shard (if any clip), then its record. Returns the record."""
    started = time.perf_counter()
    sources = NTUSources(skeletons=dict(zip(task.names, map(Path, task.skeletons))),
                         depth={n: Path(d) for n, d in zip(task.names, task.depth) if d},
                         rgb={n: Path(r) for n, r in zip(task.names, task.rgb) if r}, missing_lists=[])
    rng = np.random.default_rng([request.seed, task.index])
    stages: dict[str, float] = {}
    clips, skipped = [], {}
    frames = 0
    for name in task.names:
        try:
            clip = convert_sample(parse_sample_name(name), sources, config=request.config, fps=request.fps,
                                  rng=rng, modalities=request.modalities, timer=stages)
        except NTUSkip as error:
            skipped[name] = (error.kind, str(error))
            continue
        except (NTUFormatError, media.NTUMediaError) as error:
            skipped[name] = ("unreadable", str(error))
            continue
        if clip is None:
            skipped[name] = ("no bodies", "the skeleton file has no tracked body in any frame")
            continue
        frames += len(clip["skeleton"])
        clips.append(clip)
    shard = None
    try:
        if clips:
            shard = write_shard(request.out, task.index, stack_clips(clips))
        record = {"index": task.index, "shard": shard, "clips": [c["clip_id"] for c in clips], "frames": frames,
                  "skipped": skipped,
                  "rgb_missing": [c["clip_id"] for c in clips if "rgb" in request.modalities
                                  and c["clip_id"] not in sources.rgb],
                  "depth_missing": [c["clip_id"] for c in clips if "depth" in request.modalities
                                    and c["clip_id"] not in sources.depth],
                  "seconds": time.perf_counter() - started, "stages": stages,
                  "bytes": (request.out / shard).stat().st_size if shard else 0}
        atomic_write_bytes(record_path(request.out, task.index), json.dumps(record).encode())
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise PrepareError(f"no space left on the device of {request.out} while writing shard {task.index}; "
                               f"free space and rerun the same command: finished shards are kept") from None
        raise
    return record


@dataclass
class PrepareResult:
    manifest: Manifest | None              # None until every part has finished
    shards_total: int
    shards_done: int
    shards_this_run: int
    clips_this_run: int
    seconds: float
    skipped_counts: dict[str, int]
    records: list[dict[str, Any]]          # this run's


def prepare_ntu(request: PrepareRequest) -> PrepareResult:
    """Run (or continue) a conversion; writes the manifest once every shard of the plan is recorded."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    import multiprocessing

    from tqdm import tqdm

    request.validate()
    started = time.perf_counter()
    sources = find_ntu_files(request.root)
    if "rgb" in request.modalities and sources.rgb:
        media.opencv()                      # fail now, not after hours, when videos exist but cv2 does not
    plan = make_plan(request, sources)
    check_plan(request.out, plan_identity(request, plan))
    i, n = request.part
    mine = [task for task in plan.tasks if task.index % n == i - 1]
    todo = [task for task in mine if not record_path(request.out, task.index).is_file()]
    records: list[dict[str, Any]] = []
    bar = tqdm(total=sum(len(t.names) for t in todo), desc=f"NTU-{request.version} -> shards", unit="clip",
               disable=not request.progress, dynamic_ncols=True)
    with bar:
        if request.workers == 1 or len(todo) <= 1:
            for task in todo:
                records.append(convert_shard(task, request))
                bar.update(len(task.names))
        else:
            context = multiprocessing.get_context("spawn")     # torch may be imported here: never fork it
            with ProcessPoolExecutor(max_workers=request.workers, mp_context=context) as pool:
                futures = {pool.submit(convert_shard, task, request): task for task in todo}
                try:
                    for future in as_completed(futures):
                        records.append(future.result())
                        bar.update(len(futures[future].names))
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    done = [t for t in plan.tasks if record_path(request.out, t.index).is_file()]
    counts = Counter(kind for record in records for kind, _ in record["skipped"].values())
    manifest = write_manifest(request, plan) if len(done) == len(plan.tasks) else None
    return PrepareResult(manifest=manifest, shards_total=len(plan.tasks), shards_done=len(done),
                         shards_this_run=len(records), clips_this_run=sum(len(r["clips"]) for r in records),
                         seconds=time.perf_counter() - started, skipped_counts=dict(counts), records=records)


def write_manifest(request: PrepareRequest, plan: Plan) -> Manifest:
    """The manifest of a finished plan, from every shard's record (shards in index order)."""
    records = [json.loads(record_path(request.out, t.index).read_text()) for t in plan.tasks]
    skipped = {name: why for name, (_, why) in plan.skipped.items()}
    counts = Counter(kind for kind, _ in plan.skipped.values())
    for record in records:
        for name, (kind, why) in record["skipped"].items():
            skipped[name] = why
            counts[kind] += 1
    splits, split_fields = ntu_splits(request.version)
    size = request.config.clip.image_size
    # One manifest entry for all clips: the published Kinect v2 values (clips differ by a pixel or two).
    unmirrored = media.unmirrored_intrinsics(media.NTU_DEPTH_INTRINSICS, mirrored=media.NTU_IMAGES_MIRRORED)
    manifest = Manifest(
        source=f"ntu{request.version}", classes=ntu_class_names(request.version), fps=float(request.fps),
        intrinsics=scale_intrinsics(unmirrored, width=size, height=size),
        shards=[r["shard"] for r in records if r["shard"]], num_clips=sum(len(r["clips"]) for r in records),
        splits=splits, split_fields=split_fields,
        extra={"ntu_version": request.version, "num_frames_field": NUM_FRAMES_FIELD,
               "modalities": list(request.modalities),
               "rgb_missing": [c for r in records for c in r["rgb_missing"]],
               "depth_missing": [c for r in records for c in r["depth_missing"]],
               "skipped": skipped, "skipped_counts": dict(counts),
               "prepare": {"fps": request.fps, "seed": request.seed, "clips_per_shard": request.clips_per_shard,
                           "stages_s": {s: sum(r["stages"].get(s, 0.0) for r in records) for s in STAGES},
                           "convert_s": sum(r["seconds"] for r in records),
                           "bytes": sum(r["bytes"] for r in records)}})
    manifest.save(request.out)
    return manifest


def build_ntu_shards(*, ntu_root: Path, out: Path, version: int, config: RCMCLConfig, fps: float = media.NTU_FPS,
                     limit: int | None = None, seed: int = 0) -> Manifest:
    """Convert the available NTU-`version` samples under `ntu_root` into shards + manifest under `out`, in
    this process (`rcmcl prepare ntu` is the parallel, resumable command over the same code).

    `fps` (<= 30) is the stored frame rate (frames are subsampled from NTU's 30 fps); `limit` caps the
    number of samples converted. Samples on the published missing-skeleton lists, files that parse to no
    bodies and unreadable files are skipped, never fatal: manifest.extra['skipped'] maps name -> reason
    and 'skipped_counts' counts reasons."""
    request = PrepareRequest(root=Path(ntu_root), out=Path(out), version=version, config=config, fps=fps,
                             workers=1, seed=seed, limit=limit, progress=True)
    return prepare_ntu(request).manifest
