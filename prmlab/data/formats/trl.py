"""TRL stepwise supervision JSON lines: `prompt`, `completions` (one string per step) and
`labels` (one true/false per step), as TRL's PRM trainer reads them.

`labels` must be JSON booleans (TRL has no "unknown"): writing a record whose labels are not
all known is an error, not a guess. A `true` after a `false` breaks prefix semantics: it is
rejected by default, or with `after_error="wrong"` every step after the first `false` becomes
wrong. `source` is "trl" and the id "<file stem>-<line>" unless the line carries its own.

>>> r = from_obj({"prompt": "1+1?", "completions": ["1+1=2", "so 2"], "labels": [True, True]},
...              Where("t.jsonl", 1))
>>> r.labels, r.first_error
([1, 1], -1)
>>> to_obj(r, 0, "t.jsonl")
{'prompt': '1+1?', 'completions': ['1+1=2', 'so 2'], 'labels': [True, True]}
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from prmlab.atomic import write_jsonl
from prmlab.data.formats.common import (WriteError, Where, build, check_choice, default_id, get,
                                        read_jsonl_located,
                                        get_steps, need_object, prefix_labels, read_extras,
                                        type_name, write_extras)
from prmlab.data.record import Record, first_error_from_labels

NAME = "trl"
OWN = ("prompt", "completions", "labels")
COVERED = ("problem", "steps", "labels", "first_error")


def from_obj(obj: Any, where: Where, after_error: str = "reject") -> Record:
    obj = need_object(obj, where)
    prompt = get(obj, "prompt", str, where)
    steps = get_steps(obj, "completions", where)
    flags = get(obj, "labels", list, where)
    if len(flags) != len(steps):
        raise where.error("labels", f"has {len(flags)} entries for {len(steps)} completions")
    for i, f in enumerate(flags):
        if not isinstance(f, bool):
            raise where.error(f"labels[{i}]", f"expected true or false, got {type_name(f)}")
    labels = prefix_labels(flags, where, "labels", after_error)
    fields = {"id": default_id(where.path, where.n), "problem": prompt, "steps": steps,
              "labels": labels, "first_error": first_error_from_labels(labels),
              "source": NAME}
    return build(fields, read_extras(obj, OWN, where), COVERED, where)


def read_located(path: str | os.PathLike, text: str | None = None, *,
                 after_error: str = "reject") -> list[tuple[Where, Record]]:
    check_choice("after_error", after_error, ("reject", "wrong"))
    return read_jsonl_located(path, text, lambda obj, where: from_obj(obj, where, after_error))


def read(path: str | os.PathLike, *, after_error: str = "reject") -> list[Record]:
    return [rec for _, rec in read_located(path, after_error=after_error)]


def to_obj(rec: Record, index: int, out_path: str | os.PathLike) -> dict[str, Any]:
    for i, lab in enumerate(rec.labels):
        if lab not in (0, 1) or isinstance(lab, bool):
            what = "unknown (null)" if lab is None else repr(lab)
            raise WriteError(f"trl needs true or false for every step; this label is {what}",
                             index=index, field=f"labels[{i}]", record_id=rec.id)
    obj = {"prompt": rec.problem, "completions": list(rec.steps),
           "labels": [lab == 1 for lab in rec.labels]}
    obj.update(write_extras(rec, COVERED, default_id=default_id(str(out_path), index + 1),
                            default_source=NAME))
    return obj


def write(path: str | os.PathLike, records: Iterable[Record]) -> int:
    rows = [to_obj(r, i, path) for i, r in enumerate(records)]
    return write_jsonl(path, rows)
