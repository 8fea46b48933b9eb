"""PRM800K (arXiv:2305.20050; layout from the openai/prm800k README) JSON lines: `question`
(problem, ground truth, phase 2's pre-generated solution), `label.steps[]` (each with
`completions[]` of {text, rating, flagged}, `human_completion`, `chosen_completion`),
`label.total_time`, `label.finish_reason`, and top-level labeler/timestamp/generation/flags.

How it maps onto the canonical record, explicitly:

- **The path** is the trajectory the labeler took, as the README reconstructs it: at each
  step `completions[chosen_completion]`, or `human_completion` when `chosen_completion` is null
  and a human step was written (phase 1: the labeler's own step, which the README calls a +1
  step, so a null or missing rating on it reads as +1). A step with neither chosen nor
  human step is where labeling stopped: the path goes through the completion that is the
  pre-generated solution's step there (phase 2), else the first completion rated -1 (the
  error found); if there is none of those (nothing rated wrong, or `completions`,
  `human_completion` and `chosen_completion` all null, which occurs in the released data) the
  trajectory **ends before that step**: the step is not part of the record (it has no text on
  the path), and the trajectory counts as unfinished (below). A step after such an end is an
  error.
- **Ratings** are +1 good, -1 bad, 0 neutral, null unrated. `neutral="correct"` (the default)
  maps 0 to correct, as PRM800K and ProcessBench treat a neutral step as not an error;
  `neutral="wrong"` maps it to wrong. Prefix semantics: everything from the first wrong step on
  is wrong, whatever it was rated (labelers stop at the first -1).
- **finish_reason** decides what the labels claim. `solution` (the labeler reached the correct
  answer) and `found_error` with a wrong step on the path are finished: first_error is the
  first wrong step, -1 when there is none. Anything else is *unfinished*: `give_up`,
  `bad_problem`, no finish_reason, `found_error` without a wrong step on the path, or a path
  that ended early. `unfinished=` chooses how those are read:
  - `"unknown"` (the default; never claims correctness the labeler did not confirm): the rated
    steps keep their labels; a wrong step found is still the first error; otherwise
    first_error is null (unknown), and in phase 2 the pre-generated steps the labeler did not
    reach are appended with unknown labels, so the record holds the whole solution;
  - `"drop"`: the record is left out and counted by reason (`prmlab data convert` prints it);
  - `"as-rated"`: read as if finished (an all-positive give_up becomes "all steps correct");
    what readers that ignore finish_reason do, for comparison only.
- **Nothing is dropped**: every `question` field but `problem` and every `label` field but
  `steps` goes to `meta` under its own name (`ground_truth_solution`, `ground_truth_answer`,
  `pre_generated_steps`, `pre_generated_answer`, `pre_generated_verifier_score`, `total_time`,
  `finish_reason`; fields the README does not list as `question.<name>` / `label.<name>`), the
  top-level fields (labeler, timestamp, ...) under theirs; `label.steps` itself (alternatives,
  flags, human steps) goes to `meta["label_steps"]` with the options it was read with
  (`meta["label_read"]`) whenever it says more than the one-completion-per-step form a writer
  would produce; `finish_reason` is kept unless it is what the writer would write anyway.
  There is no id: it is "<file stem>-<line>".

Writing puts every such field back where PRM800K keeps it (so native -> canonical -> native
gives the same line) and other meta keys at the top level. Without kept `label_steps` each
step is one completion rated +1 (correct), -1 (wrong) or null (unknown); kept `label_steps`
are written as they are only if reading them back gives the record's steps and labels (else a
WriteError: the record was changed since). finish_reason, unless kept, is `solution` for a
correct record, `found_error` for one with an error, null for unknown.

>>> line = ('{"question": {"problem": "2+2?"}, "label": {"steps": ['
...  '{"completions": [{"text": "2+2=4", "rating": 0}], "chosen_completion": 0},'
...  '{"completions": [{"text": "so 5", "rating": -1}, {"text": "so 4", "rating": 1}],'
...  ' "chosen_completion": null}], "finish_reason": "found_error"}}')
>>> [(r.steps, r.labels, r.first_error) for r in records_from_text(line, "p.jsonl")]
[(['2+2=4', 'so 5'], [1, 0], 1)]
>>> [(r.labels, r.first_error)
...  for r in records_from_text(line, "p.jsonl", neutral="wrong")]
[([0, 0], 0)]
>>> gave_up = line.replace('"rating": -1', '"rating": 1').replace("found_error", "give_up")
>>> [(r.steps, r.labels, r.first_error) for r in records_from_text(gave_up, "p.jsonl")]
[(['2+2=4'], [1], None)]
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterable

from prmlab.atomic import write_jsonl
from prmlab.data.formats.common import (EXTRA_KEYS, Dropped, ReadReport, WriteError, Where,
                                        build, check_choice, default_id, get, need_object,
                                        read_extras, read_jsonl_located, write_extras)
from prmlab.data.record import Record, first_error_from_labels
from prmlab.errors import InputError

NAME = "prm800k"
OWN = ("question", "label")
COVERED = ("problem", "steps", "labels", "first_error")
NEUTRAL = ("correct", "wrong")
UNFINISHED = ("unknown", "drop", "as-rated")
FINISH_REASONS = ("solution", "found_error", "give_up", "bad_problem")
QUESTION_FIELDS = ("ground_truth_solution", "ground_truth_answer", "pre_generated_steps",
                   "pre_generated_answer", "pre_generated_verifier_score")
LABEL_FIELDS = ("total_time", "finish_reason")
STEPS_KEY, READ_KEY = "label_steps", "label_read"  # meta keys for the kept label.steps


def _text_rating(comp: Any, field: str, where: Where, default_rating: int | None = None
                 ) -> tuple[str, int | None]:
    if isinstance(comp, str):
        text, rating = comp, default_rating
    else:
        comp = need_object(comp, where, field)
        text = get(comp, "text", str, where, field=f"{field}.text")
        rating = get(comp, "rating", int, where, field=f"{field}.rating", optional=True)
        rating = default_rating if rating is None else rating
    if not text.strip():
        raise where.error(f"{field}.text", "empty step")
    if rating not in (-1, 0, 1, None):
        raise where.error(f"{field}.rating", f"expected -1, 0, 1 or null, got {rating}")
    return text, rating


def _pick(step: dict, f: str, where: Where, pre: str | None) -> tuple[str, int | None] | None:
    """(text, rating) of the step the labeler's path went through, or None where it ended."""
    comps = get(step, "completions", list, where, field=f"{f}.completions", optional=True) or []
    chosen = get(step, "chosen_completion", int, where, field=f"{f}.chosen_completion",
                 optional=True)
    if chosen is not None:
        if not 0 <= chosen < len(comps):
            raise where.error(f"{f}.chosen_completion",
                              f"{chosen} is out of range for {len(comps)} completions")
        return _text_rating(comps[chosen], f"{f}.completions[{chosen}]", where)
    human = step.get("human_completion")
    if human is not None:  # README: a human step is written as a +1 step
        return _text_rating(human, f"{f}.human_completion", where, default_rating=1)
    rated = [_text_rating(c, f"{f}.completions[{k}]", where) for k, c in enumerate(comps)]
    for text, rating in rated:
        if pre is not None and text == pre:
            return text, rating
    return next(((t, r) for t, r in rated if r == -1), None)


def _move_fields(src: dict, skip: str, known: tuple[str, ...], prefix: str, meta: dict,
                 where: Where) -> None:
    for k, v in src.items():
        if k == skip:
            continue
        name = k if k in known else f"{prefix}.{k}"
        if name in meta:
            raise where.error(f"{prefix}.{k}", f"its meta name {name!r} is also a top-level key")
        meta[name] = v


def _finish_for(first_error: int | None) -> str | None:
    """What a writer says when nothing was kept: what the labels show, nothing invented."""
    return None if first_error is None else "solution" if first_error == -1 else "found_error"


def from_obj(obj: Any, where: Where, neutral: str = "correct", unfinished: str = "unknown"
             ) -> Record:
    """One PRM800K line as a canonical record (see the module docstring for the mapping)."""
    obj = need_object(obj, where)
    question = need_object(get(obj, "question", dict, where), where, "question")
    problem = get(question, "problem", str, where, field="question.problem")
    label = need_object(get(obj, "label", dict, where), where, "label")
    raw_steps = get(label, "steps", list, where, field="label.steps")
    finish = get(label, "finish_reason", str, where, field="label.finish_reason", optional=True)
    if finish is not None and finish not in FINISH_REASONS:
        raise where.error("label.finish_reason",
                          f"expected one of {', '.join(FINISH_REASONS)} or null, got {finish!r}")
    pre = question.get("pre_generated_steps")
    pre = pre if isinstance(pre, list) and all(isinstance(s, str) for s in pre) else None
    steps: list[str] = []
    ratings: list[int | None] = []
    ended = None
    for i, st in enumerate(raw_steps):
        f = f"label.steps[{i}]"
        st = need_object(st, where, f)
        if ended is not None:
            raise where.error(f, f"follows step {ended}, where the trajectory ended (no chosen, "
                              "human or rated-wrong completion there)")
        picked = _pick(st, f, where, pre[i] if pre is not None and i < len(pre) else None)
        if picked is None:
            ended = i
            continue
        steps.append(picked[0])
        ratings.append(picked[1])
    wrong = 0 if neutral == "wrong" else 1
    labels: list[int | None] = []
    for r in ratings:
        lab = None if r is None else {1: 1, -1: 0, 0: wrong}[r]
        labels.append(0 if 0 in labels else lab)  # prefix semantics: wrong from the first error on
    has_error = 0 in labels
    finished = finish == "solution" or (finish == "found_error" and has_error)
    first_error = first_error_from_labels(labels)
    if not finished:
        why = (f"finish_reason {finish}" if finish in ("give_up", "bad_problem")
               else f"trajectory ends at step {ended}" if ended is not None
               else "no finish_reason" if finish is None
               else "found_error without a wrong step on the path")
        if unfinished == "drop":
            raise Dropped(f"unfinished prm800k trajectory ({why})")
        if unfinished == "unknown" and not has_error:
            first_error = None
            if pre is not None and pre[:len(steps)] == steps and len(pre) > len(steps):
                tail = pre[len(steps):]
                if all(s.strip() for s in tail):
                    steps, labels = steps + tail, labels + [None] * len(tail)
    if not steps:
        raise where.error("label.steps", "no step on the labeler's path (and no pre-generated "
                          "steps to stand for it)")
    extras = read_extras(obj, OWN, where)
    meta = dict(extras["meta"])
    _move_fields(question, "problem", QUESTION_FIELDS, "question", meta, where)
    _move_fields(label, "steps", LABEL_FIELDS, "label", meta, where)
    if meta.get("finish_reason", "absent") == _finish_for(first_error):
        del meta["finish_reason"]  # what the writer writes anyway
    if raw_steps != _written_steps(steps, labels):
        meta[STEPS_KEY] = raw_steps
        meta[READ_KEY] = {"neutral": neutral, "unfinished": unfinished}
    extras["meta"] = meta
    fields = {"id": default_id(where.path, where.n), "problem": problem, "steps": steps,
              "labels": labels, "first_error": first_error, "source": NAME}
    return build(fields, extras, COVERED, where)


def records_from_text(text: str, path: str, neutral: str = "correct",
                      unfinished: str = "unknown") -> list[Record]:
    return [rec for _, rec in read_located(path, text, neutral=neutral, unfinished=unfinished)]


def read_located(path: str | os.PathLike, text: str | None = None, *, neutral: str = "correct",
                 unfinished: str = "unknown", report: ReadReport | None = None
                 ) -> list[tuple[Where, Record]]:
    check_choice("neutral", neutral, NEUTRAL)
    check_choice("unfinished", unfinished, UNFINISHED)
    return read_jsonl_located(path, text, lambda obj, where: from_obj(obj, where, neutral,
                                                                      unfinished), report)


def read(path: str | os.PathLike, *, neutral: str = "correct", unfinished: str = "unknown"
         ) -> list[Record]:
    return [rec for _, rec in read_located(path, neutral=neutral, unfinished=unfinished)]


def _written_steps(steps: list[str], labels: list[int | None]) -> list[dict] | None:
    """label.steps as the writer emits them without kept steps; None for a label it cannot."""
    out = []
    for text, lab in zip(steps, labels):
        if lab not in (0, 1, None) or isinstance(lab, bool):
            return None
        rating = {1: 1, 0: -1, None: None}[lab]
        out.append({"completions": [{"text": text, "rating": rating, "flagged": None}],
                    "human_completion": None,
                    "chosen_completion": None if rating == -1 else 0})
    return out


def to_obj(rec: Record, index: int, out_path: str | os.PathLike) -> dict[str, Any]:
    """One record as a PRM800K line (see the module docstring)."""
    def fail(field: str, msg: str) -> WriteError:
        return WriteError(msg, index=index, field=field, record_id=rec.id)

    meta = dict(rec.meta)
    kept_steps, read_opts = meta.pop(STEPS_KEY, None), meta.pop(READ_KEY, None)
    question: dict[str, Any] = {"problem": rec.problem}
    label: dict[str, Any] = {"steps": None, "finish_reason": _finish_for(rec.first_error)}
    top: dict[str, Any] = {}
    for k in list(meta):
        if k in QUESTION_FIELDS or k.startswith("question."):
            question[k.removeprefix("question.")] = meta.pop(k)
        elif k in LABEL_FIELDS or k.startswith("label."):
            label[k.removeprefix("label.")] = meta.pop(k)
        elif k not in (*OWN, *EXTRA_KEYS):  # PRM800K's own top-level fields, and the unknown
            top[k] = meta.pop(k)
    if kept_steps is None:
        label["steps"] = _written_steps(rec.steps, rec.labels)
        if label["steps"] is None:
            bad = next(i for i, lab in enumerate(rec.labels) if lab not in (0, 1, None)
                       or isinstance(lab, bool))
            raise fail(f"labels[{bad}]", f"label {rec.labels[bad]!r} is not 1, 0 or null")
    else:
        label["steps"] = kept_steps
        opts = read_opts if isinstance(read_opts, dict) else {}
        try:
            again = from_obj({"question": question, "label": label},
                             Where(str(out_path), index + 1), neutral=opts.get("neutral", "correct"),
                             unfinished=opts.get("unfinished", "unknown"))
        except (InputError, Dropped) as e:
            raise fail(f"meta.{STEPS_KEY}", f"the PRM800K label steps kept there do not read back "
                       f"({e})") from None
        if (again.steps, again.labels, again.first_error) != (rec.steps, rec.labels,
                                                            rec.first_error):
            raise fail(f"meta.{STEPS_KEY}", "the record's steps or labels differ from the PRM800K "
                       f"label steps kept in meta.{STEPS_KEY} (changed since it was read); remove "
                       "that key to write one completion per step")
    obj = {**top, "question": question, "label": label}
    obj.update(write_extras(dataclasses.replace(rec, meta=meta), COVERED,
                            default_id=default_id(str(out_path), index + 1), default_source=NAME))
    return obj


def write(path: str | os.PathLike, records: Iterable[Record]) -> int:
    rows = [to_obj(r, i, path) for i, r in enumerate(records)]
    return write_jsonl(path, rows)

