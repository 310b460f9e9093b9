"""NTU RGB+D readers on small files written in the official formats, the splits and the shard builder."""
import sys

import numpy as np
import pytest
from PIL import Image

import rcmcl_core.data.ntu.media as media
from rcmcl_core.data.ntu.classes import NTU60_CLASSES, NTU120_CLASSES, ntu_class_names
from rcmcl_core.data.ntu.missing import missing_skeletons
from rcmcl_core.data.ntu.skeleton_file import NTUFormatError, read_skeleton
from rcmcl_core.data.ntu.splits import NTUNameError, NTUSample, ntu_splits, parse_sample_name

K = media.NTU_DEPTH_INTRINSICS


# -- writers of the official formats -----------------------------------------------------------------
def _fmt(value) -> str:
    return repr(float(np.float32(value)))          # shortest text that reads back to the same float32


def _joint_rows(xyz, *, color_scale=(1.0, 1.0)) -> np.ndarray:
    """(25, 3) Kinect camera space -> (25, 12) joint lines as the Kinect SDK writes them (mirrored image:
    depthX grows with X)."""
    xyz = np.asarray(xyz, np.float32)
    u = K.cx + K.fx * xyz[:, 0] / xyz[:, 2]
    v = K.cy - K.fy * xyz[:, 1] / xyz[:, 2]
    rows = np.zeros((25, 12), np.float32)
    rows[:, :3], rows[:, 3], rows[:, 4] = xyz, u, v
    rows[:, 5], rows[:, 6] = u * color_scale[0], v * color_scale[1]
    rows[:, 7:11] = [0.9, 0.1, -0.2, 0.3]
    rows[:, 11] = 2
    return rows


def _skeleton_text(frames) -> str:
    """frames: list (per frame) of lists of (body_id, (25, 12) values)."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, rows in bodies:
            lines += [f"{body_id} 0 1 1 0 1 0 0.01 -0.02 2", "25"]
            lines += [" ".join(_fmt(v) for v in row[:11]) + f" {int(row[11])}" for row in rows]
    return "\r\n".join(lines) + "\r\n"


def _pose(centre_x, t=0.0, amplitude=0.0, seed=0):
    """A body-sized cloud of 25 joints around (centre_x, 0, 3) m, swaying by `amplitude` m."""
    rng = np.random.default_rng(seed)
    joints = rng.uniform([-0.2, -0.8, -0.1], [0.2, 0.8, 0.1], size=(25, 3)) + [centre_x, 0.0, 3.0]
    joints[:, 0] += amplitude * np.sin(t)
    return joints


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, newline="")
    return path


# -- names, splits, tables ----------------------------------------------------------------------------
def test_sample_names_parse_to_one_based_ids_and_round_trip():
    sample = parse_sample_name("S001C002P003R002A013")
    assert sample == NTUSample(setup=1, camera=2, performer=3, replication=2, action=13)
    assert sample.name == "S001C002P003R002A013" and sample.label == 12
    assert parse_sample_name("/data/nturgb+d_rgb/S018C001P045R001A120_rgb.avi").action == 120
    assert parse_sample_name("S001C002P003R002A013.skeleton").in_version(60)
    assert not parse_sample_name("S018C001P045R001A061").in_version(60)


@pytest.mark.parametrize("name, message", [
    ("S01C002P003R002A013", "expected SsssCcccPpppRrrrAaaa"),
    ("S001C002P003R002A013x", "expected SsssCcccPpppRrrrAaaa"),
    ("S001C004P003R002A013", "camera id must be in 1..3, got 4"),
    ("S001C002P003R002A121", "action id must be in 1..120, got 121"),
])
def test_bad_sample_names_raise_errors_saying_what_was_expected(name, message):
    with pytest.raises(NTUNameError, match=message):
        parse_sample_name(name)


def test_official_splits_partition_subjects_cameras_and_setups():
    splits, fields = ntu_splits(60)
    assert fields == {"xsub": "subject", "xview": "camera"}
    assert len(splits["xsub"]["train"]) == 20 and len(splits["xsub"]["test"]) == 20
    assert splits["xview"] == {"train": [2, 3], "test": [1]}
    splits, fields = ntu_splits(120)
    assert fields == {"xsub": "subject", "xset": "setup"}
    assert len(splits["xsub"]["train"]) == 53 and len(splits["xsub"]["test"]) == 106 - 53
    assert splits["xset"]["train"] == list(range(2, 33, 2)) and splits["xset"]["test"] == list(range(1, 33, 2))
    with pytest.raises(ValueError, match="60 or 120|\\(60, 120\\)"):
        ntu_splits(90)


def test_class_tables_and_published_missing_lists_have_the_official_sizes():
    assert len(NTU60_CLASSES) == 60 and len(NTU120_CLASSES) == 120
    assert ntu_class_names(60)[0] == "drink water" and ntu_class_names(120)[119].startswith("finger-guessing")
    assert len(missing_skeletons(60)) == 302 and len(missing_skeletons(120)) == 535
    assert missing_skeletons(60) < missing_skeletons(120) and "S001C002P005R002A008" in missing_skeletons(60)
    assert all(parse_sample_name(name).in_version(120) for name in missing_skeletons(120))


# -- .skeleton ----------------------------------------------------------------------------------------
def test_skeleton_file_reads_back_exactly(tmp_path):
    a0, a1, b1 = _joint_rows(_pose(0.0)), _joint_rows(_pose(0.1, seed=1)), _joint_rows(_pose(-0.5, seed=2))
    path = _write(tmp_path / "S001C001P001R001A001.skeleton",
                  _skeleton_text([[(72057594037931101, a0)], [(72057594037931101, a1), (7, b1)], []]))
    sequence = read_skeleton(path)
    assert sequence.num_frames == 3 and sequence.bodies_per_frame.tolist() == [1, 2, 0]
    body_a, body_b = sorted(sequence.bodies, key=lambda b: -len(b.frames))
    assert body_a.body_id == 72057594037931101 and body_a.frames.tolist() == [0, 1]
    np.testing.assert_array_equal(body_a.joints, np.stack([a0, a1])[..., :3])
    np.testing.assert_array_equal(body_a.depth_xy, np.stack([a0, a1])[..., 3:5])
    np.testing.assert_array_equal(body_a.color_xy, np.stack([a0, a1])[..., 5:7])
    np.testing.assert_array_equal(body_a.orientation, np.stack([a0, a1])[..., 7:11])
    assert (body_a.joint_tracking == 2).all() and body_a.body_info[0].tolist() == [0, 1, 1, 0, 1, 0, 0.01, -0.02, 2]
    assert body_b.body_id == 7 and body_b.frames.tolist() == [1]
    np.testing.assert_array_equal(body_b.joints[0], b1[:, :3])


def test_main_bodies_are_the_two_that_move_most(tmp_path):
    frames = []
    for t in range(12):
        frames.append([(1, _joint_rows(_pose(-1.0))),                                      # still: a chair
                       (2, _joint_rows(_pose(0.0, t, amplitude=0.3, seed=1))),              # the actor
                       (3, _joint_rows(_pose(1.0, t, amplitude=0.05, seed=2)))])            # the partner
    sequence = read_skeleton(_write(tmp_path / "S001C001P001R001A050.skeleton", _skeleton_text(frames)))
    assert [b.body_id for b in sequence.main_bodies(2)] == [2, 3]
    joints, valid, depth_xy, _ = sequence.to_arrays(max_bodies=2)
    assert joints.shape == (12, 2, 25, 3) and valid.all()
    np.testing.assert_array_equal(joints[:, 0], np.stack([b for b in sequence.bodies if b.body_id == 2][0].joints))


@pytest.mark.parametrize("mutate, line, message", [
    (lambda lines: lines[:20], 21, "file ends early, expected x y z depthX"),
    (lambda lines: lines[:3] + ["24"] + lines[4:], 4, "expected joint count 25, got 24"),
    (lambda lines: lines[:9] + [lines[9].replace("2", "abc", 1)] + lines[10:], 10, "non-numeric joint values"),
    (lambda lines: lines[:9] + [" ".join(lines[9].split()[:11])] + lines[10:], 10, "expected 12 values"),
    (lambda lines: ["three"] + lines[1:], 1, "expected the frame count \\(an integer\\), got 'three'"),
    (lambda lines: lines + ["1"], 30, "unexpected content after the last of 1 frames"),
])
def test_malformed_skeleton_files_name_the_file_and_line(tmp_path, mutate, line, message):
    good = _skeleton_text([[(5, _joint_rows(_pose(0.0)))]]).splitlines()
    path = _write(tmp_path / "S001C001P001R001A001.skeleton", "\n".join(mutate(good)) + "\n")
    with pytest.raises(NTUFormatError, match=f"S001C001P001R001A001.skeleton:{line}: {message}"):
        read_skeleton(path)


def test_file_with_frames_but_no_bodies_parses_to_no_bodies(tmp_path):
    sequence = read_skeleton(_write(tmp_path / "S001C001P001R001A001.skeleton", "3\n0\n0\n0\n"))
    assert sequence.num_frames == 3 and sequence.bodies == []
    joints, valid, _, _ = sequence.to_arrays(max_bodies=2)
    assert joints.shape == (3, 2, 25, 3) and not valid.any()


# -- depth / rgb / geometry -----------------------------------------------------------------------------
def test_masked_depth_png_reads_back_exactly_in_millimetres(tmp_path):
    depth = np.random.default_rng(0).integers(0, 8000, size=(K.height, K.width)).astype(np.uint16)
    folder = tmp_path / "S001C001P001R001A001"
    folder.mkdir()
    for index in (2, 1, 10):
        Image.fromarray(depth + index).save(folder / f"MDepth-{index:08d}.png")
    (folder / "notes.txt").write_text("ignored")
    frames = media.masked_depth_frames(folder)
    assert [p.name for p in frames] == ["MDepth-00000001.png", "MDepth-00000002.png", "MDepth-00000010.png"]
    back = media.read_depth_png(frames[0])
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, depth + 1)


def test_unreadable_or_8_bit_depth_png_is_reported_with_its_path(tmp_path):
    broken = tmp_path / "MDepth-00000001.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(media.NTUMediaError, match="MDepth-00000001.png: unreadable PNG"):
        media.read_depth_png(broken)
    eight_bit = tmp_path / "MDepth-00000002.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(eight_bit)
    with pytest.raises(media.NTUMediaError, match="MDepth-00000002.png: depth PNG must be a 16-bit"):
        media.read_depth_png(eight_bit)
    with pytest.raises(media.NTUMediaError, match="no masked depth frames"):
        media.masked_depth_frames(tmp_path / "absent")


def test_mirroring_is_read_from_the_joints_and_optical_frame_is_a_rotation():
    rows = _joint_rows(_pose(0.4))
    joints, depth_xy = rows[None, None, :, :3], rows[None, None, :, 3:5]
    valid = np.ones((1, 1), bool)
    assert media.images_are_mirrored(joints, depth_xy, valid)
    unmirrored = depth_xy.copy()
    unmirrored[..., 0] = 2 * K.cx - unmirrored[..., 0]
    assert not media.images_are_mirrored(joints, unmirrored, valid)
    optical = media.kinect_to_optical(joints)
    np.testing.assert_array_equal(optical[..., 0], -joints[..., 0])
    np.testing.assert_array_equal(optical[..., 2], joints[..., 2])
    # after the flip, the optical joints project onto the flipped depth pixels with the flipped intrinsics
    flipped = media.unmirrored_intrinsics(K, mirrored=True)
    u = flipped.cx + flipped.fx * optical[..., 0] / optical[..., 2]
    np.testing.assert_allclose(u, K.width - 1 - depth_xy[..., 0], atol=1e-3)


def test_depth_intrinsics_are_recovered_from_a_clips_joints():
    rows = np.stack([_joint_rows(_pose(x, seed=i)) for i, x in enumerate((-0.5, 0.0, 0.6))])[:, None]
    joints, depth_xy, valid = rows[..., :3], rows[..., 3:5], np.ones((3, 1), bool)
    fitted = media.fit_depth_intrinsics(joints, depth_xy, valid)
    for name in ("fx", "fy", "cx", "cy"):
        assert getattr(fitted, name) == pytest.approx(getattr(K, name), abs=1e-2), name
    assert media.fit_depth_intrinsics(joints, depth_xy, valid & False) == K           # nothing to fit


def test_depth_to_colour_affine_is_recovered_from_joint_pairs():
    rng = np.random.default_rng(0)
    depth_xy = rng.uniform(0, 500, size=(4, 2, 25, 2)).astype(np.float32)
    truth = np.array([[2.9, 0.01, 200.0], [-0.02, 2.95, -60.0]])
    color_xy = (depth_xy @ truth[:, :2].T + truth[:, 2]).astype(np.float32)
    valid = np.ones((4, 2), bool)
    np.testing.assert_allclose(media.fit_depth_to_color(depth_xy, color_xy, valid), truth, atol=1e-2)
    np.testing.assert_array_equal(media.fit_depth_to_color(depth_xy, color_xy, valid & False),
                                  media.default_depth_to_color())


def test_reading_video_without_opencv_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)                  # makes `import cv2` fail
    with pytest.raises(media.NTUMediaError, match="pip install opencv-python-headless"):
        next(media.iter_rgb_frames(tmp_path / f"{GOOD}_rgb.avi"))


def test_registered_rgb_puts_a_joints_colour_at_its_depth_pixel():
    pytest.importorskip("cv2")
    frame = np.zeros((1080, 1920, 3), np.uint8)
    affine = media.default_depth_to_color()
    joint_depth = np.array([100.0, 300.0])                                     # raw (mirrored) depth pixel
    cu, cv = affine[:, :2] @ joint_depth + affine[:, 2]
    frame[int(cv) - 40:int(cv) + 40, int(cu) - 40:int(cu) + 40] = (255, 0, 0)
    size = 64
    out = media.register_rgb(frame, affine, size=size, mirrored=True)
    # un-mirrored depth column, then scaled to the output grid
    col = int((K.width - 1 - joint_depth[0] + 0.5) * size / K.width)
    row = int((joint_depth[1] + 0.5) * size / K.height)
    assert out.shape == (size, size, 3) and tuple(out[row, col]) == (255, 0, 0)
    assert out[:, :, 0].astype(bool).sum() < 0.05 * size * size, "only the square is red"


# -- build_ntu_shards ------------------------------------------------------------------------------------
GOOD = "S001C002P003R001A050"
COLOR_SIZE = (240, 136)                       # a small colour video; the joints' colour pixels match it


def _actor_partner(frames=20):
    """Per frame (actor joints, partner joints or None): the partner leaves after frame 14."""
    out = []
    for t in range(frames):
        out.append((_pose(-0.3, t, amplitude=0.2, seed=1), _pose(0.5, t, amplitude=0.02, seed=2) if t < 15 else None))
    return out


def _ntu_root(tmp_path):
    cv2 = pytest.importorskip("cv2")
    root = tmp_path / "ntu"
    skeletons = root / "nturgb+d_skeletons"
    scale = (COLOR_SIZE[0] / K.width, COLOR_SIZE[1] / K.height)
    poses = _actor_partner()
    frames = [[(11, _joint_rows(a, color_scale=scale))] + ([(12, _joint_rows(p, color_scale=scale))] if p is not None
              else []) for a, p in poses]
    text = _skeleton_text(frames)
    _write(skeletons / f"{GOOD}.skeleton", text)
    _write(skeletons / "S001C001P001R001A002.skeleton", "5\n0\n0\n0\n0\n0\n")       # no bodies
    _write(skeletons / "S001C002P005R002A008.skeleton", text)                      # on the published list
    _write(skeletons / "S001C003P004R001A003.skeleton", "\n".join(text.splitlines()[:40]))   # truncated
    _write(skeletons / "S018C001P045R001A061.skeleton", text)                      # NTU-120 only
    depth_folder = root / "nturgb+d_depth_masked" / GOOD
    depth_folder.mkdir(parents=True)
    for t, bodies in enumerate(frames):
        depth = np.zeros((K.height, K.width), np.uint16)
        for _, rows in bodies:                                                     # a 3 m slab per body
            u0, v0 = np.floor(rows[:, 3:5].min(axis=0)).astype(int)
            u1, v1 = np.ceil(rows[:, 3:5].max(axis=0)).astype(int)
            depth[v0:v1, u0:u1] = 3000
        Image.fromarray(depth).save(depth_folder / f"MDepth-{t + 1:08d}.png")
    (root / "nturgb+d_rgb").mkdir()
    writer = cv2.VideoWriter(str(root / "nturgb+d_rgb" / f"{GOOD}_rgb.avi"), cv2.VideoWriter_fourcc(*"MJPG"),
                             30.0, COLOR_SIZE)
    for _ in frames:
        writer.write(np.full((COLOR_SIZE[1], COLOR_SIZE[0], 3), (30, 30, 200), np.uint8))     # BGR red
    writer.release()
    return root, poses


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from rcmcl_core.config import preset
    from rcmcl_core.data.ntu.prepare import build_ntu_shards

    tmp_path = tmp_path_factory.mktemp("ntu")
    root, poses = _ntu_root(tmp_path)
    config = preset("tiny")
    manifest = build_ntu_shards(ntu_root=root, out=tmp_path / "out", version=60, config=config, fps=15.0)
    return manifest, tmp_path / "out", poses, config


def test_build_writes_the_good_sample_and_reports_each_skipped_one(built):
    manifest, _, _, _ = built
    assert manifest.source == "ntu60" and manifest.num_clips == 1 and len(manifest.classes) == 60
    assert manifest.fps == 15.0 and set(manifest.splits) == {"xsub", "xview"}
    skipped = manifest.extra["skipped"]
    assert set(skipped) == {"S001C001P001R001A002", "S001C002P005R002A008", "S001C003P004R001A003"}
    assert "no tracked body" in skipped["S001C001P001R001A002"]
    assert "published list" in skipped["S001C002P005R002A008"]
    assert "S001C003P004R001A003.skeleton:41: file ends early" in skipped["S001C003P004R001A003"]
    assert manifest.extra["skipped_counts"] == {"no bodies": 1, "listed missing": 1, "unreadable": 1}
    assert manifest.extra["rgb_missing"] == [] and manifest.extra["depth_missing"] == []


def test_built_clip_has_ids_and_skeleton_in_the_optical_frame_at_the_stored_fps(built):
    from rcmcl_core.data.shards import read_shard

    manifest, out, poses, _ = built
    clips = read_shard(out / manifest.shards[0])
    assert clips["clip_id"].tolist() == [GOOD] and clips["label"].tolist() == [49]
    assert (clips["subject"][0], clips["camera"][0], clips["setup"][0], clips["num_frames"][0]) == (3, 2, 1, 10)
    kept = np.arange(0, 20, 2)                                                    # 30 fps -> 15 fps
    actor = np.stack([poses[t][0] for t in kept]).astype(np.float32)
    np.testing.assert_array_equal(clips["skeleton"][0, :, 0], media.kinect_to_optical(actor))
    assert clips["skeleton_valid"][0, :, 0].all()
    assert clips["skeleton_valid"][0, :, 1].tolist() == [t < 15 for t in kept]


def test_built_depth_points_and_rgb_line_up_with_the_skeleton(built):
    from rcmcl_core.data.shards import read_shard

    manifest, out, _, config = built
    clips = read_shard(out / manifest.shards[0])
    depth = clips["depth_mm"][0]
    assert depth.shape == (10, 32, 32) and set(np.unique(depth)) == {0, 3000}
    points, skeleton, valid = clips["points"][0], clips["skeleton"][0], clips["skeleton_valid"][0]
    assert points.shape == (10, config.clip.num_points, 3) and np.isfinite(points).all()
    np.testing.assert_allclose(points[..., 2], 3.0, atol=1e-4)
    for t in range(10):
        joints = skeleton[t][valid[t]].reshape(-1, 3)
        lateral = np.abs(points[t, :, None, 0] - joints[None, :, 0]).min(axis=1)
        assert lateral.max() < 0.1, "every point sits beside a joint: depth and skeleton are mirrored alike"
    rgb = clips["rgb"][0].reshape(-1, 3).mean(axis=0)
    assert rgb[0] > 150 and rgb[1] < 60 and rgb[2] < 60, f"registered colour should be red, got {rgb}"


def test_built_shards_load_in_the_clip_dataset(built):
    from rcmcl_core.data.dataset import ClipDataset

    _, out, _, config = built
    dataset = ClipDataset(out, split="xsub", subset="test", config=config, train=False)   # performer 3: test
    assert len(dataset) == 1 and dataset[0]["present"].tolist() == [True, True, True]
    assert ClipDataset(out, split="xview", subset="test", config=config, train=False).clip_ids == []  # camera 2


def test_build_stops_after_limit_clips(tmp_path):
    from rcmcl_core.config import preset
    from rcmcl_core.data.ntu.prepare import build_ntu_shards

    root, _ = _ntu_root(tmp_path)
    manifest = build_ntu_shards(ntu_root=root, out=tmp_path / "out", version=60, config=preset("tiny"), limit=0)
    assert manifest.num_clips == 0 and manifest.shards == []
    with pytest.raises(ValueError, match="fps must be in \\(0, 30.0\\]"):
        build_ntu_shards(ntu_root=root, out=tmp_path / "out", version=60, config=preset("tiny"), fps=60.0)
