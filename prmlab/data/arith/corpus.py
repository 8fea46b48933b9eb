"""The unlabelled pretraining corpus of the base model.

Three kinds of document, none with a step label:
- `solution`: a problem and a solution, half of them with an injected error (not marked);
- `check`: a problem, a solution prefix and the teacher's check of its last step (`checks` per
  problem): the base learns to recompute, copy and compare. The check stops before the verdict;
- `worked`: lines of worked arithmetic over the domain's range (`worked=False` drops them, to
  test whether the judging skill needs them);
(Comparison drills, a fourth kind, were measured on three bases and removed: dev/LOG.md,
2026-12-06.)"""

from __future__ import annotations

import dataclasses
import random
from typing import Iterator, Sequence

from prmlab import seeds
from prmlab.data.arith.problems import Difficulty, apply_op, parse_problem
from prmlab.data.arith.generate import iter_records
from prmlab.data.arith.solutions import ERROR_TYPES, inject
from prmlab.data.arith.teacher import check


# Error types whose checks a shortcut gets wrong (see `iter_corpus`).
HARD_TYPES = ("wrong_operand", "wrong_operation", "copy_error", "skipped_step")


@dataclasses.dataclass(frozen=True)
class Doc:
    kind: str  # "solution" | "check" | "worked"
    problem: str = ""
    steps: tuple[str, ...] = ()
    check: str = ""
    lines: tuple[str, ...] = ()
    ok: bool | None = None  # the teacher's verdict, which the check's marks imply (check documents)


def worked_line(rng: random.Random, d: Difficulty) -> str:
    """One operation of the kind the domain's steps perform: results in [0, max_value],
    multiplication and division by one digit, constants of up to `digits` digits."""
    a, op, b, c = worked_op(rng, d)
    return f"{a} {op} {b} = {c}"


def worked_op(rng: random.Random, d: Difficulty) -> tuple[int, str, int, int]:
    """`worked_line`'s operation as (a, op, b, c)."""
    op = rng.choice(d.ops)
    for _ in range(100):
        a = rng.randint(0, d.max_value)
        b = rng.randint(2, 9) if op in "*/" else rng.randint(0, 10 ** rng.randint(1, d.digits) - 1)
        if rng.random() < 0.3 and op in "+-":
            b = rng.randint(0, d.max_value)  # quantity + quantity
        c = apply_op(op, a, b)
        if c is not None and 0 <= c <= d.max_value:
            return a, op, b, c
    return 1, "+", 1, 2


def check_hard_types(hard_types: Sequence[str], hard_checks: int = 0) -> None:
    """ValueError unless every type is a known error type (and some are given, if asked for)."""
    unknown = sorted(set(hard_types) - set(ERROR_TYPES))
    if unknown:
        raise ValueError(f"unknown error type(s) {unknown}; known: {', '.join(ERROR_TYPES)}")
    if hard_checks and not hard_types:
        raise ValueError("hard_types is empty while hard_checks > 0")


def iter_corpus(n_problems: int, seed: int, difficulty: Difficulty = Difficulty(), *,
                worked: bool = True, checks: int = 2, worked_lines: int = 8,
                error_rate: float = 0.5, hard_checks: int = 0,
                hard_types: Sequence[str] = HARD_TYPES) -> Iterator[Doc]:
    """Documents for `n_problems` problems; deterministic in `seed`.

    `hard_checks` adds, per problem, checks of the erroneous step of a solution with an error of
    one of `hard_types`, drawn uniformly. These are the errors that defeat a checker's shortcut
    of copying from the step it checks: a wrong operand (the lookup must find the quantity by
    name), a wrong operation (the head must come from the problem, not the step), a mis-copied
    value, a skipped step (a quantity, or the answer, that was never computed: "= none").
    Without them the base learns the shortcut (dev/LOG.md, 2026-11-26)."""
    check_hard_types(hard_types, hard_checks)
    rng = seeds.rng("base.corpus.rng", seed)
    for rec in iter_records(n_problems, seed, difficulty, error_rate=error_rate,
                            id_prefix="corpus"):
        yield Doc("solution", rec.problem, tuple(rec.steps))
        if checks:
            p = parse_problem(rec.problem)
            for i in sorted(rng.sample(range(len(rec.steps)), min(checks, len(rec.steps)))):
                c = check(p, rec.steps, i)
                yield Doc("check", rec.problem, tuple(rec.steps[: i + 1]), check=c.text, ok=c.ok)
        if hard_checks:
            p = parse_problem(rec.problem)
            for _ in range(hard_checks):
                steps, at = inject(p, rng.choice(list(hard_types)), rng)
                c = check(p, steps, at)
                yield Doc("check", rec.problem, tuple(steps[: at + 1]), check=c.text, ok=c.ok)
        if worked:
            yield Doc("worked", lines=tuple(worked_line(rng, difficulty) for _ in range(worked_lines)))
