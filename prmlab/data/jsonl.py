"""Reading and writing canonical JSONL, with errors that name the file, line and field.

Every line is parsed as strict JSON (`prmlab.strict.loads`): NaN/Infinity, integers beyond a
float's range, nesting deeper than 100 levels, duplicate keys and lone surrogates are refused
with the file and line, never a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Iterator

from prmlab.atomic import write_jsonl
from prmlab.data.record import Record, record_from_dict
from prmlab.errors import InputError
from prmlab.outdir import note_input
from prmlab.strict import loads


def read_text(path: str | os.PathLike) -> str:
    """The whole file as UTF-8 text, or an InputError saying why it cannot be read."""
    p = Path(path)
    try:
        raw = p.read_bytes()
        note_input(p)  # within a CLI command, never written onto afterwards
    except FileNotFoundError:
        raise InputError("no such file", path=str(path)) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", path=str(path)) from None
    except NotADirectoryError:
        raise InputError("a parent of this path is a file, not a folder", path=str(path)) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", path=str(path)) from None
    try:
        return raw.decode("utf-8-sig")  # a leading byte-order mark is not part of the JSON
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(f"not valid UTF-8 (byte {e.start})", path=str(path), line=line) from None


def iter_json_lines(path: str | os.PathLike, text: str | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) for each non-blank line; `text` saves reading it again."""
    if text is None:
        text = read_text(path)
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        yield i, loads(line, path=path, line=i)


def iter_records(path: str | os.PathLike, text: str | None = None) -> Iterator[tuple[int, Record]]:
    """(line number, validated record) for each record of a canonical JSONL file."""
    for line, obj in iter_json_lines(path, text):
        yield line, record_from_dict(obj, path=str(path), line=line)


def read_records(path: str | os.PathLike, text: str | None = None) -> list[Record]:
    """All canonical records of a JSONL file, validated; ids must be unique."""
    out: list[Record] = []
    seen: dict[str, int] = {}
    for line, rec in iter_records(path, text):
        if rec.id in seen:
            raise InputError(f"duplicate id {rec.id!r} (first on line {seen[rec.id]})",
                             path=str(path), line=line, field="id")
        seen[rec.id] = line
        out.append(rec)
    if not out:
        raise InputError("no records", path=str(path))
    return out


def write_records(path: str | os.PathLike, records: Iterable[Record]) -> int:
    return write_jsonl(path, (r.to_dict() for r in records))
