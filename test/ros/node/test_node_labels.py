"""The live node with the bundled checkpoint (rcmcl_core/assets/rcmcl_compact.pt) inside the real RCMCLNode
(rclpy + Fast DDS, in-process) names the action that 30 Hz publishers show it, keeps deciding when the
skeleton stream dies (skeleton gate exactly 0) and names it again when the skeleton comes back.

The publishers play clips of the synthetic benchmark rendered as the demo bag renders them
(rcmcl_ros.bag.demo: DemoBagConfig's 128 px images, every 2nd depth pixel in the cloud, held-out subject 2,
front camera 1, bgra8 / 16UC1 mm / Azure-layout PointCloud2 with NaN holes / azure32 markers).

Why these classes: measured offline first, the node's Pipeline over every window of a 6 s clip of each
class by held-out subject 2 (windows fully inside the clip named right, all inputs / skeleton absent):
wave 100 / 100 %, hold up red sign 100 / 100 %, kick 100 / 100 % (punch, the previous checkpoint's
choice, is 59 / 0 % with this one: without the skeleton it is taken for another class; open and close hand
48 / 0 %, wag finger 7 / 0 %). They lean on different modalities
(wave on motion, the red sign on RGB-D colour, kick on skeleton and points alike), and kick is the class
that plays while the skeleton is gone. This test is about the node, not the model.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.ros, pytest.mark.timeout(90)]

import rclpy  # noqa: E402, F401  (imported only to prove it imports: a core dependency, a broken wheel must fail, not skip)
from test_node import SETTLE_S, STRIDE_S, Harness  # noqa: E402

from rcmcl_core.data.synthetic.generate import SYNTHETIC_PRESETS, make_clip, synthetic_intrinsics  # noqa: E402
from rcmcl_core.data.synthetic.body import make_subject  # noqa: E402
from rcmcl_core.data.synthetic.classes import CLASS_NAMES  # noqa: E402
from rcmcl_core.geometry.pinhole import pixel_rays  # noqa: E402
from rcmcl_ros.conversions import numpy_to_image, skeleton_to_markers, xyz_to_pointcloud2  # noqa: E402
from rcmcl_ros.bag.demo import FRAMES, DemoBagConfig, azure32_from_ntu25  # noqa: E402
from rcmcl_core.bundled import BUNDLED_CHECKPOINT  # noqa: E402

WINDOW_S = 2.0                 # the bundled checkpoint's clip
SUBJECT = 2                    # held out (cross-subject test split), the demo bag's default performer
SEGMENTS = (("wave", 5.0), ("hold up red sign", 5.0), ("kick", 11.0))
"""(class, seconds) played back to back from the scene's first message."""
SKELETON_OFF_S = (12.5, 16.5)  # scene seconds (inside the kick segment) without skeleton messages


class ActionScene:
    """Labelled clips as the four driver topics. `messages(t_s)` returns {stream: msg} stamped t_s showing
    the frame of the segment that plays `t_s - start` seconds after the first call (the last frame holds)."""

    def __init__(self, *, segments: tuple[tuple[str, float], ...], subject: int, seed: int = 0) -> None:
        demo = DemoBagConfig()
        self.fps, self.stride = demo.fps, demo.cloud_stride
        intrinsics = synthetic_intrinsics(width=demo.image_size, height=demo.image_size)
        rays = pixel_rays(intrinsics=intrinsics).reshape(demo.image_size, demo.image_size, 3)
        self.rays = rays[::self.stride, ::self.stride].reshape(-1, 3).astype(np.float32)
        performer = make_subject(subject, seed=0)      # the benchmark's subjects are made with seed 0
        self.clips = [make_clip(CLASS_NAMES.index(name), performer, demo.camera, [seed, 1000 + index],
                                intrinsics=intrinsics, fps=self.fps, frames=int(round(seconds * self.fps)),
                                num_points=16, max_bodies=1, synthetic=SYNTHETIC_PRESETS["lite"])
                      for index, (name, seconds) in enumerate(segments)]
        self.starts = np.cumsum([0.0] + [seconds for _, seconds in segments])
        self.start_s: float | None = None

    def elapsed(self, t_s: float) -> float:
        """Scene seconds at clock time t_s (0 before the first message)."""
        return 0.0 if self.start_s is None else t_s - self.start_s

    def messages(self, t_s: float) -> dict[str, Any]:
        if self.start_s is None:
            self.start_s = t_s
        elapsed = self.elapsed(t_s)
        segment = min(int(np.searchsorted(self.starts, elapsed, side="right")) - 1, len(self.clips) - 1)
        clip = self.clips[segment]
        k = min(int(round((elapsed - self.starts[segment]) * self.fps)), len(clip["rgb"]) - 1)
        rgb, depth_mm = clip["rgb"][k], clip["depth_mm"][k]
        bgra = np.concatenate([rgb[..., ::-1], np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=-1)
        sparse = depth_mm[::self.stride, ::self.stride].reshape(-1)
        cloud = self.rays * (sparse[:, None].astype(np.float32) / 1000.0)
        cloud[sparse == 0] = np.nan
        bodies = azure32_from_ntu25(clip["skeleton"][k][clip["skeleton_valid"][k]])
        return {
            "rgb": numpy_to_image(bgra, encoding="bgra8", stamp=t_s, frame_id=FRAMES["rgb"]),
            "depth": numpy_to_image(depth_mm, encoding="16UC1", stamp=t_s, frame_id=FRAMES["depth"]),
            "points": xyz_to_pointcloud2(cloud, stamp=t_s, frame_id=FRAMES["points"], layout="azure"),
            "skeleton": skeleton_to_markers(bodies, layout="azure32", stamp=t_s, frame_id=FRAMES["skeleton"]),
        }


def decisions(h: Harness, start_s: float, stop_s: float) -> tuple[list[str], np.ndarray]:
    """(labels, gates (n, 3)) of the decisions whose window ended in [start_s, stop_s) (clock seconds). Each
    decision publishes ~/reliability then ~/gate_markers in order (reliable QoS), so the i-th of each pair
    up; the marker text starts with the label ('label (0.87)')."""
    with h.lock:
        pairs = [(text.split("\n")[0].rsplit(" (", 1)[0], gates)
                 for (stamp, text), (_, gates) in zip(h.markers, h.reliability) if start_s <= stamp < stop_s]
    return [label for label, _ in pairs], np.array([gates for _, gates in pairs]).reshape(-1, 3)


def share(labels: list[str], name: str) -> float:
    return labels.count(name) / max(1, len(labels))


@pytest.fixture(scope="module")
def action_scene() -> ActionScene:
    if not BUNDLED_CHECKPOINT.is_file():
        pytest.skip(f"the bundled checkpoint {BUNDLED_CHECKPOINT} is missing")
    return ActionScene(segments=SEGMENTS, subject=SUBJECT)


def test_bundled_checkpoint_names_the_action_and_survives_a_dead_skeleton_stream(rclpy_context, action_scene):
    scene = action_scene
    h = Harness(context=rclpy_context, checkpoint=BUNDLED_CHECKPOINT, scene=scene)
    try:
        assert h.wait_for(lambda: scene.start_s is not None, timeout_s=5.0), "the publishers never ran"

        def at(scene_s: float) -> float:
            """Scene seconds -> clock seconds (decision stamps)."""
            return scene.start_s + scene_s

        assert h.wait_for(lambda: scene.elapsed(h.clock_s()) >= SKELETON_OFF_S[0], timeout_s=20.0)
        h.streams -= {"skeleton"}
        t_stop = h.clock_s()
        assert h.wait_for(lambda: scene.elapsed(h.clock_s()) >= SKELETON_OFF_S[1], timeout_s=10.0)
        h.streams |= {"skeleton"}
        t_back = h.clock_s()
        end = at(scene.starts[-1])
        assert h.wait_for(lambda: h.clock_s() >= end + SETTLE_S, timeout_s=10.0)

        # Every input on: a decision whose whole window lies inside a segment names that segment's class.
        for (name, _), begin, finish in zip(SEGMENTS[:2], scene.starts[:2], scene.starts[1:3]):
            labels, gates = decisions(h, at(begin + WINDOW_S), at(finish))
            assert len(labels) >= 5, f"{name}: only {len(labels)} decisions"
            assert share(labels, name) > 0.5, f"{name} played, the node said {labels}"
            assert np.all(gates > 0.0)

        # Skeleton gone: once no window holds skeleton frames, decisions keep their pace with gate S == 0.
        dead_from = t_stop + WINDOW_S + SETTLE_S
        labels, gates = decisions(h, dead_from, t_back)
        # Decisions keep coming; their rate (>= 90 % of nominal) is test_node.py's check with the tiny model,
        # since the lite model's pace here depends on how busy the machine is.
        nominal = (t_back - dead_from) / STRIDE_S
        assert len(labels) >= 5, f"{len(labels)} decisions without skeleton, nominal {nominal:.1f}"
        assert np.all(gates[:, 1] == 0.0) and np.all(gates[:, [0, 2]] > 0.0), gates
        assert share(labels, "kick") > 0.5, f"kick played without skeleton, the node said {labels}"

        # Skeleton back: its gate returns and so does the label.
        labels, gates = decisions(h, t_back + WINDOW_S + SETTLE_S, end)
        assert len(labels) >= 5, f"only {len(labels)} decisions after the skeleton came back"
        assert np.all(gates > 0.0), gates
        assert share(labels, "kick") > 0.5, f"kick played, the node said {labels}"
    finally:
        h.close()
