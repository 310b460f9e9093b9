"""The per-person path rides the pipeline's ingest (rcmcl_ros/people/path.py): compressed colour, the
depth-derived cloud and the one skeleton decode reach every person, and the single-person window follows
the main actor (the body nearest the camera)."""
from __future__ import annotations

import cv2
import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage

from rcmcl_ros.conversions import numpy_to_image, seconds_to_stamp, skeleton_to_markers
from rcmcl_ros.people.path import PeoplePath
from rcmcl_ros.people.tracker import PeopleConfig
from rcmcl_ros.pipeline.runner import Pipeline, PipelineConfig

WIDTH, HEIGHT, FX = 64, 48, 50.0


def body(x_m: float, z_m: float) -> np.ndarray:
    """(25, 3) NTU joints of a person standing at x, z (metres, camera frame), 1.6 m tall."""
    joints = np.zeros((25, 3), np.float32)
    joints[:, 0] = x_m + np.linspace(-0.2, 0.2, 25)
    joints[:, 1] = np.linspace(-0.8, 0.8, 25)
    joints[:, 2] = z_m
    return joints


def messages(t_s: float, k: int):
    """rgb (a png CompressedImage), depth, camera_info and a 2-body skeleton at t_s; frame k's noise."""
    rng = np.random.default_rng(k)
    stamp = seconds_to_stamp(t_s)
    bgr = rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    rgb = CompressedImage(format="bgr8; png compressed bgr8", data=png.tobytes())
    rgb.header.stamp, rgb.header.frame_id = stamp, "rgb_camera_link"
    depth_mm = (2000 + rng.integers(-5, 5, (HEIGHT, WIDTH))).astype(np.uint16)
    depth_mm[:, : WIDTH // 2] += 500                  # body 4 stands 2.5 m away on the left, body 7 2 m on the right
    depth = numpy_to_image(depth_mm, encoding="16UC1", stamp=stamp, frame_id="rgb_camera_link")
    info = CameraInfo(width=WIDTH, height=HEIGHT, k=[FX, 0.0, WIDTH / 2, 0.0, FX, HEIGHT / 2, 0.0, 0.0, 1.0])
    info.header.stamp, info.header.frame_id = stamp, "rgb_camera_link"
    skeleton = skeleton_to_markers(np.stack([body(-0.5, 2.5), body(0.4, 2.0)]), layout="ntu25", stamp=stamp,
                                   frame_id="rgb_camera_link", body_ids=(4, 7))
    return rgb, depth, info, skeleton


def test_compressed_colour_and_the_depth_cloud_reach_every_person_through_one_ingest(tiny_checkpoint):
    config = PipelineConfig(device="cpu", warmup=False, points_source="depth")
    config.preprocess.skeleton_format = "ntu25"
    pipeline = Pipeline.from_checkpoint(tiny_checkpoint(window_s=1.0), config=config)
    people = PeoplePath.for_pipeline(pipeline, PeopleConfig(max_people=3, max_batch=3))
    assert pipeline.people is people
    rounds = []
    for k in range(40):                               # 4 s at 10 fps
        t_s = 10.0 + k / 10
        rgb, depth, info, skeleton = messages(t_s, k)
        pipeline.camera_info(info)                    # one message: the cloud's and the crops' intrinsics
        for stream, msg in (("rgb", rgb), ("depth", depth), ("skeleton", skeleton)):
            assert pipeline.ingest(stream, t_s, msg) is None
        pipeline.step(t_s)
        rounds += people.take_rounds()
    assert pipeline.take_drops() == []                # every depth image made its cloud
    assert pipeline.main_actor_id == 7                 # the nearer body (2.0 m) is the single-person actor
    assert people.assembler.dropped == {}
    assert rounds and {tuple(r.body_ids) for r in rounds[-3:]} == {(4, 7)}
    last = rounds[-1]
    assert last.present.all(), last.present            # decompressed colour, depth and the derived cloud
    assert last.batch["points"] is not None and np.isfinite(last.batch["points"].numpy()).all()
    received = pipeline.snapshot(13.9)["received"]
    assert received["points"] == received["depth"] == 40      # the cloud came from the depth images
