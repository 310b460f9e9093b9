"""The NTU-25 graph and the Azure -> NTU map."""
import numpy as np
import pytest

import rcmcl_core.geometry.skeleton_layout as sk


def test_bone_graph_is_a_tree_over_all_25_joints():
    assert len(sk.NTU_BONES) == sk.NUM_JOINTS - 1
    hops = sk.hop_distance()
    assert np.isfinite(hops).all(), "every joint must be reachable from every other"


def test_spatial_partition_splits_each_neighbourhood_by_distance_to_centre():
    parts = sk.spatial_partition()
    assert parts.shape == (3, 25, 25)
    elbow, shoulder, wrist = (sk.JOINT_INDEX[n] for n in ("left_elbow", "left_shoulder", "left_wrist"))
    assert parts[0, elbow, elbow] > 0
    assert parts[1, elbow, shoulder] > 0 and parts[2, elbow, shoulder] == 0   # shoulder is closer to centre
    assert parts[2, elbow, wrist] > 0 and parts[1, elbow, wrist] == 0         # wrist is farther
    np.testing.assert_allclose(parts.sum(axis=(0, 2)), 1.0, rtol=1e-6)       # rows normalised


def test_azure_map_follows_the_design_table():
    azure = np.arange(32 * 3, dtype=np.float32).reshape(32, 3)
    ntu = sk.azure_to_ntu(azure)
    pairs = {0: 0, 1: 1, 2: 3, 3: 26, 4: 5, 7: 8, 8: 12, 11: 15, 12: 18, 15: 21, 16: 22, 19: 25,
             20: 2, 21: 9, 22: 10, 23: 16, 24: 17}
    for ntu_index, azure_index in pairs.items():
        np.testing.assert_array_equal(ntu[ntu_index], azure[azure_index])
    with pytest.raises(ValueError, match=r"\(\.\.\., 32, 3\)"):
        sk.azure_to_ntu(np.zeros((25, 3)))


def test_left_right_pairs_mirror_names():
    for left, right in sk.LEFT_RIGHT_PAIRS:
        assert sk.NTU_JOINTS[left].replace("left", "right") == sk.NTU_JOINTS[right]
    assert len(sk.LEFT_RIGHT_PAIRS) == 10


def test_centre_on_root_moves_spine_base_to_origin_and_keeps_missing_bodies_zero():
    rng = np.random.default_rng(0)
    skel = np.zeros((4, 2, 25, 3), np.float32)
    skel[:, 0] = rng.normal(size=(4, 25, 3)) + np.array([0.5, 0.2, 3.0])
    centred = sk.centre_on_root(skel)
    np.testing.assert_allclose(centred[:, 0, sk.ROOT_JOINT].mean(axis=0), 0.0, atol=1e-5)
    assert (centred[:, 1] == 0).all()
