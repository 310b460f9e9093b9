import pytest
import torch

from rcmcl_core.augment.bystander import BYSTANDER_DEPTH_M, BYSTANDER_LATERAL_M, add_bystander
from rcmcl_core.config import preset
from rcmcl_core.geometry.skeleton_layout import ROOT_JOINT


def batch_of_actors(b: int = 6, t: int = 4) -> dict:
    """b single-performer clips, each its own pose (scaled by 1 + i / 10), drifting along x; body 1 empty;
    actor i stands near x = i metres."""
    skeleton = torch.zeros(b, t, 2, 25, 3)
    pose = torch.randn(25, 3, generator=torch.Generator().manual_seed(0)) * 0.3
    for i in range(b):
        skeleton[i, :, 0] = (pose * (1 + i / 10) + torch.tensor([float(i), 0.0, 3.0])
                             + torch.arange(t)[:, None, None] * 0.01 * i)
    return {"skeleton": skeleton, "present": torch.ones(b, 3, dtype=torch.bool), "label": torch.arange(b)}


def test_every_chosen_actor_gets_another_performer_beside_it_with_its_pose_intact():
    batch = batch_of_actors()
    out = add_bystander(batch, probability=1.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out["skeleton"][:, :, 0], batch["skeleton"][:, :, 0])          # the actor is untouched
    assert torch.equal(out["label"], batch["label"])
    second = out["skeleton"][:, :, 1]
    assert (second.abs().sum(dim=(-1, -2)) > 0).all()
    actor_root = batch["skeleton"][:, :, 0, ROOT_JOINT].mean(dim=1)
    offset = second[:, :, ROOT_JOINT].mean(dim=1) - actor_root
    assert ((offset[:, 0].abs() >= BYSTANDER_LATERAL_M[0] - 1e-5)
            & (offset[:, 0].abs() <= BYSTANDER_LATERAL_M[1] + 1e-5)).all()
    assert (offset[:, 2].abs() <= BYSTANDER_DEPTH_M + 1e-5).all()
    assert torch.allclose(offset[:, 1], torch.zeros(6), atol=1e-5)
    # Body 2 is another sample's performer, only moved: its pose relative to its root matches some other actor.
    assert sorted(source_of_second_body(out, batch, i) for i in range(6)) == list(range(6))   # each once
    assert all(source_of_second_body(out, batch, i) != i for i in range(6))


def source_of_second_body(out: dict, batch: dict, i: int) -> int | None:
    """The sample whose performer stands in sample i's body 2 (its pose relative to the spine base)."""
    second = out["skeleton"][i, :, 1]
    relative = second - second[:, ROOT_JOINT:ROOT_JOINT + 1]
    for j in range(len(batch["skeleton"])):
        actor = batch["skeleton"][j, :, 0]
        tracked = actor.abs().sum(dim=(-1, -2)) > 0
        if torch.allclose(relative[tracked], (actor - actor[:, ROOT_JOINT:ROOT_JOINT + 1])[tracked], atol=1e-5):
            return j
    return None


def test_untracked_frames_absent_skeletons_and_occupied_second_slots_are_left_alone():
    batch = batch_of_actors()
    batch["skeleton"][1, 2, 0] = 0.0                   # sample 1's actor untracked in frame 2
    batch["present"][3, 1] = False                     # sample 3 has no skeleton
    batch["skeleton"][4, :, 1] = 5.0                   # sample 4 already shows two people
    out = add_bystander(batch, probability=1.0, generator=torch.Generator().manual_seed(2))
    assert torch.equal(out["skeleton"][3], batch["skeleton"][3])
    assert torch.equal(out["skeleton"][4], batch["skeleton"][4])
    for i in (0, 1, 2, 5):
        source = source_of_second_body(out, batch, i)
        if source is None:                     # its partner was sample 3 or 4: no bystander to take
            assert out["skeleton"][i, :, 1].abs().sum() == 0
            continue
        blank = out["skeleton"][i, :, 1].abs().sum(dim=(-1, -2)) == 0
        assert blank.tolist() == [source == 1 and f == 2 for f in range(4)]   # sample 1's untracked frame


def test_probability_zero_or_a_single_body_slot_returns_the_batch_unchanged():
    batch = batch_of_actors()
    assert add_bystander(batch, probability=0.0, generator=torch.Generator()) is batch
    one_slot = {**batch, "skeleton": batch["skeleton"][:, :, :1]}
    assert add_bystander(one_slot, probability=1.0, generator=torch.Generator()) is one_slot


def test_bystander_probability_is_a_checked_fraction():
    config = preset("tiny")
    assert config.augment.bystander == 0.0            # presets train as before unless asked
    with pytest.raises(ValueError, match="bystander"):
        type(config).from_dict({**config.to_dict(), "augment": {**config.to_dict()["augment"], "bystander": 1.5}})
