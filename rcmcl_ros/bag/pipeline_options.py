"""The pipeline options that every offline command over bags takes (evaluate-bag, make-shards), and the
PipelineConfig they ask for: the same names and meanings as the node's parameters."""
from __future__ import annotations

import argparse
import dataclasses

from rcmcl_core.backend_choice import BACKENDS
from rcmcl_ros.bag.replay import DEPTH_CAMERA_INFO_TOPIC
from rcmcl_ros.pipeline.runner import POINTS_SOURCES


def add_pipeline_arguments(p: argparse.ArgumentParser) -> None:
    """--topic, --device, --threads, --backend, --onnx-model, --onnx-providers, --stride-s, --skeleton-format,
    --points-source, --camera-info-topic and the health options."""
    p.add_argument("--topic", action="append", default=[], metavar="STREAM:=TOPIC",
                   help="read STREAM (rgb, depth, points, skeleton) from TOPIC (repeatable; default: the Azure "
                        "Kinect driver's topics)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="inference device")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--backend", default="auto", choices=BACKENDS,
                   help="as the node's backend parameter: auto (onnxruntime when an ONNX file of the checkpoint "
                        "exists and onnxruntime is installed, else the CPU trace, else torch)")
    p.add_argument("--onnx-model", default="", help="the ONNX file (default: the checkpoint's path with .onnx)")
    p.add_argument("--onnx-providers", default="auto", help="onnxruntime providers: auto or e.g. cuda,cpu")
    p.add_argument("--stride-s", type=float, default=None, help="seconds between decisions (default: the node's)")
    p.add_argument("--skeleton-format", default=None, choices=("azure32", "ntu25"),
                   help="joint layout of the skeleton markers (default azure32)")
    p.add_argument("--points-source", default="topic", choices=POINTS_SOURCES,
                   help="topic: read the points topic; depth: back-project the depth images with their camera_info "
                        "(as the node's points_source parameter)")
    p.add_argument("--camera-info-topic", default=DEPTH_CAMERA_INFO_TOPIC,
                   help=f"camera_info of the depth images, for --points-source depth "
                        f"(default {DEPTH_CAMERA_INFO_TOPIC})")
    p.add_argument("--no-health-rule", action="store_true",
                   help="turn the node's sensor-health rules off (parameter sensor_health: false): the learned "
                        "gates alone, as before the rules existed")
    p.add_argument("--health-max-rejected-fraction", type=float, default=None, metavar="F",
                   help="the node's health_max_rejected_fraction (default: its default)")


def pipeline_config(args: argparse.Namespace):
    """The PipelineConfig the arguments ask for (device, threads, stride, skeleton format, points source,
    sensor-health rules); the warm-up is skipped (offline, the first window's latency does not matter)."""
    from rcmcl_core.sensor_health import HealthConfig
    from rcmcl_ros.pipeline.runner import PipelineConfig

    health = HealthConfig(enabled=not args.no_health_rule)
    if args.health_max_rejected_fraction is not None:
        health.max_rejected_fraction = args.health_max_rejected_fraction
    config = PipelineConfig(device=args.device, torch_threads=args.threads, health=health,
                            points_source=args.points_source, warmup=False, backend=args.backend,
                            onnx_model=args.onnx_model, onnx_providers=args.onnx_providers)
    if args.stride_s is not None:
        config.window = dataclasses.replace(config.window, stride_s=args.stride_s)
    if args.skeleton_format is not None:
        config.preprocess = dataclasses.replace(config.preprocess, skeleton_format=args.skeleton_format)
    return config
