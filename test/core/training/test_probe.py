"""Linear probe on cached frozen features."""
import dataclasses

import pytest
import torch

from clip_factory import make_clip_root
from rcmcl_core.checkpoint import load_checkpoint
from rcmcl_core.config import preset
from rcmcl_core.data.dataset import ClipDataset
from rcmcl_core.models.rcmcl import RCMCL
from rcmcl_core.training.probe import cache_features, linear_probe, probe_stage, random_presence


def test_random_presence_never_empties_a_sample_nor_invents_a_modality():
    generator = torch.Generator().manual_seed(0)
    present = torch.rand(2000, 3, generator=generator) < 0.7
    present[present.sum(1) == 0, 0] = True
    dropped = random_presence(present, probability=0.5, generator=generator)
    assert dropped.any(dim=1).all()
    assert not (dropped & ~present).any()
    changed = (dropped != present).any(dim=1).float().mean()
    assert 0.2 < float(changed) < 0.5, "about half the samples lose 1-2 modalities (fewer when only one is present)"
    assert torch.equal(random_presence(present, probability=0.0, generator=generator), present)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    config = preset("tiny")
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, num_classes=4),
                                 optim=dataclasses.replace(config.optim, batch_size=4, probe_epochs=30))
    root = make_clip_root(tmp_path_factory.mktemp("clips"), classes=4, clips_per_class=6)
    dataset = ClipDataset(root, split="xsub", subset="all", config=config, train=True)
    torch.manual_seed(0)
    return config, dataset, RCMCL(config=config)


def test_cached_features_equal_a_fresh_encoding(setup):
    config, dataset, model = setup
    cache = cache_features(model, dataset, views=1, batch_size=4, device=torch.device("cpu"), progress=False)
    assert cache.z.shape == (len(dataset), 3, config.model.feature_dim)
    dataset.set_epoch(0)
    item = dataset[3]
    z, _ = model.eval().encode({k: (v[None] if isinstance(v, torch.Tensor) else v) for k, v in item.items()})
    torch.testing.assert_close(cache.z[3], z[0], rtol=1e-4, atol=1e-5)


def test_probe_changes_only_the_classifier(setup, tmp_path):
    config, dataset, model = setup
    before = {k: v.clone() for k, v in model.state_dict().items()}
    path = probe_stage(config=config, model=model, dataset=dataset, labels=dataset.class_names, out_dir=tmp_path,
                       device=torch.device("cpu"), views=1, progress=False)
    after = load_checkpoint(path).model_state
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"classifier.weight", "classifier.bias"}


def test_probe_loss_falls_on_frozen_random_features(setup):
    config, dataset, _ = setup
    torch.manual_seed(1)
    model = RCMCL(config=config)
    cache = cache_features(model, dataset, views=1, batch_size=4, device=torch.device("cpu"), progress=False)
    history = linear_probe(model, cache, config=config, epochs=30, progress=False)
    assert history[-1] < 0.7 * history[0]
