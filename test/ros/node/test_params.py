"""Node parameters (rcmcl_ros/node/params.py) declared on a real rclpy node: types users actually write."""
import pytest
import rclpy
from rclpy.parameter import Parameter

from rcmcl_ros.node.params import declare_parameters, read_parameters

pytestmark = pytest.mark.ros


def _configs(context, **overrides):
    node = rclpy.create_node("rcmcl_params_test", context=context,
                             parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
    try:
        declare_parameters(node)
        return read_parameters(node)
    finally:
        node.destroy_node()


def test_integers_are_accepted_for_float_parameters(rclpy_context):
    _, pipeline = _configs(rclpy_context, stride_s=1, max_gap_s=0)
    assert pipeline.window.stride_s == 1.0 and isinstance(pipeline.window.stride_s, float)
    assert pipeline.window.max_gap_s == 0.0


def test_amp_accepts_its_modes_and_the_former_boolean(rclpy_context):
    assert _configs(rclpy_context, amp="fp16")[1].amp == "fp16"
    assert _configs(rclpy_context, amp=True)[1].amp == "bf16"
    assert _configs(rclpy_context, amp=False)[1].amp == "off"


def test_cuda_index_is_a_valid_device_parameter(rclpy_context):
    assert _configs(rclpy_context, device="cuda:1")[1].device == "cuda:1"
