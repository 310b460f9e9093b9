"""Result figures: t-SNE (rcmcl_core/plots/tsne.py, scikit-learn), the figures of rcmcl_core/plots/results.py,
the gate timeline of rcmcl_core/evaluation/figure_data.py and `rcmcl plot` (rcmcl_core/commands/plot.py)."""
import numpy as np
import pytest
import torch
from matplotlib import image as mpimg

from clip_factory import make_clip_root
from rcmcl_core.cli import main
from rcmcl_core.config import MODALITIES, preset
from rcmcl_core.data.dataset import ClipDataset
from rcmcl_core.evaluation.robustness import CONDITIONS, ConditionResult, write_results
from rcmcl_core.evaluation.figure_data import collect_features, gate_timeline_for_clip, stream_from_dataset
from rcmcl_core.models.rcmcl import RCMCL
from rcmcl_core.plots.results import gate_timeline, robustness_bars, tsne_figure
from rcmcl_core.plots.tsne import tsne


def _clusters(seed=0, classes=5, per_class=40, dim=20):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=8.0, size=(classes, dim))
    labels = np.repeat(np.arange(classes), per_class)
    return centres[labels] + rng.normal(size=(len(labels), dim)), labels


def _knn_purity(points, labels, k=5):
    dist = ((points[:, None] - points[None]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    neighbours = np.argsort(dist, axis=1)[:, :k]
    return float((labels[neighbours] == labels[:, None]).mean())


def _assert_drawn(path, *, min_colour_pixels=2000, min_side=300):
    """The PNG has a sensible size and data drawn on it: at least `min_colour_pixels` coloured (not grey,
    black or white) pixels in its left three quarters, where the axes are (legends of the t-SNE sit to
    the right); axes, ticks and titles alone are black on white."""
    pixels = mpimg.imread(path)[..., :3]
    height, width = pixels.shape[:2]
    assert min(height, width) >= min_side and max(height, width) <= 3000, pixels.shape
    colourful = pixels.max(axis=-1) - pixels.min(axis=-1) > 0.25
    assert colourful[:, : 3 * width // 4].sum() >= min_colour_pixels, colourful.sum()
    assert (pixels < 0.95).any(axis=-1).mean() < 0.9                      # not a solid block either


# -- t-SNE ------------------------------------------------------------------------------------------------
def test_tsne_keeps_well_separated_gaussian_clusters_apart():
    features, labels = _clusters()
    layout = tsne(features, perplexity=20, seed=0, iterations=500)
    assert layout.shape == (200, 2) and np.isfinite(layout).all()
    assert _knn_purity(layout, labels) > 0.95


def test_tsne_is_deterministic_by_seed():
    features, _ = _clusters(classes=3, per_class=20)
    first = tsne(features, seed=3, iterations=200)
    assert np.array_equal(first, tsne(features, seed=3, iterations=200))


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((1, 3)), np.array([[0.0, np.nan], [1.0, 2.0]])])
def test_tsne_rejects_unusable_features(bad):
    with pytest.raises(ValueError, match="t-SNE"):
        tsne(bad)


# -- figures ----------------------------------------------------------------------------------------------
def test_tsne_figure_draws_classes_and_modality_shapes(tmp_path):
    features, labels = _clusters(classes=4, per_class=15)
    modality = np.arange(len(labels)) % 3
    out = tsne_figure(features, labels, [f"class_{k}" for k in range(4)], tmp_path / "t.png", modality=modality,
                      iterations=300)
    _assert_drawn(out, min_colour_pixels=60 * 10)
    with pytest.raises(ValueError, match="index class_names"):
        tsne_figure(features, labels + 1, [f"class_{k}" for k in range(4)], tmp_path / "bad.png")


def test_gate_timeline_draws_gates_segments_and_labels(tmp_path):
    times = np.linspace(0.0, 10.0, 80)
    gates = np.stack([np.full(80, 0.7), np.where((times > 4) & (times < 7), 0.0, 0.6), np.full(80, 0.5)], axis=1)
    labels = ["wave"] * 40 + ["clap"] * 40
    out = gate_timeline(times, gates, tmp_path / "g.png", segments=[(4.0, 7.0, "skeleton dropped")], labels=labels)
    _assert_drawn(out)
    with pytest.raises(ValueError, match=r"gates \(W, 3\)"):
        gate_timeline(times, gates[:, :2], tmp_path / "bad.png")


def test_robustness_bars_draw_every_method_and_reject_unknown_conditions(tmp_path):
    results = {"RCMCL": {"clean": 86.7, "R missing": 77.5, "R&P missing": 65.1},
               "Supervised": {"clean": 85.9, "R missing": 68.1}}
    _assert_drawn(robustness_bars(results, tmp_path / "r.png"))
    with pytest.raises(ValueError, match="no method has"):
        robustness_bars(results, tmp_path / "bad.png", conditions=["SJN 0.05"])


# -- gate timeline from a model ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return make_clip_root(tmp_path_factory.mktemp("clips"), classes=4, clips_per_class=4)


@pytest.fixture(scope="module")
def stream_and_model(clips):
    config = preset("tiny")
    dataset = ClipDataset(clips, split="xsub", subset="all", config=config, train=False)
    torch.manual_seed(0)
    return stream_from_dataset(dataset, range(6), window_s=config.clip.window_s), RCMCL(config=config)


@pytest.mark.parametrize("modality", MODALITIES)
def test_dropped_modality_gate_is_exactly_zero_inside_the_drop_and_positive_outside(stream_and_model, modality):
    stream, model = stream_and_model
    timeline = gate_timeline_for_clip(model, stream, drop=(modality, 0.4, 0.7))
    m = MODALITIES.index(modality)
    _, t0, t1 = timeline.dropped
    assert (t0, t1) == pytest.approx((0.4 * stream.duration_s, 0.7 * stream.duration_s))
    # A window counts as missing the modality once half of its targets fall in the drop, so its centre
    # time may cross the drop edges by up to one target spacing plus one frame of rounding.
    window_s = model.config.clip.window_s
    edge = window_s / (model.config.clip.frames - 1) + 1.0 / stream.fps
    inside = (timeline.times_s > t0 + edge) & (timeline.times_s < t1 - edge)
    outside = (timeline.times_s < t0 - edge) | (timeline.times_s > t1 + edge)
    assert inside.sum() >= 5 and outside.sum() >= 10, (inside.sum(), outside.sum())
    assert (timeline.gates[inside, m] == 0.0).all() and not timeline.present[inside, m].any()
    assert (timeline.gates[outside, m] > 0.0).all()
    others = [k for k in range(3) if k != m]
    assert (timeline.gates[:, others] > 0.0).all() and (timeline.predicted >= 0).all()
    # the drop is one contiguous run of windows
    zero = np.flatnonzero(timeline.gates[:, m] == 0.0)
    assert np.array_equal(zero, np.arange(zero[0], zero[-1] + 1))


def test_gate_timeline_rejects_an_impossible_drop(stream_and_model):
    stream, model = stream_and_model
    with pytest.raises(ValueError, match="drop must be"):
        gate_timeline_for_clip(model, stream, drop=("depth", 0.2, 0.5))
    with pytest.raises(ValueError, match="drop must be"):
        gate_timeline_for_clip(model, stream, drop=("skeleton", 0.6, 0.5))


def test_collected_features_are_the_models_fused_output(clips):
    config = preset("tiny")
    dataset = ClipDataset(clips, split="xsub", subset="test", config=config, train=False)
    torch.manual_seed(0)
    model = RCMCL(config=config).eval()
    features = collect_features(model, dataset, indices=[0, 2, 3], batch_size=2, progress=False)
    assert features.fused.shape == (3, config.model.feature_dim)
    assert np.array_equal(features.labels, dataset.labels[[0, 2, 3]])
    with torch.no_grad():
        expected = model({k: torch.stack([dataset[0][k]]) for k in ("rgb", "depth", "skeleton", "points", "present")})
    np.testing.assert_allclose(features.fused[0], expected.fused[0].numpy(), rtol=1e-5, atol=1e-6)


# -- rcmcl plot ---------------------------------------------------------------------------------------------
def test_plot_tsne_writes_fused_and_per_modality_figures(clips, tiny_checkpoint, tmp_path, capsys):
    code = main(["plot", "tsne", f"rcmcl={tiny_checkpoint()}", "--data-root", str(clips), "--split", "xsub",
                 "--out", str(tmp_path), "--device", "cpu", "--no-progress", "--per-modality", "--iterations", "300"])
    assert code == 0, capsys.readouterr().err
    _assert_drawn(tmp_path / "tsne_rcmcl.png", min_colour_pixels=8 * 10)            # 8 test clips
    _assert_drawn(tmp_path / "tsne_rcmcl_modalities.png", min_colour_pixels=24 * 10)


def test_plot_gates_writes_one_figure_per_dropped_modality_and_a_table(clips, tiny_checkpoint, tmp_path, capsys):
    code = main(["plot", "gates", str(tiny_checkpoint()), "--data-root", str(clips), "--split", "xsub",
                 "--subset", "all", "--out", str(tmp_path), "--device", "cpu", "--drop", "skeleton", "points",
                 "--clips", "6"])
    assert code == 0, capsys.readouterr().err
    _assert_drawn(tmp_path / "gates_drop_skeleton.png")
    _assert_drawn(tmp_path / "gates_drop_points.png")
    assert not (tmp_path / "gates_drop_rgbd.png").exists()
    table = (tmp_path / "gates.md").read_text()
    inside_skeleton = next(line for line in table.splitlines() if line.startswith("| skeleton | inside |"))
    assert inside_skeleton.split("|")[5].strip() == "0.000"               # g_S column: always 0 in the drop
    assert "differ from the checkpoint's labels" in table                  # class_k vs action_XX: no accuracy


def test_plot_robustness_reads_evaluate_results(tmp_path, capsys):
    methods = {name: {c: ConditionResult(accuracy=acc - 3.0 * i, mean_gates=[0.5, 0.5, 0.5], clips=10)
                      for i, c in enumerate(CONDITIONS)} for name, acc in (("Supervised", 80.0), ("RCMCL", 90.0))}
    write_results(tmp_path / "results.json", methods)
    assert main(["plot", "robustness", str(tmp_path / "results.json"), "--out", str(tmp_path / "figs")]) == 0
    _assert_drawn(tmp_path / "figs" / "robustness_dropout.png")
    _assert_drawn(tmp_path / "figs" / "robustness_corruption.png")
    assert main(["plot", "robustness", str(tmp_path / "results.json"), "--out", str(tmp_path / "one"),
                 "--methods", "RCMCL", "--conditions", "clean", "R&P missing"]) == 0
    _assert_drawn(tmp_path / "one" / "robustness.png")


def test_plot_robustness_reports_a_file_that_is_not_results_json(tmp_path, capsys):
    (tmp_path / "results.json").write_text('{"RCMCL": {"clean": {"acc": 1}}}')
    assert main(["plot", "robustness", str(tmp_path / "results.json"), "--out", str(tmp_path)]) == 2
    assert "not a results.json written by `rcmcl evaluate`" in capsys.readouterr().err
