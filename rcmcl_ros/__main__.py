"""`python -m rcmcl_ros <command> [args]`: one function per subcommand, registered in SUBCOMMANDS.

    python -m rcmcl_ros node --ros-args --params-file config/rcmcl.yaml
    python -m rcmcl_ros make-demo-bag | play BAG | evaluate-bag BAG --out DIR | watch

Console scripts (setup.py): `rcmcl-ros` -> main, `rcmcl_node` -> node_main, `rcmcl_play` -> play_main,
`rcmcl_lifecycle_node` -> lifecycle_node_main.
"""
from __future__ import annotations

import sys
from typing import Callable

USAGE = "usage: python -m rcmcl_ros {commands} [args...]   (python -m rcmcl_ros <command> --help)"


def node_command(argv: list[str]) -> int:
    """Run the rclpy node; argv goes to rclpy (--ros-args ...). Exit status 1 when it cannot start."""
    if argv[:1] in (["-h"], ["--help"]):
        print("usage: python -m rcmcl_ros node [--lifecycle] [--ros-args -p name:=value --params-file FILE ...]\n"
              "Runs the rcmcl action recognition node; parameters: config/rcmcl.yaml. --lifecycle: a managed\n"
              "node that loads the model on 'configure' and subscribes on 'activate'.")
        return 0
    lifecycle = argv[:1] == ["--lifecycle"]
    from rcmcl_ros.node import run   # rclpy and torch load only when a node is wanted

    return run(["rcmcl_node", *argv[int(lifecycle):]], lifecycle=lifecycle)


def make_demo_bag_command(argv: list[str]) -> int:
    """Write (or reuse) the demo bag; its path is the last line on stdout."""
    from rcmcl_ros.demo_bag import demo_bag_command

    return demo_bag_command(argv)


def play_command(argv: list[str]) -> int:
    """Publish a bag into the live graph with /clock."""
    from rcmcl_ros.player import play_command as play

    return play(argv)


def evaluate_bag_command(argv: list[str]) -> int:
    """Run the pipeline over a bag offline and write the report."""
    from rcmcl_ros.bag_eval import evaluate_command

    return evaluate_command(argv)


def watch_command(argv: list[str]) -> int:
    """Print a line per decision of a running node."""
    from rcmcl_ros.watch import watch_command as watch

    return watch(argv)


SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {
    "node": node_command,
    "make-demo-bag": make_demo_bag_command,
    "play": play_command,
    "evaluate-bag": evaluate_bag_command,
    "watch": watch_command,
}
"""command name -> function(argv) -> exit status. Each imports its module when called (rclpy and torch
load only for the commands that need them)."""


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


def lifecycle_node_main(argv: list[str] | None = None) -> int:
    """Entry point of the `rcmcl_lifecycle_node` console script (the managed node)."""
    return node_command(["--lifecycle", *(sys.argv[1:] if argv is None else list(argv))])


def play_main(argv: list[str] | None = None) -> int:
    """Entry point of the `rcmcl_play` console script (launch/replay.launch.py starts it)."""
    return play_command(sys.argv[1:] if argv is None else list(argv))


if __name__ == "__main__":
    sys.exit(main())
