"""Config presets, YAML round trip and validation errors."""
import pytest

from rcmcl_core.config import PRESETS, ConfigError, RCMCLConfig, preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_yaml(name, tmp_path):
    config = preset(name)
    path = tmp_path / "c.yaml"
    config.to_yaml(path)
    assert RCMCLConfig.from_yaml(path) == config


def test_presets_have_the_design_sizes():
    tiny, lite, paper = preset("tiny"), preset("lite"), preset("paper")
    assert (tiny.clip.frames, tiny.clip.image_size, tiny.clip.num_points, tiny.model.feature_dim) == (8, 32, 64, 32)
    assert (lite.clip.frames, lite.clip.image_size, lite.clip.num_points) == (16, 64, 256)
    assert (paper.clip.frames, paper.clip.image_size, paper.clip.num_points) == (16, 112, 1024)
    assert paper.rgbd.stage_channels == (64, 128, 256, 512) and paper.rgbd.blocks_per_stage == (2, 2, 2, 2)
    assert len(paper.skeleton.block_channels) == 10
    assert (paper.loss.lambda_cm, paper.loss.lambda_im, paper.loss.lambda_deg, paper.loss.temperature) == (
        1.0, 0.5, 0.2, 0.07)
    assert (paper.optim.pretrain_epochs, paper.optim.warmup_epochs, paper.optim.batch_size) == (300, 10, 256)


def test_yaml_overrides_apply_on_top_of_the_named_preset():
    config = RCMCLConfig.from_yaml("preset: tiny\noptim:\n  batch_size: 4\n")
    assert config.preset == "tiny" and config.optim.batch_size == 4
    assert config.clip == preset("tiny").clip


def test_unknown_key_is_rejected_with_its_path():
    with pytest.raises(ConfigError, match="optim.batchsize"):
        RCMCLConfig.from_yaml("preset: tiny\noptim:\n  batchsize: 4\n")


@pytest.mark.parametrize("yaml_text, fragment", [
    ("clip: {frames: 1}", "clip.frames"),
    ("loss: {temperature: 0}", "loss.temperature"),
    ("skeleton: {temporal_kernel: 4}", "skeleton.temporal_kernel"),
    ("rgbd: {in_channels: 3}", "rgbd.in_channels"),
    ("optim: {batch_size: 1}", "optim.batch_size"),
    ("augment: {modality_dropout: 1.5}", "augment.modality_dropout"),
    ("clip: {frames: eight}", "clip.frames"),
])
def test_impossible_values_are_rejected_naming_the_key(yaml_text, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        RCMCLConfig.from_yaml(f"preset: tiny\n{yaml_text}\n")


def test_unknown_preset_and_missing_file_give_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        preset("huge")
    with pytest.raises(ConfigError, match="config file not found"):
        RCMCLConfig.from_yaml(tmp_path / "nope.yaml")


def test_diff_names_each_differing_key():
    assert preset("tiny").diff(preset("tiny")) == []
    differences = preset("tiny").diff(preset("lite"))
    assert any(d.startswith("clip.frames: 8 != 16") for d in differences)
    assert any(d.startswith("preset:") for d in differences)


def test_unknown_key_inside_a_list_of_nested_sections_names_its_index():
    with pytest.raises(ConfigError, match=r"points\.set_abstraction\[1\]\.radius"):
        RCMCLConfig.from_yaml("preset: tiny\npoints:\n  set_abstraction:\n"
                              "    - {num_centroids: 16, radius_m: 0.3, neighbours: 8, mlp_channels: [16, 32]}\n"
                              "    - {num_centroids: 0, radius: 1.0, neighbours: 16, mlp_channels: [32, 32]}\n")


def test_integers_are_accepted_for_floats_but_booleans_are_not_integers():
    assert RCMCLConfig.from_yaml("preset: tiny\nclip: {window_s: 2}\n").clip.window_s == 2.0
    assert isinstance(RCMCLConfig.from_yaml("preset: tiny\nclip: {window_s: 2}\n").clip.window_s, float)
    with pytest.raises(ConfigError, match=r"clip\.frames"):
        RCMCLConfig.from_yaml("preset: tiny\nclip: {frames: true}\n")
