"""The exact oracle: which steps of an `arith` solution are correct, under prefix semantics.

Step form: `name = a op b = c` for a derived quantity and `answer = v` for the final answer.
A step is correct when it parses, names a derived quantity of the problem, uses that quantity's
operation on its operands' true values (operands given in the problem or computed by an earlier
step; + and * may swap), and the arithmetic is right. Recomputing a quantity already computed is
redundant but valid. The answer step is correct when the target was computed and its value is
stated. Anything after the first wrong step is wrong (prefix semantics); the reason for the first
error is recorded.

>>> from prmlab.data.arith.problems import parse_problem
>>> p = parse_problem("ann has 23 coins. bob has 7 more coins than ann. "
...                   "cal has 3 times as many coins as bob. how many coins does cal have?")
>>> j = judge_steps(p, ["bob = 23 + 7 = 30", "cal = 30 * 3 = 90", "answer = 90"])
>>> j.labels, j.first_error, j.answer, j.answer_correct
([1, 1, 1], -1, '90', True)
>>> j = judge_steps(p, ["bob = 23 + 7 = 31", "cal = 31 * 3 = 93", "answer = 93"])
>>> j.labels, j.first_error, j.reason
([0, 0, 0], 0, 'arithmetic')
>>> judge_steps(p, ["cal = 30 * 3 = 90", "answer = 90"]).reason
'operand not computed yet'
"""

from __future__ import annotations

import dataclasses
import re

from prmlab.data.arith.problems import Problem, Quantity, apply_op

STEP_RE = re.compile(r"^\s*([a-z]+)\s*=\s*(-?\d+)\s*([-+*/])\s*(-?\d+)\s*=\s*(-?\d+)\s*$")
ANSWER_RE = re.compile(r"^\s*answer\s*=\s*(-?\d+)\s*$")

REASONS = ("unparseable", "unknown quantity", "operand not computed yet", "wrong operation",
           "wrong operand", "arithmetic", "answer before target", "wrong final answer",
           "step after the answer", "no answer")


@dataclasses.dataclass(frozen=True)
class ParsedStep:
    name: str  # "answer" for the answer step
    a: int | None = None
    op: str | None = None
    b: int | None = None
    c: int | None = None  # the claimed value (the answer for the answer step)


def parse_step(text: str) -> ParsedStep | None:
    """The step's parts, or None when it is not in the step form.

    >>> parse_step("bob = 23 + 7 = 30")
    ParsedStep(name='bob', a=23, op='+', b=7, c=30)
    >>> parse_step("answer = 90")
    ParsedStep(name='answer', a=None, op=None, b=None, c=90)
    >>> parse_step("bob is 30") is None
    True
    """
    m = ANSWER_RE.match(text)
    if m:
        return ParsedStep("answer", c=int(m[1]))
    m = STEP_RE.match(text)
    if m:
        return ParsedStep(m[1], int(m[2]), m[3], int(m[4]), int(m[5]))
    return None


def gold_operands(q: Quantity, values: dict[str, int]) -> tuple[int, int]:
    return tuple(a if isinstance(a, int) else values[a] for a in q.args)  # type: ignore[return-value]


def step_error(p: Problem, step: str, computed: set[str]) -> str | None:
    """Why `step` is wrong given that the quantities in `computed` were computed correctly
    before it; None when it is correct. Does not look at prefix semantics."""
    s = parse_step(step)
    if s is None:
        return "unparseable"
    qs = p.by_name()
    values = {n: q.value for n, q in qs.items()}
    if s.name == "answer":
        if p.target not in computed:
            return "answer before target"
        return None if s.c == qs[p.target].value else "wrong final answer"
    q = qs.get(s.name)
    if q is None or q.op is None:
        return "unknown quantity"
    if any(isinstance(a, str) and qs[a].op is not None and a not in computed for a in q.args):
        return "operand not computed yet"
    if s.op != q.op:
        return "wrong operation"
    x, y = gold_operands(q, values)
    if (s.a, s.b) != (x, y) and not (q.op in "+*" and (s.a, s.b) == (y, x)):
        return "wrong operand"
    if apply_op(s.op, s.a, s.b) != s.c:
        return "arithmetic"
    return None


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
        if parsed is not None and parsed.name == "answer" and answer is None:
            answer, answered_at = str(parsed.c), i
        if first_error != -1:
            continue
        if answered_at is not None and i > answered_at:
            first_error, reason = i, "step after the answer"
            continue
        err = step_error(p, step, computed)
        if err is not None:
            first_error, reason = i, err
        elif parsed is not None and parsed.name != "answer":
            computed.add(parsed.name)
    if answer is None and first_error == -1:
        # A solution that never states an answer is wrong at its last step.
        first_error, reason = len(steps) - 1, "no answer"
    labels = [1] * len(steps) if first_error == -1 else (
        [1] * first_error + [0] * (len(steps) - first_error))
    target_value = p.by_name()[p.target].value
    answer_correct = answer is not None and int(answer) == target_value
    return Judgement(labels, first_error, reason, answer, answer_correct)
