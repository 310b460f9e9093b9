"""The node command's own words (--help, --lifecycle) before --ros-args, in any order (issue 26's
`rcmcl_lifecycle_node --help` used to start a node instead of printing the usage)."""
from __future__ import annotations

import subprocess
import sys

from rcmcl_ros.__main__ import NODE_USAGE, lifecycle_node_main, node_main, split_node_args


def test_help_and_lifecycle_are_found_in_any_order_before_ros_args():
    assert split_node_args(["--lifecycle", "--help"]) == (True, True, [])
    assert split_node_args(["--help", "--lifecycle"]) == (True, True, [])
    assert split_node_args(["--lifecycle", "--ros-args", "-p", "a:=1"]) == (False, True, ["--ros-args", "-p", "a:=1"])
    assert split_node_args(["--ros-args", "-p", "x:=--help"]) == (False, False, ["--ros-args", "-p", "x:=--help"])
    assert split_node_args([]) == (False, False, [])


def test_lifecycle_entry_point_prints_the_usage_for_help(capsys):
    assert lifecycle_node_main(["--help"]) == 0
    assert node_main(["-h"]) == 0
    out = capsys.readouterr().out
    assert out.count(NODE_USAGE) == 2


def test_module_entry_prints_the_usage_without_loading_rclpy():
    code = ("import sys; from rcmcl_ros.__main__ import main; status = main(['node', '--lifecycle', '--help']); "
            "assert 'rclpy' not in sys.modules and 'torch' not in sys.modules, 'help loaded the node'; "
            "sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage: python -m rcmcl_ros node" in done.stdout
