"""The code runs on the Pythons of the ROS 2 distributions it targets: Humble's 3.10, Jazzy's 3.12, Kilted's
3.12 (and 3.11 here). vermin reads every module and names any construct newer than 3.10."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("rcmcl_core", "rcmcl_ros", "launch", "benchmarks", "test", "setup.py")
MINIMUM = (3, 10)


def test_no_construct_needs_a_python_newer_than_3_10():
    vermin = Path(sys.executable).with_name("vermin")
    result = subprocess.run([str(vermin), f"-t={MINIMUM[0]}.{MINIMUM[1]}-", "--violations", "--no-tips",
                             "--eval-annotations", "--backport", "typing", *SOURCES],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"vermin found constructs newer than Python 3.10:\n{result.stdout}{result.stderr}"
    found = re.search(r"Minimum required versions: (\d+)\.(\d+)", result.stdout)
    assert found and tuple(map(int, found.groups())) <= MINIMUM, result.stdout


def test_setup_py_and_package_metadata_say_3_10():
    assert 'python_requires=">=3.10"' in (ROOT / "setup.py").read_text()
