"""TRL stepwise supervision JSON lines: `prompt`, `completions` (one string per step) and
`labels` (one per step), as TRL's PRM trainer reads them; TRL documents the labels as "a list
of booleans or floats indicating the correctness of each corresponding reasoning step".

How it maps onto the canonical record, explicitly:

- **Label semantics** (`label_semantics=`): `"independent"` (the default) reads each label as
  that step's own verdict, as TRL's datasets are built (trl-lib/prm800k and trl-lib's
  Math-Shepherd conversion label every step on its own, so a `true` may follow a `false`, and
  `false` includes PRM800K's neutral): the **first `false` is the first error**, and the
  canonical labels are correct before it and wrong from it on (prefix semantics). `"prefix"`
  says the file itself follows prefix semantics: a `true` after a `false` is then an error
  (`after_error="reject"`, the default there) or overridden to wrong (`after_error="wrong"`).
- **Floats** are soft targets in [0, 1], kept as given in the record's `soft_labels` (never
  rounded); the hard label of such a step is known only where the value is exactly 1 (correct)
  or 0 (wrong, and an error like `false`), unknown in between. Integers 0 and 1 are numbers,
  read the same way. Booleans in a row with floats count as 1.0 / 0.0 there.
- **Nothing dropped**: when the file's labels say more than the canonical labels (a `true`
  after a `false`, or booleans mixed with floats), they are kept as given in
  `meta["trl_labels"]`, which the writer writes back while they still agree with the record.

`source` is "trl" and the id "<file stem>-<line>" unless the line carries its own. Writing:
`meta["trl_labels"]` when kept, else `soft_labels` when the record has them, else booleans;
TRL has no "unknown", so an unknown label is a WriteError, not a guess, and so is a record
whose first error is unknown although every step label is known (a PRM800K give_up with only
correct steps): written as booleans it would read back as "all steps correct".

>>> r = from_obj({"prompt": "1+1?", "completions": ["1+1=2", "so 2"], "labels": [True, True]},
...              Where("t.jsonl", 1))
>>> r.labels, r.first_error
([1, 1], -1)
>>> to_obj(r, 0, "t.jsonl")
{'prompt': '1+1?', 'completions': ['1+1=2', 'so 2'], 'labels': [True, True]}
>>> r = from_obj({"prompt": "p", "completions": ["a", "b", "c"], "labels": [True, False, True]},
...              Where("t.jsonl", 2))
>>> r.labels, r.first_error, r.meta
([1, 0, 0], 1, {'trl_labels': [True, False, True]})
>>> r = from_obj({"prompt": "p", "completions": ["a", "b"], "labels": [0.75, 0.0]},
...              Where("t.jsonl", 3))
>>> r.labels, r.first_error, r.soft_labels
([None, 0], None, [0.75, 0.0])
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from prmlab.atomic import write_jsonl
from prmlab.data.formats.common import (ReadReport, WriteError, Where, build, check_choice,
                                        default_id, get, get_steps, need_object, read_extras,
                                        read_jsonl_located, type_name, write_extras)
from prmlab.data.record import Record, first_error_from_labels
from prmlab.errors import InputError

NAME = "trl"
OWN = ("prompt", "completions", "labels")
COVERED = ("problem", "steps", "labels", "first_error", "soft_labels")
SEMANTICS = ("independent", "prefix")
LABELS_KEY = "trl_labels"


def _check_values(flags: Any, n: int, where: Where, field: str = "labels") -> list:
    if not isinstance(flags, list):
        raise where.error(field, f"expected a list, got {type_name(flags)}")
    if len(flags) != n:
        raise where.error(field, f"has {len(flags)} entries for {n} completions")
    for i, f in enumerate(flags):
        if isinstance(f, bool):
            continue
        if not isinstance(f, (int, float)):
            raise where.error(f"{field}[{i}]", f"expected true, false or a number in [0, 1], "
                              f"got {type_name(f)}")
        if not 0 <= f <= 1:
            raise where.error(f"{field}[{i}]", f"soft label {f!r} is outside [0, 1]")
    return flags


def interpret(flags: list, where: Where, semantics: str = "independent",
              after_error: str = "reject") -> tuple[list[int | None], list[float] | None]:
    """(canonical labels, soft labels or None) of a row's labels, by the module's rules."""
    hard = [1 if f is True or (not isinstance(f, bool) and f == 1) else
            0 if f is False or (not isinstance(f, bool) and f == 0) else None for f in flags]
    soft = ([float(f) for f in flags] if any(not isinstance(f, bool) for f in flags) else None)
    if semantics == "prefix":  # the file claims prefix semantics: a 1 after a 0 breaks it
        first = next((i for i, h in enumerate(hard) if h == 0), None)
        bad = next((i for i, h in enumerate(hard) if first is not None and i > first and h == 1),
                   None)
        if bad is not None and after_error == "reject":
            raise where.error(f"labels[{bad}]", f"correct after the wrong step {first}, which "
                              "breaks prefix semantics (--after-error wrong labels every step "
                              "after the first wrong one wrong; --label-semantics independent "
                              "reads each label on its own)")
    labels: list[int | None] = []
    for h in hard:
        labels.append(0 if 0 in labels else h)  # wrong from the first error on
    return labels, soft


def from_obj(obj: Any, where: Where, after_error: str | None = None,
             label_semantics: str = "independent") -> Record:
    obj = need_object(obj, where)
    prompt = get(obj, "prompt", str, where)
    steps = get_steps(obj, "completions", where)
    flags = _check_values(get(obj, "labels", list, where), len(steps), where)
    labels, soft = interpret(flags, where, label_semantics, after_error or "reject")
    fields: dict[str, Any] = {"id": default_id(where.path, where.n), "problem": prompt,
                              "steps": steps, "labels": labels,
                              "first_error": first_error_from_labels(labels), "source": NAME,
                              "soft_labels": soft}
    if flags != _written_labels(labels, soft):
        fields["meta"] = {LABELS_KEY: list(flags)}
    return build(fields, read_extras(obj, OWN, where), COVERED, where)


def read_located(path: str | os.PathLike, text: str | None = None, *,
                 after_error: str | None = None, label_semantics: str = "independent",
                 report: ReadReport | None = None) -> list[tuple[Where, Record]]:
    check_choice("label_semantics", label_semantics, SEMANTICS)
    if after_error is not None:
        check_choice("after_error", after_error, ("reject", "wrong"))
        if label_semantics != "prefix":
            raise InputError("--after-error applies to trl only with --label-semantics prefix "
                             "(independent labels take the first false as the first error)",
                             path=str(path))
    return read_jsonl_located(path, text, lambda obj, where: from_obj(
        obj, where, after_error, label_semantics), report)


def read(path: str | os.PathLike, *, after_error: str | None = None,
         label_semantics: str = "independent") -> list[Record]:
    return [rec for _, rec in read_located(path, after_error=after_error,
                                           label_semantics=label_semantics)]


def _written_labels(labels: list[int | None], soft: list[float | None] | None) -> list | None:
    """The labels list the writer emits without kept labels; None if it cannot."""
    if soft is not None:
        return None if None in soft else list(soft)
    if any(lab not in (0, 1) or isinstance(lab, bool) for lab in labels):
        return None
    return [lab == 1 for lab in labels]


def to_obj(rec: Record, index: int, out_path: str | os.PathLike) -> dict[str, Any]:
    def fail(field: str, msg: str) -> WriteError:
        return WriteError(msg, index=index, field=field, record_id=rec.id)

    kept = rec.meta.get(LABELS_KEY)
    if kept is not None:
        try:
            flags = _check_values(kept, len(rec.steps), Where("", 0), f"meta.{LABELS_KEY}")
            again = interpret(flags, Where("", 0))
        except InputError as e:
            raise fail(f"meta.{LABELS_KEY}", e.message) from None
        if again != (rec.labels, rec.soft_labels):
            raise fail(f"meta.{LABELS_KEY}", f"the labels kept in meta.{LABELS_KEY} do not agree "
                       "with the record's labels (changed since it was read); remove that key to "
                       "write the labels")
        out = list(kept)
    else:
        out = _written_labels(rec.labels, rec.soft_labels)
        if out is None:
            soft = rec.soft_labels is not None
            values = rec.soft_labels if soft else rec.labels
            i = next(i for i, v in enumerate(values) if v is None or (not soft and v not in (0, 1)))
            field = "soft_labels" if soft else "labels"
            what = "unknown (null)" if values[i] is None else repr(values[i])
            raise fail(f"{field}[{i}]", f"trl needs true, false or a number for every step; "
                       f"this label is {what}")
    if first_error_from_labels(interpret(out, Where("", 0))[0]) != rec.first_error:
        raise fail("first_error", "trl cannot say that the first error is unknown while every "
                   "step label is known: a reader would take these labels as all correct")
    obj = {"prompt": rec.problem, "completions": list(rec.steps), "labels": out}
    obj.update(write_extras(rec, COVERED, default_id=default_id(str(out_path), index + 1),
                            default_source=NAME, meta_used=(LABELS_KEY,)))
    return obj


def write(path: str | os.PathLike, records: Iterable[Record]) -> int:
    rows = [to_obj(r, i, path) for i, r in enumerate(records)]
    return write_jsonl(path, rows)
