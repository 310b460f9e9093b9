"""Fixtures shared by the training tests: a tiny 4-class config and a small clip root on disk."""
import dataclasses

import pytest

from clip_factory import make_clip_root
from rcmcl_core.config import preset


@pytest.fixture(scope="module")
def config():
    """The tiny preset for 4 classes, batch 4: a real training step in well under a second."""
    tiny = preset("tiny")
    return dataclasses.replace(tiny, model=dataclasses.replace(tiny.model, num_classes=4),
                               optim=dataclasses.replace(tiny.optim, batch_size=4))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """16 clips of 4 classes written as shards (clip_factory)."""
    return make_clip_root(tmp_path_factory.mktemp("clips"), classes=4, clips_per_class=4)
