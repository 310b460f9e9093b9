"""The pure-Python parts on Humble's Python 3.10 and Jazzy's / Kilted's 3.12 (scripts/test-pythons, pyenv):
every listed module passes there with numpy, pyyaml, dacite and pytest alone, torch and rclpy blocked."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_pure_modules_pass_on_python_3_10_and_3_12_without_torch_or_ros():
    listed = [line for line in (ROOT / "test/pure_python/modules.txt").read_text().splitlines()
              if line and not line.startswith("#")]
    assert listed and all((ROOT / path).is_file() for path in listed), listed
    result = subprocess.run([str(ROOT / "scripts/test-pythons")], cwd=ROOT, capture_output=True, text=True,
                            timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    versions = re.findall(r"\[test-pythons\] Python (3\.\d+)\.\d+: (\d+) modules", output)
    assert [v for v, _ in versions] == ["3.10", "3.12"], output[-2000:]
    passed = [int(n) for n in re.findall(r"(\d+) passed", output)]
    assert len(passed) == 2 and min(passed) >= 80 and "failed" not in output, output[-2000:]


def test_the_guard_blocks_torch_so_a_module_that_starts_needing_it_fails():
    venv_python = ROOT / ".venv-py312" / "bin" / "python"
    if not venv_python.exists():
        subprocess.run([str(ROOT / "scripts/test-pythons"), "3.12"], cwd=ROOT, capture_output=True, timeout=900)
    result = subprocess.run([str(venv_python), "-c", "import torch"], capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": str(ROOT / "test/pure_python"), "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0 and "not installed for the pure-Python run" in result.stderr
