"""Atomic file writes: a reader (or a run restarted after a kill) sees the old file or the new one, never
half of one. Checkpoints, shards, manifests, results and figures are all written through here."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


@contextmanager
def atomic_file(path: str | Path, *, permissions: int | None = None) -> Iterator[BinaryIO]:
    """Open a temp file beside `path` for binary writing; on a clean exit flush, fsync and os.replace it
    onto `path` (atomic on POSIX), on an error delete it. The result gets `permissions`, else what a plain
    open() would give (0666 & ~umask; mkstemp alone makes 0600). Folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o666 & ~_umask() if permissions is None else permissions)
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, payload: bytes) -> None:
    """Write `payload` to `path` atomically (atomic_file)."""
    with atomic_file(path) as handle:
        handle.write(payload)


def _umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask(x) is process-wide)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask
