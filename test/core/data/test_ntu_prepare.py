"""`rcmcl prepare ntu` (rcmcl_core/data/ntu/prepare.py) on format-faithful fixtures (rcmcl_core/data/ntu/fixture.py):
the fixture's files are NTU's formats and sizes; a parallel run equals a serial one; a killed run resumes
shard by shard; --part slices one plan; skeleton-only is a first-class case; bad input is a counted skip or a
one-line error, never a half shard."""
from __future__ import annotations

import errno
import json
import shutil

import numpy as np
import pytest

from rcmcl_core.config import preset
from rcmcl_core.data.ntu import media
from rcmcl_core.data.ntu.fixture import write_fixture
from rcmcl_core.data.ntu.prepare import PrepareError, PrepareRequest, parse_part, prepare_ntu, record_path
from rcmcl_core.data.ntu.skeleton_file import read_skeleton
from rcmcl_core.data.shards import read_shard

FRAMES = 24


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    """10 NTU-60 samples (actions A001-A010, one person each) with all three modalities, 24 frames each."""
    root = tmp_path_factory.mktemp("ntu_fixture")
    fixture = write_fixture(root, version=60, samples=10, frames=FRAMES)
    return root, fixture.names


def request(root, out, **kw):
    return PrepareRequest(root=root, out=out, version=60, config=preset("tiny"), fps=15.0, progress=False,
                          clips_per_shard=3, **kw)


def arrays_of(out):
    manifest = json.loads((out / "manifest.json").read_text())
    return manifest, [read_shard(out / s) for s in manifest["shards"]]


def test_the_fixture_writes_ntus_formats_at_their_sizes(tmp_path):
    fixture = write_fixture(tmp_path, version=60, samples=1, frames=6)
    name = fixture.names[0]
    sequence = read_skeleton(tmp_path / "nturgb+d_skeletons" / f"{name}.skeleton")
    assert sequence.num_frames == 6 and len(sequence.bodies) == 1
    raw = (tmp_path / "nturgb+d_skeletons" / f"{name}.skeleton").read_bytes()
    assert b"\r\n" in raw and raw.count(b"\r\n") == 1 + 6 * (1 + 1 + 1 + 25)
    frames = media.masked_depth_frames(tmp_path / "nturgb+d_depth_masked" / name)
    assert [p.name for p in frames] == [f"MDepth-{k:08d}.png" for k in range(1, 7)]
    depth = media.read_depth_png(frames[0])
    assert depth.shape == (424, 512) and depth.dtype == np.uint16
    assert 0.01 < (depth > 0).mean() < 0.2 and 2500 < depth[depth > 0].mean() < 3500    # masked: the person only
    video = list(media.iter_rgb_frames(tmp_path / "nturgb+d_rgb" / f"{name}_rgb.avi"))
    assert len(video) == 6 and video[0].shape == (1080, 1920, 3)
    two = write_fixture(tmp_path / "two", version=60, samples=50, frames=6, modalities=("skeleton",))
    mutual = [n for n in two.names if n.endswith("A050")]
    assert mutual and len(read_skeleton(tmp_path / "two" / "nturgb+d_skeletons" / f"{mutual[0]}.skeleton")
                          .bodies) == 2


def test_two_workers_write_what_one_writes_and_the_manifest_lists_every_clip(fixture_root, tmp_path):
    root, names = fixture_root
    serial = prepare_ntu(request(root, tmp_path / "serial", workers=1))
    parallel = prepare_ntu(request(root, tmp_path / "parallel", workers=2))
    assert serial.manifest.num_clips == parallel.manifest.num_clips == len(names)
    assert parallel.shards_total == 4 and parallel.shards_this_run == 4
    (_, a), (_, b) = arrays_of(tmp_path / "serial"), arrays_of(tmp_path / "parallel")
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x:
            np.testing.assert_array_equal(x[key], y[key], err_msg=key)
    clips = np.concatenate([s["clip_id"] for s in a]).tolist()
    assert clips == sorted(names)
    shard = a[0]
    assert shard["rgb"].any() and shard["depth_mm"].any() and np.isfinite(shard["points"]).all()
    stages = serial.manifest.extra["prepare"]["stages_s"]
    assert all(stages[s] > 0 for s in ("skeleton parse", "depth png decode", "rgb decode", "point sampling"))


def test_a_killed_run_resumes_shard_by_shard(fixture_root, tmp_path):
    root, names = fixture_root
    out = tmp_path / "out"
    first = prepare_ntu(request(root, out))
    reference = arrays_of(out)[1]
    record_path(out, 2).unlink()                          # killed after shard 2 was written, before its record
    (out / first.manifest.shards[1]).unlink()             # and shard 1 lost entirely
    record_path(out, 1).unlink()
    (out / "manifest.json").unlink()
    again = prepare_ntu(request(root, out))
    assert again.shards_this_run == 2 and again.clips_this_run == 6
    for x, y in zip(reference, arrays_of(out)[1]):
        np.testing.assert_array_equal(x["points"], y["points"])            # per-shard seeds: the same sampling
    assert prepare_ntu(request(root, out)).shards_this_run == 0            # finished: nothing to do


def test_parts_split_one_plan_and_the_last_part_writes_the_manifest(fixture_root, tmp_path):
    root, names = fixture_root
    out = tmp_path / "parts"
    one = prepare_ntu(request(root, out, part=(1, 2)))
    assert one.manifest is None and one.shards_this_run == 2 and not (out / "manifest.json").exists()
    two = prepare_ntu(request(root, out, part=(2, 2)))
    assert two.manifest is not None and two.manifest.num_clips == len(names)
    assert parse_part("3/16") == (3, 16)
    with pytest.raises(PrepareError, match="--part must look like i/n"):
        parse_part("3")
    for bad in ((0, 2), (3, 2)):
        with pytest.raises(PrepareError, match="--part must be i/n"):
            prepare_ntu(request(root, tmp_path / "bad", part=bad))
    with pytest.raises(PrepareError, match="modalities .* differ"):
        prepare_ntu(request(root, out, modalities=("skeleton",)))


def test_skeleton_only_reads_no_image_and_the_dataset_marks_the_rest_absent(fixture_root, tmp_path):
    from rcmcl_core.data.dataset import ClipDataset

    root, names = fixture_root
    result = prepare_ntu(request(root, tmp_path / "skel", modalities=("skeleton",), workers=2))
    extra = result.manifest.extra
    assert extra["modalities"] == ["skeleton"] and extra["rgb_missing"] == [] == extra["depth_missing"]
    stages = extra["prepare"]["stages_s"]
    assert stages["skeleton parse"] > 0 and stages["depth png decode"] == 0 == stages["rgb decode"]
    dataset = ClipDataset(tmp_path / "skel", split="xsub", subset="all", config=preset("tiny"), train=False)
    assert len(dataset) == len(names)
    assert all(dataset[i]["present"].tolist() == [False, True, False] for i in range(len(dataset)))


def broken_root(tmp_path, fixture_root):
    root, names = fixture_root
    bad = tmp_path / "broken"
    shutil.copytree(root, bad)
    skeletons = bad / "nturgb+d_skeletons"
    truncated = skeletons / f"{names[0]}.skeleton"
    truncated.write_text("\r\n".join(truncated.read_text().splitlines()[:50]), newline="")
    for path in sorted((bad / "nturgb+d_depth_masked" / names[1]).iterdir())[3:]:
        path.unlink()                                                       # 3 of 24 depth frames left
    (bad / "nturgb+d_rgb" / f"{names[2]}_rgb.avi").write_bytes(b"not a video")
    shutil.copy(skeletons / f"{names[3]}.skeleton", skeletons / "S001C001P001R001Axyz.skeleton")
    short = skeletons / f"{names[4]}.skeleton"
    lines = short.read_text().splitlines()
    per_frame = 1 + 1 + 1 + 25
    short.write_text("\r\n".join(["3"] + lines[1:1 + 3 * per_frame]) + "\r\n", newline="")
    return bad, names


def test_bad_samples_are_counted_skips_with_their_reasons(fixture_root, tmp_path):
    bad, names = broken_root(tmp_path, fixture_root)
    result = prepare_ntu(request(bad, tmp_path / "out"))
    extra = result.manifest.extra
    assert extra["skipped_counts"] == {"unreadable": 2, "depth frames missing": 1, "bad name": 1,
                                       "too few frames": 1}, extra["skipped"]
    assert "file ends early" in extra["skipped"][names[0]] and "10 of the 12 kept frames" in extra["skipped"][names[1]]
    assert "OpenCV cannot open" in extra["skipped"][names[2]] and "3 frames" in extra["skipped"][names[4]]
    assert result.manifest.num_clips == len(names) - 4
    assert sum(len(read_shard(tmp_path / "out" / s)["label"]) for s in result.manifest.shards) == len(names) - 4


def test_a_full_disk_stops_with_one_line_and_leaves_no_half_shard(fixture_root, tmp_path, monkeypatch):
    import rcmcl_core.data.ntu.prepare as prepare

    root, _ = fixture_root
    calls = []

    def full(out, index, arrays):
        calls.append(index)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(out, index, arrays)

    real = prepare.write_shard
    monkeypatch.setattr(prepare, "write_shard", full)
    out = tmp_path / "full"
    with pytest.raises(PrepareError, match="no space left .* shard 1; free space and rerun"):
        prepare_ntu(request(root, out))
    assert record_path(out, 0).is_file() and not record_path(out, 1).exists()
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["shard_00000.npz"]
    monkeypatch.setattr(prepare, "write_shard", real)
    assert prepare_ntu(request(root, out)).shards_this_run == 3                # the rest, after space is freed


def test_the_command_line_converts_and_reports_bad_arguments_in_one_line(fixture_root, tmp_path, capsys):
    from rcmcl_core.cli import main

    root, names = fixture_root
    assert main(["prepare", "ntu", "--root", str(root), "--version", "60", "--out", str(tmp_path / "cli"),
                 "--preset", "tiny", "--workers", "2", "--modalities", "skeleton,depth", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"manifest: {tmp_path / 'cli' / 'manifest.json'}: {len(names)} clips" in out
    assert main(["prepare", "ntu", "--root", str(root), "--version", "60", "--out", str(tmp_path / "x"),
                 "--part", "5/4"]) == 2
    assert main(["prepare", "ntu", "--root", str(tmp_path / "nowhere"), "--version", "60", "--out",
                 str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err
    assert "--part must be i/n" in err and "is not a folder" in err and "Traceback" not in err
