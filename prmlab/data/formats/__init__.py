"""Readers and writers for the public step-label formats, behind one registry.

Every format maps onto the canonical record (prefix-semantics labels) explicitly; each module's
docstring states its mapping. Names: `prmlab` (canonical JSONL), `processbench`, `prm800k`,
`math-shepherd`, `trl`. What a format cannot represent (unknown labels in TRL, say) is an
`InputError` when writing, never a silent guess; what it has no field for travels as extra
keys (see `common`), so canonical -> format -> canonical gives back the same records.

When no format is named it is sniffed from the content: a JSON array is ProcessBench; for JSON
lines the first record's keys decide (`question`+`label`: prm800k, `input`+`label`:
math-shepherd, `prompt`+`completions`: trl, `steps`+`label`: processbench, `steps`+`labels`
or `first_error`: prmlab). The extension is not trusted on its own (`.jsonl` fits four).

>>> import tempfile, os
>>> from prmlab.data.record import Record
>>> d = tempfile.mkdtemp()
>>> rec = Record(id="a", problem="1+1?", steps=["1+1=3", "so 3"], labels=[0, 0], first_error=0)
>>> write_any(os.path.join(d, "x.jsonl"), [rec], "trl")
1
>>> sniff_path(os.path.join(d, "x.jsonl"))
'trl'
>>> read_any(os.path.join(d, "x.jsonl")) == [rec]
True
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Iterable

from prmlab.data.formats import math_shepherd, processbench, prm800k, trl
from prmlab.data.formats.common import ReadReport, Where, WriteError, read_jsonl_located
from prmlab.data.jsonl import read_text, write_records
from prmlab.data.record import Record, record_from_dict
from prmlab.errors import InputError
from prmlab.strict import loads

__all__ = ["FORMATS", "Format", "ReadReport", "Where", "WriteError", "get_format", "read_any",
           "read_any_located", "representable", "sniff", "sniff_path", "write_any"]


@dataclasses.dataclass(frozen=True)
class Format:
    name: str
    summary: str
    read_located: Callable[..., list[tuple[Where, Record]]]  # (path, text, *, report, **options)
    write: Callable[[str | os.PathLike, Iterable[Record]], int]
    options: tuple[str, ...] = ()
    # (record, index, out path) -> the native object, or WriteError; None: every record fits
    to_obj: Callable[[Record, int, str | os.PathLike], Any] | None = None


def _prmlab_located(path: str | os.PathLike, text: str | None = None, *,
                    report: ReadReport | None = None) -> list[tuple[Where, Record]]:
    return read_jsonl_located(path, text, lambda obj, where: record_from_dict(
        obj, path=where.path, line=where.n), report)


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("prmlab", "canonical records, JSON lines", _prmlab_located, write_records),
    Format("processbench", "ProcessBench JSON array (label = first error, -1 none)",
           processbench.read_located, processbench.write, (), processbench.to_obj),
    Format("prm800k", "PRM800K JSON lines (ratings -1/0/+1)", prm800k.read_located,
           prm800k.write, ("neutral", "unfinished"), prm800k.to_obj),
    Format("math-shepherd", "Math-Shepherd JSON lines (ки tags, +/- labels)",
           math_shepherd.read_located, math_shepherd.write, ("after_error",),
           math_shepherd.to_obj),
    Format("trl", "TRL stepwise JSON lines (prompt, completions, labels)", trl.read_located,
           trl.write, ("after_error", "label_semantics"), trl.to_obj),
)}


def get_format(name: str) -> Format:
    """The registered format called `name`, or an InputError listing the known ones.

    >>> get_format("csv")
    Traceback (most recent call last):
    prmlab.errors.InputError: unknown format 'csv' (known: prmlab, processbench, prm800k, ...)
    """
    if name not in FORMATS:
        raise InputError(f"unknown format {name!r} (known: {', '.join(FORMATS)})")
    return FORMATS[name]


def sniff(path: str | os.PathLike, text: str) -> str:
    """The format of `text` (read from `path`), by the rules in the module docstring."""
    if text.lstrip().startswith("["):
        return "processbench"
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        obj = loads(line, path=path, line=n)
        keys = set(obj) if isinstance(obj, dict) else set()
        for name, need in (("prm800k", {"question", "label"}), ("math-shepherd", {"input", "label"}),
                           ("trl", {"prompt", "completions"}), ("processbench", {"steps", "label"}),
                           ("prmlab", {"steps", "labels"}), ("prmlab", {"steps", "first_error"})):
            if need <= keys:
                return name
        what = f"keys: {', '.join(sorted(keys))}" if keys else "not a JSON object"
        raise InputError(f"cannot tell the format from the first record ({what}); name it with "
                         f"--from/--format (one of {', '.join(FORMATS)})", path=str(path), line=n)
    raise InputError("no records", path=str(path))


def sniff_path(path: str | os.PathLike) -> str:
    return sniff(path, read_text(path))


def read_any_located(path: str | os.PathLike, fmt: str | None = None, *,
                     report: ReadReport | None = None, **options: Any
                     ) -> tuple[str, list[tuple[Where, Record]]]:
    """(format name, [(where, record)]) for a file; ids must be unique, options must apply.

    Options left as None are ignored, so a CLI can pass its flags through unconditionally.
    `report` collects what was dropped by option and, when `report.skip_bad`, the records that
    could not be converted (a duplicate id among them), instead of stopping at the first.
    """
    text = read_text(path)
    f = get_format(fmt) if fmt is not None else get_format(sniff(path, text))
    options = {k: v for k, v in options.items() if v is not None}
    for k in options:
        if k not in f.options:
            users = [g.name for g in FORMATS.values() if k in g.options]
            raise InputError(f"--{k.replace('_', '-')} applies to {', '.join(users) or 'no format'}"
                             f", not to {f.name}", path=str(path))
    located = f.read_located(path, text, report=report, **options)
    seen: dict[str, Where] = {}
    kept = []
    for where, rec in located:
        if rec.id in seen:
            err = where.error("id", f"duplicate id {rec.id!r} (first at {seen[rec.id]})")
            if report is None or not report.skip_bad:
                raise err
            report.skip(err)
            continue
        seen[rec.id] = where
        kept.append((where, rec))
    if not kept:
        left = "; ".join(report.summary()) if report is not None else ""
        raise InputError("no records" + (f" ({left})" if left else ""), path=str(path))
    return f.name, kept


def read_any(path: str | os.PathLike, fmt: str | None = None, **options: Any) -> list[Record]:
    """All records of a file in any registered format (sniffed when `fmt` is None)."""
    return [rec for _, rec in read_any_located(path, fmt, **options)[1]]


def representable(records: list[Record], fmt: str, out_path: str | os.PathLike
                  ) -> list[tuple[int, WriteError | None]]:
    """(index, None or the WriteError) per record: whether format `fmt` can hold it."""
    to_obj = get_format(fmt).to_obj
    out: list[tuple[int, WriteError | None]] = []
    for i, rec in enumerate(records):
        try:
            if to_obj is not None:
                to_obj(rec, i, out_path)
            out.append((i, None))
        except WriteError as e:
            out.append((i, e))
    return out


def write_any(path: str | os.PathLike, records: Iterable[Record], fmt: str) -> int:
    """Write records atomically in format `fmt`; WriteError if one cannot be represented."""
    return get_format(fmt).write(path, list(records))
