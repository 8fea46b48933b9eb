"""The exact oracle: which steps of an `arith` solution are correct, under prefix semantics.

Step form: `a op b = c` for a derived quantity and `answer = v` for the final answer. A step
does not name its quantity; the oracle identifies it: a step is correct when some derived
quantity of the problem is that operation on those operand values (+ and * may swap), the
quantity's operands are given or were computed by earlier steps, and the arithmetic is right.
Recomputing a quantity already computed is redundant but valid. The answer step is correct
when the target was computed and its value is stated. Anything after the first wrong step is
wrong (prefix semantics); the reason for the first error is recorded, diagnosed against the
quantity the solution should compute next.

>>> from prmlab.data.arith.problems import parse_problem
>>> p = parse_problem("ann has 23 coins. bob has 7 more coins than ann. "
...                   "cal has 3 times as many coins as bob. how many coins does cal have?")
>>> j = judge_steps(p, ["23 + 7 = 30", "30 * 3 = 90", "answer = 90"])
>>> j.labels, j.first_error, j.answer, j.answer_correct
([1, 1, 1], -1, '90', True)
>>> j = judge_steps(p, ["23 + 7 = 31", "31 * 3 = 93", "answer = 93"])
>>> j.labels, j.first_error, j.reason
([0, 0, 0], 0, 'arithmetic')
>>> judge_steps(p, ["30 * 3 = 90", "answer = 90"]).reason
'operand not computed yet'
"""

from __future__ import annotations

import dataclasses
import re

from prmlab.data.arith.problems import Problem, Quantity, apply_op

STEP_RE = re.compile(r"^\s*(-?\d+)\s*([-+*/])\s*(-?\d+)\s*=\s*(-?\d+)\s*$")
ANSWER_RE = re.compile(r"^\s*answer\s*=\s*(-?\d+)\s*$")

REASONS = ("unparseable", "unknown quantity", "operand not computed yet", "wrong operation",
           "wrong operand", "arithmetic", "answer before target", "wrong final answer",
           "step after the answer", "no answer")


@dataclasses.dataclass(frozen=True)
class ParsedStep:
    kind: str  # "step" | "answer"
    a: int | None = None
    op: str | None = None
    b: int | None = None
    c: int | None = None  # the claimed value (the answer for the answer step)


def parse_step(text: str) -> ParsedStep | None:
    """The step's parts, or None when it is not in the step form.

    >>> parse_step("23 + 7 = 30")
    ParsedStep(kind='step', a=23, op='+', b=7, c=30)
    >>> parse_step("answer = 90")
    ParsedStep(kind='answer', a=None, op=None, b=None, c=90)
    >>> parse_step("bob is 30") is None
    True
    """
    m = ANSWER_RE.match(text)
    if m:
        return ParsedStep("answer", c=int(m[1]))
    m = STEP_RE.match(text)
    if m:
        return ParsedStep("step", int(m[1]), m[2], int(m[3]), int(m[4]))
    return None


def gold_operands(q: Quantity, values: dict[str, int]) -> tuple[int, int]:
    return tuple(a if isinstance(a, int) else values[a] for a in q.args)  # type: ignore[return-value]


def _operands_match(q: Quantity, a: int, b: int, values: dict[str, int]) -> bool:
    x, y = gold_operands(q, values)
    return (a, b) == (x, y) or (q.op in "+*" and (a, b) == (y, x))


def identify(p: Problem, s: ParsedStep, computed: set[str]) -> tuple[Quantity | None, str | None]:
    """The quantity a step computes (or should have computed) and why it is wrong (None if
    correct), given the quantities `computed` correctly before it."""
    qs = p.by_name()
    values = {n: q.value for n, q in qs.items()}
    derived = [q for q in p.quantities if q.op is not None]
    ready = lambda q: all(isinstance(a, int) or qs[a].op is None or a in computed for a in q.args)  # noqa: E731
    matches = [q for q in derived if q.op == s.op and _operands_match(q, s.a, s.b, values)]
    if matches:
        ok = [q for q in matches if ready(q)]
        if not ok:
            return matches[0], "operand not computed yet"
        # Prefer what the answer needs, then what is not computed yet: two quantities can share
        # a definition (computing one computes both; see `equivalents`).
        needed = {n.name for n in p.needed()}
        q = min(ok, key=lambda q: (q.name in computed, q.name not in needed))
        return q, (None if apply_op(s.op, s.a, s.b) == s.c else "arithmetic")
    intended = next((q for q in p.needed() if q.name not in computed), None)
    if intended is None:
        return None, "unknown quantity"
    return intended, ("wrong operation" if s.op != intended.op else "wrong operand")


def equivalents(p: Problem, q: Quantity) -> list[str]:
    """Quantities with the same operation on the same operand values as `q` (itself included)."""
    values = {n.name: n.value for n in p.quantities}
    x, y = gold_operands(q, values)
    return [n.name for n in p.quantities if n.op == q.op and _operands_match(n, x, y, values)]


def step_error(p: Problem, step: str, computed: set[str]) -> str | None:
    """Why `step` is wrong given the quantities `computed` correctly before it; None when it
    is correct. Does not look at prefix semantics."""
    s = parse_step(step)
    if s is None:
        return "unparseable"
    if s.kind == "answer":
        if p.target not in computed:
            return "answer before target"
        return None if s.c == p.by_name()[p.target].value else "wrong final answer"
    return identify(p, s, computed)[1]


@dataclasses.dataclass(frozen=True)
class Judgement:
    labels: list[int]
    first_error: int
    reason: str | None  # why the first wrong step is wrong
    answer: str | None
    answer_correct: bool


def judge_steps(p: Problem, steps: list[str]) -> Judgement:
    computed: set[str] = set()
    first_error, reason = -1, None
    answer: str | None = None
    answered_at: int | None = None
    for i, step in enumerate(steps):
        parsed = parse_step(step)
        if parsed is not None and parsed.kind == "answer" and answer is None:
            answer, answered_at = str(parsed.c), i
        if first_error != -1:
            continue
        if answered_at is not None and i > answered_at:
            first_error, reason = i, "step after the answer"
            continue
        if parsed is None:
            first_error, reason = i, "unparseable"
            continue
        if parsed.kind == "answer":
            err = step_error(p, step, computed)
        else:
            q, err = identify(p, parsed, computed)
            if err is None and q is not None:
                computed.update(equivalents(p, q))
        if err is not None:
            first_error, reason = i, err
    if answer is None and first_error == -1:
        # A solution that never states an answer is wrong at its last step.
        first_error, reason = len(steps) - 1, "no answer"
    labels = [1] * len(steps) if first_error == -1 else (
        [1] * first_error + [0] * (len(steps) - first_error))
    target_value = p.by_name()[p.target].value
    answer_correct = answer is not None and int(answer) == target_value
    return Judgement(labels, first_error, reason, answer, answer_correct)


def assign_steps(p: Problem, steps: list[str]) -> list[Quantity | None]:
    """The quantity each step computes or should have computed, reading the solution on its
    own terms (after an error, later steps are matched against the values it claimed)."""
    claimed: dict[str, int] = {}
    out: list[Quantity | None] = []
    for step in steps:
        s = parse_step(step)
        if s is None or s.kind == "answer":
            out.append(None)
            continue
        q, _ = identify(p, s, set(claimed))
        out.append(q)
        if q is not None:
            for name in equivalents(p, q):
                claimed[name] = s.c  # type: ignore[assignment]
    return out
