"""Per-person windows: one window per tracked body, all people of a round in one (B, ...) batch.

No ROS here: a `SceneFrame` holds one synced instant as numpy arrays (full-resolution rgb/depth, the
cloud, and the tracked bodies by body id, as the Azure driver numbers them: marker id = body * 100 +
joint). `PeopleWindower.push` crops each person's RGB-D and points at ingest (people/crop.py), keeps a
bounded history per body id and, on the node's stride grid, returns a `PeopleRound`: the window of every
person due this round, batched for one forward pass. The window and presence rule is the one of
rcmcl_core/windowing.py, applied per person (docs/ARCHITECTURE.md, "Sync and windowing").

Identity: a body id is a person. A new id starts a new track (its first window comes once it has enough
frames); an id not seen for `stale_after_s` is dropped and produces nothing more. While a person's
skeleton is missing (but not yet stale) their RGB-D and points are cropped with the last seen joints, so
the skeleton modality goes absent (gate 0) while the others carry on; when it is gone for good, so is the
person: no phantom label.

Sensor health (`health`, rcmcl_core/sensor_health.py, the same rules and thresholds as the single-person
pipeline): a frozen camera (rgb and depth repeat) rejects that instant's RGB-D crop of every person; a body
whose motion is implausible (a tracker jump) has that frame rejected, and its crops keep the last plausible
joints. Rejected frames are not observed, and a window with more than max_rejected_fraction of a person's
frames of a modality rejected leaves that modality absent for that person (counted in `stats.rejected`).

With `second_body`, the second body of a person's skeleton window (NTU's
two-body classes) is the nearest other tracked person (pelvis distance at the window end), zeros when
alone. It is on by default: the bundled checkpoint trains half its clips with a bystander in body 2
(rcmcl_core/augment/bystander.py; docs/PEOPLE.md has the measurement).

Degradation when over budget (bounded, never a queue): at most `max_people` tracks are kept (known ids
first, then the nearest to the camera; the rest are counted in `stats.people_over_limit`) and at most
`batch_limit` (<= `max_batch`) people are inferred per round; when more are due, the ones served longest
ago go first (round-robin), the others wait for a later round (`stats.deferred`). The node sets
`batch_limit` from the measured forward cost per person so a round's forward fits `forward_budget` of
the stride (`batch_for_budget`). So everyone shares one forward while it fits, and otherwise each
person's decision period degrades to stride_s * ceil(people / batch_limit) at a bounded round cost.
"""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
import torch

from rcmcl_core.config import MODALITIES
from rcmcl_core.sensor_health import JUMP, REPEATED, HealthConfig, RepeatedFrames, SkeletonMotion, trusted
from rcmcl_core.geometry.pinhole import Intrinsics, sample_points
from rcmcl_core.geometry.skeleton_layout import JOINT_INDEX, NUM_JOINTS
from rcmcl_core.windowing import (STAMP_EPS_S, is_present, nearest_stamps, screened_coverage, went_back,
                                   window_times)
from rcmcl_ros.people.crop import PELVIS, people_region, person_points, person_rgbd
from rcmcl_ros.pipeline.sync import SyncConfig
from rcmcl_ros.pipeline.window import WindowConfig, first_window_index

HEAD = JOINT_INDEX["head"]
MAX_BODY_ID = (2 ** 31 - 1) // 100
"""Body ids above this (or negative) are rejected: marker ids are int32 = body * 100 + joint."""


class PeopleConfigError(ValueError):
    """A PeopleConfig value is impossible; the message names it."""


@dataclass
class PeopleConfig:
    max_people: int = 1              # tracks kept at once; 1 = the single-person behaviour
    max_batch: int = 3               # people per forward pass at most; more due -> round-robin over rounds
    forward_budget: float = 0.8      # the node fits each round's forward in this fraction of stride_s by
                                     # lowering the batch (batch_for_budget); 0 = always max_batch
    stale_after_s: float = 1.0       # a body id unseen this long is dropped
    max_joint_range_m: float = 10.0  # a body with a joint farther than this from the camera is dropped
    reset_backwards_s: float = SyncConfig.reset_backwards_s  # a stamp this far back resets (bag loop);
                                     # a frame less far back is late: dropped and counted
    second_body: bool = True         # the nearest other person fills skeleton body 2 (NTU two-body classes);
                                     # the bundled checkpoint trains half its clips with a bystander there

    def validate(self) -> "PeopleConfig":
        checks = ((self.max_people >= 1, f"people.max_people must be >= 1, got {self.max_people}"),
                  (self.max_batch >= 1, f"people.max_batch must be >= 1, got {self.max_batch}"),
                  (self.stale_after_s > 0, f"people.stale_after_s must be > 0 s, got {self.stale_after_s}"),
                  (0 <= self.forward_budget <= 1,
                   f"people.forward_budget must be in [0, 1], got {self.forward_budget}"),
                  (self.reset_backwards_s > 0, f"people.reset_backwards_s must be > 0, got {self.reset_backwards_s}"),
                  (self.max_joint_range_m > 0, f"people.max_joint_range_m must be > 0, got {self.max_joint_range_m}"))
        for ok, message in checks:
            if not ok:
                raise PeopleConfigError(message)
        return self


@dataclass
class SceneFrame:
    """One synced instant. bodies {body id: (25, 3) NTU joints, metres, skeleton frame} or None when the
    skeleton stream is absent; rgb (H, W, 3) uint8 and depth (H, W) float32 metres, registered, with
    `intrinsics`, or None; points (K, 3) metres or None; extrinsic (4, 4) skeleton frame -> image/cloud
    frame (None = identity)."""

    stamp_s: float
    bodies: dict[int, np.ndarray] | None
    rgb: np.ndarray | None = None
    depth: np.ndarray | None = None
    intrinsics: Intrinsics | None = None
    points: np.ndarray | None = None
    extrinsic: np.ndarray | None = None


@dataclass
class PeopleStats:
    frames: int = 0
    rounds: int = 0
    windows: int = 0
    deferred: int = 0                # people due but left to a later round (over max_batch)
    people_over_limit: int = 0       # bodies seen beyond max_people (per frame)
    bad_bodies: int = 0              # non-finite / out-of-range joints, bad ids or shapes (per frame)
    tracks_started: int = 0
    tracks_dropped: int = 0          # stale ids forgotten
    resets: int = 0
    late_frames: int = 0             # frames older than the newest one (dropped)
    rejected: Counter = field(default_factory=Counter)  # sensor-health rejections, "rgbd/repeated" per
                                     # scene frame, "skeleton/jump" per body frame (rcmcl_core/sensor_health.py)


@dataclass
class _Track:
    body_id: int
    last_seen_s: float
    joints: np.ndarray                                   # (25, 3) last seen, image/cloud frame
    served_k: int = -1                                   # last round that inferred this person
    skeleton: deque = field(default_factory=deque)       # (stamp, (25, 3))
    rgbd: deque = field(default_factory=deque)           # (stamp, (rgb, depth))
    points: deque = field(default_factory=deque)         # (stamp, (N, 3))
    motion: SkeletonMotion | None = None                 # this body's implausible-motion rule (None: rules off)
    rejected: dict = field(default_factory=lambda: {m: deque() for m in MODALITIES})   # rejected stamps


@dataclass
class PeopleRound:
    """One decision round at sensor time end_s. body_ids (B,); batch: the model inputs with a leading B
    (rgb (B, T, 3, S, S), depth (B, T, 1, S, S), skeleton (B, T, M, 25, 3), points (B, T, N, 3); None where
    nobody has the modality) and present (B, 3) bool; coverage (B, 3); second_ids (B,) -1 = none."""

    end_s: float
    body_ids: list[int]
    batch: dict[str, torch.Tensor | None]
    present: np.ndarray
    coverage: np.ndarray
    second_ids: list[int]
    distance_m: np.ndarray           # (B,) pelvis distance to the camera (the main actor is the nearest)
    head_m: np.ndarray               # (B, 3) last seen head joint, image/cloud frame (rviz text anchor)


class PeopleWindower:
    """SceneFrames in stamp order -> PeopleRounds on the stride grid. Not thread-safe."""

    def __init__(self, *, config: PeopleConfig, window: WindowConfig, image_size: int, num_points: int,
                 max_bodies: int = 2, seed: int = 0, health: HealthConfig | None = None) -> None:
        self.config, self.window = config.validate(), window.validate()
        self.health = health.validate() if health is not None and health.enabled else None
        self._frozen = RepeatedFrames(self.health) if self.health is not None else None   # one camera for all
        self.image_size, self.num_points, self.max_bodies = int(image_size), int(num_points), int(max_bodies)
        self.stats = PeopleStats()
        self._rng = np.random.default_rng(seed)
        self._tracks: dict[int, _Track] = {}
        self._next_k: int | None = None
        self._last_stamp_s: float | None = None
        self.batch_limit = self.config.max_batch     # lowered by the node when rounds overrun their budget

    @property
    def tracked_ids(self) -> list[int]:
        return sorted(self._tracks)

    def reset(self) -> None:
        self._tracks.clear()
        self._next_k = self._last_stamp_s = None
        if self._frozen is not None:
            self._frozen.reset()

    def push(self, frame: SceneFrame) -> list[PeopleRound]:
        """Ingest one frame (stamp order) and return the rounds it completed, oldest first."""
        self.ingest(frame)
        return self.due_rounds()

    def ingest(self, frame: SceneFrame) -> None:
        """Crop and store one frame for every tracked person. A frame older than the newest one is late
        (dropped, counted); one more than reset_backwards_s older resets first (bag loop, clock reset)."""
        stamp_s = float(frame.stamp_s)
        if went_back(stamp_s, self._last_stamp_s):
            if not went_back(stamp_s, self._last_stamp_s, by_more_than_s=self.config.reset_backwards_s):
                self.stats.late_frames += 1
                return
            self.stats.resets += 1
            self.reset()
        self.stats.frames += 1
        self._last_stamp_s = stamp_s
        if self._next_k is None:
            self._next_k = first_window_index(stamp_s, window_s=self.window.window_s, stride_s=self.window.stride_s)
        self._observe(frame, stamp_s)

    def due_rounds(self) -> list[PeopleRound]:
        """The rounds whose window end the newest ingested stamp has reached, oldest first."""
        rounds = []
        while self._last_stamp_s is not None and \
                self._next_k * self.window.stride_s <= self._last_stamp_s + STAMP_EPS_S:
            built = self._round(self._next_k)
            self._next_k += 1
            if built is not None:
                rounds.append(built)
        return rounds

    # -- ingest ------------------------------------------------------------------------------------
    def clean_bodies(self, bodies: dict[int, np.ndarray] | None, *, extrinsic: np.ndarray | None
                     ) -> dict[int, np.ndarray]:
        """Valid bodies mapped into the image/cloud frame, at most max_people: known ids first, then the
        nearest to the camera. Bad ones are counted, never raised."""
        good: dict[int, np.ndarray] = {}
        for body_id, joints in (bodies or {}).items():
            joints = np.asarray(joints, dtype=np.float64)
            if not isinstance(body_id, (int, np.integer)) or not 0 <= int(body_id) <= MAX_BODY_ID \
                    or joints.shape != (NUM_JOINTS, 3) or not np.isfinite(joints).all() \
                    or np.abs(joints).max() > self.config.max_joint_range_m or not np.abs(joints).any():
                self.stats.bad_bodies += 1
                continue
            if extrinsic is not None:
                joints = joints @ extrinsic[:3, :3].T + extrinsic[:3, 3]
            good[int(body_id)] = joints
        ranked = sorted(good, key=lambda i: (i not in self._tracks, float(np.linalg.norm(good[i][PELVIS])), i))
        keep = ranked[:self.config.max_people]
        self.stats.people_over_limit += len(ranked) - len(keep)
        return {i: good[i] for i in keep}

    def _observe(self, frame: SceneFrame, stamp_s: float) -> None:
        seen = self.clean_bodies(frame.bodies, extrinsic=frame.extrinsic)
        for body_id in list(self._tracks):
            if stamp_s - self._tracks[body_id].last_seen_s > self.config.stale_after_s + STAMP_EPS_S:
                del self._tracks[body_id]
                self.stats.tracks_dropped += 1
        for body_id, joints in seen.items():
            if body_id not in self._tracks:
                if len(self._tracks) >= self.config.max_people:
                    self.stats.people_over_limit += 1
                    continue
                self._tracks[body_id] = _Track(body_id=body_id, last_seen_s=stamp_s, joints=joints,
                                               motion=SkeletonMotion(self.health) if self.health else None)
                self.stats.tracks_started += 1
            track = self._tracks[body_id]
            track.last_seen_s = stamp_s
            if track.motion is not None and track.motion.check(stamp_s, joints[None], np.ones(1, bool)) is not None:
                self._reject(track, "skeleton", JUMP, stamp_s)   # crops keep the last plausible joints
                continue
            track.joints = joints
            track.skeleton.append((stamp_s, joints.astype(np.float32)))
        frozen = (self._frozen is not None and frame.rgb is not None and frame.depth is not None
                  and self._frozen.check(frame.rgb, frame.depth))
        if frozen:
            self.stats.rejected[f"rgbd/{REPEATED}"] += 1          # one camera: counted once per frame
        region = None
        if frame.points is not None and len(frame.points) and self._tracks:
            region = people_region(np.asarray(frame.points, np.float32),
                                   np.stack([t.joints for t in self._tracks.values()]))
        for track in self._tracks.values():   # seen now, or held with the last joints until stale
            if frozen:
                track.rejected["rgbd"].append(stamp_s)
            elif frame.rgb is not None and frame.depth is not None and frame.intrinsics is not None:
                crop = person_rgbd(frame.rgb, frame.depth, track.joints, intrinsics=frame.intrinsics,
                                   size=self.image_size)
                if crop is not None:
                    track.rgbd.append((stamp_s, crop))
            if region is not None and len(region):
                cloud = person_points(region, track.joints)
                if len(cloud):
                    track.points.append((stamp_s, sample_points(cloud, self.num_points, rng=self._rng)))
            self._prune(track, stamp_s)

    def _reject(self, track: _Track, modality: str, reason: str, stamp_s: float) -> None:
        """A frame of `modality` received for `track` at stamp_s but rejected by a sensor-health rule."""
        track.rejected[modality].append(stamp_s)
        self.stats.rejected[f"{modality}/{reason}"] += 1

    def _prune(self, track: _Track, stamp_s: float) -> None:
        oldest = stamp_s - self.window.window_s - self.window.max_gap_s - self.window.stride_s
        for history in (track.skeleton, track.rgbd, track.points):
            while len(history) > self.window.max_history or (len(history) > 1 and history[1][0] < oldest):
                history.popleft()
        for rejected in track.rejected.values():
            while rejected and (len(rejected) > self.window.max_history or rejected[0] < oldest):
                rejected.popleft()

    # -- rounds ------------------------------------------------------------------------------------
    def _round(self, k: int) -> PeopleRound | None:
        end_s = k * self.window.stride_s
        targets = window_times(end_s, frames=self.window.frames, window_s=self.window.window_s)
        due = [t for t in self._tracks.values() if end_s - t.last_seen_s <= self.config.stale_after_s + STAMP_EPS_S]
        due.sort(key=lambda t: (t.served_k, t.body_id))          # served longest ago first: round-robin
        rows = []
        for position, track in enumerate(due):
            if len(rows) >= min(self.config.max_batch, max(1, self.batch_limit)):
                self.stats.deferred += len(due) - position
                break
            row = self._person(track, targets)      # None: nothing of this person left, takes no slot
            track.served_k = k
            if row is not None:
                rows.append(row)
        if not rows:
            return None
        self.stats.rounds += 1
        self.stats.windows += len(rows)
        return _stack(end_s, rows)

    def _person(self, track: _Track, targets: np.ndarray) -> dict | None:
        frames: dict[str, list | None] = {}
        observed = np.zeros(len(MODALITIES))
        for m, (modality, history) in enumerate(zip(MODALITIES, (track.rgbd, track.skeleton, track.points))):
            frames[modality] = None
            if not history:
                continue
            index, observed[m], rejected_fraction = screened_coverage(
                np.array([s for s, _ in history]), np.array(track.rejected[modality], dtype=np.float64), targets,
                max_gap_s=self.window.max_gap_s)
            if is_present(observed[m], min_presence=self.window.min_presence) and trusted(rejected_fraction,
                                                                                          self.health):
                frames[modality] = [history[i][1] for i in index]
        present = np.array([frames[m] is not None for m in MODALITIES])
        if not present.any():
            return None      # nothing of this person is left: no phantom label
        second = self._nearest_other(track)
        if frames["skeleton"] is not None:
            bodies = np.zeros((len(targets), self.max_bodies, NUM_JOINTS, 3), np.float32)
            bodies[:, 0] = np.stack(frames["skeleton"])
            if second is not None and self.config.second_body and self.max_bodies > 1 and second.skeleton:
                index, distance = nearest_stamps(np.array([s for s, _ in second.skeleton]), targets)
                near = distance <= self.window.max_gap_s + STAMP_EPS_S
                other = np.stack([second.skeleton[i][1] for i in index])
                bodies[:, 1] = np.where(near[:, None, None], other, 0.0)
            frames["skeleton"] = bodies
        return {"body_id": track.body_id, "frames": frames, "present": present, "coverage": observed,
                "second_id": -1 if second is None else second.body_id,
                "distance_m": float(np.linalg.norm(track.joints[PELVIS])), "head_m": track.joints[HEAD].copy()}

    def _nearest_other(self, track: _Track) -> _Track | None:
        others = [t for t in self._tracks.values() if t.body_id != track.body_id]
        if not others:
            return None
        return min(others, key=lambda t: (float(np.linalg.norm(t.joints[PELVIS] - track.joints[PELVIS])), t.body_id))


def _stack(end_s: float, rows: list[dict]) -> PeopleRound:
    """Per-person frames -> (B, ...) tensors of the model contract; absent rows are zeros (the model
    encodes present rows only, rcmcl_core/models/rcmcl.py `encode`)."""
    present = np.stack([r["present"] for r in rows])
    batch: dict[str, torch.Tensor | None] = {"rgb": None, "depth": None, "skeleton": None, "points": None}
    template = {m: next((r["frames"][m] for r in rows if r["frames"][m] is not None), None) for m in MODALITIES}
    if template["rgbd"] is not None:
        rgb_like = np.stack([f[0] for f in template["rgbd"]])
        rgb = np.stack([np.stack([f[0] for f in r["frames"]["rgbd"]]) if r["frames"]["rgbd"] is not None
                        else np.zeros_like(rgb_like) for r in rows])                 # (B, T, S, S, 3)
        depth = np.stack([np.stack([f[1] for f in r["frames"]["rgbd"]]) if r["frames"]["rgbd"] is not None
                          else np.zeros(rgb_like.shape[:3], np.float32) for r in rows])
        batch["rgb"] = torch.from_numpy(rgb).permute(0, 1, 4, 2, 3).float().div_(255.0)
        batch["depth"] = torch.from_numpy(depth.astype(np.float32))[:, :, None]
    if template["skeleton"] is not None:
        batch["skeleton"] = torch.from_numpy(np.stack([
            r["frames"]["skeleton"] if r["frames"]["skeleton"] is not None else np.zeros_like(template["skeleton"])
            for r in rows]).astype(np.float32))
    if template["points"] is not None:
        like = np.stack(template["points"])
        batch["points"] = torch.from_numpy(np.stack([
            np.stack(r["frames"]["points"]) if r["frames"]["points"] is not None else np.zeros_like(like)
            for r in rows]).astype(np.float32))
    batch["present"] = torch.from_numpy(present.copy())
    return PeopleRound(end_s=end_s, body_ids=[r["body_id"] for r in rows], batch=batch, present=present,
                       coverage=np.stack([r["coverage"] for r in rows]), second_ids=[r["second_id"] for r in rows],
                       distance_m=np.array([r["distance_m"] for r in rows]),
                       head_m=np.stack([r["head_m"] for r in rows]))


def batch_for_budget(*, seconds_per_person: float, budget_s: float, max_batch: int) -> int:
    """People per forward that fit `budget_s` at `seconds_per_person` (measured), in [1, max_batch]: the
    node's degradation rule. Fewer per round means round-robin, a longer period per person, never a queue."""
    if seconds_per_person <= 0 or budget_s <= 0:
        return max_batch
    return int(min(max_batch, max(1, budget_s // seconds_per_person)))


def people_windower(clip, *, people: PeopleConfig, stride_s: float, seed: int = 0, health: HealthConfig | None = None,
                    **window) -> PeopleWindower:
    """A PeopleWindower at a checkpoint's clip sizes (rcmcl_core.config.ClipConfig: frames, window_s,
    image_size, num_points, max_bodies); `window` overrides other WindowConfig fields; `health` turns the
    sensor-health rules on (None or disabled: off)."""
    return PeopleWindower(config=people, window=WindowConfig(frames=clip.frames, window_s=clip.window_s,
                                                             stride_s=stride_s, **window),
                          image_size=clip.image_size, num_points=clip.num_points, max_bodies=clip.max_bodies,
                          seed=seed, health=health)
