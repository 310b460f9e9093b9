"""Checks before a secured node touches DDS (issue 29): with ROS_SECURITY_ENABLE=true, the keystore, the
enclave, its certificate's validity and its permissions against the node's own topics, each a one-line
error naming what is wrong; nothing is started when one fails. A strategy other than Enforce is a warning:
under Permissive a missing or wrong enclave runs the node unsecured, and nothing in the log says so.

The node's name, namespace, enclave, remaps and parameters come from its --ros-args (parsed here, before
rclpy.init creates the DDS participant). No rclpy import.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from rcmcl_ros.security.keystore import ENCLAVE_FILES, certificate_expired, enclave_dir, governance_protection

TRUE = ("true", "1", "yes", "on")


class SecurityPreflightError(RuntimeError):
    """A secured start that cannot work; the message names the file, the enclave or the topic."""


@dataclass
class RosArgs:
    """What the node's --ros-args say about security and names."""

    enclave: str = "/"
    namespace: str = "/"
    node_name: str | None = None
    remaps: dict[str, str] = field(default_factory=dict)
    params_files: list[Path] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)


def parse_ros_args(argv: list[str]) -> RosArgs:
    """--ros-args ... [--] sections: -e/--enclave, -r/--remap (with __ns, __node), --params-file, -p/--param."""
    parsed = RosArgs()
    inside, i = False, 0
    while i < len(argv):
        word = argv[i]
        if word == "--ros-args":
            inside = True
        elif word == "--":
            inside = False
        elif inside and i + 1 < len(argv):
            value = argv[i + 1]
            if word in ("-e", "--enclave"):
                parsed.enclave = value
            elif word in ("-r", "--remap"):
                source, _, target = value.partition(":=")
                if source.endswith("__ns"):
                    parsed.namespace = target
                elif source.endswith("__node"):
                    parsed.node_name = target
                else:
                    parsed.remaps[source] = target
            elif word == "--params-file":
                parsed.params_files.append(Path(value))
            elif word in ("-p", "--param"):
                name, _, text = value.partition(":=")
                parsed.params[name] = text
            else:
                i += 1
                continue
            i += 1
        i += 1
    return parsed


def secured(environ: Mapping[str, str]) -> bool:
    return environ.get("ROS_SECURITY_ENABLE", "").strip().lower() in TRUE


def preflight(environ: Mapping[str, str], argv: list[str], *, node_name: str, lifecycle: bool = False,
              warn: Callable[[str], None] = lambda text: None) -> str | None:
    """Raise SecurityPreflightError for a secured start that cannot work; `warn` hears a strategy other than
    Enforce first (so it is said also when a later check fails). Returns what will run, for the start-up log
    (enclave, keystore, strategy, the governance's protection of topic traffic); None without
    ROS_SECURITY_ENABLE=true (nothing checked)."""
    if not secured(environ):
        return None
    import yaml

    from rcmcl_ros.node.interfaces import node_interfaces
    from rcmcl_ros.security.policy import node_grant, uncovered
    from rcmcl_ros.security.policy_command import DEFAULTS, file_parameters

    strategy = environ.get("ROS_SECURITY_STRATEGY", "Permissive")
    if strategy != "Enforce":
        warn(f"ROS_SECURITY_STRATEGY is {strategy!r}, not 'Enforce': a missing or wrong enclave then "
             "runs the node unsecured, and nothing says so; export ROS_SECURITY_STRATEGY=Enforce")
    keystore = Path(environ.get("ROS_SECURITY_KEYSTORE", "")).expanduser()
    if not environ.get("ROS_SECURITY_KEYSTORE") or not (keystore / "enclaves").is_dir():
        raise SecurityPreflightError(f"ROS_SECURITY_KEYSTORE {str(keystore) or '(unset)'!r} is not an SROS2 "
                                     "keystore (no enclaves/ folder): make one with `python -m rcmcl_ros security "
                                     "keystore DIR` (README, 'Running secured')")
    args = parse_ros_args(argv)
    name = args.node_name or node_name
    if args.enclave in ("", "/"):
        raise SecurityPreflightError(f"no enclave given: start the node with --ros-args --enclave /rcmcl/{name} "
                                     "(the launch files' enclave argument)")
    folder = enclave_dir(keystore, args.enclave)
    if not folder.is_dir():
        raise SecurityPreflightError(f"enclave {args.enclave} is not in the keystore {keystore} (no {folder}); "
                                     f"create it with `python -m rcmcl_ros security enclave {keystore} "
                                     f"--enclave {args.enclave} ...`")
    missing = [f for f in ENCLAVE_FILES if not (folder / f).is_file()]
    if missing:
        raise SecurityPreflightError(f"enclave {args.enclave} in {keystore} lacks {', '.join(missing)}")
    if certificate_expired(folder / "cert.pem"):
        raise SecurityPreflightError(f"the certificate of enclave {args.enclave} ({folder / 'cert.pem'}) has "
                                     "expired: re-create the enclave")
    values: dict[str, Any] = dict(DEFAULTS)           # then each params file in order, then -p (as rcl does)
    for path in args.params_files:
        values.update(file_parameters(path, name))
    values.update({k: yaml.safe_load(v) for k, v in args.params.items() if k in DEFAULTS})
    grant = node_grant(node_interfaces(**values, lifecycle=lifecycle), enclave=args.enclave,
                       namespace=args.namespace, node_name=name, remaps=args.remaps)
    gaps = uncovered(grant, (folder / "permissions.xml").read_text())
    if gaps:
        raise SecurityPreflightError(f"the permissions of enclave {args.enclave} do not cover {len(gaps)} of the "
                                     f"node's topics: {', '.join(gaps[:6])}{' ...' if len(gaps) > 6 else ''}; "
                                     "regenerate them with `python -m rcmcl_ros security enclave ...` from the "
                                     "node's parameters")
    protection = governance_protection(folder / "governance.p7s")
    readable = "; topic data is readable on the wire and in shared memory" if protection in ("sign", "rtps-sign") \
        else ""
    return (f"SROS2 {strategy}: enclave {args.enclave} in {keystore}, topic traffic protection {protection}"
            f"{readable}")
