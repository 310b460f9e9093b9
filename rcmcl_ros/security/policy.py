"""SROS2 permissions for the node's own topics (issue 29): from its parameters, the DDS names it must publish
and subscribe (rcmcl_ros/node/interfaces.py), as SROS2's policy file (what `ros2 security create_permission`
takes) and as the DDS-Security permissions document (permissions.xml, signed into permissions.p7s). With
`driver_enclave`, a grant for the camera driver too: it may publish exactly the node's inputs.

DDS names (ROS 2's mapping): topic /x -> rt/x; a service /s the node answers -> it reads rq/sRequest and writes
rr/sReply; every participant also reads and writes ros_discovery_info. No rclpy import.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from rcmcl_ros.node.interfaces import NodeInterfaces, resolve

DISCOVERY_TOPIC = "ros_discovery_info"
COMMON_PUBLISH = ("/rosout", "/parameter_events")


@dataclass
class Grant:
    """One enclave's rights: ROS names (resolved) it may publish and subscribe, and services it answers."""

    enclave: str
    namespace: str
    node: str
    publish: list[str] = field(default_factory=list)
    subscribe: list[str] = field(default_factory=list)
    reply: list[str] = field(default_factory=list)

    def dds(self) -> tuple[list[str], list[str]]:
        """(DDS topics it publishes, DDS topics it subscribes)."""
        publish = [f"rt{name}" for name in self.publish] + [f"rr{name}Reply" for name in self.reply]
        subscribe = [f"rt{name}" for name in self.subscribe] + [f"rq{name}Request" for name in self.reply]
        return sorted(set(publish) | {DISCOVERY_TOPIC}), sorted(set(subscribe) | {DISCOVERY_TOPIC})


def node_grant(interfaces: NodeInterfaces, *, enclave: str, namespace: str = "/", node_name: str = "rcmcl_node",
               remaps: dict[str, str] | None = None) -> Grant:
    """The node's grant: every name resolved under its namespace, node name and remaps."""
    def names(items):
        return sorted({resolve(i.name, namespace=namespace, node_name=node_name, remaps=remaps) for i in items})

    return Grant(enclave=enclave, namespace=namespace, node=node_name, publish=names(interfaces.publishes),
                 subscribe=names(interfaces.subscribes), reply=names(interfaces.services))


def driver_grant(interfaces: NodeInterfaces, *, enclave: str, node_grant_: Grant, namespace: str = "/",
                 node_name: str = "azure_kinect_ros_driver") -> Grant:
    """The camera driver's grant: publish what the node reads from it (its sensor inputs, camera_info and
    /tf_static), /rosout and /parameter_events; subscribe /parameter_events."""
    inputs = [name for name in node_grant_.subscribe if name not in ("/tf", "/clock")]
    return Grant(enclave=enclave, namespace=namespace, node=node_name,
                 publish=sorted(set(inputs) | set(COMMON_PUBLISH)), subscribe=["/parameter_events"])


def validity(days: int = 3650, *, now: dt.datetime | None = None) -> tuple[str, str]:
    start = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0)
    return (start.strftime("%Y-%m-%dT%H:%M:%S"), (start + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S"))


def permissions_xml(grants: list[Grant], *, domain_id: int | None = None, not_before: str, not_after: str) -> str:
    """DDS-Security permissions document: one grant per enclave (subject CN=<enclave>), default DENY.
    domain_id None allows every domain (0-230), as SROS2 does."""
    domains = "<id_range><min>0</min><max>230</max></id_range>" if domain_id is None else f"<id>{domain_id}</id>"
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
             'xsi:noNamespaceSchemaLocation="http://www.omg.org/spec/DDS-SECURITY/20170901/'
             'omg_shared_ca_permissions.xsd">', "  <permissions>"]
    for grant in grants:
        publish, subscribe = grant.dds()
        parts += [f'    <grant name="{escape(grant.enclave)}">',
                  f"      <subject_name>CN={escape(grant.enclave)}</subject_name>",
                  f"      <validity><not_before>{not_before}</not_before><not_after>{not_after}</not_after></validity>",
                  "      <allow_rule>", f"        <domains>{domains}</domains>",
                  "        <publish><topics>"] + [f"          <topic>{escape(t)}</topic>" for t in publish] + [
                  "        </topics></publish>", "        <subscribe><topics>"] + [
                  f"          <topic>{escape(t)}</topic>" for t in subscribe] + [
                  "        </topics></subscribe>", "      </allow_rule>", "      <default>DENY</default>",
                  "    </grant>"]
    parts += ["  </permissions>", "</dds>", ""]
    return "\n".join(parts)


def policy_xml(grants: list[Grant]) -> str:
    """SROS2's policy file (version 0.2.0): one enclave per grant, ROS names (absolute)."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', '<policy version="0.2.0">', "  <enclaves>"]
    for grant in grants:
        ns = "/" + grant.namespace.strip("/") if grant.namespace.strip("/") else "/"
        parts += [f'    <enclave path="{escape(grant.enclave)}">', "      <profiles>",
                  f'        <profile ns="{escape(ns)}" node="{escape(grant.node)}">']
        for attribute, names in (("publish", grant.publish), ("subscribe", grant.subscribe)):
            if names:
                parts += [f'          <topics {attribute}="ALLOW">'] + [
                    f"            <topic>{escape(n)}</topic>" for n in names] + ["          </topics>"]
        if grant.reply:
            parts += ['          <services reply="ALLOW">'] + [
                f"            <service>{escape(n)}</service>" for n in grant.reply] + ["          </services>"]
        parts += ["        </profile>", "      </profiles>", "    </enclave>"]
    parts += ["  </enclaves>", "</policy>", ""]
    return "\n".join(parts)


def uncovered(grant: Grant, permissions: str) -> list[str]:
    """DDS topics of `grant` that a permissions document does not allow (exact names or fnmatch patterns
    in its <topic> elements, publish and subscribe checked apart), for a clear error before any DDS call."""
    import fnmatch
    import xml.etree.ElementTree as ET

    root = ET.fromstring(permissions)
    allowed: dict[str, list[str]] = {"publish": [], "subscribe": []}
    for rule in root.iter("grant"):
        subject = (rule.findtext("subject_name") or "").strip()
        if subject != f"CN={grant.enclave}" and not subject.endswith(f"CN={grant.enclave}"):
            continue
        for kind in allowed:
            allowed[kind] += [t.text.strip() for t in rule.iter(kind) for t in t.iter("topic") if t.text]
    publish, subscribe = grant.dds()
    missing = [f"publish {t}" for t in publish if not any(fnmatch.fnmatchcase(t, p) for p in allowed["publish"])]
    missing += [f"subscribe {t}" for t in subscribe
                if not any(fnmatch.fnmatchcase(t, p) for p in allowed["subscribe"])]
    return missing
