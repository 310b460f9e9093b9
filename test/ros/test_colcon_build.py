"""colcon, as a robot's workspace builds this package: scripts/colcon-check builds it plain and with
--symlink-install (colcon from the registry, in .venv-colcon), checks the install tree and runs the
installed rcmcl_node / rcmcl_lifecycle_node --help."""
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_colcon_builds_an_install_tree_whose_executables_answer_help(tmp_path):
    result = subprocess.run([str(ROOT / "scripts" / "colcon-check"), str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, f"scripts/colcon-check failed:\n{result.stdout}\n{result.stderr}"
    assert "plain: install tree complete" in result.stdout and "symlink: install tree complete" in result.stdout
    assert (tmp_path / "ws_plain" / "install" / "rcmcl_ros" / "share" / "rcmcl_ros" / "package.xml").is_file()
