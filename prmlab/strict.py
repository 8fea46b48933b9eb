"""Strict JSON (and YAML) in and out: every way a file can be wrong is an `InputError`.

Reading refuses what Python's `json` module would accept or crash on:

- `NaN`, `Infinity`, `-Infinity` (not JSON) and numbers that overflow to infinity (`1e999`);
- integers of more than `MAX_INT_DIGITS` digits (beyond a float's range; Python itself raises a
  bare ValueError above 4300 digits);
- nesting deeper than `MAX_DEPTH` (100k-deep brackets raise RecursionError inside the parser);
- duplicate keys in one object (JSON leaves their meaning open; Python keeps the last silently);
- lone UTF-16 surrogates (`"\\ud800"`): they parse, then fail when written as UTF-8.

Each error names the file, the line when known, and the field when the problem is inside a
value. Writing (`dumps`) never emits NaN or Infinity: a non-finite float is written as `null`,
as JavaScript's JSON.stringify does, so the output is JSON every reader accepts.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from prmlab.errors import InputError

MAX_INT_DIGITS = 300  # 10**300 still converts to a float; 4300 is Python's own hard limit
MAX_DEPTH = 100
_SURROGATE = re.compile("[\ud800-\udfff]")
_YAML_FLOW = re.compile(r"[\[\]{}]")
_YAML_QUOTED = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*'|(?:(?<=\s)|^)#[^\n]*", re.M)


class _Refused(ValueError):
    """Raised from inside the parser's callbacks; turned into an InputError by `loads`."""


def _parse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not valid JSON (strict JSON has no NaN or Infinity)")


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {digits} digits is too large "
                       f"(at most {MAX_INT_DIGITS} digits)")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > MAX_INT_DIGITS + 50:
        raise _Refused(f"a number written with {len(text)} characters is too long")
    v = float(text)
    if not math.isfinite(v):
        shown = text if len(text) <= 20 else text[:17] + "..."
        raise _Refused(f"the number {shown} is out of range")
    return v


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise _Refused(f"duplicate key {k[:40]!r} in one object")
            seen.add(k)
    return out


def _field(path: tuple) -> str | None:
    if not path:
        return None
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (("." if out else "") + str(p)[:40])
    return out


def check_value(obj: Any, *, path: str | os.PathLike | None = None, line: int | None = None,
                max_depth: int = MAX_DEPTH, what: str = "JSON") -> Any:
    """Walk a parsed value (without recursion): depth, surrogates, non-finite floats, huge ints.

    Shared objects (YAML aliases) are visited once, so a "billion laughs" document stays linear.
    """
    p = None if path is None else str(path)
    stack: list[tuple[Any, tuple, int]] = [(obj, (), 0)]
    seen: set[int] = set()
    while stack:
        v, where, depth = stack.pop()
        if isinstance(v, str):
            if _SURROGATE.search(v):
                raise InputError("a lone UTF-16 surrogate (\\ud800-\\udfff) is not text",
                                 path=p, line=line, field=_field(where))
            continue
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, float):
            if not math.isfinite(v):
                raise InputError(f"{v} is not allowed (strict {what}: finite numbers only)",
                                 path=p, line=line, field=_field(where))
            continue
        if isinstance(v, int):
            if v.bit_length() > 1000:  # about 301 digits; bit_length never converts to text
                raise InputError(f"an integer of about {int(v.bit_length() * 0.30103)} digits is "
                                 f"too large (at most {MAX_INT_DIGITS} digits)",
                                 path=p, line=line, field=_field(where))
            continue
        if isinstance(v, (dict, list, tuple, set)):
            if id(v) in seen:
                continue
            seen.add(id(v))
            if depth >= max_depth:
                raise InputError(f"nested more than {max_depth} levels deep", path=p, line=line,
                                 field=_field(where[:8]) and _field(where[:8]) + "...")
            if isinstance(v, dict):
                for k, x in v.items():
                    if isinstance(k, str) and _SURROGATE.search(k):
                        raise InputError("a key holds a lone UTF-16 surrogate", path=p,
                                         line=line, field=_field(where))
                    stack.append((x, where + (k,), depth + 1))
            else:
                for i, x in enumerate(v):
                    stack.append((x, where + (i,), depth + 1))
    return obj


def loads(text: str, *, path: str | os.PathLike | None = None, line: int | None = None) -> Any:
    """Parse strict JSON; InputError (naming `path`, `line` and the field) for anything else.

    `line` is the line of `text` in its file (JSON lines); for a whole document the parser's
    own line is used.

    >>> loads('{"a": [1, 2.5, null]}')
    {'a': [1, 2.5, None]}
    >>> loads('[NaN]', path="x.json")
    Traceback (most recent call last):
    prmlab.errors.InputError: x.json: NaN is not valid JSON (strict JSON has no NaN or Infinity)
    >>> loads('1' * 5000, path="x.jsonl", line=3)
    Traceback (most recent call last):
    prmlab.errors.InputError: x.jsonl:3: an integer of 5000 digits is too large (at most 300 digits)
    """
    p = None if path is None else str(path)
    try:
        obj = json.loads(text, parse_constant=_parse_constant, parse_int=_parse_int,
                         parse_float=_parse_float, object_pairs_hook=_pairs)
    except json.JSONDecodeError as e:
        raise InputError(f"malformed JSON: {e.msg} (column {e.colno})", path=p,
                         line=line if line is not None else e.lineno) from None
    except RecursionError:
        raise InputError(f"malformed JSON: nested more than {MAX_DEPTH} levels deep", path=p,
                         line=line) from None
    except _Refused as e:
        raise InputError(str(e), path=p, line=line) from None
    except ValueError as e:  # any other refusal from inside the parser
        raise InputError(f"malformed JSON: {str(e).splitlines()[0][:200]}", path=p,
                         line=line) from None
    return check_value(obj, path=p, line=line)


def read_bytes(path: str | os.PathLike, what: str = "a file", *, note: bool = True) -> bytes:
    """The file's bytes, or an InputError saying why it cannot be read. Within a CLI command the
    file is noted as an input, which prmlab will then refuse to write onto."""
    p = Path(path)
    try:
        raw = p.read_bytes()
        if note:
            from prmlab.outdir import note_input

            note_input(p)
        return raw
    except FileNotFoundError:
        raise InputError("no such file", path=str(path)) from None
    except IsADirectoryError:
        raise InputError(f"is a folder, expected {what}", path=str(path)) from None
    except NotADirectoryError:
        raise InputError("a parent of this path is a file, not a folder", path=str(path)) from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", path=str(path)) from None


def decode(raw: bytes, path: str | os.PathLike | None = None) -> str:
    """UTF-8 text (a leading byte-order mark dropped), or an InputError naming the line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(f"not valid UTF-8 (byte {e.start})",
                         path=None if path is None else str(path), line=line) from None


def read_json(path: str | os.PathLike, *, note: bool = True) -> Any:
    """A whole JSON file, strictly parsed (`note`: as `read_bytes`)."""
    return loads(decode(read_bytes(path, "a JSON file", note=note), path), path=path)


def dumps(obj: Any, **kw: Any) -> str:
    """`json.dumps` that never writes NaN or Infinity: non-finite floats become null.

    >>> dumps({"a": float("nan"), "b": [1.5, float("inf")]}, sort_keys=True)
    '{"a": null, "b": [1.5, null]}'
    """
    kw.setdefault("ensure_ascii", False)
    try:
        return json.dumps(obj, allow_nan=False, **kw)
    except ValueError as e:
        if "JSON compliant" not in str(e):
            raise
    return json.dumps(_finite(obj), allow_nan=False, **kw)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def load_yaml(text: str, *, path: str | os.PathLike | None = None) -> Any:
    """`yaml.safe_load` whose every failure is an InputError; NaN/.inf, huge integers and deep
    nesting are refused as in JSON."""
    import yaml

    p = None if path is None else str(path)
    depth = deepest = 0  # flow nesting, counted before the (slow, recursive) YAML parser runs
    for m in _YAML_FLOW.finditer(_YAML_QUOTED.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise InputError(f"not valid YAML: nested more than {MAX_DEPTH} levels deep", path=p)
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InputError(f"not valid YAML: {str(e).splitlines()[0]}", path=p) from None
    except RecursionError:
        raise InputError(f"not valid YAML: nested more than {MAX_DEPTH} levels deep",
                         path=p) from None
    except (ValueError, TypeError, OverflowError) as e:  # e.g. a 5000-digit integer
        raise InputError(f"not valid YAML: {str(e).splitlines()[0][:200]}", path=p) from None
    return check_value(obj, path=p, what="YAML")


def read_yaml(path: str | os.PathLike) -> Any:
    """A whole YAML file (config), strictly parsed; None for an empty file."""
    return load_yaml(decode(read_bytes(path, "a YAML file"), path), path=path)
