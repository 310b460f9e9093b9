"""conversions -> sync -> window -> model -> Decision, without a ROS graph (docs/ARCHITECTURE.md, "Sync and windowing").

The node and the offline bag evaluation share this class. `ingest` is called per message (from ROS
callbacks: it converts and pushes, counts drops by reason and never raises); `ready_windows` polls the
synchroniser and returns complete windows; `infer` runs the model on one window. `step` does the last two
for offline use. The checkpoint is the source of truth for T, window_s and the frame sizes.

One input path: with `points_source: depth` each depth image also makes the cloud here (depth_cloud.py,
with the latest `camera_info`), and with a per-person path attached (`people`, rcmcl_ros/people/path.py)
`ingest` hands it what it decoded: the skeleton is decoded once (every body for the people, the main actor
for the single-person window), the cloud is read once, compressed colour is decoded once.

Offline (no DDS, as fast as it goes), the clock is the newest stamp:

    pipeline = Pipeline.from_checkpoint(path, config=PipelineConfig())
    for stream, msg, record_s in messages:                     # stream in STREAMS, in record order
        stamp_s = message_stamp_s(msg, fallback_s=record_s)
        pipeline.ingest(stream, stamp_s, msg)
        decisions += pipeline.step(stamp_s)
    decisions += pipeline.flush()
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch

from rcmcl_core.checkpoint import check_model_compatible, load_checkpoint
from rcmcl_core.config import RCMCLConfig
from rcmcl_core.device import DEVICE_PATTERN, DeviceError, resolve_device
from rcmcl_core.backend_choice import BACKENDS, default_onnx_path
from rcmcl_core.inference_runtime import InferenceRuntime, OnnxSettings, RuntimeConfigError, normalise_amp
from rcmcl_core.onnx_backend import parse_providers
from rcmcl_core.models.rcmcl import RCMCL
from rcmcl_core.sensor_health import JUMP, REPEATED, HealthConfig, HealthConfigError, RepeatedFrames, SkeletonMotion
from rcmcl_core.windowing import went_back
from rcmcl_ros.conversions import ConversionError, stamp_to_seconds
from rcmcl_ros.pipeline.stats import PipelineStats
from rcmcl_ros.pipeline.preprocess import STREAMS, PreprocessConfig, Preprocessor, nearest_body
from rcmcl_ros.pipeline.depth_cloud import DepthCloudSource
from rcmcl_ros.pipeline.stage_timing import StageClock
from rcmcl_ros.pipeline.sync import SyncConfig, Synchroniser
from rcmcl_ros.pipeline.window import FrameSet, Window, WindowConfig, Windower


ExtrinsicLookup = Callable[[str, str, float], "np.ndarray | None"]
"""(target_frame, source_frame, stamp_s) -> (4, 4) source -> target, or None when unknown (e.g. tf2)."""


LOGGED_DROPS_KEPT = 64
"""Drops that ingest does not return (sensor-health rules, the depth-derived cloud) kept for the node's log
between two polls (the counters count every one)."""
POINTS_SOURCES = ("topic", "depth")
"""Where the cloud comes from: the points topic, or each depth image with its camera_info."""


class PeopleTap(Protocol):
    """What Pipeline.ingest feeds besides its own path (rcmcl_ros.people.path.PeoplePath)."""

    def add(self, stream: str, stamp_s: float, payload: Any) -> None: ...

    def reset(self) -> None: ...


class PipelineConfigError(ValueError):
    """A PipelineConfig value is impossible; the message names it."""


@dataclass
class PipelineConfig:
    """Everything but the model. window.frames/window_s and preprocess sizes are overridden by the checkpoint."""

    device: str = "auto"              # "auto" (CUDA when available), "cpu" or "cuda"
    amp: str = "bf16"                 # autocast on CUDA: off | bf16 | fp16 (ignored on CPU; True/False = bf16/off)
    torch_threads: int = 1            # intra-op CPU threads (1: no contention with DDS threads); 0 = torch default
    max_future_s: float = 1.0         # a stamp this far ahead of the clock is dropped ("stamp_future")
    max_age_s: float = 5.0            # a stamp this far behind the clock is dropped ("stamp_past")
    latency_history: int = 256        # decisions kept for the latency percentiles
    rate_window_s: float = 2.0        # input rates are averaged over this much sensor time
    cuda_graph: bool = True           # CUDA: all-present windows replay forward_all_present from a CUDA graph
    warmup: bool = True               # forwards on a synthetic window at start-up (first decision not slow)
    cpu_trace: bool = True            # CPU: all-present windows run a TorchScript trace (traced_forward.py)
    backend: str = "auto"             # auto | torch | torchscript | onnxruntime (rcmcl_core/backend_choice.py)
    onnx_model: str = ""              # "" = the checkpoint's path with the suffix .onnx
    onnx_providers: str = "auto"      # auto (tensorrt, cuda, cpu: those installed) or a list, e.g. "cuda,cpu"
    onnx_fp16: bool = False           # TensorRT: fp16 engines
    onnx_trt_cache: str = "~/.cache/rcmcl/tensorrt"   # TensorRT engine cache folder ("" = no cache)
    sync: SyncConfig = field(default_factory=SyncConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    health: HealthConfig = field(default_factory=HealthConfig)   # sensor-health rules (frozen camera, jumps)
    points_source: str = "topic"      # POINTS_SOURCES: "depth" = each depth image also makes the cloud

    def validate(self) -> "PipelineConfig":
        checks = (
            (self.points_source in POINTS_SOURCES,
             f"points_source must be one of {', '.join(POINTS_SOURCES)}, got {self.points_source!r}"),
            (DEVICE_PATTERN.fullmatch(str(self.device)) is not None,
             f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}"),
            (self.torch_threads >= 0, f"torch_threads must be >= 0, got {self.torch_threads}"),
            (self.max_future_s > 0, f"max_future_s must be > 0 s, got {self.max_future_s}"),
            (self.max_age_s > 0, f"max_age_s must be > 0 s, got {self.max_age_s}"),
            (self.latency_history >= 1, f"latency_history must be >= 1, got {self.latency_history}"),
            (self.rate_window_s > 0, f"rate_window_s must be > 0 s, got {self.rate_window_s}"),
            (str(self.backend).lower() in BACKENDS, f"backend must be one of {', '.join(BACKENDS)}, "
                                                    f"got {self.backend!r}"),
        )
        for ok, message in checks:
            if not ok:
                raise PipelineConfigError(message)
        try:
            self.amp = normalise_amp(self.amp)
            parse_providers(self.onnx_providers)
        except (RuntimeConfigError, ValueError) as error:
            raise PipelineConfigError(str(error)) from None
        self.backend = str(self.backend).lower()
        self.window.validate()
        self.preprocess.validate()
        try:
            self.health.validate()
        except HealthConfigError as error:
            raise PipelineConfigError(str(error)) from None
        return self


@dataclass
class Drop:
    """Why one message was not used. reason: a conversions/preprocess reason or stamp_* / internal.
    rejected: a converted frame the sensor-health rules took out (counted in stats.rejected, not stats.drops)."""

    stream: str
    reason: str
    detail: str
    rejected: bool = False

    @property
    def key(self) -> str:
        """'stream/reason', the key of its counter."""
        return f"{self.stream}/{self.reason}"


@dataclass
class Decision:
    """One inference. scores (K,) class probabilities; gates, present, coverage (3,) in MODALITIES order;
    latency: seconds per part (queue_s, inference_s; the node adds stamp_to_publish_s); stages: set by the node
    when it publishes (Pipeline.record_stages)."""

    stamp_s: float
    label: str
    label_index: int
    confidence: float
    scores: np.ndarray
    gates: np.ndarray
    present: np.ndarray
    coverage: np.ndarray
    latency: dict[str, float]
    stages: dict[str, float] = field(default_factory=dict)   # the node's stage timing (stage_timing.STAGES)


def decisions_from_output(output: Any, *, labels: Sequence[str], stamp_s: float, present: np.ndarray,
                          coverage: np.ndarray) -> list[Decision]:
    """The model's Output for B windows ending at stamp_s -> one Decision per row (the single-person path
    with B=1, the per-person path with B people). logits (B, K) -> softmax scores, argmax label and its
    probability as confidence; gates (B, 3). present (B, 3) bool, coverage (B, 3) are copied. Copies the
    outputs to the host (on CUDA this waits for the forward). latency is left empty for the caller."""
    scores = torch.softmax(output.logits.float(), dim=-1).cpu().numpy()
    gates = output.gates.float().cpu().numpy()
    if len(scores) != len(present) or len(scores) != len(coverage) or scores.shape[-1] != len(labels):
        raise ValueError(f"model output {scores.shape} does not match {len(present)} windows of "
                         f"{len(labels)} labels")
    decisions = []
    for b, row in enumerate(scores):
        index = int(np.argmax(row))
        decisions.append(Decision(stamp_s=float(stamp_s), label=labels[index], label_index=index,
                                  confidence=float(row[index]), scores=row, gates=gates[b],
                                  present=np.array(present[b], dtype=bool), coverage=np.array(coverage[b]),
                                  latency={}))
    return decisions


def message_stamp_s(msg: Any, *, fallback_s: float) -> float:
    """Header stamp in seconds; a MarkerArray's from its first marker. An empty MarkerArray gets
    `fallback_s` (receive or record time): the driver publishes one when nobody is tracked, and the
    stream is still alive."""
    header = getattr(msg, "header", None)
    if header is None:
        markers = getattr(msg, "markers", None)
        if not markers:
            return fallback_s
        header = markers[0].header
    return stamp_to_seconds(header.stamp)


def message_frame_id(msg: Any) -> str:
    """header.frame_id, or a MarkerArray's first marker's ('' when there is none)."""
    header = getattr(msg, "header", None)
    if header is None:
        markers = getattr(msg, "markers", None)
        header = markers[0].header if markers else None
    return str(getattr(header, "frame_id", "") or "")


def _device(name: str) -> torch.device:
    """rcmcl_core.device.resolve_device, with its error as a PipelineConfigError (what the node reports)."""
    try:
        return resolve_device(name)
    except DeviceError as error:
        raise PipelineConfigError(str(error)) from None


class Pipeline:
    """Thread-safe: `ingest` from callbacks, `ready_windows` from a timer, `infer` from a worker thread."""

    def __init__(self, *, model: RCMCL, labels: list[str], config: PipelineConfig | None = None,
                 checkpoint_path: Path | None = None) -> None:
        config = config or PipelineConfig()
        clip = model.config.clip
        if len(labels) != model.config.model.num_classes:
            raise PipelineConfigError(f"got {len(labels)} labels for a model with "
                                      f"{model.config.model.num_classes} classes")
        # The checkpoint decides what the model was trained on; parameters cannot contradict it.
        self.config = dataclasses.replace(
            config,
            window=dataclasses.replace(config.window, frames=clip.frames, window_s=clip.window_s),
            preprocess=dataclasses.replace(config.preprocess, image_size=clip.image_size,
                                           num_points=clip.num_points, max_bodies=clip.max_bodies),
        ).validate()
        self.labels = list(labels)
        self.checkpoint_path = checkpoint_path
        self.device = _device(self.config.device)
        if self.config.torch_threads > 0:
            torch.set_num_threads(self.config.torch_threads)
        self.model = model.to(self.device).eval()
        onnx = OnnxSettings(path=default_onnx_path(checkpoint_path, self.config.onnx_model), labels=self.labels,
                            providers=self.config.onnx_providers, fp16=self.config.onnx_fp16,
                            trt_cache=self.config.onnx_trt_cache)
        try:
            self.runtime = InferenceRuntime(self.model, device=self.device, amp=self.config.amp,
                                            cuda_graph=self.config.cuda_graph, warmup=self.config.warmup,
                                            cpu_trace=self.config.cpu_trace, backend=self.config.backend, onnx=onnx)
        except RuntimeConfigError as error:
            raise PipelineConfigError(str(error)) from None
        self.preprocessor = Preprocessor(config=self.config.preprocess)
        self.synchroniser = Synchroniser(config=self.config.sync)
        self.windower = Windower(config=self.config.window, health=self.config.health)
        self.stats = PipelineStats(streams=STREAMS, latency_history=self.config.latency_history,
                                   rate_window_s=self.config.rate_window_s)
        self.stage_clock = StageClock()          # per-stage latency of each decision (stage_timing.py)
        self.extrinsic_lookup: ExtrinsicLookup | None = None
        self.frame_warning: str | None = None   # set when the cloud and skeleton frames differ, no transform known
        self._frame_ids: dict[str, str] = {}
        self._last_skeleton: tuple[float, Any] | None = None
        self._rgbd_health = RepeatedFrames(self.config.health)
        self._skeleton_health = SkeletonMotion(self.config.health)
        self._logged_drops: deque[Drop] = deque(maxlen=LOGGED_DROPS_KEPT)
        self._camera_info: Any = None           # the depth images' camera_info (points_source: depth)
        self.people: PeopleTap | None = None     # the per-person path, fed by ingest (people/path.py)
        self.main_actor_id: int | None = None   # with people: the body the single-person window follows
        self._screened_s = -math.inf
        self._lock = threading.Lock()        # synchroniser, windower, preprocessor RNG

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, config: PipelineConfig | None = None) -> "Pipeline":
        """Build the model from a checkpoint file. Raises CheckpointError (missing, corrupt, misfit)."""
        # Weights go straight to the requested device, never through a CPU copy.
        device = _device((config or PipelineConfig()).device)
        checkpoint = load_checkpoint(path, map_location=device)
        model = RCMCL(config=checkpoint.config).to(device)
        check_model_compatible(checkpoint.model_state, model)
        model.load_state_dict(checkpoint.model_state)
        return cls(model=model, labels=checkpoint.labels, config=config, checkpoint_path=Path(path))

    @property
    def model_config(self) -> RCMCLConfig:
        return self.model.config

    # -- per message (callback thread) -------------------------------------------------------------
    def ingest(self, stream: str, stamp_s: float, msg: Any, *, now_s: float | None = None,
               received: float | None = None) -> Drop | None:
        """Convert `msg` and push it; return None, or the Drop (also counted) when it was not used.
        now_s: the receiving clock (ROS or sim time); stamps too far from it are dropped. None skips that
        check (offline replay). received: time.perf_counter() when the message entered its callback (the
        node's stage timing; None offline). With points_source "depth" a depth image also makes the cloud
        (its drop, if any, goes to take_drops)."""
        drop = self._ingest(stream, stamp_s, msg, now_s=now_s, received=received)
        if stream == "depth" and self.config.points_source == "depth":
            cloud = DepthCloudSource(depth=msg, info=self._camera_info)
            cloud_drop = self._ingest("points", stamp_s, cloud, now_s=now_s, received=received)
            if cloud_drop is not None:
                with self._lock:
                    self._logged_drops.append(cloud_drop)
        return drop

    def camera_info(self, msg: Any, *, cloud: bool = True, people: bool = True) -> None:
        """A camera_info message: for the depth-derived cloud (the depth images' intrinsics; checked
        against each depth image when used) and/or the per-person crops (the colour images')."""
        if cloud:
            self._camera_info = msg
        if people and self.people is not None:
            self.people.add("info", message_stamp_s(msg, fallback_s=0.0), msg)

    def _ingest(self, stream: str, stamp_s: float, msg: Any, *, now_s: float | None,
                received: float | None) -> Drop | None:
        stamp = math.nan
        try:
            stamp = float(stamp_s)
            drop = self._check_stamp(stream, stamp, now_s)
            if drop is None:
                started = time.perf_counter()
                payload = self._convert(stream, stamp, msg)
                frame_id = message_frame_id(msg)
                if received is not None:
                    self.stage_clock.arrived(stamp, received)
                with self._lock:
                    self._frame_ids[stream] = frame_id
                    self.synchroniser.push(stream, stamp, payload, arrival_s=now_s)
                pushed = time.perf_counter()
                self.stats.record_latency(f"convert_{stream}_s", pushed - started)
                if received is not None:
                    self.stage_clock.pushed(stamp, pushed)
        except ConversionError as error:
            drop = Drop(stream=stream, reason=error.reason, detail=str(error))
        except Exception as error:  # a callback must never die: count it, say what it was
            drop = Drop(stream=stream, reason="internal", detail=f"{type(error).__name__}: {error}")
        self.stats.count_message(stream, stamp_s=stamp, drop=None if drop is None else drop.reason)
        return drop

    def _convert(self, stream: str, stamp_s: float, msg: Any) -> Any:
        """The single-person payload of `msg` (preprocess.py); the per-person path, when attached, gets what
        was decoded on the way: every body of the skeleton (before the main actor's checks, which are the
        single-person path's), the converted cloud, the decompressed colour image, the depth image."""
        people = self.people
        if people is None:
            return self.preprocessor.convert(stream, msg)
        if stream == "skeleton":
            bodies, skeleton_stats = self.preprocessor.bodies(msg)
            people.add("skeleton", stamp_s, bodies)
            self.main_actor_id = nearest_body(bodies)
            return self.preprocessor.actor_skeleton(bodies, self.main_actor_id, skeleton_stats)
        if stream == "rgb":
            msg = self.preprocessor.decompressed(msg)
        payload = self.preprocessor.convert(stream, msg)
        people.add(stream, stamp_s, payload if stream == "points" else msg)
        return payload

    def _check_stamp(self, stream: str, stamp_s: float, now_s: float | None) -> Drop | None:
        if stream not in STREAMS:
            return Drop(stream=stream, reason="unknown_stream", detail=f"expected one of {STREAMS}")
        if not math.isfinite(stamp_s) or stamp_s <= 0.0:
            return Drop(stream=stream, reason="stamp_unset", detail=f"header stamp is {stamp_s}")
        if now_s is None or now_s <= 0.0:   # no clock yet (sim time before the first /clock)
            return None
        if stamp_s > now_s + self.config.max_future_s:
            return Drop(stream=stream, reason="stamp_future",
                        detail=f"stamp {stamp_s:.3f} s is {stamp_s - now_s:.3f} s ahead of the clock "
                               f"(max_future_s {self.config.max_future_s})")
        if stamp_s < now_s - self.config.max_age_s:
            return Drop(stream=stream, reason="stamp_past",
                        detail=f"stamp {stamp_s:.3f} s is {now_s - stamp_s:.3f} s behind the clock "
                               f"(max_age_s {self.config.max_age_s})")
        return None

    # -- windows (timer thread) --------------------------------------------------------------------
    def ready_windows(self, now_s: float) -> list[Window]:
        """Poll the synchroniser at `now_s` (sensor clock) and return the windows that completed."""
        with self._lock:
            sets = self.synchroniser.poll(float(now_s))
            windows = self.windower.push_many(self._finish(s) for s in sets)
        built = time.perf_counter()
        for window in windows:
            window.built_s = built
        self.stats.count_sets(len(sets), windows=len(windows))
        return windows

    def _finish(self, synced: Any) -> FrameSet:
        """Crop and sample the set's cloud around its skeleton (or the latest recent one)."""
        frames = self._screen(float(synced.stamp_s), dict(synced.frames))
        skeleton = frames.get("skeleton")
        if skeleton is not None and np.any(skeleton[1][1]):
            self._last_skeleton = (skeleton[0], skeleton[1])
        points = frames.get("points")
        if points is not None:
            crop_with = None
            max_age = self.config.preprocess.crop_skeleton_max_age_s
            if self._last_skeleton is not None and abs(points[0] - self._last_skeleton[0]) <= max_age:
                crop_with = self._last_skeleton[1]
            sampled = self.preprocessor.crop_points(points[1], skeleton=crop_with,
                                                    extrinsic=self._extrinsic(points[0]))
            frames["points"] = (points[0], sampled)
        return FrameSet(stamp_s=float(synced.stamp_s), frames=frames)

    def _screen(self, stamp_s: float, frames: dict[str, Any]) -> dict[str, Any]:
        """The sensor-health rules (rcmcl_core.sensor_health) on one synced set, in stamp order: a repeated
        RGB-D pair or a skeleton with implausible motion is taken out of the set, told to the windower as
        rejected (not observed), counted in stats.rejected ('rgbd/repeated', 'skeleton/jump') and kept for the log."""
        if not self.config.health.enabled:
            return frames
        if went_back(stamp_s, self._screened_s, by_more_than_s=0.0):   # bag loop: no motion across the jump
            self._rgbd_health.reset()
            self._skeleton_health.reset()
        self._screened_s = stamp_s
        rgb, depth = frames.get("rgb"), frames.get("depth")
        if rgb is not None and depth is not None and self._rgbd_health.check(rgb[1], depth[1]):
            frames["rgb"] = frames["depth"] = None
            self._health_drop("rgbd", REPEATED, rgb[0], "colour and depth identical to the previous frame "
                                                        "(frozen camera or a driver republishing)")
        skeleton = frames.get("skeleton")
        if skeleton is not None:
            why = self._skeleton_health.check(skeleton[0], skeleton[1][0], skeleton[1][1])
            if why is not None:
                frames["skeleton"] = None
                self._health_drop("skeleton", JUMP, skeleton[0], f"implausible motion, {why}")
        return frames

    def _health_drop(self, modality: str, reason: str, stamp_s: float, detail: str) -> None:
        """Under self._lock."""
        self.windower.reject(modality, stamp_s)
        self.stats.count_rejected(modality, reason)
        self._logged_drops.append(Drop(stream=modality, reason=reason, detail=f"stamp {stamp_s:.3f} s: {detail}",
                                       rejected=True))

    def take_drops(self) -> list[Drop]:
        """The drops that ingest did not return, since the last call (at most LOGGED_DROPS_KEPT), for the
        node's log: sensor-health rejections and clouds that a depth image could not make."""
        with self._lock:
            drops = list(self._logged_drops)
            self._logged_drops.clear()
        return drops

    def frame_id(self, stream: str) -> str:
        """header.frame_id of the newest message of `stream` ('' before the first)."""
        with self._lock:
            return self._frame_ids.get(stream, "")

    def _extrinsic(self, stamp_s: float) -> np.ndarray | None:
        target, source = self._frame_ids.get("points", ""), self._frame_ids.get("skeleton", "")
        if target and source and target == source:
            self.frame_warning = None
            return np.eye(4)
        if self.extrinsic_lookup is not None and target and source:
            try:
                matrix = self.extrinsic_lookup(target, source, stamp_s)
            except Exception:  # tf2 raises many kinds; the parameter is the documented fallback
                matrix = None
            if matrix is not None:
                self.frame_warning = None
                return np.asarray(matrix, dtype=np.float64)
        self.frame_warning = None
        if target and source and np.allclose(self.preprocessor.default_extrinsic, np.eye(4)):
            self.frame_warning = (
                f"point cloud frame '{target}' differs from skeleton frame '{source}' and no transform is known "
                f"({'tf2 has none' if self.extrinsic_lookup is not None else 'tf2_ros is not available'}, "
                f"camera_extrinsic is the identity): the person crop assumes the frames coincide (a 6 degree "
                f"tilt is ~0.3 m at 3 m); publish the transform on /tf or set camera_extrinsic")
        return None

    # -- inference (worker thread) -----------------------------------------------------------------
    def infer(self, window: Window) -> Decision:
        """Run the model on one window (B=1). Raises ValueError from the model on a malformed batch."""
        started = time.perf_counter()
        with self.runtime.lock:
            batch = self.runtime.to_device(window.batch)
            output = self.runtime.forward(batch, all_present=bool(np.all(window.present)))
            [decision] = decisions_from_output(output, labels=self.labels, stamp_s=window.end_s,
                                               present=window.present[None], coverage=window.coverage[None])
        finished = time.perf_counter()
        decision.latency = {"queue_s": max(0.0, started - getattr(window, "built_s", started)),
                            "inference_s": finished - started}
        self.stats.count_decision(decision.latency)
        return decision

    def record_stages(self, window: Window, decision: Decision, *, published: float) -> dict[str, float]:
        """Split the decision's node-added latency into stage_timing.STAGES (seconds; published: perf_counter
        after its outputs went out), record the stages that infer() does not (queue_s, inference_s) in the
        stats and return them all. NaN stages (stamps forgotten, offline use) are returned, not recorded."""
        stages = self.stage_clock.stages(newest_s=window.newest_frame_s, completed_by_s=window.closed_by_s,
                                         built=window.built_s, queue_s=decision.latency["queue_s"],
                                         inference_s=decision.latency["inference_s"], published=published)
        for name, seconds in stages.items():
            if name not in decision.latency and math.isfinite(seconds):
                self.stats.record_latency(name, seconds)
        return stages

    def step(self, now_s: float) -> list[Decision]:
        """Offline convenience: every window that completed by `now_s`, inferred in order."""
        return [self.infer(window) for window in self.ready_windows(now_s)]

    def flush_windows(self) -> list[Window]:
        """End of a recording: the windows of what the synchroniser still holds, without waiting."""
        with self._lock:
            sets = self.synchroniser.flush()
            windows = self.windower.push_many(self._finish(s) for s in sets)
        self.stats.count_sets(len(sets), windows=len(windows))
        return windows

    def flush(self) -> list[Decision]:
        """End of a recording: flush_windows, inferred."""
        return [self.infer(window) for window in self.flush_windows()]

    def reset(self) -> None:
        """Forget buffered frames and windows (e.g. the bag looped); counters are kept."""
        with self._lock:
            self.synchroniser.reset()
            self.windower.reset()
            self._last_skeleton = None
            self._rgbd_health.reset()
            self._skeleton_health.reset()
            self._screened_s = -math.inf
        if self.people is not None:
            self.people.reset()

    def snapshot(self, now_s: float) -> dict[str, Any]:
        """Counters, rates and latency percentiles for diagnostics (see PipelineStats.snapshot)."""
        snapshot = self.stats.snapshot(now_s)
        snapshot["sync"] = _as_dict(getattr(self.synchroniser, "stats", {}))
        snapshot["window"] = _as_dict(self.windower.stats)
        return snapshot


def _as_dict(stats: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(stats):
        return dataclasses.asdict(stats)
    return dict(stats) if isinstance(stats, dict) else {"value": stats}
