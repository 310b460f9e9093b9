"""The procedural tri-modal benchmark (rcmcl_core/data/synthetic/): determinism, formats and units,
splits, and that each modality carries the information docs/DATASET.md says it does."""
from dataclasses import replace

import numpy as np
import pytest

from rcmcl_core.config import ModelConfig, preset
from rcmcl_core.data.shards import Manifest, read_shard
from rcmcl_core.data.synthetic.generate import (SYNTHETIC_PRESETS, ClipSpec, clip_frames, clip_specs, generate,
                                                make_clip, render_specs, synthetic_intrinsics)
from rcmcl_core.data.synthetic.classes import CLASSES, CLASS_NAMES, modality_pairs
from rcmcl_core.data.synthetic.body import make_subject
from rcmcl_core.geometry.skeleton_layout import NTU_BONES, centre_on_root

TINY = preset("tiny")
INTRINSICS = synthetic_intrinsics(width=32, height=32)


def _clip(seed, class_index=0, camera=1):
    return make_clip(class_index, make_subject(2, seed=seed), camera, seed, intrinsics=INTRINSICS, fps=10.0,
                     frames=6, num_points=32)


def test_the_class_table_has_24_classes_with_designed_pairs_of_every_kind():
    assert len(CLASSES) == ModelConfig().num_classes == TINY.model.num_classes == 24
    assert len(set(CLASS_NAMES)) == 24
    pairs = modality_pairs()
    assert {kind: len(p) for kind, p in pairs.items()} == {"rgb": 3, "skeleton": 3, "depth": 2}
    for a, b in sum(pairs.values(), []):
        assert CLASSES[a].program == CLASSES[b].program and CLASSES[a].variant != CLASSES[b].variant


def test_the_same_seed_gives_identical_clips():
    first, second = _clip(5), _clip(5)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)


def test_a_different_seed_gives_different_clips():
    first, second = _clip(5), _clip(6)
    for key in ("rgb", "depth_mm", "skeleton", "points"):
        assert not np.array_equal(first[key], second[key]), key


def test_all_cameras_see_the_same_performance():
    views = [_clip(5, camera=c) for c in (1, 2, 3)]
    shapes = []
    for view in views:  # joint-to-joint distances do not depend on the camera
        joints = view["skeleton"][:, 0][view["skeleton_valid"][:, 0]]
        shapes.append(np.linalg.norm(joints[:, :, None] - joints[:, None], axis=-1).mean(axis=0))
    assert np.abs(shapes[0] - shapes[1]).mean() < 0.01 and np.abs(shapes[0] - shapes[2]).mean() < 0.01
    assert np.abs(views[0]["skeleton"][0, 0] - views[1]["skeleton"][0, 0]).max() > 0.2


@pytest.fixture(scope="module")
def small_shard():
    specs = [ClipSpec(c, 1 + c % 4, 1, 1 + c % 3) for c in range(24)]
    return render_specs(specs, config=TINY, synthetic=SYNTHETIC_PRESETS["tiny"], seed=0)


def test_clip_arrays_have_the_shard_shapes_and_dtypes(small_shard):
    frames = clip_frames(config=TINY, synthetic=SYNTHETIC_PRESETS["tiny"])
    assert frames == 15
    expected = {"rgb": ((24, frames, 32, 32, 3), np.uint8), "depth_mm": ((24, frames, 32, 32), np.uint16),
                "skeleton": ((24, frames, 2, 25, 3), np.float32), "skeleton_valid": ((24, frames, 2), np.bool_),
                "points": ((24, frames, 64, 3), np.float32), "label": ((24,), np.int64)}
    for key, (shape, dtype) in expected.items():
        assert small_shard[key].shape == shape and small_shard[key].dtype == dtype, key


def test_depth_is_millimetres_in_the_kinect_range_with_invalid_zeros(small_shard):
    depth = small_shard["depth_mm"]
    valid = depth[depth > 0]
    assert 0.005 < (depth == 0).mean() < 0.6
    assert valid.min() >= 480 and valid.max() <= 4600
    assert 2000 < np.median(valid) < 4200            # person at ~2.5 m, wall at ~3.5-4.5 m


def test_skeleton_is_in_metres_in_front_of_the_camera_and_sometimes_lost(small_shard):
    valid = small_shard["skeleton_valid"]
    assert not valid[..., 1].any(), "only one performer per clip"
    assert 0.8 < valid[..., 0].mean() < 1.0
    lost = small_shard["skeleton"][..., 0, :, :][~valid[..., 0]]
    assert (lost == 0).all()
    tracked = small_shard["skeleton"][..., 0, :, :][valid[..., 0]]
    assert 1.8 < np.median(tracked[..., 2]) < 3.2
    heights = tracked[:, 3, 1] - tracked[:, 15, 1]       # head above left foot (y is down)
    assert np.median(-heights) > 1.2


def test_points_lie_on_the_person_near_the_tracked_skeleton(small_shard):
    points = small_shard["points"]
    assert np.isfinite(points).all()
    valid = small_shard["skeleton_valid"][..., 0]
    root = small_shard["skeleton"][..., 0, 0, :][valid]              # spine_base
    offset = np.linalg.norm(points[valid].mean(axis=1) - root, axis=-1)
    assert np.median(offset) < 0.25


def test_clip_specs_show_every_class_by_every_subject_in_every_camera():
    specs = clip_specs(subjects=3, clips_per_class_per_view=3, cameras=(1, 2, 3))
    assert len(specs) == 24 * 3 * 3
    assert {(s.class_index, s.subject, s.camera) for s in specs} == {
        (c, p, cam) for c in range(24) for p in (1, 2, 3) for cam in (1, 2, 3)}
    assert len({s.clip_id for s in specs}) == len(specs)


def test_generated_manifest_splits_partition_the_clips(tmp_path):
    manifest = generate(out=tmp_path, config=TINY, clips_per_class_per_view=1, subjects=2, seed=1, progress=False)
    assert Manifest.load(tmp_path) == manifest
    assert manifest.num_clips == 24 * 1 * 3 and manifest.classes == list(CLASS_NAMES)
    assert manifest.splits == {"xsub": {"train": [1], "test": [2]}, "xview": {"train": [2, 3], "test": [1]}}
    assert manifest.split_fields == {"xsub": "subject", "xview": "camera"}
    fields = {"subject": [], "camera": []}
    for shard in manifest.shards:
        clips = read_shard(tmp_path / shard)
        for key in fields:
            fields[key] += clips[key].tolist()
    assert len(fields["camera"]) == manifest.num_clips
    for split, field in manifest.split_fields.items():
        train, test = manifest.splits[split]["train"], manifest.splits[split]["test"]
        assert not set(train) & set(test)
        assert set(fields[field]) == set(train) | set(test)


def test_the_data_does_not_depend_on_the_number_of_worker_processes(tmp_path):
    synthetic = replace(SYNTHETIC_PRESETS["tiny"], shard_size=24)       # 72 clips -> 3 shards to share out
    roots = {workers: tmp_path / f"workers_{workers}" for workers in (1, 2)}
    manifests = {workers: generate(out=root, config=TINY, clips_per_class_per_view=1, subjects=2, seed=4,
                                   workers=workers, progress=False, synthetic=synthetic)
                 for workers, root in roots.items()}
    assert manifests[1] == manifests[2] and len(manifests[1].shards) == 3
    for shard in manifests[1].shards:
        serial, parallel = read_shard(roots[1] / shard), read_shard(roots[2] / shard)
        assert serial.keys() == parallel.keys()
        for key in serial:
            np.testing.assert_array_equal(serial[key], parallel[key], err_msg=f"{shard}: {key}")


def test_make_clip_rejects_an_unknown_class():
    with pytest.raises(ValueError, match=r"class_index must be in \[0, 24\) for class set 'bundled', got 24"):
        make_clip(24, 1, 1, 0, intrinsics=INTRINSICS, fps=10.0, frames=2, num_points=8)


# -- learnability: simple per-modality classifiers ------------------------------------------------------
SUBJECTS = 6
REPETITIONS = {"ordinary": 2, "rgb": 5, "skeleton": 5, "depth": 5}
"""Independent performances per (class, subject); each is seen by one camera, so samples are independent."""


def _halves(frames):
    return np.arange(frames) < frames // 2, np.arange(frames) >= frames // 2


def skeleton_features(clips):
    """Root-centred joints (mean per clip half, std), bone vectors (mean, std) over tracked frames."""
    child, parent = np.array(NTU_BONES).T
    feats = []
    for skeleton, valid in zip(clips["skeleton"], clips["skeleton_valid"][..., 0]):
        joints = centre_on_root(skeleton)[:, 0]
        bones = joints[:, child] - joints[:, parent]
        first, second = _halves(len(joints))
        feats.append(np.concatenate([joints[first & valid].mean(0).ravel(), joints[second & valid].mean(0).ravel(),
                                     joints[valid].std(0).ravel(), bones[valid].mean(0).ravel(),
                                     bones[valid].std(0).ravel()]))
    return np.array(feats)


def rgb_features(clips, bins=4, hues=12):
    """Colour statistics of the person region (pixels >= 15 cm in front of the camera's static background
    depth): an RGB histogram per clip half and a saturation-weighted hue histogram."""
    depth = clips["depth_mm"].astype(np.float32)
    region = np.zeros(depth.shape, dtype=bool)
    for camera in np.unique(clips["camera"]):
        view = clips["camera"] == camera
        background = np.percentile(depth[view].reshape(-1, *depth.shape[2:]), 90, axis=0)
        region[view] = (depth[view] > 0) & (depth[view] < background - 150)
    s, f = region.shape[:2]
    count = np.maximum(region.sum(axis=(2, 3)), 1)                                   # (S, F)
    clip_frame = np.nonzero(region)[0] * f + np.nonzero(region)[1]                  # per region pixel
    r, g, b = (clips["rgb"][region].astype(np.float32) / 255).T
    code = ((np.minimum(r * bins, bins - 1).astype(int) * bins + np.minimum(g * bins, bins - 1).astype(int)) * bins
            + np.minimum(b * bins, bins - 1).astype(int))
    top, bottom = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    saturation = (top - bottom) / np.maximum(top, 1e-6)
    hue = (np.arctan2(np.sqrt(3) * (g - b), 2 * r - g - b) / (2 * np.pi)) % 1.0
    hue_code = np.minimum(hue * hues, hues - 1).astype(int)

    def histogram(codes, weights, size):
        hist = np.bincount(clip_frame * size + codes, weights=weights, minlength=s * f * size).reshape(s, f, size)
        return hist / count[..., None]

    colour = histogram(code, np.ones_like(saturation), bins ** 3)
    tint = histogram(hue_code, saturation * (top > 0.15), hues)
    first, second = _halves(f)
    histograms = np.concatenate([colour[:, first].mean(1), colour[:, second].mean(1), tint.mean(1)], axis=1)
    return np.sqrt(histograms)   # Hellinger: small but consistent bins (a held object) stand out


def geometry_features(clips):
    """Point-cloud occupancy (4 x 6 x 4 grid around the centroid, per clip half) and depth-spread
    statistics (percentiles of the centred x, y, z: mean and std over frames)."""
    points = clips["points"]
    assert np.isfinite(points).all(), "every synthetic frame has person points"
    centred = points - points.mean(axis=2, keepdims=True)
    s, f, n, _ = centred.shape
    edges = [np.linspace(-0.8, 0.8, 5), np.linspace(-1.2, 1.2, 7), np.linspace(-0.6, 0.6, 5)]
    cells = [np.clip(np.digitize(centred[..., i], e) - 1, 0, len(e) - 2) for i, e in enumerate(edges)]
    code = (cells[0] * 6 + cells[1]) * 4 + cells[2]
    index = np.arange(s * f).reshape(s, f, 1) * 96 + code
    occupancy = np.bincount(index.ravel(), minlength=s * f * 96).reshape(s, f, 96) / n
    spread = np.concatenate([np.percentile(centred[..., 2], [5, 25, 75, 95], axis=2),
                             np.percentile(centred[..., 0], [5, 95], axis=2),
                             np.percentile(centred[..., 1], [5, 95], axis=2)]).transpose(1, 2, 0)
    first, second = _halves(f)
    return np.concatenate([np.sqrt(occupancy[:, first].mean(1)), np.sqrt(occupancy[:, second].mean(1)),
                           spread.mean(1), spread.std(1)], axis=1)


def leave_one_subject_out_accuracy(features, labels, subjects, *, keep, ridge=10.0):
    """Accuracy of one-vs-rest ridge regression on the `keep` features with the best between/within-class
    variance ratio (chosen on the training folds only), tested on each held-out subject in turn."""
    classes = np.unique(labels)
    correct = 0
    for subject in np.unique(subjects):
        train, test = subjects != subject, subjects == subject
        x, y = features[train], labels[train]
        means = np.stack([x[y == c].mean(0) for c in classes])
        within = np.stack([x[y == c].var(0) for c in classes]).mean(0) + 1e-9
        chosen = np.argsort(means.var(0) / within)[::-1][:keep]
        mu, sd = x[:, chosen].mean(0), x[:, chosen].std(0) + 1e-9
        a = np.hstack([(x[:, chosen] - mu) / sd, np.ones((len(x), 1))])
        b = np.hstack([(features[test][:, chosen] - mu) / sd, np.ones((test.sum(), 1))])
        targets = np.where(y[:, None] == classes[None], 1.0, -1.0)
        weights = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ targets)
        correct += np.sum(classes[(b @ weights).argmax(1)] == labels[test])
    return correct / len(labels)


def leave_one_subject_out_stump_accuracy(features, labels, subjects):
    """Accuracy of the best single-feature threshold (decision stump) of two classes, chosen on the
    training folds, tested on each held-out subject in turn."""
    positive = labels == labels.max()
    correct = 0
    for subject in np.unique(subjects):
        train, test = subjects != subject, subjects == subject
        x, y = features[train], positive[train]
        order = np.argsort(x, axis=0, kind="stable")
        ranked = y[order]                                                  # (n, d) labels by feature value
        below_pos = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(ranked, axis=0)])   # positives <= cut
        below = np.arange(len(y) + 1)[:, None]
        # accuracy of "positive above the cut" and of "positive below the cut", for every cut and feature
        above_rule = (below - below_pos) + (y.sum() - below_pos)
        score = np.maximum(above_rule, len(y) - above_rule)
        values = np.take_along_axis(x, order, axis=0)
        gap = (values[1:] - values[:-1]) / (x.std(axis=0) + 1e-12)
        score[1:-1][gap == 0] = -1                                          # no cut between equal values
        score[1:-1] += 0.99 * gap / (gap.max() + 1e-12)                     # ties: the widest gap wins
        cut, feature = np.unravel_index(np.argmax(score), score.shape)
        values = values[:, feature]
        padded = np.concatenate([[values[0] - 1], values, [values[-1] + 1]])
        threshold = (padded[cut] + padded[cut + 1]) / 2
        predicted = features[test][:, feature] > threshold
        if above_rule[cut, feature] < len(y) - above_rule[cut, feature]:
            predicted = ~predicted
        correct += np.sum(predicted == positive[test])
    return correct / len(labels)


@pytest.fixture(scope="module")
def learnability():
    specs = [ClipSpec(c, subject, rep, (subject + rep + c) % 3 + 1)
             for c, action in enumerate(CLASSES) for subject in range(1, SUBJECTS + 1)
             for rep in range(1, REPETITIONS[action.kind] + 1)]
    clips = render_specs(specs, config=TINY, synthetic=SYNTHETIC_PRESETS["tiny"], seed=0)
    features = {"rgb": rgb_features(clips), "skeleton": skeleton_features(clips),
                "depth": geometry_features(clips)}
    return features, clips["label"], clips["subject"]


def test_every_modality_alone_is_far_above_chance_on_all_classes(learnability):
    features, labels, subjects = learnability
    accuracy = {m: leave_one_subject_out_accuracy(x, labels, subjects, keep=40) for m, x in features.items()}
    chance = 1 / len(CLASSES)
    assert accuracy["rgb"] > 4 * chance, accuracy
    assert accuracy["skeleton"] > 12 * chance, accuracy
    assert accuracy["depth"] > 7 * chance, accuracy


@pytest.mark.parametrize("kind", ["rgb", "skeleton", "depth"])
def test_designed_pairs_are_separated_only_by_their_modality(learnability, kind):
    features, labels, subjects = learnability
    for a, b in modality_pairs()[kind]:
        pair = np.isin(labels, [a, b])
        # the better of two simple classifiers: one that combines features, one that finds a single cue
        accuracy = {m: max(leave_one_subject_out_accuracy(x[pair], labels[pair], subjects[pair], keep=10),
                           leave_one_subject_out_stump_accuracy(x[pair], labels[pair], subjects[pair]))
                    for m, x in features.items()}
        others = {m: v for m, v in accuracy.items() if m != kind}
        name = f"{CLASS_NAMES[a]} vs {CLASS_NAMES[b]}"
        assert accuracy[kind] >= 0.85, (name, accuracy)
        assert max(others.values()) <= 0.72, (name, accuracy)
