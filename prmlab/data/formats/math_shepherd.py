"""Math-Shepherd (arXiv:2312.08935) JSON lines: `input`, `label` (and `task`).

`input` is the problem followed by the steps, each step ending with the tag `ки`;
`label` is the same text with each `ки` replaced by `+` (good step) or `-` (bad step).

The splitting rule, exactly:

1. `input` is cut at every `ки`; what follows the last tag must be blank.
2. The first piece holds the problem and the first step: the step starts at the **last**
   occurrence of `Step 1:` in it (the published layout is "problem Step 1: ... ки\nStep 2: ...
   ки", and a problem may itself contain "Step 1:", so an earlier occurrence is part of the
   problem); the text before it is the problem. Without `Step 1:` the last `step 1:` is used,
   as TRL's own Math-Shepherd conversion does; with neither it is an error.
3. Every piece is one step. Steps keep their `Step k:` prefixes as part of the step text;
   surrounding whitespace (the space before each tag, the newline after it) is not kept.
4. `label` must be exactly `input` with each tag replaced by `+` or `-`, checked character by
   character (a problem may itself contain `+` or `-`).

Math-Shepherd's tags come from rollouts (a step is good if completions from it reach the
answer), so a `+` can follow a `-`. Prefix semantics cannot say that: by default such a line is
rejected; `after_error="wrong"` labels every step after the first `-` wrong instead (the
first `-` is the first error) and keeps the tags as given in `meta["step_tags"]` (e.g.
"+-+-"), which the writer writes back when they still agree with the labels. `task` goes to
`meta["task"]`; `source` is "math-shepherd"; the id is "<file stem>-<line>".

Writing adds a `Step k: ` prefix to steps that lack one (Math-Shepherd tools expect it), so a
record round-trips exactly when its steps carry those prefixes already; a record this reader
would not split back the same way (a first step containing "Step 1:" again, say) is refused.

>>> inp = "What is 2+2? Step 1: 2+2=5 ки\\nStep 2: The answer is: 5 ки"
>>> r = from_obj({"input": inp, "label": inp.replace("ки", "-")}, Where("m.jsonl", 1))
>>> r.problem, r.steps, r.labels
('What is 2+2?', ['Step 1: 2+2=5', 'Step 2: The answer is: 5'], [0, 0])
>>> to_obj(r, 0, "m.jsonl")["input"] == inp
True
>>> split_input("In Step 1: of a recipe, add 2 eggs. How many? Step 1: 2 ки", Where("m", 1))
('In Step 1: of a recipe, add 2 eggs. How many?', ['Step 1: 2'])
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable

from prmlab.atomic import write_jsonl
from prmlab.data.formats.common import (ReadReport, WriteError, Where, build, check_choice,
                                        default_id, get, need_object, prefix_labels,
                                        read_extras, read_jsonl_located, write_extras)
from prmlab.data.record import Record, first_error_from_labels
from prmlab.errors import InputError

NAME = "math-shepherd"
TAG = "ки"
OWN = ("input", "label", "task")
COVERED = ("problem", "steps", "labels", "first_error")
_STEP1 = "Step 1:"
_STEP1_LOWER = "step 1:"
TAGS_KEY = "step_tags"


def split_input(text: str, where: Where) -> tuple[str, list[str]]:
    """(problem, steps) of an `input` string, by the rule in the module docstring."""
    pieces = text.split(TAG)
    if len(pieces) < 2:
        raise where.error("input", f"no {TAG} step tags")
    if pieces[-1].strip():
        raise where.error("input", f"text after the last {TAG} tag")
    head, rest = pieces[0], pieces[1:-1]
    at = head.rfind(_STEP1)
    if at < 0:
        at = head.rfind(_STEP1_LOWER)
    if at < 0:
        raise where.error("input", f"no {_STEP1!r} separating the problem from the first step")
    steps = [head[at:].strip()] + [p.strip() for p in rest]
    for i, s in enumerate(steps):
        if not s:
            raise where.error("input", f"step {i + 1} is empty")
    return head[:at].strip(), steps


def tags_of(text: str, label: str, where: Where) -> list[bool]:
    """Per-step good/bad flags: `label` checked to be `text` with each tag replaced by +/-."""
    pieces = text.split(TAG)
    flags, pos = [], 0
    for i, piece in enumerate(pieces):
        if not label.startswith(piece, pos):
            diff = next((pos + j for j, (a, b) in enumerate(zip(piece, label[pos:])) if a != b),
                        min(len(label), pos + len(piece)))
            raise where.error("label", f"does not match input with each {TAG} replaced by + or "
                              f"- (they differ at character {diff})")
        pos += len(piece)
        if i < len(pieces) - 1:
            c = label[pos:pos + 1]
            if c not in ("+", "-"):
                raise where.error("label", f"tag {i + 1} is {c!r}, expected '+' or '-'")
            flags.append(c == "+")
            pos += 1
    if pos != len(label):
        raise where.error("label", f"has {len(label) - pos} extra characters after the input")
    return flags


def from_obj(obj: Any, where: Where, after_error: str = "reject") -> Record:
    obj = need_object(obj, where)
    text = get(obj, "input", str, where)
    label = get(obj, "label", str, where)
    task = get(obj, "task", str, where, optional=True)
    problem, steps = split_input(text, where)
    flags = tags_of(text, label, where)
    labels = prefix_labels(flags, where, "label", after_error)
    meta: dict[str, Any] = {} if task is None else {"task": task}
    if labels != [int(f) for f in flags]:
        meta[TAGS_KEY] = "".join("+" if f else "-" for f in flags)
    fields = {"id": default_id(where.path, where.n), "problem": problem, "steps": steps,
              "labels": labels, "first_error": first_error_from_labels(labels),
              "source": NAME, "meta": meta}
    return build(fields, read_extras(obj, OWN, where), COVERED, where)


def read_located(path: str | os.PathLike, text: str | None = None, *,
                 after_error: str = "reject", report: ReadReport | None = None
                 ) -> list[tuple[Where, Record]]:
    check_choice("after_error", after_error, ("reject", "wrong"))
    return read_jsonl_located(path, text, lambda obj, where: from_obj(obj, where, after_error),
                              report)


def read(path: str | os.PathLike, *, after_error: str = "reject") -> list[Record]:
    return [rec for _, rec in read_located(path, after_error=after_error)]


def to_obj(rec: Record, index: int, out_path: str | os.PathLike) -> dict[str, Any]:
    def fail(field: str, msg: str) -> WriteError:
        return WriteError(msg, index=index, field=field, record_id=rec.id)

    if TAG in rec.problem:
        raise fail("problem", f"contains the step tag {TAG!r}")
    tags = rec.meta.get(TAGS_KEY)
    if tags is not None:
        ok = (isinstance(tags, str) and len(tags) == len(rec.steps) and set(tags) <= {"+", "-"}
              and prefix_labels([t == "+" for t in tags], Where("", 0), "", "wrong")
              == rec.labels)
        if not ok:
            raise fail(f"meta.{TAGS_KEY}", f"the tags kept in meta.{TAGS_KEY} ({tags!r}) do not "
                       "agree with the record's labels (changed since it was read); remove that "
                       "key to write the labels")
    if rec.first_error is None and None not in rec.labels:
        raise fail("first_error", "math-shepherd cannot say that the first error is unknown while "
                   "every step label is known: a reader would take these labels as all correct")
    steps = []
    for k, (s, lab) in enumerate(zip(rec.steps, rec.labels), start=1):
        if TAG in s:
            raise fail(f"steps[{k - 1}]", f"contains the step tag {TAG!r}")
        if lab is None:
            raise fail(f"labels[{k - 1}]", "math-shepherd needs + or - for every step; this "
                       "label is unknown")
        s = s.strip()
        steps.append(s if re.match(rf"Step {k}:", s, re.IGNORECASE) else f"Step {k}: {s}")
    marks = tags if tags is not None else "".join("+" if lab else "-" for lab in rec.labels)
    text = rec.problem.strip() + " " + "\n".join(f"{s} {TAG}" for s in steps)
    label = rec.problem.strip() + " " + "\n".join(f"{s} {m}" for s, m in zip(steps, marks))
    try:
        back = split_input(text, Where("", 0))
    except InputError:
        back = None
    if back != (rec.problem.strip(), steps):
        raise fail("steps[0]", "math-shepherd would not split this record back into the same "
                   f"problem and steps (the first step must start with {_STEP1!r} and not "
                   "contain it again)")
    obj = {"input": text, "label": label}
    if "task" in rec.meta:
        obj["task"] = rec.meta["task"]
    obj.update(write_extras(rec, COVERED, default_id=default_id(str(out_path), index + 1),
                            default_source=NAME, meta_used=("task", TAGS_KEY)))
    return obj


def write(path: str | os.PathLike, records: Iterable[Record]) -> int:
    rows = [to_obj(r, i, path) for i, r in enumerate(records)]
    return write_jsonl(path, rows)
