"""The canonical record: one step-by-step solution with prefix-semantics step labels.

Fields (DESIGN.md): id, problem, steps, labels (1/0/None per step), first_error (-1 none,
None unknown), answer, answer_correct, source, meta, and optionally soft_labels. Prefix
semantics: labels are 1...1 0...0, so `labels` follows from `first_error` and vice versa, with
one allowance: `first_error: null` beside labels that show no error means "no error among the
labelled steps, but the solution is not known to be complete" (a PRM800K labeler who gave up).

`soft_labels` (absent or null in files that have none, so older files read as before, and
`to_dict` leaves it out when it is None) holds per-step soft targets in [0, 1] as a file gave
them (TRL's float labels, Monte-Carlo estimates), never rounded; null where a step has none.
The hard `labels` stay what the file says for certain (a soft 0.7 is an unknown hard label).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from prmlab.errors import InputError

FIELDS = ("id", "problem", "steps", "labels", "first_error", "answer", "answer_correct",
          "source", "meta", "soft_labels")


@dataclasses.dataclass
class Record:
    id: str
    problem: str
    steps: list[str]
    labels: list[int | None]
    first_error: int | None
    answer: str | None = None
    answer_correct: bool | None = None
    source: str = ""
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    soft_labels: list[float | None] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object; `soft_labels` only when set, so records without it keep their bytes
        (and the cache keys computed from them)."""
        return {f: getattr(self, f) for f in FIELDS if f != "soft_labels" or self.soft_labels
                is not None}

    @property
    def is_correct(self) -> bool | None:
        """True when every step is correct, False when one is wrong, None when unknown."""
        return None if self.first_error is None else self.first_error == -1


def labels_from_first_error(first_error: int, n_steps: int) -> list[int]:
    """Prefix semantics: steps before the first error are 1, it and everything after are 0.

    >>> labels_from_first_error(-1, 3)
    [1, 1, 1]
    >>> labels_from_first_error(1, 4)
    [1, 0, 0, 0]
    """
    if first_error == -1:
        return [1] * n_steps
    return [1] * first_error + [0] * (n_steps - first_error)


def first_error_from_labels(labels: list[int | None]) -> int | None:
    """Index of the first 0; -1 when all are 1; None when a None comes before any 0.

    >>> first_error_from_labels([1, 1, 0, 0])
    2
    >>> first_error_from_labels([1, 1])
    -1
    >>> first_error_from_labels([1, None, None]) is None
    True
    """
    for i, lab in enumerate(labels):
        if lab is None:
            return None
        if lab == 0:
            return i
    return -1


def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def record_from_dict(obj: Any, *, path: str | None = None, line: int | None = None) -> Record:
    """Validate one canonical JSON object; raise InputError naming file, line and field."""

    def fail(field: str | None, msg: str) -> InputError:
        return InputError(msg, path=path, line=line, field=field)

    if not isinstance(obj, dict):
        raise fail(None, f"expected a JSON object, got {_type_name(obj)}")
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        raise fail(unknown[0], f"unknown field (known: {', '.join(FIELDS)})")
    for req in ("id", "problem", "steps", "labels", "first_error"):
        if req not in obj:
            raise fail(req, "missing required field")
    rid, problem, steps, labels, fe = (obj[k] for k in ("id", "problem", "steps", "labels",
                                                          "first_error"))
    if not isinstance(rid, str) or not rid:
        raise fail("id", f"expected a non-empty string, got {_type_name(rid)}")
    if not isinstance(problem, str):
        raise fail("problem", f"expected a string, got {_type_name(problem)}")
    if not isinstance(steps, list) or not steps:
        raise fail("steps", "expected a non-empty list of strings")
    for i, s in enumerate(steps):
        if not isinstance(s, str):
            raise fail(f"steps[{i}]", f"expected a string, got {_type_name(s)}")
        if not s.strip():
            raise fail(f"steps[{i}]", "empty step")
    if not isinstance(labels, list):
        raise fail("labels", f"expected a list, got {_type_name(labels)}")
    if len(labels) != len(steps):
        raise fail("labels", f"has {len(labels)} entries for {len(steps)} steps")
    for i, lab in enumerate(labels):
        if lab is not None and (isinstance(lab, bool) or not isinstance(lab, int)
                                or lab not in (0, 1)):
            raise fail(f"labels[{i}]", f"expected 1, 0 or null, got {lab!r}")
    if fe is not None and (isinstance(fe, bool) or not isinstance(fe, int)):
        raise fail("first_error", f"expected an integer or null, got {_type_name(fe)}")
    if fe is not None and not -1 <= fe < len(steps):
        raise fail("first_error", f"{fe} is out of range for {len(steps)} steps")
    # Prefix semantics: after a 0 only 0 or null; before the first 0 only 1 or null.
    seen_zero = False
    for i, lab in enumerate(labels):
        if seen_zero and lab == 1:
            raise fail(f"labels[{i}]", "a correct step after a wrong one breaks prefix semantics")
        seen_zero = seen_zero or lab == 0
    if fe is not None:
        known = [lab for lab in labels if lab is not None]
        if known:
            expect = labels_from_first_error(fe, len(steps))
            for i, lab in enumerate(labels):
                if lab is not None and lab != expect[i]:
                    raise fail(f"labels[{i}]", f"is {lab} but first_error={fe} implies {expect[i]}")
    else:  # null beside labels without a 0 is allowed: no error seen, completion not known
        derived = first_error_from_labels(labels)
        if derived is not None and derived >= 0:
            raise fail("first_error", f"is null but labels imply {derived}")
    answer = obj.get("answer")
    if answer is not None and not isinstance(answer, str):
        raise fail("answer", f"expected a string or null, got {_type_name(answer)}")
    ac = obj.get("answer_correct")
    if ac is not None and not isinstance(ac, bool):
        raise fail("answer_correct", f"expected true, false or null, got {_type_name(ac)}")
    source = obj.get("source", "")
    if not isinstance(source, str):
        raise fail("source", f"expected a string, got {_type_name(source)}")
    meta = obj.get("meta", {})
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise fail("meta", f"expected an object, got {_type_name(meta)}")
    soft = obj.get("soft_labels")
    if soft is not None:
        if not isinstance(soft, list):
            raise fail("soft_labels", f"expected a list or null, got {_type_name(soft)}")
        if len(soft) != len(steps):
            raise fail("soft_labels", f"has {len(soft)} entries for {len(steps)} steps")
        for i, v in enumerate(soft):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not 0 <= v <= 1):
                raise fail(f"soft_labels[{i}]", f"expected a number in [0, 1] or null, got {v!r}")
        soft = list(soft)
    return Record(id=rid, problem=problem, steps=list(steps), labels=list(labels),
                  first_error=fe, answer=answer,
                  answer_correct=ac, source=source, meta=dict(meta), soft_labels=soft)
