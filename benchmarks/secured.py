"""SROS2 for the live-node benchmarks (issue 29): `--security off | build | enforce`.

off: the installed wheels, no security. build: the security-enabled Fast DDS build (the project's shared
sros2/lib, found by test/ros/security/sros2_build.py) loaded, security off: the baseline that separates the
library swap from the cost of security. enforce: that build under SROS2 Enforce, with a keystore made here by
rcmcl_ros.security (its governance protection `--protection`: encrypt, SROS2's default, or sign / rtps-sign),
one enclave each for the node, the traffic publisher and the transport probe, the node's permissions
generated from its parameters. The dynamic loader reads LD_LIBRARY_PATH only when a process starts, so
`enter` re-executes the benchmark once with the build's environment; its spawned children inherit it and
pass their own enclave.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODES = ("off", "build", "enforce")
NODE_ENCLAVE = "/rcmcl/rcmcl_node"
TRAFFIC_ENCLAVE = "/bench/traffic"
PROBE_ENCLAVE = "/bench/probe"
_ENTERED = "RCMCL_BENCH_SECURITY"            # set in the re-executed process: the mode it runs
_KEYSTORE = "RCMCL_BENCH_KEYSTORE"
_SECURITY_VARIABLES = ("ROS_SECURITY_ENABLE", "ROS_SECURITY_STRATEGY", "ROS_SECURITY_KEYSTORE",
                       "ROS_SECURITY_ENCLAVE_OVERRIDE")


def _sros2_build() -> Any:
    sys.path.insert(0, str(ROOT / "test" / "ros" / "security"))
    import sros2_build

    return sros2_build


def make_keystore(folder: Path, node_parameters: dict[str, Any], *, protection: str = "encrypt") -> Path:
    """A keystore with the node's enclave (permissions from its parameters, as `security enclave` makes
    them), the traffic publisher's (every topic benchmarks/traffic.py publishes, /clock included) and the
    transport probe's (reads the four sensor topics)."""
    from traffic import CAMERA_INFO_TOPIC, TOPICS

    from rcmcl_ros.node.interfaces import PARAMETER_SERVICES, node_interfaces
    from rcmcl_ros.security.keystore import create_enclave, create_keystore
    from rcmcl_ros.security.policy import COMMON_PUBLISH, Grant, node_grant, permissions_xml, validity
    from rcmcl_ros.security.policy_command import DEFAULTS

    interfaces = node_interfaces(**{**DEFAULTS, **{k: v for k, v in node_parameters.items() if k in DEFAULTS}})
    sensors = sorted(f"/{topic}" for topic in TOPICS.values())
    grants = [node_grant(interfaces, enclave=NODE_ENCLAVE),
              Grant(TRAFFIC_ENCLAVE, "/", "traffic", publish=[*sensors, f"/{CAMERA_INFO_TOPIC}", "/clock"]),
              Grant(PROBE_ENCLAVE, "/", "transport_probe", subscribe=sensors)]
    for grant in grants[1:]:
        grant.publish += COMMON_PUBLISH
        grant.subscribe.append("/parameter_events")
        grant.reply = [f"/{grant.node}/{name}" for name in PARAMETER_SERVICES]
    root = create_keystore(folder, protection=protection)
    start, end = validity()
    for grant in grants:
        create_enclave(root, grant.enclave, permissions=permissions_xml([grant], not_before=start, not_after=end))
    return root


def enter(mode: str, *, domain_id: int, node_parameters: dict[str, Any], protection: str = "encrypt"
          ) -> dict[str, Any]:
    """Make this process run `mode` (re-executing it once for build / enforce; the keystore's governance
    protects topic traffic as rcmcl_ros.security.keystore.PROTECTION[protection]); return what runs, for the
    results: {security, protection, fastdds_library, keystore}. Exits with the reason when the build cannot
    load here."""
    if mode not in MODES:
        raise SystemExit(f"--security must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "off":
        if any(os.environ.get(v) for v in _SECURITY_VARIABLES):
            raise SystemExit("--security off, but ROS_SECURITY_* is set in this environment; unset it")
        return {"security": "off", "protection": None, "fastdds_library": None, "keystore": None}
    if os.environ.get(_ENTERED) != mode:
        build = _sros2_build()
        reason = build.why_not()
        if reason is not None:
            raise SystemExit(f"--security {mode}: {reason}")
        folder = Path(tempfile.mkdtemp(prefix="rcmcl_bench_sros2_"))
        keystore = (make_keystore(folder / "keystore", node_parameters, protection=protection)
                    if mode == "enforce" else folder)
        env = build.secured_environment(keystore=keystore, domain_id=domain_id)
        if mode == "build":
            for variable in _SECURITY_VARIABLES:
                env.pop(variable, None)
        env.update({_ENTERED: mode, _KEYSTORE: str(folder)})
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    folder = Path(os.environ[_KEYSTORE])
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return {"security": mode, "protection": protection if mode == "enforce" else None, "fastdds_library": None,
            "keystore": os.environ.get("ROS_SECURITY_KEYSTORE") if mode == "enforce" else None}


def loaded_fastdds() -> str | None:
    """The libfastdds this process mapped (after rclpy has started), from /proc/self/maps."""
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return None
    return next((line.split()[-1] for line in lines if "libfastdds.so" in line or "libfastrtps.so" in line), None)


def enclave(mode: str, which: str) -> str | None:
    """The enclave a process of the run passes (--enclave), None when not enforcing."""
    if mode != "enforce":
        return None
    return {"node": NODE_ENCLAVE, "traffic": TRAFFIC_ENCLAVE, "probe": PROBE_ENCLAVE}[which]

