"""Where the security-enabled Fast DDS build for the Kilted wheels lives (the project's shared/sros2/lib; its
README gives the versions), and the environment that loads it in a child process. A test that needs it and
cannot have it fails with the reason (missing build, other wheel versions, a missing system library)."""
from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MATCHING_WHEELS = {"ros-fastdds": "3.2.3", "ros-rmw-fastrtps-cpp": "9.3.3", "ros-rmw-fastrtps-shared-cpp": "9.3.3"}
"""The wheel versions the shared build is ABI-matched to (its README)."""


def _candidates() -> list[Path]:
    found = [Path(p) for p in [os.environ.get("RCMCL_SROS2_LIB", "")] if p]
    found.append(ROOT.parent / "shared" / "sros2" / "lib")
    origin = subprocess.run(["git", "-C", str(ROOT), "remote", "get-url", "origin"], capture_output=True, text=True)
    if origin.returncode == 0 and Path(origin.stdout.strip()).is_dir():      # a fresh clone of the checkout
        found.append(Path(origin.stdout.strip()).resolve().parent / "shared" / "sros2" / "lib")
    return found


def why_not() -> str | None:
    """None when the build can be loaded here, else why not."""
    for package, wanted in MATCHING_WHEELS.items():
        try:
            installed = version(package)
        except PackageNotFoundError:
            return f"{package} is not installed (the shared security build is for the Kilted wheels)"
        if installed != wanted:
            return (f"{package} is {installed}, but the shared security build is ABI-matched to {wanted} "
                    f"(rebuild it for these wheels; see its README)")
    if library_dir() is None:
        return ("the security-enabled Fast DDS build is not found (tried " + ", ".join(map(str, _candidates()))
                + "); set RCMCL_SROS2_LIB to its lib/ folder")
    if ctypes.util.find_library("tinyxml2") is None or not _has_tinyxml2_9():
        return "libtinyxml2.so.9 is missing (apt-get install -y libtinyxml2-9; scripts/setup does it as root)"
    return None


def _has_tinyxml2_9() -> bool:
    try:
        ctypes.CDLL("libtinyxml2.so.9")
    except OSError:
        return False
    return True


def library_dir() -> Path | None:
    return next((p for p in _candidates() if (p / "libfastdds.so.3.2.2").is_file()), None)


def linked_dir() -> Path:
    """The build's libraries with real symlinks (the shared copy stores its links as small text files)."""
    source = library_dir()
    target = Path(tempfile.gettempdir()) / f"rcmcl_sros2_lib_{os.getuid()}"
    target.mkdir(exist_ok=True)
    for path in source.iterdir():
        link = target / path.name
        real = source / path.read_text().strip() if path.stat().st_size < 256 else path
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(real)
    return target


def secured_environment(*, keystore: Path, domain_id: int) -> dict[str, str]:
    """os.environ plus what a secured child needs: the build first on LD_LIBRARY_PATH (the wheels' bootstrap
    guard set, so it keeps that order), Enforce, the keystore, localhost discovery."""
    packages = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    libs = sorted(str(p) for p in packages.glob("ros_*.libs"))
    path = ":".join([str(linked_dir()), str(Path(sys.prefix) / "lib"), *libs])
    return dict(os.environ, _ROS_WHEELS_BOOTSTRAP_COMPLETE="1", LD_LIBRARY_PATH=path, ROS_SECURITY_ENABLE="true",
                ROS_SECURITY_STRATEGY="Enforce", ROS_SECURITY_KEYSTORE=str(keystore), ROS_DOMAIN_ID=str(domain_id),
                ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1")
