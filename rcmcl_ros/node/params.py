"""The node's ROS parameters: one table, defaults taken from the config dataclasses (one home each).

Every parameter is flat (`slop_s`, not `sync.slop_s`) so config/rcmcl.yaml and the launch file stay short;
PARAMETERS says which dataclass field each one sets. Parameters are read once at start-up (read-only).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, ParameterType

from rcmcl_core.inference_runtime import normalise_amp
from rcmcl_ros.pipeline.runner import PipelineConfig
from rcmcl_ros.topics import camera_info_beside
from rcmcl_ros.people.tracker import PeopleConfig

INPUT_RELIABILITY = ("best_effort", "reliable")
RGB_TRANSPORTS = ("raw", "compressed")


@dataclass
class NodeConfig:
    """What only the node needs (topics, QoS, timers, rviz). The model side is PipelineConfig."""

    checkpoint: str = ""                         # path; "" = rcmcl_core.bundled.BUNDLED_CHECKPOINT
    rgb_topic: str = "rgb/image_raw"             # Azure Kinect ROS driver names, relative (remap or namespace)
    depth_topic: str = "depth_to_rgb/image_raw"
    points_topic: str = "points2"
    skeleton_topic: str = "body_tracking_data"
    input_qos_depth: int = 5                     # sensor-data QoS (best effort) history depth
    output_qos_depth: int = 10                   # reliable outputs
    poll_period_s: float = 0.02                  # how often the synchroniser is polled for windows
    diagnostics_period_s: float = 1.0
    decision_timeout_s: float = 3.0              # diagnostics turn ERROR after this long without a decision
    log_throttle_s: float = 5.0                  # each drop reason is logged at most once per this period
    marker_frame_id: str = "camera_base"         # frame of the gate bars (Azure driver: x forward, z up)
    people_camera_info_topic: str = ""           # "" = <rgb topic's namespace>/camera_info
    use_tf: bool = True                          # skeleton -> points frame from tf2 when tf2_ros is importable
    gate_warn_threshold: float = 0.2             # a present modality's gate below this ...
    gate_warn_after_s: float = 2.0               # ... for this long (sensor s) is warned about (gate_warnings.py)
    input_reliability: str = "best_effort"       # sensor subscriptions: best_effort | reliable
    input_rate_hz: float = 7.5                   # frames per stream converted per second of sensor time, one per
                                                 # window end at least (input_gate.py); 0 = all
    raw_subscriptions: bool = False              # True: deserialise only the messages the input gate keeps
    camera_info_topic: str = "depth_to_rgb/camera_info"   # for points_source depth
    rgb_transport: str = "raw"                   # raw: Image on rgb_topic;
    #                                              compressed: CompressedImage on <rgb_topic>/compressed
    reuse_large_buffers: bool = True             # mallopt: multi-MB message buffers reused, not re-mapped
    gil_switch_interval_s: float = 0.001         # sys.setswitchinterval (process_tuning.py); 0 = Python's 5 ms

    def people_info_topic(self) -> str:
        """The colour camera_info for the per-person crops: people_camera_info_topic, or the one beside rgb_topic."""
        return self.people_camera_info_topic or camera_info_beside(self.rgb_topic)

    def validate(self) -> "NodeConfig":
        for name in ("input_qos_depth", "output_qos_depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"parameter {name} must be >= 1, got {getattr(self, name)}")
        if self.input_reliability not in INPUT_RELIABILITY:
            raise ValueError(f"parameter input_reliability must be one of {INPUT_RELIABILITY}, "
                             f"got {self.input_reliability!r}")
        if self.rgb_transport not in RGB_TRANSPORTS:
            raise ValueError(f"parameter rgb_transport must be one of {RGB_TRANSPORTS}, got {self.rgb_transport!r}")
        if not self.gil_switch_interval_s >= 0:
            raise ValueError(f"parameter gil_switch_interval_s must be >= 0 s (0 keeps Python's default), "
                             f"got {self.gil_switch_interval_s}")
        if not self.input_rate_hz >= 0:
            raise ValueError(f"parameter input_rate_hz must be >= 0 Hz (0 converts every frame), "
                             f"got {self.input_rate_hz}")
        for name in ("poll_period_s", "diagnostics_period_s", "decision_timeout_s", "log_throttle_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"parameter {name} must be > 0 s, got {getattr(self, name)}")
        if not 0.0 <= self.gate_warn_threshold <= 1.0:
            raise ValueError(f"parameter gate_warn_threshold must be in [0, 1], got {self.gate_warn_threshold}")
        if self.gate_warn_after_s < 0:
            raise ValueError(f"parameter gate_warn_after_s must be >= 0 s, got {self.gate_warn_after_s}")
        return self


@dataclass(frozen=True)
class Param:
    """ROS parameter `name` sets `field` of section (node, pipeline, sync, window or preprocess)."""

    name: str
    section: str
    field: str
    description: str


def _p(name: str, section: str, description: str, field: str | None = None) -> Param:
    return Param(name=name, section=section, field=field or name, description=description)


PARAMETERS: tuple[Param, ...] = (
    _p("checkpoint", "node", "rcmcl checkpoint (.pt); empty = the bundled rcmcl_core/assets/rcmcl_compact.pt. "
                             "Its T, window_s, image size and point count override everything here."),
    _p("device", "pipeline", "inference device: auto (CUDA when available), cpu, cuda or cuda:N"),
    _p("amp", "pipeline", "autocast on CUDA: off, bf16 (fp16 on GPUs without bf16) or fp16; ignored on CPU"),
    _p("torch_threads", "pipeline", "intra-op CPU threads for torch (default 1); 0 keeps torch's default"),
    _p("cuda_graph", "pipeline", "on CUDA, windows with all modalities present replay the model from a CUDA graph"),
    _p("warmup", "pipeline", "run the model on a synthetic window at start-up so the first decision is not slow"),
    _p("rgb_topic", "node", "sensor_msgs/Image colour input (bgra8/bgr8/rgb8/...)"),
    _p("depth_topic", "node", "sensor_msgs/Image depth registered to rgb (16UC1 mm or 32FC1 m)"),
    _p("points_topic", "node", "sensor_msgs/PointCloud2 input (float32 x, y, z; NaN = invalid)"),
    _p("skeleton_topic", "node", "visualization_msgs/MarkerArray body tracking (id = body*100 + joint)"),
    _p("skeleton_format", "preprocess", "joint layout of skeleton markers: azure32 (k4abt) or ntu25"),
    _p("input_qos_depth", "node", "history depth of the best-effort sensor subscriptions"),
    _p("output_qos_depth", "node", "history depth of the reliable output publishers"),
    _p("reference_stream", "sync", "stream whose stamps drive synchronisation: rgb, depth, points or "
                                   "skeleton (falls back to any live stream)", field="reference"),
    _p("slop_s", "sync", "max stamp difference (s) for two messages to be paired"),
    _p("max_wait_s", "sync", "how long (s) a set waits for a late stream before it goes without it"),
    _p("stale_after_s", "sync", "a stream without data for this long (s) is dead until its next message"),
    _p("max_stream_delay_s", "sync", "a stream that steadily arrives late (body tracking on a CPU: 100-300 ms) "
                                     "is waited for up to its learned arrival delay, at most this long (s); "
                                     "0 = max_wait_s for every stream"),
    _p("sync_buffer_size", "sync", "messages buffered per stream", field="buffer_size"),
    _p("stride_s", "window", "seconds of sensor time between decisions"),
    _p("min_presence", "window", "fraction of a window's frames a modality needs to count as present"),
    _p("max_gap_s", "window", "a window frame counts as observed when a real frame is this close (s)"),
    _p("image_fit", "preprocess", "square: centre square crop before resizing (keeps aspect); stretch"),
    _p("max_cloud_points", "preprocess", "points kept (evenly spaced) from each cloud before cropping"),
    _p("min_range_m", "preprocess", "points nearer than this to the sensor are dropped (m)"),
    _p("max_range_m", "preprocess", "points farther than this from the sensor are dropped (m)"),
    _p("max_joint_range_m", "preprocess", "skeletons with a joint farther than this are dropped (m)"),
    _p("crop_margin_m", "preprocess", "margin around the skeleton when cropping the cloud (m); as in training"),
    _p("crop_floor_clearance_m", "preprocess", "points this far below the lowest joint (camera y down) are floor "
                                               "and dropped (m); negative keeps the floor"),
    _p("crop_skeleton_max_age_s", "preprocess", "crop with the latest skeleton this recent (s) when a set "
                                                "has none"),
    _p("point_sampling", "preprocess", "how clouds are reduced to N points: random or fps"),
    _p("camera_extrinsic", "preprocess", "skeleton frame -> points frame when tf2 has none: 6 values x y z "
                                         "roll pitch yaw (m, rad) or 16 (4x4 row-major)"),
    _p("max_image_pixels", "preprocess", "images with more pixels (width * height) are dropped unread "
                                         "(reason limits)"),
    _p("max_input_points", "preprocess", "point clouds with more points (width * height) are dropped unread "
                                         "(reason limits)"),
    _p("max_markers", "preprocess", "MarkerArrays with more markers are dropped unread (reason limits)"),
    _p("use_tf", "node", "look the skeleton -> points transform up in tf2 when tf2_ros is importable"),
    _p("max_future_s", "pipeline", "messages stamped this far (s) ahead of the clock are dropped"),
    _p("max_age_s", "pipeline", "messages stamped this far (s) behind the clock are dropped"),
    _p("rate_window_s", "pipeline", "input rates in diagnostics average over this much time (s)"),
    _p("latency_history", "pipeline", "decisions kept for the latency percentiles"),
    _p("poll_period_s", "node", "period (s) of the timer that polls for complete windows"),
    _p("diagnostics_period_s", "node", "period (s) of ~/reliability_status and /diagnostics"),
    _p("decision_timeout_s", "node", "diagnostics report ERROR after this long (s) without a decision"),
    _p("log_throttle_s", "node", "each drop reason is logged at most once per this period (s)"),
    _p("marker_frame_id", "node", "frame of ~/gate_markers"),
    _p("gate_warn_threshold", "node", "a present modality whose gate stays below this is warned about (WARN in "
                                      "/diagnostics and ~/decision, a log line, a magenta bar in ~/gate_markers)"),
    _p("gate_warn_after_s", "node", "seconds (sensor time) a gate must stay below gate_warn_threshold before "
                                    "the warning; it clears when the gate recovers"),
    _p("input_reliability", "node", "QoS reliability of the sensor subscriptions: best_effort (matches any "
                                    "publisher; the driver's default) or reliable (needs a reliable publisher)"),
    _p("input_rate_hz", "node", "frames per stream converted per second of sensor time: the first at or after "
                                "every window end (stride_s), and n - 1 evenly between, n = round(rate * stride_s) "
                                ">= 1; 0 converts every frame"),
    _p("raw_subscriptions", "node", "take sensor messages serialised and deserialise only those input_rate_hz "
                                    "keeps (saves CPU on 4-12 MB frames)"),
    _p("points_source", "pipeline", "topic: the cloud from points_topic; depth: back-projected in the node from "
                                "depth_topic + camera_info_topic (points_topic is then not subscribed)"),
    _p("camera_info_topic", "node", "sensor_msgs/CameraInfo of depth_topic (its size and K), for points_source "
                                    "depth"),
    _p("rgb_transport", "node", "raw: sensor_msgs/Image on rgb_topic; compressed: sensor_msgs/CompressedImage "
                                "(jpeg/png) on rgb_topic + '/compressed' (image_transport's name)"),
    _p("max_people", "people", "people decided at once, each in their own window (~/decision, "
                               "~/people_markers); 1 = single-person behaviour only"),
    _p("people_max_batch", "people", "people per forward pass at most; more due are served round-robin",
       field="max_batch"),
    _p("people_forward_budget", "people", "fraction of stride_s a round's forward may take; the batch shrinks "
                                          "(round-robin) to fit; 0 = always people_max_batch",
       field="forward_budget"),
    _p("people_stale_after_s", "people", "a body id unseen this long (s) stops being decided",
       field="stale_after_s"),
    _p("people_second_body", "people", "fill skeleton body 2 with the nearest other person (NTU's two-body "
                                       "classes; the bundled checkpoint is trained with a bystander there)",
       field="second_body"),
    _p("people_camera_info_topic", "node", "CameraInfo of rgb for the per-person crops; empty = "
                                           "<rgb topic's namespace>/camera_info"),
    _p("sensor_health", "health", "deterministic sensor-health rules (rcmcl_core/sensor_health.py): a repeated "
                                  "RGB-D frame (frozen camera) and a skeleton with implausible motion (tracker "
                                  "jump) are dropped and count as not observed; false turns both off",
       field="enabled"),
    _p("health_repeat_rgb_tolerance", "health", "largest colour difference (fraction of full scale; 0 = bit-exact) "
                                                "for a frame to repeat the previous one", field="repeat_rgb_tolerance"),
    _p("health_repeat_depth_tolerance_m", "health", "largest depth difference (m; 0 = bit-exact) for a frame to "
                                                    "repeat the previous one", field="repeat_depth_tolerance_m"),
    _p("health_joint_speed_mps", "health", "a joint faster than this (m/s) since the body's last accepted frame "
                                           "is a tracker jump", field="joint_speed_mps"),
    _p("health_body_speed_mps", "health", "a pelvis faster than this (m/s) is a tracker jump",
       field="body_speed_mps"),
    _p("health_bone_change_m", "health", "a bone whose length changes more than this (m) between frames is a "
                                         "tracker jump", field="bone_change_m"),
    _p("health_position_noise_m", "health", "tracker noise (m) allowed on top of speed x time",
       field="position_noise_m"),
    _p("health_reacquire_frames", "health", "a body rejected this many frames in a row, each consistent with the "
                                            "previous, is accepted at its new place", field="reacquire_frames"),
    _p("health_reacquire_s", "health", "a body rejected this long (s) is accepted again", field="reacquire_s"),
    _p("health_max_rejected_fraction", "health", "a modality with more of a window's frames rejected by the rules "
                                                 "is absent in that window (the sensor is not trusted)",
       field="max_rejected_fraction"),
    _p("reuse_large_buffers", "node", "raise glibc's mmap and trim thresholds at start-up so multi-MB message "
                                      "buffers are reused from the heap instead of page-faulted in per message"),
    _p("gil_switch_interval_s", "node", "Python's thread switch interval (s) for the node's process: how long "
                                        "the inference thread may wait for the callbacks to let go of the "
                                        "interpreter lock; 0 keeps Python's 0.005"),
    _p("cpu_trace", "pipeline", "on CPU, windows with all modalities present run a TorchScript trace of the model "
                                "(checked against the eager model at start-up; ~2x faster, no Python between ops) "
                                "when backend auto finds no ONNX file"),
    _p("backend", "pipeline", "auto | torch | torchscript | onnxruntime. auto: onnxruntime when an ONNX file of the "
                              "checkpoint exists and onnxruntime is installed, else the CPU trace (cpu_trace), else "
                              "torch; the start-up log says which and why"),
    _p("onnx_model", "pipeline", "the `rcmcl export --format onnx` file; empty = the checkpoint's path with .onnx"),
    _p("onnx_providers", "pipeline", "onnxruntime providers: auto (tensorrt, cuda, cpu, those installed, falling "
                                     "back with a logged reason) or a list such as 'cuda,cpu' (each must start)"),
    _p("onnx_fp16", "pipeline", "TensorRT provider: build fp16 engines"),
    _p("onnx_trt_cache", "pipeline", "TensorRT engine cache folder (engines take minutes to build); empty = none"),
)
PARAMETER_NAMES = tuple(p.name for p in PARAMETERS)


def _section_defaults() -> dict[str, Any]:
    pipeline = PipelineConfig()
    return {"node": NodeConfig(), "pipeline": pipeline, "sync": pipeline.sync, "window": pipeline.window,
            "preprocess": pipeline.preprocess, "people": PeopleConfig(), "health": pipeline.health}


def parameter_defaults() -> dict[str, Any]:
    """{name: default} as ROS parameter values (tuples become lists)."""
    sections = _section_defaults()
    return {p.name: _ros_value(getattr(sections[p.section], p.field)) for p in PARAMETERS}


def _ros_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [float(v) for v in value]
    return value


_TYPES = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
          float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING,
          list: ParameterType.PARAMETER_DOUBLE_ARRAY}


def declare_parameters(node: Any) -> None:
    """Declare every parameter with its default, type and description (read-only: read once at start)."""
    defaults = parameter_defaults()
    node.declare_parameters("", [
        (p.name, defaults[p.name], ParameterDescriptor(name=p.name, type=_TYPES[type(defaults[p.name])],
                                                       description=p.description, read_only=True,
                                                       dynamic_typing=_dynamic(p.name, defaults[p.name])))
        for p in PARAMETERS])


LEGACY_BOOLEAN = ("amp",)
"""String parameters that were booleans once: `amp: true` from an older YAML still starts the node."""


def _dynamic(name: str, default: Any) -> bool:
    """Float parameters take integers too (`stride_s: 1`); legacy booleans take their old type."""
    return isinstance(default, float) or name in LEGACY_BOOLEAN


def read_parameters(node: Any) -> tuple[NodeConfig, PipelineConfig]:
    """The declared parameters' current values -> (NodeConfig, PipelineConfig), validated."""
    values: dict[str, dict[str, Any]] = {s: {} for s in ("node", "pipeline", "sync", "window", "preprocess",
                                                         "people", "health")}
    defaults = parameter_defaults()
    for p in PARAMETERS:
        value = node.get_parameter(p.name).value
        if isinstance(defaults[p.name], float):
            value = _as_float(p.name, value)
        elif p.name == "amp":
            value = normalise_amp(value)
        values[p.section][p.field] = tuple(value) if isinstance(value, (list, tuple)) else value
    return configs_from_values(values)


def _as_float(name: str, value: Any) -> float:
    """A float parameter given as an integer (`stride_s: 1`) is that float; anything else is an error."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"parameter {name} must be a number, got {value!r} ({type(value).__name__})")
    return float(value)


def configs_from_values(values: dict[str, dict[str, Any]]) -> tuple[NodeConfig, PipelineConfig]:
    """{section: {field: value}} -> (NodeConfig, PipelineConfig); unset fields keep their defaults."""
    defaults = _section_defaults()
    pipeline = dataclasses.replace(
        defaults["pipeline"], **values.get("pipeline", {}),
        sync=dataclasses.replace(defaults["sync"], **values.get("sync", {})),
        window=dataclasses.replace(defaults["window"], **values.get("window", {})),
        preprocess=dataclasses.replace(defaults["preprocess"], **values.get("preprocess", {})),
        health=dataclasses.replace(defaults["health"], **values.get("health", {})))
    node = dataclasses.replace(defaults["node"], **values.get("node", {}))
    return node.validate(), pipeline


def read_people_parameters(node: Any) -> PeopleConfig:
    """The `people` section of the declared parameters -> PeopleConfig, validated."""
    fields = {p.field: node.get_parameter(p.name).value for p in PARAMETERS if p.section == "people"}
    return dataclasses.replace(PeopleConfig(), **fields).validate()
