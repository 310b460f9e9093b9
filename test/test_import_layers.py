"""The import graph, read from the code's own imports (module level and inside functions alike): no module
imports itself back through others, no import climbs a layer, the core imports nothing from ROS.

LAYERS lists each package's layers from the bottom; a module may import its own layer or one below. A new
module whose layer is not listed fails the test, so the table is kept up to date by whoever adds one.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rcmcl_core", "rcmcl_ros")
LAYERS: tuple[tuple[str, ...], ...] = (
    ("rcmcl_core", "rcmcl_core.config", "rcmcl_core.atomic_io", "rcmcl_core.device", "rcmcl_core.windowing",
     "rcmcl_core.bundled", "rcmcl_core.backend_choice"),
    ("rcmcl_core.geometry",),
    ("rcmcl_core.models", "rcmcl_core.augment", "rcmcl_core.data", "rcmcl_core.sensor_health"),
    ("rcmcl_core.checkpoint", "rcmcl_core.traced_forward", "rcmcl_core.onnx_export", "rcmcl_core.onnx_backend",
     "rcmcl_core.inference_runtime"),
    ("rcmcl_core.training",),
    ("rcmcl_core.evaluation",),
    ("rcmcl_core.plots",),
    ("rcmcl_core.commands",),
    ("rcmcl_core.cli",),
    ("rcmcl_ros", "rcmcl_ros.topics", "rcmcl_ros.conversions"),
    ("rcmcl_ros.pipeline",),
    ("rcmcl_ros.people",),
    ("rcmcl_ros.bag",),
    ("rcmcl_ros.node",),
    ("rcmcl_ros.launch_plan",),
    ("rcmcl_ros.security",),
    ("rcmcl_ros.__main__",),
)
"""Bottom first. A unit is a top-level module or a subpackage (all its modules)."""
ROS_MODULES = ("rclpy", "rosbags", "sensor_msgs", "std_msgs", "visualization_msgs", "diagnostic_msgs",
               "builtin_interfaces", "geometry_msgs", "rcl_interfaces", "tf2_ros", "mcap_ros2")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """Every module name `path` imports (absolute or relative), at any depth of the file."""
    names = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return names


def _graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (the longest existing prefix of each imported name)."""
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for imported in _imports(name, path):
            parts = imported.split(".")
            target = next((".".join(parts[:i]) for i in range(len(parts), 0, -1) if ".".join(parts[:i]) in modules),
                          None)
            if target is not None and target != name:
                graph[name].add(target)
        graph.setdefault(name, set())
    return graph


def _unit(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def _layer(module: str) -> int:
    unit = _unit(module)
    for rank, units in enumerate(LAYERS):
        if unit in units:
            return rank
    raise AssertionError(f"{module}: its unit {unit} has no layer in test/test_import_layers.py LAYERS")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_back():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_climbs_a_layer():
    climbing = sorted(f"{module} imports {target}" for module, targets in _graph().items() for target in targets
                      if _layer(target) > _layer(module))
    assert climbing == []


def test_the_core_imports_nothing_from_ros():
    modules = _modules()
    offending = sorted(f"{name} imports {imported}" for name, path in modules.items() if name.startswith("rcmcl_core")
                       for imported in _imports(name, path)
                       if imported.split(".")[0] in (*ROS_MODULES, "rcmcl_ros"))
    assert offending == []
