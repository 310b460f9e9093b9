"""The novel class set: disjoint from the bundled classes, its own motion programs, generated and rendered
through the same benchmark path, its designed pairs separated by colour and by depth."""
import numpy as np
import pytest

from rcmcl_core.cli import main
from rcmcl_core.data.shards import Manifest, read_shard
from rcmcl_core.data.synthetic.classes import CLASS_SETS, CLASSES, NOVEL_CLASSES, class_set, modality_pairs
from rcmcl_core.data.synthetic.generate import make_clip, synthetic_intrinsics
from rcmcl_core.data.synthetic.motion import PROGRAMS

INTRINSICS = synthetic_intrinsics(width=48, height=48)


def test_the_novel_set_shares_no_name_and_no_motion_program_with_the_bundled_classes():
    assert len(NOVEL_CLASSES) >= 8
    assert not {c.name for c in NOVEL_CLASSES} & {c.name for c in CLASSES}
    assert not {c.program for c in NOVEL_CLASSES} & {c.program for c in CLASSES}
    assert all(c.program in PROGRAMS for c in NOVEL_CLASSES)
    kinds = {c.kind for c in NOVEL_CLASSES}
    assert {"rgb", "depth"} <= kinds, "some novel classes need a modality other than the skeleton"
    assert modality_pairs(class_set("novel")) == {"rgb": [(6, 7)], "skeleton": [], "depth": [(4, 5)]}
    with pytest.raises(ValueError, match="unknown class set 'extra'"):
        class_set("extra")


def _clip(name, seed=3):
    table = CLASS_SETS["novel"]
    return make_clip(table.index(name), 2, 1, seed, intrinsics=INTRINSICS, fps=10.0, frames=20, num_points=64,
                     class_set="novel")


def test_novel_motion_programs_move_the_body_as_named():
    squat = _clip("squat")["skeleton"][:, 0, 0, 1]                          # spine base height, camera y down
    assert squat.max() - squat.min() > 0.2, "the hips drop by tens of centimetres"
    overhead = _clip("stretch arms overhead")
    hands, head = overhead["skeleton"][:, 0, [7, 11], 1], overhead["skeleton"][:, 0, 3, 1]
    assert ((hands < head[:, None]).all(axis=1)).any(), "both hands above the head at some frame"
    step = _clip("side step")["skeleton"][:, 0, 0, 0]
    assert step.max() - step.min() > 0.3, "the hips travel sideways"


def test_the_colour_pair_differs_in_colour_and_the_depth_pair_in_depth():
    red, blue = _clip("lift a red box"), _clip("lift a blue box")

    def redness(clip):
        return float((clip["rgb"][..., 0].astype(int) - clip["rgb"][..., 2]).mean())

    assert redness(red) > redness(blue) + 1.0
    crate, air = _clip("push a crate"), _clip("push the air")
    both = (crate["depth_mm"] > 0) & (air["depth_mm"] > 0)
    closer = crate["depth_mm"].astype(int) - air["depth_mm"].astype(int)
    nearer_with_crate, nearer_without = int((both & (closer < -150)).sum()), int((both & (closer > 150)).sum())
    assert nearer_with_crate > 3 * nearer_without, "the crate fills depth pixels in front of the person"


def test_generate_writes_the_novel_set_with_its_names_and_ids(tmp_path):
    assert main(["generate", "--preset", "tiny", "--class-set", "novel", "--out", str(tmp_path), "--subjects", "2",
                 "--clips-per-class-per-view", "1", "--quiet"]) == 0
    manifest = Manifest.load(tmp_path)
    assert manifest.classes == [c.name for c in NOVEL_CLASSES] and manifest.extra["class_set"] == "novel"
    assert manifest.num_clips == len(NOVEL_CLASSES) * 3
    clips = read_shard(tmp_path / manifest.shards[0])
    assert all("N0" in str(i) and "A0" not in str(i) for i in clips["clip_id"])
    assert sorted(set(clips["label"].tolist())) == list(range(len(NOVEL_CLASSES)))
    assert np.isfinite(clips["points"]).any()
