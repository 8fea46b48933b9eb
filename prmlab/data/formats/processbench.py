"""ProcessBench (arXiv:2412.06559): a JSON list of {id, generator, problem, steps,
final_answer_correct, label}.

`label` is the index of the first wrong step, -1 when every step is correct; that is exactly
the canonical `first_error`, and the step labels follow by prefix semantics. `generator` goes
to `meta["generator"]`, `final_answer_correct` to `answer_correct`. The file has no final
answer. `source` is "processbench/<file stem>" (the split: gsm8k, math, ...) unless the record
carries its own. Errors name the record by its 1-based position ("record N") because a JSON
array has no lines to speak of; a JSON-lines file with the same fields is read too.

>>> import json, tempfile, os
>>> d = tempfile.mkdtemp(); p = os.path.join(d, "gsm8k.json")
>>> _ = open(p, "w").write(json.dumps([{"id": "gsm8k-0", "generator": "m", "problem": "1+1?",
...     "steps": ["1+1=3", "so 3"], "final_answer_correct": False, "label": 0}]))
>>> r = read(p)[0]
>>> r.first_error, r.labels, r.answer_correct, r.source, r.meta
(0, [0, 0], False, 'processbench/gsm8k', {'generator': 'm'})
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from prmlab.atomic import write_text
from prmlab.data.formats.common import (ReadReport, WriteError, Where, build, get, get_steps,
                                        guarded, need_object, read_extras, read_jsonl_located,
                                        type_name, write_extras)
from prmlab.data.jsonl import read_text
from prmlab.data.record import Record, labels_from_first_error
from prmlab.errors import InputError
from prmlab.strict import dumps, loads

NAME = "processbench"
OWN = ("id", "generator", "problem", "steps", "final_answer_correct", "label")
COVERED = ("id", "problem", "steps", "labels", "first_error", "answer_correct")


def _default_source(path: str | os.PathLike) -> str:
    return f"{NAME}/{Path(path).stem}"


def from_obj(obj: Any, where: Where) -> Record:
    """One ProcessBench object as a canonical record."""
    obj = need_object(obj, where)
    rid = get(obj, "id", str, where)
    problem = get(obj, "problem", str, where)
    steps = get_steps(obj, "steps", where)
    label = get(obj, "label", int, where)
    if not -1 <= label < len(steps):
        raise where.error("label", f"{label} is out of range for {len(steps)} steps "
                          "(expected -1 or a step index)")
    generator = get(obj, "generator", str, where, optional=True)
    correct = get(obj, "final_answer_correct", bool, where, optional=True)
    fields = {"id": rid, "problem": problem, "steps": steps, "first_error": label,
              "labels": labels_from_first_error(label, len(steps)), "answer_correct": correct,
              "source": _default_source(where.path),
              "meta": {} if generator is None else {"generator": generator}}
    return build(fields, read_extras(obj, OWN, where), COVERED, where)


def read_located(path: str | os.PathLike, text: str | None = None, *,
                 report: ReadReport | None = None) -> list[tuple[Where, Record]]:
    """(location, record) pairs of a ProcessBench JSON array (or JSON-lines) file.

    Under `report.skip_bad` a record that cannot be converted is skipped and counted; a file
    that is not a JSON array at all is still an error (there is no record to skip to).
    """
    path = str(path)
    if text is None:
        text = read_text(path)
    if not text.lstrip().startswith("["):
        return read_jsonl_located(path, text, from_obj, report)
    data = loads(text, path=path)
    if not isinstance(data, list):
        raise InputError(f"expected a JSON array of records, got {type_name(data)}", path=path)
    out = []
    for i, obj in enumerate(data, start=1):
        where = Where(path, i, "record")
        rec = guarded(report, lambda: from_obj(obj, where))
        if rec is not None:
            out.append((where, rec))
    return out


def read(path: str | os.PathLike) -> list[Record]:
    return [rec for _, rec in read_located(path)]


def to_obj(rec: Record, index: int, out_path: str | os.PathLike) -> dict[str, Any]:
    """One canonical record as a ProcessBench object; unknown labels cannot be written."""
    if rec.first_error is None:
        raise WriteError("processbench needs a known first error (label), but this record's "
                         "labels are unknown", index=index, field="first_error",
                         record_id=rec.id)
    obj = {"id": rec.id, "generator": rec.meta.get("generator"), "problem": rec.problem,
           "steps": list(rec.steps), "final_answer_correct": rec.answer_correct,
           "label": rec.first_error}
    obj.update(write_extras(rec, COVERED, default_source=_default_source(out_path),
                            meta_used=("generator",)))
    return obj


def write(path: str | os.PathLike, records: Iterable[Record]) -> int:
    """Write a JSON array (ProcessBench's own layout), atomically."""
    rows = [to_obj(r, i, path) for i, r in enumerate(records)]
    write_text(path, dumps(rows, indent=1) + "\n")
    return len(rows)
