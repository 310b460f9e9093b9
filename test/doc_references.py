"""Find references to repository files and modules in docstrings, comments and markdown, and check they resolve.

Used by test/test_doc_references.py. A reference is one of:
- a repository path: rcmcl_core/..., rcmcl_ros/..., benchmarks/..., scripts/..., config/..., docs/..., test/...,
  launch/... (a `*` is a glob; a path cut by `<placeholder>` or `{a,b}` needs a file with that prefix);
- a dotted module name: rcmcl_core.<module>[.<attr>], resolved to its longest module prefix, then the first attribute
  looked up among the module's top-level names (ast, nothing is imported);
- a bare file name `<name>.py`: some repository .py file must have that name;
- a bare `module_name.UpperName` (a snake_case name with an underscore): `module_name` must be a module of the
  repository that defines UpperName;
- a markdown link target, relative to the markdown file.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY_DIRS = ("rcmcl_core", "rcmcl_ros", "benchmarks", "scripts", "test", "launch")
MARKDOWN = ("README.md", "docs/*.md")
SKIP_TOP = {".venv", "cache", "data", "runs", ".git"}      # ignored, generated or local folders

_TOP = r"(?:rcmcl_core|rcmcl_ros|benchmarks|scripts|config|docs|test|launch)"
PATH = re.compile(rf"(?<![\w./<>-]){_TOP}/[\w.*/-]*")
DOTTED = re.compile(r"(?<![\w./])(?:rcmcl_core|rcmcl_ros)(?:\.\w+)+")
BARE_PY = re.compile(r"(?<![\w./<>{}-])(\w+)\.py\b")
BARE_ATTR = re.compile(r"(?<![\w./`-])([a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Z]\w*)")
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


@dataclass(frozen=True)
class Reference:
    source: str        # repository-relative file
    line: int
    text: str
    kind: str          # a key of PATTERNS

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.text}"


def python_files() -> list[Path]:
    files = []
    for top in PY_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and _is_python(path):
                files.append(path)
    return files


def _is_python(path: Path) -> bool:
    if path.suffix == ".py":
        return True
    first = path.read_bytes()[:128].split(b"\n", 1)[0]          # the shebang line alone decides
    return path.suffix == "" and first.startswith(b"#!") and b"python" in first


def markdown_files() -> list[Path]:
    return sorted(p for pattern in MARKDOWN for p in ROOT.glob(pattern))


def python_text(path: Path) -> list[tuple[int, str]]:
    """(first line, text) of every comment and docstring of a Python file."""
    source = path.read_text()
    chunks = [(tok.start[0], tok.string) for tok in tokenize.generate_tokens(io.StringIO(source).readline)
              if tok.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                chunks.append((first.lineno, first.value.value))
    return chunks


def _lines(chunks: list[tuple[int, str]]):
    for start, text in chunks:
        for offset, line in enumerate(text.splitlines()):
            yield start + offset, line


PATTERNS = {"path": PATH, "dotted": DOTTED, "bare_py": BARE_PY, "bare_attr": BARE_ATTR, "link": LINK}
URL = re.compile(r"\w+://\S+")


def references(path: Path) -> list[Reference]:
    """Every reference in one Python or markdown file (URLs removed first)."""
    rel = path.relative_to(ROOT).as_posix()
    markdown = path.suffix == ".md"
    chunks = [(1, path.read_text())] if markdown else python_text(path)
    found = []
    for line_no, line in _lines(chunks):
        line = URL.sub(" ", line)
        for kind, pattern in PATTERNS.items():
            if kind == "link" and not markdown:
                continue
            for match in pattern.finditer(line):
                text = match.group(1) if kind == "link" else match.group(0)
                if kind == "path" and line[match.end():match.end() + 1] in ("{", "<"):
                    text += "*"       # cut by {a,b} or <placeholder>: some file must start with the prefix
                found.append(Reference(rel, line_no, text.rstrip(".,;:)"), kind))
    return found


def problem(ref: Reference) -> str | None:
    """Why `ref` does not resolve, or None when it does."""
    if ref.kind == "path":
        return _path_problem(ref.text)
    if ref.kind == "dotted":
        return _dotted_problem(ref.text)
    if ref.kind == "bare_py":
        return None if ref.text in _py_names() else "no repository file has this name"
    if ref.kind == "bare_attr":
        module, attr = ref.text.split(".", 1)
        files = _module_files().get(module, [])
        if not files:
            return "no repository module has this name"
        return None if any(attr in _top_level_names(f) for f in files) else f"{module} defines no {attr}"
    target = (ROOT / ref.source).parent / ref.text
    return None if target.exists() else "link target does not exist"


def _path_problem(text: str) -> str | None:
    if "*" in text:
        return None if any(ROOT.glob(text)) else "glob matches nothing"
    return None if (ROOT / text).exists() else "does not exist"


def _dotted_problem(text: str) -> str | None:
    parts = text.split(".")
    for cut in range(len(parts), 0, -1):
        module = _module_file(parts[:cut])
        if module is None:
            continue
        rest = parts[cut:]
        if not rest or rest[0] in _top_level_names(module):
            return None
        return f"{'.'.join(parts[:cut])} defines no {rest[0]}"
    return "no such module"


def _module_file(parts: list[str]) -> Path | None:
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=None)
def _top_level_names(module: Path) -> frozenset[str]:
    names = set()
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    if module.name == "__init__.py":
        names.update(p.stem for p in module.parent.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file())
    return frozenset(names)


def _repo_py_files() -> list[Path]:
    return [p for p in ROOT.rglob("*.py") if p.relative_to(ROOT).parts[0] not in SKIP_TOP]


@lru_cache(maxsize=None)
def _py_names() -> frozenset[str]:
    return frozenset(p.name for p in _repo_py_files())


@lru_cache(maxsize=None)
def _module_files() -> dict[str, list[Path]]:
    modules: dict[str, list[Path]] = {}
    for path in _repo_py_files():
        modules.setdefault(path.stem, []).append(path)
    return modules


def unresolved() -> list[tuple[Reference, str]]:
    """Every reference in the scanned files that does not resolve, with the reason."""
    out = []
    for path in python_files() + markdown_files():
        for ref in references(path):
            why = problem(ref)
            if why:
                out.append((ref, why))
    return out
