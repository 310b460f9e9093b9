"""process_tuning: the switch interval is set (0 keeps it) and glibc takes the malloc thresholds."""
import sys

import pytest

from rcmcl_ros.node.process_tuning import keep_large_buffers, set_gil_switch_interval


@pytest.fixture
def switch_interval():
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_the_switch_interval_is_set_and_zero_leaves_it(switch_interval):
    assert set_gil_switch_interval(0.001) == "interpreter switch interval 1.0 ms"
    assert abs(sys.getswitchinterval() - 0.001) < 1e-9
    sys.setswitchinterval(0.004)
    assert set_gil_switch_interval(0.0) == "interpreter switch interval 4.0 ms"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_glibc_accepts_the_thresholds_and_large_buffers_still_work():
    assert keep_large_buffers().startswith("buffers up to 32 MiB reused from the heap")
    for _ in range(3):                         # 12 MB buffers allocated, filled and freed as before
        buffer = bytearray(12_000_000)
        buffer[-1] = 7
        assert len(bytes(buffer)) == 12_000_000


def test_a_negative_switch_interval_parameter_is_refused_by_name():
    from rcmcl_ros.node.params import NodeConfig

    with pytest.raises(ValueError, match="gil_switch_interval_s must be >= 0"):
        NodeConfig(gil_switch_interval_s=-0.001).validate()
    assert NodeConfig().validate().gil_switch_interval_s == 0.001 and NodeConfig().reuse_large_buffers
