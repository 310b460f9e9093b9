"""`python -m rcmcl_ros <command> [args]`: argparse subparsers, one function per subcommand in SUBCOMMANDS.

    python -m rcmcl_ros node --ros-args --params-file config/rcmcl.yaml
    python -m rcmcl_ros make-demo-bag | play BAG | evaluate-bag BAG --out DIR | watch
    python -m rcmcl_ros make-shards BAGS... --labels FILE --out DIR
    python -m rcmcl_ros security policy --params-file config/rcmcl.yaml --out DIR

Console scripts (setup.py): `rcmcl-ros` -> main, `rcmcl_node` -> node_main, `rcmcl_play` -> play_main,
`rcmcl_lifecycle_node` -> lifecycle_node_main.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable


NODE_USAGE = ("usage: python -m rcmcl_ros node [--lifecycle] [--ros-args -p name:=value --params-file FILE ...]\n"
              "Runs the rcmcl action recognition node; parameters: config/rcmcl.yaml. --lifecycle: a managed\n"
              "node that loads the model on 'configure' and subscribes on 'activate'.")


def split_node_args(argv: list[str]) -> tuple[bool, bool, list[str]]:
    """(help asked, lifecycle, the arguments for rclpy). Only the words before --ros-args are ours, in any
    order: `--lifecycle --help` and `--help --lifecycle` both print the usage instead of starting a node."""
    cut = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    ours = argv[:cut]
    rest = [word for word in ours if word not in ("-h", "--help", "--lifecycle")]
    return any(word in ("-h", "--help") for word in ours), "--lifecycle" in ours, rest + argv[cut:]


def node_command(argv: list[str]) -> int:
    """Run the rclpy node; argv goes to rclpy (--ros-args ...). Exit status 1 when it cannot start."""
    wants_help, lifecycle, rest = split_node_args(argv)
    if wants_help:
        print(NODE_USAGE)
        return 0
    if not secured_start_ok(rest, lifecycle=lifecycle):
        return 1
    from rcmcl_ros.node.node_command import run   # rclpy and torch load only when a node is wanted

    return run(["rcmcl_node", *rest], lifecycle=lifecycle)


def secured_start_ok(ros_args: list[str], *, lifecycle: bool) -> bool:
    """With ROS_SECURITY_ENABLE=true, the SROS2 checks before rclpy.init creates the DDS participant
    (rcmcl_ros/security/preflight.py): False, with one line naming the problem, when the start cannot work."""
    import os

    from rcmcl_ros.security.preflight import SecurityPreflightError, preflight, secured

    if not secured(os.environ):
        return True
    import rclpy.logging

    logger = rclpy.logging.get_logger("rcmcl_node")
    try:
        logger.info(preflight(os.environ, ros_args, node_name="rcmcl_node", lifecycle=lifecycle, warn=logger.warning))
    except SecurityPreflightError as error:
        logger.error(f"cannot start: {error}")
        return False
    return True


def make_demo_bag_command(argv: list[str]) -> int:
    """Write (or reuse) the demo bag; its path is the last line on stdout."""
    from rcmcl_ros.bag.demo_command import demo_bag_command

    return demo_bag_command(argv)


def play_command(argv: list[str]) -> int:
    """Publish a bag into the live graph with /clock."""
    from rcmcl_ros.bag.player import play_command as play

    return play(argv)


def evaluate_bag_command(argv: list[str]) -> int:
    """Run the pipeline over a bag offline and write the report."""
    from rcmcl_ros.bag.evaluate_command import evaluate_command

    return evaluate_command(argv)


def make_shards_command(argv: list[str]) -> int:
    """Cut labelled recordings into training clips, exactly as the node windows them."""
    from rcmcl_ros.bag.make_shards_command import make_shards_command as make_shards

    return make_shards(argv)


def teach_demo_command(argv: list[str]) -> int:
    """Synthetic takes of new actions -> labels -> make-shards -> fine-tune -> a held-out subject's score."""
    from rcmcl_ros.bag.teach_demo import teach_demo_command as teach_demo

    return teach_demo(argv)


def watch_command(argv: list[str]) -> int:
    """Print a line per decision of a running node."""
    from rcmcl_ros.node.watch import watch_command as watch

    return watch(argv)


def security_command(argv: list[str]) -> int:
    """SROS2: the permissions policy for the node's topics (security policy)."""
    from rcmcl_ros.security.policy_command import security_command as security

    return security(argv)


SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {
    "node": node_command,
    "make-demo-bag": make_demo_bag_command,
    "play": play_command,
    "evaluate-bag": evaluate_bag_command,
    "make-shards": make_shards_command,
    "teach-demo": teach_demo_command,
    "watch": watch_command,
    "security": security_command,
}
"""command name -> function(argv) -> exit status. Each imports its module when called (rclpy and torch
load only for the commands that need them) and parses its own arguments, so `<command> --help` is its own."""


def build_parser() -> argparse.ArgumentParser:
    """argparse subparsers, one per SUBCOMMANDS entry. Only the command name is parsed here: everything
    after it is that command's argv (its own parser gives `<command> --help`)."""
    parser = argparse.ArgumentParser(prog="python -m rcmcl_ros",
                                     description="rcmcl ROS 2 tools (python -m rcmcl_ros <command> --help)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=(command.__doc__ or "").split("\n")[0], add_help=False)
        sub.set_defaults(run=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand; 2 (with usage on stderr) for a missing or unknown one."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv[:1])
    except SystemExit as stop:   # argparse exits 0 for --help and 2 for bad usage; tests call main()
        return int(stop.code or 0)
    return args.run(argv[1:])


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
