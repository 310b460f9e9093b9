"""The SROS2 policy generator (rcmcl_ros/security/policy.py, `python -m rcmcl_ros security policy`): the names it
grants are the ones a live node creates, under a namespace, remaps and the parameters that change them; the
permissions document names every DDS topic, default DENY; a permissions file that misses one is named."""
from __future__ import annotations

import importlib.util
import time
import xml.etree.ElementTree as ET

import pytest
import rclpy  # noqa: F401  (a core dependency: a broken wheel must fail, not skip)
from rclpy.parameter import Parameter

from rcmcl_ros.__main__ import main
from rcmcl_ros.node.interfaces import node_interfaces, resolve
from rcmcl_ros.node.params import parameter_defaults
from rcmcl_ros.node.ros_node import RCMCLNode
from rcmcl_ros.security.policy import node_grant, permissions_xml, uncovered, validity
from rcmcl_ros.security.policy_command import DEFAULTS

HAS_TF = importlib.util.find_spec("tf2_ros") is not None


def live_names(node) -> tuple[set[str], set[str], set[str]]:
    name, namespace = node.get_name(), node.get_namespace()
    deadline = time.monotonic() + 5.0
    while True:
        found = tuple({topic for topic, _ in call(name, namespace)} for call in (
            node.get_publisher_names_and_types_by_node, node.get_subscriber_names_and_types_by_node,
            node.get_service_names_and_types_by_node))
        if found[0] and found[1] or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


CASES = {
    "defaults": ({}, [], {}),
    "people, cloud from depth, compressed colour, remapped": (
        {"max_people": 2, "points_source": "depth", "rgb_transport": "compressed"},
        ["--ros-args", "-r", "body_tracking_data:=/k4a/body_tracking_data"],
        {"body_tracking_data": "/k4a/body_tracking_data"}),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_policy_names_exactly_what_a_live_node_creates(case, rclpy_context, tiny_checkpoint):
    parameters, cli_args, remaps = CASES[case]
    node = RCMCLNode(context=rclpy_context, namespace="/robot", cli_args=cli_args or None, parameter_overrides=[
        Parameter("checkpoint", value=str(tiny_checkpoint())), *(Parameter(k, value=v) for k, v in parameters.items())])
    try:
        publishes, subscribes, services = live_names(node)
    finally:
        node.destroy_node()
    interfaces = node_interfaces(**{**DEFAULTS, **parameters, "use_tf": HAS_TF})

    def names(items):
        return {resolve(i.name, namespace="/robot", node_name="rcmcl_node", remaps=remaps) for i in items}

    assert names(interfaces.publishes) == publishes
    assert names(interfaces.subscribes) == subscribes
    assert names(interfaces.services) == services


def test_the_commands_defaults_are_the_nodes():
    defaults = parameter_defaults()
    assert {k: defaults[k] for k in DEFAULTS if k != "use_sim_time"} == {k: v for k, v in DEFAULTS.items()
                                                                         if k != "use_sim_time"}


def test_the_permissions_document_grants_each_enclave_its_dds_names_and_denies_the_rest(tmp_path):
    assert main(["security", "policy", "--camera-namespace", "k4a", "--driver-enclave", "/k4a/driver",
                 "--out", str(tmp_path)]) == 0
    root = ET.fromstring((tmp_path / "permissions.xml").read_text())
    grants = {g.get("name"): g for g in root.iter("grant")}
    assert set(grants) == {"/rcmcl/rcmcl_node", "/k4a/driver"}
    node = grants["/rcmcl/rcmcl_node"]
    assert node.findtext("subject_name") == "CN=/rcmcl/rcmcl_node" and node.findtext("default") == "DENY"
    subscribe = {t.text for t in node.find("allow_rule/subscribe").iter("topic")}
    publish = {t.text for t in node.find("allow_rule/publish").iter("topic")}
    assert {"rt/k4a/body_tracking_data", "rt/k4a/rgb/image_raw", "rq/rcmcl_node/get_parametersRequest",
            "ros_discovery_info"} <= subscribe
    assert {"rt/rcmcl_node/action", "rt/diagnostics", "rt/rosout", "rr/rcmcl_node/get_parametersReply"} <= publish
    driver = {t.text for t in grants["/k4a/driver"].find("allow_rule/publish").iter("topic")}
    assert {"rt/k4a/body_tracking_data", "rt/k4a/points2", "rt/k4a/depth_to_rgb/image_raw"} <= driver
    assert "rt/rcmcl_node/action" not in driver
    policy = ET.fromstring((tmp_path / "policy.xml").read_text())
    assert policy.get("version") == "0.2.0" and [e.get("path") for e in policy.iter("enclave")] == [
        "/rcmcl/rcmcl_node", "/k4a/driver"]


def test_a_permissions_file_that_misses_a_topic_is_named():
    grant = node_grant(node_interfaces(**DEFAULTS), enclave="/rcmcl/rcmcl_node")
    start, end = validity()
    full = permissions_xml([grant], not_before=start, not_after=end)
    assert uncovered(grant, full) == []
    cut = full.replace("          <topic>rt/body_tracking_data</topic>\n", "")
    assert uncovered(grant, cut) == ["subscribe rt/body_tracking_data"]
    wildcard = cut.replace("<subscribe><topics>", "<subscribe><topics>\n          <topic>rt/body_*</topic>")
    assert uncovered(grant, wildcard) == []


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert main(["security", "policy", "--remap", "nonsense"]) == 2
    assert main(["security", "policy", "--params-file", str(tmp_path / "none.yaml")]) == 2
    assert main(["security", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "--remap must be FROM:=TO" in err and "params file not found" in err and "unknown subcommand" in err


def test_preflight_reads_every_params_file_in_order_then_the_p_overrides(tmp_path):
    from rcmcl_ros.security.keystore import create_enclave, create_keystore
    from rcmcl_ros.security.preflight import SecurityPreflightError, preflight

    keystore = create_keystore(tmp_path / "keystore")
    start, end = validity()
    one_person = node_grant(node_interfaces(**DEFAULTS), enclave="/rcmcl/rcmcl_node")
    create_enclave(keystore, "/rcmcl/rcmcl_node", permissions=permissions_xml([one_person], not_before=start,
                                                                               not_after=end))
    people = tmp_path / "people.yaml"
    people.write_text("rcmcl_node:\n  ros__parameters:\n    max_people: 3\n")
    other = tmp_path / "other.yaml"
    other.write_text("rcmcl_node:\n  ros__parameters:\n    stride_s: 0.2\n")
    env = {"ROS_SECURITY_ENABLE": "true", "ROS_SECURITY_STRATEGY": "Enforce", "ROS_SECURITY_KEYSTORE": str(keystore)}
    argv = ["--ros-args", "--enclave", "/rcmcl/rcmcl_node", "--params-file", str(people), "--params-file", str(other)]
    with pytest.raises(SecurityPreflightError, match="rt/rcmcl_node/people_markers"):
        preflight(env, argv, node_name="rcmcl_node")         # the second file keeps the first one's max_people
    said = preflight(env, [*argv, "-p", "max_people:=1"], node_name="rcmcl_node")   # -p wins over both files
    assert said == f"SROS2 Enforce: enclave /rcmcl/rcmcl_node in {keystore}, topic traffic protection encrypt"
    assert preflight({}, argv, node_name="rcmcl_node") is None                       # not secured: no checks


def test_the_secured_benchmark_keystore_covers_the_node_and_its_traffic(tmp_path):
    """benchmarks/secured.py (node_latency --security enforce): the node's enclave passes the node's own
    preflight for the benchmark's parameters, the traffic publisher may publish every topic it opens and the
    probe may read every node input, and nothing beyond (default DENY)."""
    import sys
    from pathlib import Path

    from rcmcl_ros.security.policy import Grant
    from rcmcl_ros.security.preflight import preflight

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
    import secured
    from traffic import CAMERA_INFO_TOPIC, TOPICS

    parameters = {"max_people": 2, "points_source": "depth"}
    keystore = secured.make_keystore(tmp_path / "keystore", parameters)
    env = {"ROS_SECURITY_ENABLE": "true", "ROS_SECURITY_STRATEGY": "Enforce", "ROS_SECURITY_KEYSTORE": str(keystore)}
    argv = ["--ros-args", "--enclave", secured.NODE_ENCLAVE, *[a for k, v in parameters.items()
                                                               for a in ("-p", f"{k}:={v}")]]
    preflight(env, argv, node_name="rcmcl_node")

    def permissions(enclave: str) -> str:
        return (keystore / "enclaves" / enclave.strip("/") / "permissions.xml").read_text()

    opened = [f"/{t}" for t in TOPICS.values()] + [f"/{CAMERA_INFO_TOPIC}", "/clock", "/rosout", "/parameter_events"]
    traffic = Grant(secured.TRAFFIC_ENCLAVE, "/", "traffic", publish=opened, subscribe=["/parameter_events"])
    assert uncovered(traffic, permissions(secured.TRAFFIC_ENCLAVE)) == []
    probe = Grant(secured.PROBE_ENCLAVE, "/", "transport_probe", subscribe=[f"/{t}" for t in TOPICS.values()])
    assert uncovered(probe, permissions(secured.PROBE_ENCLAVE)) == []
    intruder = Grant(secured.PROBE_ENCLAVE, "/", "transport_probe", publish=["/body_tracking_data"])
    assert uncovered(intruder, permissions(secured.PROBE_ENCLAVE)) == ["publish rt/body_tracking_data"]


def test_keystore_protection_is_written_signed_and_never_silently_changed(tmp_path):
    """`security keystore --protection`: the governance names the chosen protection kinds (encrypt is SROS2's
    default), is S/MIME-signed, and an existing keystore asked for another protection is an error, not kept
    quietly (its enclaves carry the old governance)."""
    import shutil
    import subprocess

    from rcmcl_ros.security.keystore import PROTECTION, KeystoreError, create_keystore

    root = create_keystore(tmp_path / "signed", protection="sign")
    governance = ET.parse(root / "enclaves" / "governance.xml").getroot()
    kinds = {e.tag: e.text for e in governance.iter() if e.tag.endswith("_protection_kind")}
    assert kinds == {"discovery_protection_kind": "ENCRYPT", "liveliness_protection_kind": "ENCRYPT",
                     "rtps_protection_kind": "SIGN", "metadata_protection_kind": "SIGN", "data_protection_kind": "NONE"}
    verified = subprocess.run(["openssl", "smime", "-verify", "-in", str(root / "enclaves" / "governance.p7s"),
                               "-CAfile", str(root / "public" / "permissions_ca.cert.pem")], capture_output=True)
    assert verified.returncode == 0 and b"<data_protection_kind>NONE" in verified.stdout
    assert create_keystore(root) == root and create_keystore(root, protection="sign") == root
    with pytest.raises(KeystoreError, match="another governance"):
        create_keystore(root, protection="encrypt")
    other_tool = tmp_path / "other_tool"              # e.g. `ros2 security`: its own text, the same kinds
    shutil.copytree(root, other_tool, symlinks=True)
    governance = other_tool / "enclaves" / "governance.xml"
    governance.write_text(governance.read_text().replace("<dds ", "<!-- written by another tool -->\n<dds ", 1))
    assert create_keystore(other_tool, protection="sign") == other_tool
    with pytest.raises(KeystoreError, match="another governance"):
        create_keystore(other_tool, protection="rtps-sign")
    default = ET.parse(create_keystore(tmp_path / "default") / "enclaves" / "governance.xml").getroot()
    assert {e.tag: e.text for e in default.iter() if e.tag.endswith("_protection_kind")} == {
        "discovery_protection_kind": "ENCRYPT", "liveliness_protection_kind": "ENCRYPT",
        **{f"{k}_protection_kind": v for k, v in PROTECTION["encrypt"].items()}}
    assert main(["security", "keystore", str(root), "--protection", "rtps-sign"]) == 2
    from rcmcl_ros.security.keystore import create_enclave, governance_protection

    folder = create_enclave(root, "/rcmcl/rcmcl_node", permissions=permissions_xml(
        [node_grant(node_interfaces(**DEFAULTS), enclave="/rcmcl/rcmcl_node")], not_before="2026-01-01T00:00:00",
        not_after="2036-01-01T00:00:00"))
    assert governance_protection(folder / "governance.p7s") == "sign"       # what the enclave carries, named
    odd = tmp_path / "odd.p7s"
    odd.write_text((root / "enclaves" / "governance.xml").read_text().replace(
        "<rtps_protection_kind>SIGN", "<rtps_protection_kind>NONE"))
    assert governance_protection(odd) == "rtps NONE, metadata SIGN, data NONE"
    odd.write_text("not a governance document")
    assert governance_protection(odd) == "unreadable"
