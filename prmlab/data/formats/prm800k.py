"""PRM800K (arXiv:2305.20050) JSON lines: `question.problem`, and `label.steps[]`, each step
with `completions[]` ({text, rating}) and `chosen_completion`.

How it maps onto the canonical record, explicitly:

- the solution is the path the labeler took: at each step the chosen completion, or the first
  completion when none is chosen (that is the step rated -1 where the labeler stopped;
  `human_completion` is used only when a step has no completions at all);
- ratings are +1 good, -1 bad, 0 neutral (`null` unrated). **`neutral="correct"` (the
  default)** maps 0 to correct, as PRM800K and ProcessBench treat a neutral step as not an
  error; `neutral="wrong"` maps it to wrong. +1 is correct, -1 wrong, null unknown;
- prefix semantics: everything from the first wrong step on is wrong, whatever it was rated
  (a PRM800K rating judges a step given the steps before it, and labelers stop at the first
  -1); the steps stay in the record;
- `question.ground_truth_answer`, `question.pre_generated_answer` and `label.finish_reason`
  go to `meta` under those names; unknown top-level keys (labeler, timestamp, ...) go to meta
  as they are; the other alternatives, flags and timings are not kept. There is no id: it is
  "<file stem>-<line>".

Writing emits one completion per step, rated +1 (correct), -1 (wrong) or null (unknown).

>>> line = ('{"question": {"problem": "2+2?"}, "label": {"steps": ['
...  '{"completions": [{"text": "2+2=4", "rating": 0}], "chosen_completion": 0},'
...  '{"completions": [{"text": "so 5", "rating": -1}, {"text": "so 4", "rating": 1}],'
...  ' "chosen_completion": null}], "finish_reason": "found_error"}}')
>>> [(r.steps, r.labels, r.first_error) for r in records_from_text(line, "p.jsonl")]
[(['2+2=4', 'so 5'], [1, 0], 1)]
>>> [(r.labels, r.first_error)
...  for r in records_from_text(line, "p.jsonl", neutral="wrong")]
[([0, 0], 0)]
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from prmlab.atomic import write_jsonl
from prmlab.data.formats.common import (WriteError, Where, build, check_choice, default_id, get,
                                        read_jsonl_located,
                                        need_object, read_extras, write_extras)
from prmlab.data.record import Record, first_error_from_labels

NAME = "prm800k"
OWN = ("question", "label")
COVERED = ("problem", "steps", "labels", "first_error")
NEUTRAL = ("correct", "wrong")
_QUESTION_META = ("ground_truth_answer", "pre_generated_answer")


def _pick(step: dict, f: str, where: Where) -> tuple[str, int | None]:
    """(text, rating) of the completion the labeler's path went through at one step."""
    comps = get(step, "completions", list, where, field=f"{f}.completions", optional=True) or []
    chosen = get(step, "chosen_completion", int, where, field=f"{f}.chosen_completion",
                 optional=True)
    if chosen is not None and not 0 <= chosen < len(comps):
        raise where.error(f"{f}.chosen_completion",
                          f"{chosen} is out of range for {len(comps)} completions")
    if comps:
        k = 0 if chosen is None else chosen
        field, comp = f"{f}.completions[{k}]", comps[k]
    else:
        field, comp = f"{f}.human_completion", step.get("human_completion")
        if comp is None:
            raise where.error(f"{f}.completions", "no completions and no human completion")
        if isinstance(comp, str):
            comp = {"text": comp, "rating": None}
    comp = need_object(comp, where, field)
    text = get(comp, "text", str, where, field=f"{field}.text")
    if not text.strip():
        raise where.error(f"{field}.text", "empty step")
    rating = get(comp, "rating", int, where, field=f"{field}.rating", optional=True)
    if rating not in (-1, 0, 1, None):
        raise where.error(f"{field}.rating", f"expected -1, 0, 1 or null, got {rating}")
    return text, rating


def from_obj(obj: Any, where: Where, neutral: str = "correct") -> Record:
    """One PRM800K line as a canonical record (see the module docstring for the mapping)."""
    obj = need_object(obj, where)
    question = need_object(get(obj, "question", dict, where), where, "question")
    problem = get(question, "problem", str, where, field="question.problem")
    label = need_object(get(obj, "label", dict, where), where, "label")
    raw_steps = get(label, "steps", list, where, field="label.steps")
    if not raw_steps:
        raise where.error("label.steps", "no steps")
    steps, labels = [], []
    wrong = 0 if neutral == "wrong" else 1
    for i, st in enumerate(raw_steps):
        f = f"label.steps[{i}]"
        text, rating = _pick(need_object(st, where, f), f, where)
        steps.append(text)
        lab = None if rating is None else {1: 1, -1: 0, 0: wrong}[rating]
        labels.append(0 if 0 in labels else lab)  # prefix semantics: wrong from the first error on
    meta = {k: question[k] for k in _QUESTION_META if question.get(k) is not None}
    if label.get("finish_reason") is not None:
        meta["finish_reason"] = label["finish_reason"]
    fields = {"id": default_id(where.path, where.n), "problem": problem, "steps": steps,
              "labels": labels, "first_error": first_error_from_labels(labels),
              "source": NAME, "meta": meta}
    return build(fields, read_extras(obj, OWN, where), COVERED, where)


def records_from_text(text: str, path: str, neutral: str = "correct") -> list[Record]:
    return [rec for _, rec in read_located(path, text, neutral=neutral)]


def read_located(path: str | os.PathLike, text: str | None = None, *,
                 neutral: str = "correct") -> list[tuple[Where, Record]]:
    check_choice("neutral", neutral, NEUTRAL)
    return read_jsonl_located(path, text, lambda obj, where: from_obj(obj, where, neutral))


def read(path: str | os.PathLike, *, neutral: str = "correct") -> list[Record]:
    return [rec for _, rec in read_located(path, neutral=neutral)]


def to_obj(rec: Record, index: int, out_path: str | os.PathLike) -> dict[str, Any]:
    """One record as a PRM800K line: one completion per step, rated +1, -1 or null."""
    steps = []
    for i, (text, lab) in enumerate(zip(rec.steps, rec.labels)):
        rating = {1: 1, 0: -1, None: None}.get(lab, "bad")
        if rating == "bad":
            raise WriteError(f"label {lab!r} is not 1, 0 or null", index=index,
                             field=f"labels[{i}]", record_id=rec.id)
        steps.append({"completions": [{"text": text, "rating": rating, "flagged": None}],
                      "human_completion": None,
                      "chosen_completion": None if rating == -1 else 0})
    finish = rec.meta.get("finish_reason")  # only what the record says: no invented reasons
    question = {"problem": rec.problem}
    question.update({k: rec.meta[k] for k in _QUESTION_META if rec.meta.get(k) is not None})
    obj = {"question": question, "label": {"steps": steps, "finish_reason": finish}}
    obj.update(write_extras(rec, COVERED, default_id=default_id(str(out_path), index + 1),
                            default_source=NAME,
                            meta_used=(*_QUESTION_META, "finish_reason")))
    return obj


def write(path: str | os.PathLike, records: Iterable[Record]) -> int:
    rows = [to_obj(r, i, path) for i, r in enumerate(records)]
    return write_jsonl(path, rows)
