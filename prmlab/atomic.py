"""Atomic file writes: a reader sees the old file or the whole new one, never half of it.

Every write goes through `prmlab.outdir`: a symbolic link, folder or device is never replaced,
nor a file in a prmlab folder that prmlab did not write; each file written is recorded in the
manifest of the prmlab folder it belongs to. JSON is strict (`prmlab.strict.dumps`: no NaN or
Infinity). An OS error (read-only folder, disk full) names the file being written.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

from prmlab import outdir
from prmlab.strict import dumps


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Write to a temporary file beside `path`; rename over it only if the block succeeds."""
    path = Path(path)
    outdir.check_target(path)
    tmp = None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:  # the folder is read-only, full, ...: name it, not the temporary name
        raise OSError(e.errno, e.strerror or str(e), str(path.parent)) from None
    ident = outdir.identity(tmp)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes files private; outputs are ordinary files
        outdir.check_target(path)  # nothing put a link or a device there meanwhile
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        if e.filename is None or (tmp is not None and e.filename == tmp):
            # a failed write() or fsync() names no file: name the one being written
            raise OSError(e.errno, e.strerror or str(e), str(path)) from None
        raise
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                outdir.remove_own(tmp, ident)
    outdir.record_written(path)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, dumps(obj, indent=2, sort_keys=True) + "\n")


def write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> int:
    n = 0
    with atomic_open(path) as f:
        for row in rows:
            f.write(dumps(row) + "\n")
            n += 1
    return n
