"""`rcmcl generate` (rcmcl_core/cli.py)."""
import numpy as np
import pytest

from rcmcl_core.cli import main
from rcmcl_core.data.shards import Manifest, read_shard


def test_generate_writes_a_readable_tiny_benchmark(tmp_path, capsys):
    out = tmp_path / "synth"
    code = main(["generate", "--preset", "tiny", "--out", str(out), "--seed", "3", "--subjects", "2",
                 "--clips-per-class-per-view", "1", "--quiet"])
    assert code == 0
    manifest = Manifest.load(out)
    assert manifest.source == "synthetic" and manifest.num_clips == 24 * 3 and manifest.extra["seed"] == 3
    clips = [read_shard(out / shard) for shard in manifest.shards]
    labels = np.concatenate([c["label"] for c in clips])
    assert sorted(np.unique(labels).tolist()) == list(range(24))
    assert clips[0]["rgb"].shape[2:4] == (32, 32) and clips[0]["points"].shape[2] == 64
    assert f"wrote 72 clips of 24 classes in {len(manifest.shards)} shards" in capsys.readouterr().out


def test_generate_with_a_config_file_uses_its_sizes(tmp_path):
    config = tmp_path / "small.yaml"
    config.write_text("preset: tiny\nclip: {image_size: 16, num_points: 16}\n")
    out = tmp_path / "synth"
    assert main(["generate", "--config", str(config), "--out", str(out), "--subjects", "2",
                 "--clips-per-class-per-view", "1", "--quiet"]) == 0
    shard = read_shard(out / Manifest.load(out).shards[0])
    assert shard["rgb"].shape[2:4] == (16, 16) and shard["points"].shape[2] == 16


def test_generate_reports_bad_counts_as_a_usage_error(tmp_path, capsys):
    assert main(["generate", "--preset", "tiny", "--out", str(tmp_path), "--workers", "0"]) == 2
    assert "--workers must be >= 1, got 0" in capsys.readouterr().err


def test_generate_requires_an_output_folder(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--preset", "tiny"])
    assert exit_info.value.code == 2
    assert "--out" in capsys.readouterr().err
