"""Configuration dataclasses and the presets (tiny, lite, paper, and compact: the CPU training budget).

Configuration flows one way: YAML -> dataclasses -> constructors. Every default lives here and nowhere
else. Unknown keys and impossible values are rejected when a config is built, with an error that names
the key. Units: seconds, metres, pixels.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import dacite
import yaml

MODALITIES = ("rgbd", "skeleton", "points")
"""Modality order used everywhere (the `present` mask, gates, z): R, S, P."""
MODALITY_LETTERS = ("R", "S", "P")
"""Short names of MODALITIES, in their order (gate bars, decision lines, report columns)."""
SENSOR_NAMES = {"rgbd": "RGB-D", "skeleton": "skeleton", "points": "points"}
"""What a person calls each modality's sensor (log lines, warnings)."""
GATE_MODES = ("paper_shared", "per_modality", "detached", "aux_target")
"""AMG variants (models/gating.py): paper_shared = Eq.4 with one W_G for all modalities; per_modality = one
scorer per modality (the bundled checkpoint); detached = per_modality reading Z through stop-gradient;
aux_target = per_modality plus a target for how far a fault moved Z (beyond the paper)."""


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names it."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _positive(name: str, value: float) -> None:
    _require(value > 0, f"{name} must be > 0, got {value!r}")


def _fraction(name: str, value: float, *, closed_top: bool = True) -> None:
    ok = 0.0 <= value <= 1.0 if closed_top else 0.0 <= value < 1.0
    _require(ok, f"{name} must be in [0, 1{']' if closed_top else ')'}, got {value!r}")


@dataclass
class ClipConfig:
    """What one sample (window) holds. T frames resampled over `window_s` seconds."""

    frames: int = 16                 # T
    window_s: float = 2.0            # seconds of sensor time covered by the T frames
    image_size: int = 64             # H = W of rgb/depth after resizing, pixels
    num_points: int = 256            # N points per frame after sampling
    max_bodies: int = 2              # M skeleton bodies (zero-padded)
    num_joints: int = 25             # NTU-25 layout

    def validate(self) -> None:
        _require(self.frames >= 2, f"clip.frames must be >= 2, got {self.frames}")
        _positive("clip.window_s", self.window_s)
        _require(self.image_size >= 8, f"clip.image_size must be >= 8, got {self.image_size}")
        _require(self.num_points >= 4, f"clip.num_points must be >= 4, got {self.num_points}")
        _require(self.max_bodies >= 1, f"clip.max_bodies must be >= 1, got {self.max_bodies}")
        _require(self.num_joints == 25, f"clip.num_joints must be 25 (NTU-25), got {self.num_joints}")


@dataclass
class RGBDEncoderConfig:
    """E_R: (2+1)D residual network on 4-channel RGB-D clips (R(2+1)D-18 at paper size)."""

    in_channels: int = 4             # RGB + depth
    stem_channels: int = 16
    stage_channels: tuple[int, ...] = (16, 32, 64, 128)
    blocks_per_stage: tuple[int, ...] = (1, 1, 1, 1)
    temporal_strides: tuple[int, ...] = (1, 2, 2, 2)  # per stage; spatial stride is 1 then 2

    def validate(self) -> None:
        _require(self.in_channels == 4, f"rgbd.in_channels must be 4 (RGB+D), got {self.in_channels}")
        _positive("rgbd.stem_channels", self.stem_channels)
        _require(len(self.stage_channels) >= 1, "rgbd.stage_channels must not be empty")
        _require(len(self.stage_channels) == len(self.blocks_per_stage) == len(self.temporal_strides),
                 "rgbd.stage_channels, blocks_per_stage and temporal_strides must have equal lengths, got "
                 f"{len(self.stage_channels)}, {len(self.blocks_per_stage)}, {len(self.temporal_strides)}")
        for i, (c, b, s) in enumerate(zip(self.stage_channels, self.blocks_per_stage, self.temporal_strides)):
            _require(c > 0 and b > 0 and s in (1, 2), f"rgbd stage {i}: channels>0, blocks>0, stride in (1,2); "
                     f"got {c}, {b}, {s}")


@dataclass
class SkeletonEncoderConfig:
    """E_S: ST-GCN over the NTU-25 graph with optional AS-GCN-style learned links."""

    block_channels: tuple[int, ...] = (32, 64, 64, 128)
    temporal_strides: tuple[int, ...] = (1, 1, 2, 1)
    temporal_kernel: int = 9         # frames, odd
    learned_links: bool = True       # add a learned (25x25) adjacency per block, AS-GCN style
    dropout: float = 0.0
    bone_input: bool = False         # add each joint's offset from its parent (bone vector) as 3 more input
                                     # channels (the joint + bone input of 2s-AGCN; beyond the paper)

    def validate(self) -> None:
        _require(len(self.block_channels) >= 1, "skeleton.block_channels must not be empty")
        _require(len(self.block_channels) == len(self.temporal_strides),
                 "skeleton.block_channels and temporal_strides must have equal lengths, got "
                 f"{len(self.block_channels)} and {len(self.temporal_strides)}")
        _require(all(c > 0 for c in self.block_channels), "skeleton.block_channels must be > 0")
        _require(all(s in (1, 2) for s in self.temporal_strides), "skeleton.temporal_strides must be 1 or 2")
        _require(self.temporal_kernel >= 1 and self.temporal_kernel % 2 == 1,
                 f"skeleton.temporal_kernel must be a positive odd number, got {self.temporal_kernel}")
        _fraction("skeleton.dropout", self.dropout, closed_top=False)


@dataclass
class SetAbstractionConfig:
    """One PointNet++ set-abstraction level. num_centroids=0 means group-all (global)."""

    num_centroids: int
    radius_m: float
    neighbours: int
    mlp_channels: tuple[int, ...]

    def validate(self, where: str) -> None:
        _require(self.num_centroids >= 0, f"{where}.num_centroids must be >= 0, got {self.num_centroids}")
        _positive(f"{where}.radius_m", self.radius_m)
        _require(self.neighbours >= 1, f"{where}.neighbours must be >= 1, got {self.neighbours}")
        _require(len(self.mlp_channels) >= 1 and all(c > 0 for c in self.mlp_channels),
                 f"{where}.mlp_channels must be non-empty positive ints, got {self.mlp_channels}")


@dataclass
class PointEncoderConfig:
    """E_P: per-frame PointNet++ (SSG) set abstraction, then temporal attention over frames."""

    set_abstraction: tuple[SetAbstractionConfig, ...] = (
        SetAbstractionConfig(num_centroids=64, radius_m=0.25, neighbours=16, mlp_channels=(32, 64)),
        SetAbstractionConfig(num_centroids=0, radius_m=1.0, neighbours=64, mlp_channels=(64, 128)),
    )
    attention_heads: int = 4
    attention_layers: int = 1

    def validate(self) -> None:
        _require(len(self.set_abstraction) >= 1, "points.set_abstraction must not be empty")
        for i, level in enumerate(self.set_abstraction):
            level.validate(f"points.set_abstraction[{i}]")
        _require(self.set_abstraction[-1].num_centroids == 0,
                 "points.set_abstraction: the last level must be group-all (num_centroids=0)")
        _require(self.attention_heads >= 1, f"points.attention_heads must be >= 1, got {self.attention_heads}")
        _require(self.attention_layers >= 0, f"points.attention_layers must be >= 0, got {self.attention_layers}")


@dataclass
class ModelConfig:
    """Shared widths: every encoder emits Z_M of size `feature_dim` (D) so Eq.5 can average them."""

    feature_dim: int = 128           # D: size of Z_M and of the fused feature
    projection_hidden: int = 256     # H_M hidden width
    projection_dim: int = 64         # h_M size (contrastive space)
    num_classes: int = 24            # K
    decoder_hidden: int = 256        # D_S hidden width (skeleton reconstruction, L_deg)
    gate_eps: float = 1e-6           # eps in Eq.5 denominator
    fusion: str = "amg"              # "amg" (Eq.4-5) or "average" (ablation configs 1, 3-5)
    gate_mode: str = "per_modality"  # AMG variant, GATE_MODES; a checkpoint without the key means per_modality

    def validate(self) -> None:
        _require(self.fusion in ("amg", "average"), f"model.fusion must be 'amg' or 'average', got {self.fusion!r}")
        _require(self.gate_mode in GATE_MODES,
                 f"model.gate_mode must be one of {', '.join(GATE_MODES)}, got {self.gate_mode!r}")
        for name in ("feature_dim", "projection_hidden", "projection_dim", "num_classes", "decoder_hidden"):
            _require(getattr(self, name) >= 1, f"model.{name} must be >= 1, got {getattr(self, name)}")
        _positive("model.gate_eps", self.gate_eps)


@dataclass
class LossConfig:
    """Eq.6 weights and loss hyper-parameters (paper values by default)."""

    lambda_cm: float = 1.0
    lambda_im: float = 0.5
    lambda_deg: float = 0.2
    temperature: float = 0.07        # tau of Eq.1
    barlow_offdiag: float = 0.0051   # lambda of Eq.2 (Barlow Twins' published value)
    lambda_fusion: float = 0.5       # AMG fusion agreement term (objectives.py says why it exists)
    im_per_dimension: bool = True    # divide Eq.2 by the projection size P so lambda_IM means the same at any P
    deg_reduction: str = "mean_joint"  # L_deg: "mean_joint" (m^2 per joint) or "sum" (Eq.3 as written, per sample)
    lambda_gate_aux: float = 1.0     # gate_mode aux_target only: weight of the gate's reliability target
    lambda_subset: float = 0.0       # probe/fine-tuning: CE over every modality subset (beyond the paper;
    #                                  rcmcl_core/training/subset_loss.py)
    gate_aux_scale: float = 0.5      # relative feature movement at which the aux target is exp(-1)
    gate_target: str = "movement"    # aux_target's target: "movement", or "movement_evidence" (fine-tuning also
                                     # caps it by the class evidence a modality kept, gate_target.py)

    def validate(self) -> None:
        for name in ("lambda_cm", "lambda_im", "lambda_deg", "barlow_offdiag", "lambda_fusion", "lambda_gate_aux",
                     "lambda_subset"):
            _require(getattr(self, name) >= 0, f"loss.{name} must be >= 0, got {getattr(self, name)}")
        _positive("loss.temperature", self.temperature)
        _require(self.deg_reduction in ("mean_joint", "sum"),
                 f"loss.deg_reduction must be 'mean_joint' or 'sum', got {self.deg_reduction!r}")
        _positive("loss.gate_aux_scale", self.gate_aux_scale)
        _require(self.gate_target in ("movement", "movement_evidence"),
                 f"loss.gate_target must be 'movement' or 'movement_evidence', got {self.gate_target!r}")


@dataclass
class AugmentConfig:
    """Views for L_IM, degradations for L_deg and the modality dropout that teaches AMG reliability."""

    modality_dropout: float = 0.3    # per-sample probability of dropping 1 or 2 modalities while training
    deg_joint_mask: float = 0.3      # fraction of joints masked for L_deg
    deg_frame_mask: float = 0.2      # fraction of frames masked for L_deg
    view_crop_scale: float = 0.8     # min side fraction of the random spatial crop (RGB-D)
    view_color_jitter: float = 0.2   # brightness/contrast jitter amplitude
    view_rotation_deg: float = 15.0  # max rotation about the vertical axis (skeleton, points)
    view_shear: float = 0.1
    view_joint_jitter_m: float = 0.01
    view_point_jitter_m: float = 0.005
    view_point_dropout: float = 0.2
    view_flip: float = 0.5           # probability of a mirror flip per view (image, skeleton L/R swap, points)
    fault_probability: float = 0.5   # per-sample probability of one sensor_faults.FAULTS fault, U(0, 1) severity
    blank_dropout: float = 0.5       # gate_mode aux_target: share of dropped modalities fed as blank (zero) input
    bystander: float = 0.0           # per-sample probability of another performer in skeleton body 2 (bystander.py)

    def validate(self) -> None:
        for name in ("modality_dropout", "deg_joint_mask", "deg_frame_mask", "view_crop_scale", "fault_probability",
                     "blank_dropout", "bystander",
                     "view_color_jitter", "view_point_dropout", "view_shear", "view_flip"):
            _fraction(f"augment.{name}", getattr(self, name))
        _require(self.view_crop_scale > 0, "augment.view_crop_scale must be > 0")
        for name in ("view_rotation_deg", "view_joint_jitter_m", "view_point_jitter_m"):
            _require(getattr(self, name) >= 0, f"augment.{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class OptimConfig:
    """AdamW + linear warm-up + cosine decay (paper: 300 epochs, 10 warm-up, batch 256)."""

    lr: float = 1e-3
    weight_decay: float = 0.05
    batch_size: int = 32
    pretrain_epochs: int = 30
    warmup_epochs: int = 2
    probe_epochs: int = 50
    probe_lr: float = 0.05           # linear probes on frozen features need a larger step than the encoders
    finetune_epochs: int = 20
    grad_clip: float = 1.0           # max global grad norm; 0 disables
    amp: bool = True                 # used on CUDA only
    num_workers: int = 0
    min_steps: int = 0               # probe / fine-tune: at least this many optimiser steps (more epochs on few labels)

    def validate(self) -> None:
        _positive("optim.lr", self.lr)
        _positive("optim.probe_lr", self.probe_lr)
        _require(self.weight_decay >= 0, f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        _require(self.batch_size >= 2, f"optim.batch_size must be >= 2 (contrastive needs negatives), "
                 f"got {self.batch_size}")
        for name in ("pretrain_epochs", "probe_epochs", "finetune_epochs"):
            _require(getattr(self, name) >= 1, f"optim.{name} must be >= 1, got {getattr(self, name)}")
        _require(0 <= self.warmup_epochs < self.pretrain_epochs,
                 f"optim.warmup_epochs must be in [0, pretrain_epochs), got {self.warmup_epochs}")
        _require(self.grad_clip >= 0, f"optim.grad_clip must be >= 0, got {self.grad_clip}")
        _require(self.num_workers >= 0, f"optim.num_workers must be >= 0, got {self.num_workers}")
        _require(self.min_steps >= 0, f"optim.min_steps must be >= 0, got {self.min_steps}")


@dataclass
class RCMCLConfig:
    """The whole configuration. `preset` names where it came from; checkpoints embed all of it."""

    preset: str = "lite"
    clip: ClipConfig = field(default_factory=ClipConfig)
    rgbd: RGBDEncoderConfig = field(default_factory=RGBDEncoderConfig)
    skeleton: SkeletonEncoderConfig = field(default_factory=SkeletonEncoderConfig)
    points: PointEncoderConfig = field(default_factory=PointEncoderConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def validate(self) -> "RCMCLConfig":
        _require(isinstance(self.preset, str) and self.preset != "", "preset must be a non-empty string")
        for section in (self.clip, self.rgbd, self.skeleton, self.points, self.model, self.loss,
                        self.augment, self.optim):
            section.validate()
        first_level = self.points.set_abstraction[0]
        _require(first_level.num_centroids == 0 or first_level.num_centroids <= self.clip.num_points,
                 f"points.set_abstraction[0].num_centroids ({first_level.num_centroids}) must be <= "
                 f"clip.num_points ({self.clip.num_points})")
        return self

    # -- (de)serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of builtins (tuples become lists), safe for YAML and torch weights_only."""
        return _to_builtin(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RCMCLConfig":
        """Build and validate; unknown keys raise ConfigError naming the key path."""
        return _build(cls, data, "").validate()

    def to_yaml(self, path: str | Path | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_yaml(cls, path_or_text: str | Path) -> "RCMCLConfig":
        """Load from a YAML file path, or from YAML text. A `preset:` key alone expands to that preset;
        other keys then override it (e.g. `preset: lite` + `optim: {batch_size: 8}`)."""
        if isinstance(path_or_text, Path) or (isinstance(path_or_text, str) and "\n" not in path_or_text
                                              and path_or_text.endswith((".yaml", ".yml"))):
            path = Path(path_or_text)
            if not path.is_file():
                raise ConfigError(f"config file not found: {path}")
            text = path.read_text()
        else:
            text = str(path_or_text)
        data = yaml.safe_load(text) or {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"config YAML must be a mapping at the top level, got {type(data).__name__}")
        base = preset(data.get("preset", "lite")).to_dict()
        return cls.from_dict(_deep_merge(base, data))

    def diff(self, other: "RCMCLConfig") -> list[str]:
        """Human-readable list of 'key: mine != theirs' for every differing leaf."""
        return _diff(self.to_dict(), other.to_dict(), "")


def _to_builtin(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_builtin(v) for v in value]
    return value


def _deep_merge(base: dict, override: Mapping) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(cls: type, data: Any, where: str) -> Any:
    """Build dataclass `cls` from nested mappings with dacite (strict: every key must be a field, every
    value of the field's type; lists become tuples, integers become floats where a float is declared).
    Unknown keys are found first by walking the resolved type hints, so the error names the key path."""
    if dataclasses.is_dataclass(data):
        return data
    _reject_unknown_keys(cls, data, where)
    try:
        return dacite.from_dict(cls, data, config=_DACITE)
    except dacite.DaciteFieldError as error:
        error.update_path(where.rstrip(".")) if where else None
        raise ConfigError(str(error)) from None
    except dacite.DaciteError as error:
        raise ConfigError(f"{where or 'config'}: {error}") from None


def _as_float(value: Any) -> Any:
    """int -> float for float fields; anything else passes through for dacite's type check to judge."""
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _as_int(value: Any) -> Any:
    """Booleans are not integers here (YAML `yes` must not become 1); anything else passes through."""
    return repr(value) if isinstance(value, bool) else value


_DACITE = dacite.Config(strict=True, cast=[tuple], type_hooks={float: _as_float, int: _as_int})


def _reject_unknown_keys(cls: type, data: Any, where: str) -> None:
    """ConfigError naming `where.key` for the first level holding a key that is no field of its dataclass.
    Nested dataclasses (and tuples of them) are found from the type hints, not from field names."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where.rstrip('.') or 'config'} must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"unknown config key{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(repr(f'{where}{k}') for k in unknown)}; "
                          f"known keys at this level: {', '.join(sorted(fields))}")
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            _reject_unknown_keys(hint, value, f"{where}{name}.")
        elif typing.get_origin(hint) is tuple and (args := typing.get_args(hint)) and dataclasses.is_dataclass(args[0]):
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"{where}{name} must be a list, got {value!r}")
            for i, item in enumerate(value):
                _reject_unknown_keys(args[0], item, f"{where}{name}[{i}].")


def _diff(a: Any, b: Any, where: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _diff(a.get(key), b.get(key), f"{where}.{key}" if where else key)
        return out
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


# -- presets ---------------------------------------------------------------------------------------
def _tiny() -> RCMCLConfig:
    """Unit tests: a training step in well under a second on CPU."""
    return RCMCLConfig(
        preset="tiny",
        clip=ClipConfig(frames=8, window_s=1.0, image_size=32, num_points=64),
        rgbd=RGBDEncoderConfig(stem_channels=8, stage_channels=(8, 16, 32), blocks_per_stage=(1, 1, 1),
                               temporal_strides=(1, 2, 2)),
        skeleton=SkeletonEncoderConfig(block_channels=(16, 32, 32), temporal_strides=(1, 2, 1),
                                       temporal_kernel=3),
        points=PointEncoderConfig(
            set_abstraction=(
                SetAbstractionConfig(num_centroids=16, radius_m=0.3, neighbours=8, mlp_channels=(16, 32)),
                SetAbstractionConfig(num_centroids=0, radius_m=1.0, neighbours=16, mlp_channels=(32, 32)),
            ),
            attention_heads=2),
        model=ModelConfig(feature_dim=32, projection_hidden=64, projection_dim=32, num_classes=24,
                          decoder_hidden=64),
        optim=OptimConfig(lr=2e-3, batch_size=8, pretrain_epochs=2, warmup_epochs=1, probe_epochs=2,
                          finetune_epochs=2),
    ).validate()


def _lite() -> RCMCLConfig:
    """CPU real time on 2 cores (goal >= 15 windows/s)."""
    return RCMCLConfig(preset="lite").validate()


def _paper() -> RCMCLConfig:
    """Paper sizes for a GPU: R(2+1)D-18 widths, 10-block ST-GCN, PointNet++ SSG, N=1024."""
    return RCMCLConfig(
        preset="paper",
        clip=ClipConfig(frames=16, window_s=2.0, image_size=112, num_points=1024),
        rgbd=RGBDEncoderConfig(stem_channels=64, stage_channels=(64, 128, 256, 512),
                               blocks_per_stage=(2, 2, 2, 2), temporal_strides=(1, 2, 2, 2)),
        skeleton=SkeletonEncoderConfig(
            block_channels=(64, 64, 64, 64, 128, 128, 128, 256, 256, 256),
            temporal_strides=(1, 1, 1, 1, 2, 1, 1, 2, 1, 1), temporal_kernel=9, dropout=0.1),
        points=PointEncoderConfig(
            set_abstraction=(
                SetAbstractionConfig(num_centroids=512, radius_m=0.1, neighbours=32, mlp_channels=(64, 64, 128)),
                SetAbstractionConfig(num_centroids=128, radius_m=0.2, neighbours=64,
                                     mlp_channels=(128, 128, 256)),
                SetAbstractionConfig(num_centroids=0, radius_m=1.0, neighbours=128,
                                     mlp_channels=(256, 512, 1024)),
            ),
            attention_heads=8, attention_layers=2),
        model=ModelConfig(feature_dim=512, projection_hidden=2048, projection_dim=128, num_classes=120,
                          decoder_hidden=1024),
        optim=OptimConfig(lr=1e-3, weight_decay=0.05, batch_size=256, pretrain_epochs=300, warmup_epochs=10,
                          probe_epochs=50, finetune_epochs=100),
    ).validate()


def _compact() -> RCMCLConfig:
    """CPU training budget (issue 13): >= 40 clips/s pretraining at batch 32 on one core of the 2-core
    machine (benchmarks/train_step_profile.py), so a schedule to a plateau fits in about 90 minutes.
    T=8 over 2 s, 32x32 RGB-D with lite's RGB-D widths minus the last stage (so RGB-D keeps capacity
    to learn, unlike tiny's 8-channel stem), 128 points."""
    return RCMCLConfig(
        preset="compact",
        clip=ClipConfig(frames=8, window_s=2.0, image_size=32, num_points=128),
        rgbd=RGBDEncoderConfig(stem_channels=16, stage_channels=(16, 32, 64), blocks_per_stage=(1, 1, 1),
                               temporal_strides=(1, 2, 2)),
        skeleton=SkeletonEncoderConfig(block_channels=(32, 64, 64), temporal_strides=(1, 2, 1), temporal_kernel=5),
        points=PointEncoderConfig(
            set_abstraction=(
                SetAbstractionConfig(num_centroids=32, radius_m=0.25, neighbours=16, mlp_channels=(32, 64)),
                SetAbstractionConfig(num_centroids=0, radius_m=1.0, neighbours=32, mlp_channels=(64, 128)),
            ),
            attention_heads=4),
        model=ModelConfig(feature_dim=128, projection_hidden=256, projection_dim=64, num_classes=24,
                          decoder_hidden=128),
        optim=OptimConfig(lr=1e-3, batch_size=32, pretrain_epochs=60, warmup_epochs=3, probe_epochs=50,
                          finetune_epochs=40),
    ).validate()


PRESETS = {"tiny": _tiny, "lite": _lite, "paper": _paper, "compact": _compact}


def preset(name: str) -> RCMCLConfig:
    """A fresh, validated config for preset `name` (tiny, lite, paper, compact)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]()
