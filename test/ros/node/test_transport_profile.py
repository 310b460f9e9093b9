"""The shipped Fast DDS profile (config/fastdds_shm_localhost.xml) delivers true-size Azure colour frames
between two processes, and rcmcl_ros.node.transport resolves profiles with clear errors."""
from __future__ import annotations

import multiprocessing
import time
import xml.etree.ElementTree as ET

import pytest

from rcmcl_ros.node.transport import OFF, PROFILE_ENV_VARS, PROFILES, profile_environment, profile_path
from transport_peers import count_colour, publish_colour

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


def test_profile_environment_sets_or_clears_the_variable_and_names_a_missing_file(tmp_path):
    env = profile_environment("shm_localhost", {"FASTRTPS_DEFAULT_PROFILES_FILE": "/old.xml"})
    assert env[PROFILE_ENV_VARS[0]] == str(PROFILES["shm_localhost"].resolve())
    assert PROFILE_ENV_VARS[1] not in env                    # rmw_fastrtps warns when the 2.x name is set
    assert not set(PROFILE_ENV_VARS) & set(profile_environment(OFF, env))
    with pytest.raises(FileNotFoundError, match="nowhere.xml"):
        profile_path(str(tmp_path / "nowhere.xml"))


def test_true_size_colour_stream_is_delivered_between_processes_with_the_shipped_profile(ros_domain, monkeypatch):
    seconds, rate_hz = 2.0, 30.0
    for variable in PROFILE_ENV_VARS:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(PROFILE_ENV_VARS[0], str(profile_path("shm_localhost")))   # inherited by the children
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
