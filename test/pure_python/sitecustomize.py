"""Loaded by scripts/test-pythons on Python 3.10 / 3.12 (PYTHONPATH): an import of torch, rclpy or another
heavy dependency fails at once, so a test module listed as pure that starts needing one fails, naming it,
instead of silently testing less."""
import sys

BLOCKED = ("torch", "rclpy", "rcl_interfaces", "cv2", "rosbags", "onnxruntime", "onnx", "matplotlib", "sklearn")


class _Blocked:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed for the pure-Python run (scripts/test-pythons): a module "
                              "listed in test/pure_python/modules.txt must not need it")
        return None


sys.meta_path.insert(0, _Blocked())
