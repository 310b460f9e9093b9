"""Device resolution (rcmcl_core/device.py): one rule for training commands and the node."""
import pytest
import torch

from rcmcl_core.device import DeviceError, check_device_name, resolve_device


@pytest.mark.parametrize("name", ["auto", "cpu", "cuda", "cuda:0", "cuda:3"])
def test_well_formed_names_pass_the_name_check(name):
    assert check_device_name(name) == name


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:x", "CPU", "", "mps"])
def test_malformed_names_are_rejected_with_the_accepted_forms(name):
    with pytest.raises(DeviceError, match="auto, cpu, cuda or cuda:N"):
        check_device_name(name)


def test_auto_and_cpu_resolve_on_this_machine():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_cuda_without_a_gpu_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="no CUDA device"):
        resolve_device("cuda:0")
    assert resolve_device("auto") == torch.device("cpu")


def test_cuda_index_beyond_the_visible_gpus_says_how_many(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match="sees 2 CUDA device"):
        resolve_device("cuda:2")
