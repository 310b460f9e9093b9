"""The node under SROS2 (Enforce) with the security-enabled Fast DDS build (test/ros/security/sros2_build.py),
a keystore made by `python -m rcmcl_ros security keystore | enclave` and permissions generated from the node's
parameters: a certified camera's frames are decided on; an uncertified process's frames reach no decision; a
certified process without permission for the node's skeleton topic cannot publish on it. Bad keystores,
enclaves, certificates and permissions stop the node with one line before any DDS call. Kilted only: the
shared build is for Kilted's Fast DDS 3.2 (.ci/run leaves this module out of the Jazzy run)."""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rcmcl_ros.node.interfaces import PARAMETER_SERVICES, node_interfaces
from rcmcl_ros.security.keystore import create_enclave, create_keystore, enclave_dir
from rcmcl_ros.security.policy import Grant, node_grant, permissions_xml, validity
from rcmcl_ros.security.policy_command import DEFAULTS

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sros2_build  # noqa: E402

ROOT = HERE.parents[2]
NODE_ENCLAVE = "/rcmcl/rcmcl_node"


@pytest.fixture(scope="module")
def build():
    reason = sros2_build.why_not()
    if reason is not None:
        pytest.fail(f"cannot run the secured-node test: {reason}")
    return sros2_build


@pytest.fixture(scope="module")
def keystores(tmp_path_factory):
    """keystores(protection) -> a keystore with that governance protection (made once per module): the node's
    enclave from its default parameters, a camera, an observer and an intruder (no input permissions)."""
    made: dict[str, Path] = {}

    def make(protection: str) -> Path:
        if protection in made:
            return made[protection]
        root = create_keystore(tmp_path_factory.mktemp("sros2") / "keystore", protection=protection)
        grant = node_grant(node_interfaces(**DEFAULTS), enclave=NODE_ENCLAVE)
        start, end = validity()
        inputs = [n for n in grant.subscribe if n not in ("/tf", "/tf_static")]
        common = ["/rosout", "/parameter_events"]

        def peer_grant(mode: str, publish: list[str]) -> Grant:
            return Grant(f"/test/{mode}", "/", f"peer_{mode}", publish=publish + common,
                         subscribe=grant.publish + ["/parameter_events"],
                         reply=[f"/peer_{mode}/{name}" for name in PARAMETER_SERVICES])

        peers = {NODE_ENCLAVE: grant, "/test/camera": peer_grant("camera", inputs),
                 "/test/observer": peer_grant("observer", []), "/test/intruder": peer_grant("intruder", [])}
        for enclave, rights in peers.items():
            create_enclave(root, enclave, permissions=permissions_xml([rights], not_before=start, not_after=end))
        made[protection] = root
        return root

    return make


@pytest.fixture(scope="module")
def keystore(keystores) -> Path:
    return keystores("encrypt")


class NodeProcess:
    """`python -m rcmcl_ros node` secured, its output read by a thread; `wait_for(text)`."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.process = subprocess.Popen([sys.executable, "-m", "rcmcl_ros", "node", "--ros-args", *argv], cwd=ROOT,
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, text: str, timeout_s: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(text in line for line in self.output):
                return True
            if self.process.poll() is not None and self.lines.empty():
                return any(text in line for line in self.output)
            time.sleep(0.05)
        return False

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def peer(mode: str, seconds: float, out: Path, *, env: dict[str, str], enclave: str | None) -> subprocess.Popen:
    argv = [sys.executable, str(HERE / "sros2_peer.py"), mode, str(seconds), str(out)]
    if enclave:
        argv += ["--ros-args", "--enclave", enclave]
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finished(process: subprocess.Popen, out: Path) -> dict:
    text, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and out.is_file(), text[-3000:]
    return json.loads(out.read_text())


def node_argv(checkpoint: Path) -> list[str]:
    return ["--enclave", NODE_ENCLAVE, "-p", f"checkpoint:={checkpoint}", "-p", "stride_s:=0.25", "-p",
            "input_rate_hz:=0.0", "-p", "torch_threads:=1"]


@pytest.mark.parametrize("protection", ["encrypt", "rtps-sign"])
def test_only_certified_and_permitted_peers_reach_the_secured_node(build, keystores, protection, tiny_checkpoint,
                                                                   ros_domain, tmp_path):
    """SROS2's default governance and the lightest one offered (rtps-sign: nothing encrypted, every RTPS
    message authenticated) keep out the same uncertified and unpermitted peers."""
    domain, keystore = ros_domain, keystores(protection)
    secured = build.secured_environment(keystore=keystore, domain_id=domain)
    plain = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    for key in ("ROS_SECURITY_ENABLE", "ROS_SECURITY_STRATEGY", "ROS_SECURITY_KEYSTORE"):
        plain.pop(key, None)
    node = NodeProcess(node_argv(tiny_checkpoint(window_s=1.0)), secured)
    try:
        assert node.wait_for("rcmcl ready"), "".join(node.output)[-3000:]
        assert any("Found security directory" in line for line in node.output)
        assert any(f"topic traffic protection {protection}" in line for line in node.output)
        camera = finished(peer("camera", 8.0, tmp_path / "camera.json", env=secured, enclave="/test/camera"),
                          tmp_path / "camera.json")
        assert camera["publisher_error"] is None and camera["decisions"] >= 5, camera
        uncertified = peer("camera", 6.0, tmp_path / "uncertified.json", env=plain, enclave=None)
        observer = finished(peer("observer", 6.0, tmp_path / "observer.json", env=secured, enclave="/test/observer"),
                            tmp_path / "observer.json")
        uncertified = finished(uncertified, tmp_path / "uncertified.json")
        assert uncertified["published"] > 100 and uncertified["decisions"] == 0
        assert observer["decisions"] == 0, "an uncertified camera's frames made the secured node decide"
        intruder = finished(peer("intruder", 2.0, tmp_path / "intruder.json", env=secured, enclave="/test/intruder"),
                            tmp_path / "intruder.json")
        assert intruder["publisher_error"] is not None and intruder["published"] == 0, intruder
    finally:
        status = node.stop()
    assert status == 0, "".join(node.output)[-3000:]


def expired_certificate(keystore: Path, enclave: str) -> None:
    """Re-sign the enclave's key with a certificate that ended in 2021 (openssl ca sets the dates)."""
    folder = enclave_dir(keystore, enclave)
    work = keystore / "ca_work"
    work.mkdir(exist_ok=True)
    (work / "index.txt").write_text("")
    (work / "openssl.cnf").write_text(
        "[ca]\ndefault_ca = local\n[local]\n"
        f"dir = {work}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir\nserial = $dir/serial\n"
        "default_md = sha256\npolicy = anything\nunique_subject = no\n[anything]\ncommonName = supplied\n")
    (work / "serial").write_text("1000\n")
    subject = "/CN=" + enclave.replace("/", "\\/")
    subprocess.run(["openssl", "req", "-new", "-key", str(folder / "key.pem"), "-out", str(work / "req.csr"),
                    "-subj", subject], check=True, capture_output=True)
    subprocess.run(["openssl", "ca", "-batch", "-config", str(work / "openssl.cnf"), "-in", str(work / "req.csr"),
                    "-out", str(folder / "cert.pem"), "-cert", str(keystore / "public" / "identity_ca.cert.pem"),
                    "-keyfile", str(keystore / "private" / "identity_ca.key.pem"), "-startdate", "20200101000000Z",
                    "-enddate", "20210101000000Z", "-notext"], check=True, capture_output=True)


def test_bad_secured_starts_are_one_line_before_any_dds_call(keystore, tiny_checkpoint, tmp_path, ros_domain):
    checkpoint = tiny_checkpoint(window_s=1.0)
    env = dict(os.environ, ROS_SECURITY_ENABLE="true", ROS_SECURITY_STRATEGY="Enforce", ROS_DOMAIN_ID=str(ros_domain),
               ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    bad = tmp_path / "bad"
    shutil.copytree(keystore, bad, symlinks=True)
    partial = create_keystore(tmp_path / "partial")
    start, end = validity()
    grant = node_grant(node_interfaces(**DEFAULTS), enclave=NODE_ENCLAVE)
    grant.subscribe.remove("/body_tracking_data")
    create_enclave(partial, NODE_ENCLAVE, permissions=permissions_xml([grant], not_before=start, not_after=end))
    expired_certificate(bad, NODE_ENCLAVE)
    cases = {
        "keystore missing": ({"ROS_SECURITY_KEYSTORE": str(tmp_path / "nowhere")}, NODE_ENCLAVE,
                             "is not an SROS2 keystore"),
        "enclave missing": ({"ROS_SECURITY_KEYSTORE": str(keystore)}, "/rcmcl/other", "is not in the keystore"),
        "certificate expired": ({"ROS_SECURITY_KEYSTORE": str(bad)}, NODE_ENCLAVE, "has expired"),
        "topic not covered": ({"ROS_SECURITY_KEYSTORE": str(partial)}, NODE_ENCLAVE, "subscribe rt/body_tracking_data"),
    }
    for name, (extra, enclave, message) in cases.items():
        result = subprocess.run([sys.executable, "-m", "rcmcl_ros", "node", "--ros-args", "--enclave", enclave, "-p",
                                 f"checkpoint:={checkpoint}"], cwd=ROOT, env={**env, **extra}, capture_output=True,
                                text=True, timeout=60)
        text = result.stdout + result.stderr
        assert result.returncode == 1, f"{name}: {text[-2000:]}"
        lines = [line for line in text.splitlines() if "cannot start" in line]
        assert len(lines) == 1 and message in lines[0], f"{name}: {text[-2000:]}"
        assert "Traceback" not in text and "rcmcl ready" not in text and "Found security directory" not in text
    permissive = subprocess.run([sys.executable, "-m", "rcmcl_ros", "node", "--ros-args", "--enclave", "/rcmcl/other"],
                                cwd=ROOT, env={**env, "ROS_SECURITY_STRATEGY": "Permissive",
                                               "ROS_SECURITY_KEYSTORE": str(keystore)},
                                capture_output=True, text=True, timeout=60)
    assert "not 'Enforce'" in permissive.stdout + permissive.stderr
