"""`python -m rcmcl_ros security policy`: the SROS2 policy and permissions for the node as configured.

    python -m rcmcl_ros security policy --params-file config/rcmcl.yaml [--namespace /robot]
        [--camera-namespace k4a] [--remap FROM:=TO ...] [--enclave /rcmcl/rcmcl_node]
        [--driver-enclave /k4a/azure_kinect_ros_driver] [--lifecycle] [--out DIR]

Writes DIR/policy.xml (for `ros2 security create_permission`) and DIR/permissions.xml (the DDS document the
keystore signs), or prints the policy without --out. No rclpy import.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rcmcl_core.atomic_io import atomic_write_bytes

NODE_NAME = "rcmcl_node"
DEFAULTS = {"rgb_topic": "rgb/image_raw", "depth_topic": "depth_to_rgb/image_raw", "points_topic": "points2",
            "skeleton_topic": "body_tracking_data", "rgb_transport": "raw", "points_source": "topic",
            "camera_info_topic": "depth_to_rgb/camera_info", "people_camera_info_topic": "", "max_people": 1,
            "use_tf": True, "use_sim_time": False}
"""The parameters that decide the node's interfaces, with the node's defaults (rcmcl_ros/node/params.py; a
test checks they agree)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rcmcl_ros security policy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params-file", type=Path, default=None, help="the node's parameters YAML")
    p.add_argument("--node-name", default=NODE_NAME)
    p.add_argument("--namespace", default="/", help="the node's namespace (default /)")
    p.add_argument("--camera-namespace", default="", help="as the launch argument: the four inputs under it")
    p.add_argument("--remap", action="append", default=[], metavar="FROM:=TO", help="a remap, as -r FROM:=TO")
    p.add_argument("--enclave", default=None, help="default /rcmcl/<node name> (the launch files' default)")
    p.add_argument("--driver-enclave", default=None, help="also grant the camera driver (it publishes the inputs)")
    p.add_argument("--driver-namespace", default=None, help="the driver's namespace (default: --camera-namespace)")
    p.add_argument("--lifecycle", action="store_true", help="the managed node (its state services and topic)")
    p.add_argument("--domain", type=int, default=None, help="the one DDS domain allowed (default: all, 0-230)")
    p.add_argument("--days", type=int, default=3650, help="validity of the grants (days from now)")
    p.add_argument("--out", type=Path, default=None, help="folder for policy.xml and permissions.xml")
    return p


def file_parameters(path: Path, node_name: str) -> dict[str, Any]:
    """The interface-deciding parameters a params YAML sets (its `/**` or `<node>` section), nothing else."""
    import yaml

    if not path.is_file():
        raise FileNotFoundError(f"params file not found: {path}")
    document = yaml.safe_load(path.read_text()) or {}
    values: dict[str, Any] = {}
    for key in ("/**", node_name, f"/{node_name}"):
        section = (document.get(key) or {}).get("ros__parameters") or {}
        values.update({k: v for k, v in section.items() if k in DEFAULTS})
    return values


def read_parameters(path: Path | None, node_name: str) -> dict[str, Any]:
    """DEFAULTS with what the params YAML `path` (None: none) sets."""
    return {**DEFAULTS, **(file_parameters(path, node_name) if path is not None else {})}


def parse_remaps(items: list[str]) -> dict[str, str]:
    remaps = {}
    for item in items:
        source, sep, target = item.partition(":=")
        if not sep or not source or not target:
            raise ValueError(f"--remap must be FROM:=TO, got {item!r}")
        remaps[source] = target
    return remaps


def grants_from_args(args: argparse.Namespace) -> list:
    """The node's grant (and the driver's with --driver-enclave) for the parsed policy arguments."""
    from rcmcl_ros.launch_plan import input_remappings
    from rcmcl_ros.node.interfaces import node_interfaces
    from rcmcl_ros.security.policy import driver_grant, node_grant

    values = read_parameters(args.params_file, args.node_name)
    remaps = dict(input_remappings(args.camera_namespace))
    remaps.update(parse_remaps(args.remap))
    interfaces = node_interfaces(**values, lifecycle=args.lifecycle)
    grants = [node_grant(interfaces, enclave=args.enclave or f"/rcmcl/{args.node_name}", namespace=args.namespace,
                         node_name=args.node_name, remaps=remaps)]
    if args.driver_enclave:
        namespace = args.driver_namespace if args.driver_namespace is not None else (args.camera_namespace or "/")
        grants.append(driver_grant(interfaces, enclave=args.driver_enclave, node_grant_=grants[0],
                                   namespace=namespace))
    return grants


def policy_command(argv: list[str]) -> int:
    from rcmcl_ros.security.policy import permissions_xml, policy_xml, validity

    args = build_parser().parse_args(argv)
    try:
        grants = grants_from_args(args)
    except (FileNotFoundError, ValueError) as error:
        print(f"security policy: error: {error}", file=sys.stderr)
        return 2
    not_before, not_after = validity(args.days)
    policy = policy_xml(grants)
    if args.out is None:
        print(policy, end="")
        return 0
    atomic_write_bytes(args.out / "policy.xml", policy.encode())
    atomic_write_bytes(args.out / "permissions.xml",
                       permissions_xml(grants, domain_id=args.domain, not_before=not_before,
                                       not_after=not_after).encode())
    topics = sum(len(g.publish) + len(g.subscribe) + len(g.reply) for g in grants)
    print(f"security policy: {len(grants)} enclave(s) ({', '.join(g.enclave for g in grants)}), {topics} names -> "
          f"{args.out / 'policy.xml'}, {args.out / 'permissions.xml'}")
    return 0


def keystore_command(argv: list[str]) -> int:
    """`security keystore DIR`: a new keystore (CA, signed governance); an existing one is kept."""
    from rcmcl_ros.security.keystore import PROTECTION, KeystoreError, create_keystore

    parser = argparse.ArgumentParser(prog="python -m rcmcl_ros security keystore",
                                     description="Create an SROS2 keystore (openssl, or `ros2 security` when "
                                                 "installed); keys stay on this machine.")
    parser.add_argument("keystore", type=Path)
    parser.add_argument("--days", type=int, default=3650, help="validity of the CA certificate")
    parser.add_argument("--protection", choices=tuple(PROTECTION), default=None,
                        help="how the governance protects topic traffic: encrypt (SROS2's default, for a new "
                             "keystore), sign (authenticated, readable on the wire), rtps-sign (every RTPS "
                             "message authenticated once); README 'Running secured' gives their cost")
    args = parser.parse_args(argv)
    try:
        create_keystore(args.keystore, days=args.days, protection=args.protection)
    except KeystoreError as error:
        print(f"security keystore: error: {error}", file=sys.stderr)
        return 2
    print(f"security keystore: {args.keystore} (export ROS_SECURITY_KEYSTORE={args.keystore.resolve()})")
    return 0


def enclave_command(argv: list[str]) -> int:
    """`security enclave KEYSTORE [policy arguments]`: the node's enclave (and the driver's) with permissions
    generated from the node's parameters, signed."""
    from rcmcl_ros.security.keystore import KeystoreError, create_enclave
    from rcmcl_ros.security.policy import permissions_xml, validity

    parser = build_parser()
    parser.prog = "python -m rcmcl_ros security enclave"
    parser.add_argument("keystore", type=Path)
    args = parser.parse_args(argv)
    try:
        grants = grants_from_args(args)
        not_before, not_after = validity(args.days)
        for grant in grants:
            folder = create_enclave(args.keystore, grant.enclave, days=args.days, permissions=permissions_xml(
                [grant], domain_id=args.domain, not_before=not_before, not_after=not_after))
            print(f"security enclave: {grant.enclave} -> {folder}")
    except (FileNotFoundError, ValueError, KeystoreError) as error:
        print(f"security enclave: error: {error}", file=sys.stderr)
        return 2
    return 0


SECURITY_COMMANDS = {"policy": policy_command, "keystore": keystore_command, "enclave": enclave_command}


def security_command(argv: list[str]) -> int:
    """`security policy | keystore | enclave ...`."""
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m rcmcl_ros security {policy,keystore,enclave} [--help] ...\n"
              "  policy:   the SROS2 policy and permissions for the node's topics\n"
              "  keystore: create a keystore (CA, signed governance)\n"
              "  enclave:  the node's enclave (and the camera driver's) with generated, signed permissions")
        return 0 if argv else 2
    command = SECURITY_COMMANDS.get(argv[0])
    if command is None:
        print(f"security: unknown subcommand {argv[0]!r} (expected: {', '.join(SECURITY_COMMANDS)})",
              file=sys.stderr)
        return 2
    return command(argv[1:])
