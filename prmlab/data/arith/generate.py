"""Deterministic generation of labelled `arith` solutions (gold and error-injected).

Each record's randomness comes from its own string seed `"{seed}:{index}"`, so a file is
byte-identical for the same arguments and any record can be regenerated alone.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Iterator, Sequence

from prmlab.data.arith.oracle import judge_steps, parse_step
from prmlab.data.arith.problems import Difficulty, Problem, parse_problem, sample_problem
from prmlab.data.arith.solutions import ERROR_TYPES, gold_steps, inject
from prmlab.data.record import Record
from prmlab.errors import InputError


def label_record(rid: str, p: Problem, steps: list[str], *, source: str = "arith",
                 meta: dict | None = None) -> Record:
    """A canonical record whose labels come from the oracle."""
    j = judge_steps(p, steps)
    m = dict(meta or {})
    m["oracle_reason"] = j.reason
    return Record(id=rid, problem=p.text, steps=list(steps), labels=j.labels,
                  first_error=j.first_error, answer=j.answer, answer_correct=j.answer_correct,
                  source=source, meta=m)


def check_error_types(error_types: Sequence[str]) -> tuple[str, ...]:
    bad = [e for e in error_types if e not in ERROR_TYPES]
    if bad or not error_types:
        raise InputError(f"unknown error type {bad[0] if bad else '(none)'!r}; known: {', '.join(ERROR_TYPES)}")
    return tuple(error_types)


def iter_records(n: int, seed: int, difficulty: Difficulty = Difficulty(),
                 error_rate: float = 0.5, error_types: Sequence[str] = ERROR_TYPES,
                 id_prefix: str = "arith") -> Iterator[Record]:
    if not 0.0 <= error_rate <= 1.0:
        raise InputError(f"error rate must be in [0, 1], got {error_rate}")
    error_types = check_error_types(error_types)
    for i in range(n):
        rng = random.Random(f"{seed}:{i}")
        p = sample_problem(rng, difficulty)
        meta = {"problem_id": f"{id_prefix}-{seed}-{i}", "n_needed": len(p.needed())}
        if rng.random() < error_rate:
            for _ in range(50):  # the domain has no negative numbers: redraw errors that make one
                etype = rng.choice(error_types)
                steps, at = inject(p, etype, rng)
                if not any(_negative(s) for s in steps):
                    break
            meta.update(error_type=etype, injected_at=at)
        else:
            steps = gold_steps(p)
            meta.update(error_type=None, injected_at=None)
        yield label_record(f"{id_prefix}-{seed}-{i}", p, steps, meta=meta)


def _negative(step: str) -> bool:
    s = parse_step(step)
    return s is not None and any(v is not None and v < 0 for v in (s.a, s.b, s.c))


def relabel(rec: Record) -> Record:
    """The record with oracle labels; a problem the domain cannot parse is an InputError."""
    try:
        p = parse_problem(rec.problem)
    except ValueError as e:
        raise InputError(str(e), field="problem") from None
    new = label_record(rec.id, p, rec.steps, source=rec.source, meta=rec.meta)
    return dataclasses.replace(new, meta={**rec.meta, "oracle_reason": new.meta["oracle_reason"]})
