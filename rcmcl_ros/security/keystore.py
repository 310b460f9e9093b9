"""An SROS2 keystore made with openssl (the sros2 CLI is not installable here; where `ros2 security` exists,
`create_keystore` / `create_enclave` call it and only the permissions are ours). Keys are made on the user's
machine and never shipped.

Layout (SROS2's): public/{ca,identity_ca,permissions_ca}.cert.pem, private/{ca,identity_ca,permissions_ca}.key.pem
(one CA serves both roles, as `ros2 security create_keystore` makes it), enclaves/governance.{xml,p7s}, and per
enclave enclaves/<path>/{cert.pem, key.pem, identity_ca.cert.pem, permissions_ca.cert.pem, governance.p7s,
permissions.xml, permissions.p7s}. Keys are EC prime256v1; documents are S/MIME-signed by the permissions CA.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rcmcl_core.atomic_io import atomic_write_bytes

CA_SUBJECT = "/CN=rcmcl_keystore_ca"
ENCLAVE_FILES = ("cert.pem", "key.pem", "identity_ca.cert.pem", "permissions_ca.cert.pem", "governance.p7s",
                 "permissions.xml", "permissions.p7s")
GOVERNANCE = """<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
     xsi:noNamespaceSchemaLocation="http://www.omg.org/spec/DDS-SECURITY/20170901/omg_shared_ca_governance.xsd">
  <domain_access_rules>
    <domain_rule>
      <domains><id_range><min>0</min><max>230</max></id_range></domains>
      <allow_unauthenticated_participants>false</allow_unauthenticated_participants>
      <enable_join_access_control>true</enable_join_access_control>
      <discovery_protection_kind>ENCRYPT</discovery_protection_kind>
      <liveliness_protection_kind>ENCRYPT</liveliness_protection_kind>
      <rtps_protection_kind>{rtps}</rtps_protection_kind>
      <topic_access_rules>
        <topic_rule>
          <topic_expression>*</topic_expression>
          <enable_discovery_protection>true</enable_discovery_protection>
          <enable_liveliness_protection>true</enable_liveliness_protection>
          <enable_read_access_control>true</enable_read_access_control>
          <enable_write_access_control>true</enable_write_access_control>
          <metadata_protection_kind>{metadata}</metadata_protection_kind>
          <data_protection_kind>{data}</data_protection_kind>
        </topic_rule>
      </topic_access_rules>
    </domain_rule>
  </domain_access_rules>
</dds>
"""
"""The governance document: authenticated participants only, access control on every topic, discovery and
liveliness encrypted; the protection of topic traffic is one of PROTECTION."""

PROTECTION = {"encrypt": {"rtps": "SIGN", "metadata": "ENCRYPT", "data": "ENCRYPT"},
              "sign": {"rtps": "SIGN", "metadata": "SIGN", "data": "NONE"},
              "rtps-sign": {"rtps": "SIGN", "metadata": "NONE", "data": "NONE"}}
"""encrypt: SROS2's default (each sample encrypted, its submessage encrypted, every RTPS message signed);
sign: readable on the wire but every submessage and message authenticated (no injection, no tampering);
rtps-sign: every RTPS message authenticated once, nothing encrypted."""


def governance_xml(protection: str = "encrypt") -> str:
    if protection not in PROTECTION:
        raise KeystoreError(f"protection must be one of {', '.join(PROTECTION)}, not {protection!r}")
    return GOVERNANCE.format(**PROTECTION[protection])


class KeystoreError(RuntimeError):
    """The keystore cannot be made or used; the message names the file or the tool."""


def _openssl(*args: str, cwd: Path | None = None) -> None:
    if shutil.which("openssl") is None:
        raise KeystoreError("openssl is not installed (apt install openssl): it makes the keystore's keys")
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise KeystoreError(f"openssl {args[0]} failed: {result.stderr.strip()[-500:]}")


def sign(document: Path, out: Path, *, keystore: Path) -> None:
    """S/MIME-sign `document` with the permissions CA into `out` (what DDS-Security reads)."""
    _openssl("smime", "-sign", "-text", "-in", str(document), "-out", str(out),
             "-signer", str(keystore / "public" / "permissions_ca.cert.pem"),
             "-inkey", str(keystore / "private" / "permissions_ca.key.pem"))


def create_keystore(path: str | Path, *, days: int = 3650, protection: str | None = None) -> Path:
    """A new keystore at `path` whose governance protects topic traffic as PROTECTION[protection] says (None:
    encrypt). An existing keystore is kept; KeystoreError when it is not one, or when `protection` is given and
    its governance differs (its enclaves carry that governance: make a new keystore)."""
    root = Path(path)
    if (root / "public" / "ca.cert.pem").is_file():
        present = root / "enclaves" / "governance.xml"
        if protection is not None and (not present.is_file() or governance_protection(present) != protection):
            raise KeystoreError(f"{root} is a keystore with another governance than protection {protection!r}; "
                                "its enclaves carry it: make a new keystore for another protection")
        return root
    if root.exists() and any(root.iterdir()):
        raise KeystoreError(f"{root} exists and is not an SROS2 keystore (no public/ca.cert.pem)")
    protection = protection or "encrypt"
    document = governance_xml(protection)
    if shutil.which("ros2") is not None:
        subprocess.run(["ros2", "security", "create_keystore", str(root)], check=True)
        if protection != "encrypt":                   # ros2 security writes SROS2's default; re-sign ours
            atomic_write_bytes(root / "enclaves" / "governance.xml", document.encode())
            sign(root / "enclaves" / "governance.xml", root / "enclaves" / "governance.p7s", keystore=root)
        return root
    for folder in ("public", "private", "enclaves"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    key, cert = root / "private" / "ca.key.pem", root / "public" / "ca.cert.pem"
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
    key.chmod(0o600)
    _openssl("req", "-new", "-x509", "-key", str(key), "-out", str(cert), "-days", str(days), "-subj", CA_SUBJECT,
             "-sha256")
    for role in ("identity_ca", "permissions_ca"):
        (root / "public" / f"{role}.cert.pem").symlink_to("ca.cert.pem")
        (root / "private" / f"{role}.key.pem").symlink_to("ca.key.pem")
    atomic_write_bytes(root / "enclaves" / "governance.xml", document.encode())
    sign(root / "enclaves" / "governance.xml", root / "enclaves" / "governance.p7s", keystore=root)
    return root


def enclave_dir(keystore: Path, enclave: str) -> Path:
    if not enclave.startswith("/") or "//" in enclave or ".." in enclave.split("/"):
        raise KeystoreError(f"an enclave is an absolute path such as /rcmcl/rcmcl_node, got {enclave!r}")
    return Path(keystore) / "enclaves" / enclave.strip("/")


def create_enclave(keystore: str | Path, enclave: str, *, permissions: str, days: int = 3650) -> Path:
    """Enclave `enclave` in `keystore`: its key, its certificate (CN=<enclave>, signed by the identity CA) and
    `permissions` (a DDS permissions document, e.g. security.policy.permissions_xml) signed."""
    keystore = Path(keystore)
    if not (keystore / "public" / "ca.cert.pem").is_file():
        raise KeystoreError(f"keystore not found: {keystore} (make it with `python -m rcmcl_ros security keystore "
                            f"{keystore}`)")
    folder = enclave_dir(keystore, enclave)
    folder.mkdir(parents=True, exist_ok=True)
    key, csr, cert = folder / "key.pem", folder / "req.csr", folder / "cert.pem"
    if not key.is_file():
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
        key.chmod(0o600)
    subject = "/CN=" + enclave.replace("/", "\\/")        # openssl -subj: a / inside a value is escaped
    _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", subject, "-sha256")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(keystore / "public" / "identity_ca.cert.pem"),
             "-CAkey", str(keystore / "private" / "identity_ca.key.pem"), "-CAcreateserial",
             "-CAserial", str(keystore / "private" / "ca.srl"), "-out", str(cert), "-days", str(days), "-sha256")
    csr.unlink()
    for name in ("identity_ca", "permissions_ca"):
        shutil.copyfile(keystore / "public" / f"{name}.cert.pem", folder / f"{name}.cert.pem")
    shutil.copyfile(keystore / "enclaves" / "governance.p7s", folder / "governance.p7s")
    atomic_write_bytes(folder / "permissions.xml", permissions.encode())
    sign(folder / "permissions.xml", folder / "permissions.p7s", keystore=keystore)
    return folder


def governance_protection(signed: Path) -> str:
    """The PROTECTION name of a governance document (governance.xml, or an enclave's governance.p7s: S/MIME
    with the XML in clear text), else its kinds as 'rtps X, metadata Y, data Z' (several topic rules: the first one's);
    'unreadable' when the document has no governance XML."""
    import re

    text = signed.read_text(errors="replace")
    kinds = {name: re.search(rf"<{name}_protection_kind>\s*(\w+)\s*<", text) for name in ("rtps", "metadata", "data")}
    if not all(kinds.values()):
        return "unreadable"
    found = {name: match.group(1) for name, match in kinds.items()}
    named = [name for name, wanted in PROTECTION.items() if wanted == found]
    return named[0] if named else ", ".join(f"{name} {kind}" for name, kind in found.items())


def certificate_expired(cert: Path) -> bool:
    """True when `cert` is past its notAfter (openssl x509 -checkend 0)."""
    if shutil.which("openssl") is None:
        raise KeystoreError("openssl is not installed: cannot check the enclave certificate's validity")
    result = subprocess.run(["openssl", "x509", "-checkend", "0", "-noout", "-in", str(cert)],
                            capture_output=True, text=True)
    return result.returncode != 0
