"""Shared fixtures: an isolated ROS domain, an rclpy context per test, a tiny random-weight checkpoint, and
a synthetic RGB-D + points + skeleton scene that produces real ROS messages.

Heavy modules (rclpy, torch, message packages) are imported inside the fixtures, so tests that need none
of this collect fast.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

DOMAIN_RANGE = (1, 101)
"""Fast DDS domain ids that stay clear of the ephemeral port range on Linux."""


@pytest.fixture(scope="session")
def ros_domain() -> int:
    """The ROS_DOMAIN_ID of this test process: the exported one, else a per-process id in 1..101; DDS
    discovery is kept on localhost unless ROS_AUTOMATIC_DISCOVERY_RANGE is exported."""
    if not os.environ.get("ROS_DOMAIN_ID"):
        low, high = DOMAIN_RANGE
        os.environ["ROS_DOMAIN_ID"] = str(low + os.getpid() % (high - low + 1))
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return int(os.environ["ROS_DOMAIN_ID"])


@pytest.fixture
def rclpy_context(ros_domain: int):
    """A fresh, initialised rclpy Context on `ros_domain`, shut down after the test."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context, domain_id=ros_domain)
    yield context
    rclpy.try_shutdown(context=context)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """make(window_s=None, frames=None, seed=0) -> path of a tiny-preset RCMCL checkpoint with random
    weights (cached per arguments). Labels are action_00 ... action_{K-1}."""
    cache: dict[tuple, Path] = {}

    def make(*, window_s: float | None = None, frames: int | None = None, seed: int = 0) -> Path:
        key = (window_s, frames, seed)
        if key not in cache:
            import torch

            from rcmcl_core.checkpoint import save_checkpoint
            from rcmcl_core.config import preset
            from rcmcl_core.models.rcmcl import RCMCL

            config = preset("tiny")
            if window_s is not None:
                config.clip.window_s = window_s
            if frames is not None:
                config.clip.frames = frames
            torch.manual_seed(seed)
            model = RCMCL(config=config)
            labels = [f"action_{i:02d}" for i in range(config.model.num_classes)]
            path = tmp_path_factory.mktemp("checkpoint") / "tiny.pt"
            cache[key] = save_checkpoint(path, model_state=model.state_dict(), config=config, labels=labels)
        return cache[key]

    return make


class SyntheticScene:
    """A person (one NTU-25 skeleton swinging its right arm) 2 m in front of an Azure-like camera, as the
    four driver topics: bgra8 rgb, 16UC1 depth, PointCloud2 with NaN holes, azure32 body MarkerArray.

    `messages(t_s)` returns {stream: msg} stamped t_s. It carries no action class: a later scene that
    renders labelled clips (rcmcl_core.data.synthetic.generate) can replace it with the same `messages` method,
    for tests that check the labels of a trained checkpoint.
    """

    WIDTH, HEIGHT = 40, 30              # small frames keep DDS and conversions cheap
    CLOUD_POINTS = 300
    PERSON_Z_M = 2.0

    def __init__(self, *, seed: int = 0, frame_ids: dict[str, str] | None = None) -> None:
        from rcmcl_core.geometry.skeleton_layout import NUM_JOINTS

        rng = np.random.default_rng(seed)
        self.rest = np.zeros((NUM_JOINTS, 3), np.float32)
        self.rest[:, 1] = np.linspace(-0.8, 0.8, NUM_JOINTS)          # a vertical stick figure
        self.rest[:, 0] = rng.normal(0.0, 0.1, NUM_JOINTS)
        self.rest[:, 2] = self.PERSON_Z_M
        self.background = rng.uniform((-3.0, -2.0, 5.0), (3.0, 2.0, 6.0), (60, 3)).astype(np.float32)
        self.frame_ids = {"rgb": "rgb_camera_link", "depth": "rgb_camera_link", "points": "rgb_camera_link",
                          "skeleton": "depth_camera_link", **(frame_ids or {})}

    def joints(self, t_s: float) -> np.ndarray:
        """(1, 25, 3) metres: the right arm (NTU 8-11, 23, 24) swings at 1 Hz."""
        joints = self.rest.copy()
        arm = [8, 9, 10, 11, 23, 24]
        joints[arm, 0] += 0.3 * np.sin(2 * np.pi * t_s)
        return joints[None]

    def messages(self, t_s: float) -> dict[str, Any]:
        from rcmcl_ros.conversions import numpy_to_image, skeleton_to_markers, xyz_to_pointcloud2

        phase = int(round(t_s * 30)) % 255                                 # changes every frame (a live camera)
        rgb = np.zeros((self.HEIGHT, self.WIDTH, 4), np.uint8)
        rgb[..., 0] = phase
        rgb[:, self.WIDTH // 3: 2 * self.WIDTH // 3, 1] = 200
        depth = np.full((self.HEIGHT, self.WIDTH), 4000, np.uint16)
        depth[:, self.WIDTH // 3: 2 * self.WIDTH // 3] = int(self.PERSON_Z_M * 1000)
        depth[0, 0] = 0                                                   # a hole
        depth[-1] += np.uint16(int(round(t_s * 1000)) % 997)              # sensor noise: no two stamps alike
        joints = self.joints(t_s)
        body = joints[0][np.arange(self.CLOUD_POINTS) % len(joints[0])]
        body = body + np.random.default_rng(int(t_s * 1000)).normal(0, 0.03, body.shape).astype(np.float32)
        cloud = np.concatenate([body, self.background])
        cloud[::50] = np.nan                                              # the driver's invalid points
        ids = self.frame_ids
        return {
            "rgb": numpy_to_image(rgb, encoding="bgra8", stamp=t_s, frame_id=ids["rgb"]),
            "depth": numpy_to_image(depth, encoding="16UC1", stamp=t_s, frame_id=ids["depth"]),
            "points": xyz_to_pointcloud2(cloud, stamp=t_s, frame_id=ids["points"], layout="azure"),
            "skeleton": skeleton_to_markers(joints, layout="azure32", stamp=t_s, frame_id=ids["skeleton"]),
        }


@pytest.fixture
def scene() -> SyntheticScene:
    return SyntheticScene(seed=0)


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one intra-op thread for a module (use via pytestmark): tiny models gain nothing from more,
    and on a shared 2-core machine two threads that wait on each other run ~10x slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_onnx(tiny_checkpoint, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """make(**tiny_checkpoint arguments) -> an `rcmcl export --format onnx` file of that tiny checkpoint, in a
    folder of its own (not beside the checkpoint, where backend auto would find it for every other test)."""
    cache: dict[tuple, Path] = {}

    def make(**arguments: Any) -> Path:
        key = tuple(sorted(arguments.items()))
        if key not in cache:
            from rcmcl_core.checkpoint import load_model
            from rcmcl_core.onnx_export import export_onnx

            model, checkpoint = load_model(tiny_checkpoint(**arguments))
            path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
            export_onnx(model, labels=checkpoint.labels, path=path)
            cache[key] = path
        return cache[key]

    return make
