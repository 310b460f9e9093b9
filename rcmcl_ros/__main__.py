"""`python -m rcmcl_ros <command> [args]`: one function per subcommand, registered in SUBCOMMANDS.

    python -m rcmcl_ros node --ros-args --params-file config/rcmcl.yaml

Console scripts (setup.py): `rcmcl-ros` -> main, `rcmcl_node` -> node_main.
"""
from __future__ import annotations

import sys
from typing import Callable

USAGE = "usage: python -m rcmcl_ros {commands} [args...]   (python -m rcmcl_ros <command> --help)"


def node_command(argv: list[str]) -> int:
    """Run the rclpy node; argv goes to rclpy (--ros-args ...). Exit status 1 when it cannot start."""
    if argv[:1] in (["-h"], ["--help"]):
        print("usage: python -m rcmcl_ros node [--ros-args -p name:=value --params-file FILE ...]\n"
              "Runs the rcmcl action recognition node; parameters: config/rcmcl.yaml.")
        return 0
    from rcmcl_ros.node import run   # rclpy and torch load only when a node is wanted

    return run(["rcmcl_node", *argv])


SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {
    "node": node_command,
}
"""command name -> function(argv) -> exit status. Other subcommands (play, evaluate-bag, make-demo-bag)
register here."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    usage = USAGE.format(commands=",".join(SUBCOMMANDS))
    if not argv or argv[0] in ("-h", "--help"):
        print(usage)
        return 0 if argv else 2
    command = SUBCOMMANDS.get(argv[0])
    if command is None:
        print(f"unknown command {argv[0]!r}\n{usage}", file=sys.stderr)
        return 2
    return command(argv[1:])


def node_main(argv: list[str] | None = None) -> int:
    """Entry point of the `rcmcl_node` console script (what ros2 run / launch start)."""
    return node_command(sys.argv[1:] if argv is None else list(argv))


if __name__ == "__main__":
    sys.exit(main())
