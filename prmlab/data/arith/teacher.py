"""The teacher: a worked verification of one step, then a verdict.

A check recomputes the step from the problem's definition, then copies the step's claim with a
mark after every digit that compares it with the recomputed number, before giving its verdict:

    cal is bob * 3 ; bob = 30 ; 30 * 3 = 90 ; claimed 0=3=|*=|3=|1!9=

The check first names the quantity the step computes (steps do not name it: the verifier has to
work it out, as it has to for a real solution), looks up its operands' values (a given one in
the problem's words, "ann has 23"; a computed one as "bob = 30", from the step that claimed
it), recomputes.

The claim is written field by field (left operand, operation, right operand, result; `|` between
fields), each number least significant digit first (the order in which the model reads and
writes numbers), each digit followed by `=` (the recomputed number has the same digit there) or
`!` (it does not). A mark thus compares the digit just written with one digit looked up in the
recomputation; an earlier format put all marks after a full copy of the claim (`==|=|=|!=`),
which asked for two look-ups per mark, and whether a base learnt that was a draw of its seed
(dev/LOG.md, 2026-11-27). The marks are what let a small model turn two numbers into a verdict
(FINDINGS.md: without them the judge says "ok" to all).
The verdict is "ok" exactly when the check found nothing wrong. The teacher can be told to err
(`error_rate`): it then miscomputes or mis-marks, and its verdict follows its own wrong marks,
which is what makes filtering chains against gold labels a real operation.

>>> from prmlab.data.arith.problems import parse_problem
>>> p = parse_problem("ann has 23 coins. bob has 7 more coins than ann. "
...                   "cal has 3 times as many coins as bob. how many coins does cal have?")
>>> steps = ["23 + 7 = 30", "30 * 3 = 91", "answer = 91"]
>>> check(p, steps, 0)
Check(text='bob is ann + 7 ; ann has 23 ; 23 + 7 = 30 ; claimed 3=2=|+=|7=|0=3=', ok=True)
>>> check(p, steps, 1)
Check(text='cal is bob * 3 ; bob = 30 ; 30 * 3 = 90 ; claimed 0=3=|*=|3=|1!9=', ok=False)
>>> check(p, ["30 * 3 = 90"], 0).text
'cal is bob * 3 ; bob = none'
"""

from __future__ import annotations

import dataclasses
import random
import re

from prmlab.data.arith.oracle import assign_steps, equivalents, parse_step
from prmlab.data.arith.problems import Problem, apply_op

FAIL_WORDS = ("none", "nothing is left to compute", "unreadable", "after answer")


@dataclasses.dataclass(frozen=True)
class Check:
    text: str  # the rationale, without the verdict
    ok: bool  # the verdict


def lsd_key(v: int) -> str:
    """Digits least significant first, sign last: the order marks are compared in."""
    return str(abs(v))[::-1] + ("-" if v < 0 else "")


def marked(want: int, got: int) -> str:
    """The claimed number, least significant digit first, each digit followed by its mark:
    `=` when the recomputed number has the same digit there, `!` when not; a position only the
    recomputed number has gets a `!` alone.

    >>> marked(90, 91), marked(30, 30), marked(5, 15), marked(15, 5), marked(-3, 3)
    ('1!9=', '0=3=', '5=1!', '5=!', '3=!')
    """
    a, b = lsd_key(want), lsd_key(got)
    out = []
    for i in range(max(len(a), len(b))):
        same = i < len(a) and i < len(b) and a[i] == b[i]
        out.append((b[i] if i < len(b) else "") + ("=" if same else "!"))
    return "".join(out)


def claim_line(want: tuple[int, str, int, int], got: tuple[int, str, int, int]) -> str:
    """The claimed `a op b = c`, marked field by field against the recomputed one.

    >>> claim_line((30, "*", 3, 90), (30, "*", 3, 91))
    'claimed 0=3=|*=|3=|1!9='
    """
    (x, op, y, r), (a, got_op, b, c) = want, got
    fields = [marked(x, a), got_op + ("=" if got_op == op else "!"), marked(y, b), marked(r, c)]
    return "claimed " + "|".join(fields)


def _lookup(p: Problem, name: str, steps: list[str], assigned: list, upto: int) -> int | None:
    """The value of `name` a verifier can see before step `upto`: given, or claimed earlier."""
    q = p.by_name()[name]
    if q.op is None:
        return q.value
    seen = None
    for s, a in zip(steps[:upto], assigned[:upto]):
        if a is not None and name in equivalents(p, a):
            seen = parse_step(s).c
    return seen


def check(p: Problem, steps: list[str], i: int, *, rng: random.Random | None = None,
          error_rate: float = 0.0) -> Check:
    """The teacher's check of step `i` given the steps before it."""
    s = parse_step(steps[i])
    if s is None:
        return Check("unreadable", False)
    if any((ps := parse_step(t)) is not None and ps.kind == "answer" for t in steps[:i]):
        return Check("after answer", False)
    err = rng is not None and error_rate > 0 and rng.random() < error_rate
    assigned = assign_steps(p, steps[: i + 1])
    if s.kind == "answer":
        head = f"answer is {p.target}"
        v = _lookup(p, p.target, steps, assigned, i)
        if v is None:
            return Check(f"{head} ; {p.target} = none", False)
        want = _slip(rng, v) if err else v
        m = marked(want, s.c)
        m = "claimed " + (_flip(rng, m) if err and m == marked(v, s.c) else m)
        return Check(f"{head} ; {p.target} = {v} ; {m}", "!" not in m)
    q = assigned[i]
    if q is None:
        return Check("nothing is left to compute", False)
    left, right = q.args
    head = f"{q.name} is {left} {q.op} {right}"
    parts = [head]
    vals = []
    for arg in q.args:
        if isinstance(arg, int):
            vals.append(arg)
            continue
        v = _lookup(p, arg, steps, assigned, i)
        if v is None:
            return Check(" ; ".join(parts + [f"{arg} = none"]), False)
        # A given quantity is looked up in the problem's own words ("una has 4"): the value is
        # then the token after the pair "una has" there, where "una = 4" made the step's own
        # operand the easier thing to copy (dev/LOG.md, 2026-11-27, fifth session).
        given = p.by_name()[arg].op is None
        parts.append(f"{arg} has {v}" if given else f"{arg} = {v}")
        vals.append(v)
    x, y = vals
    if q.op in "+*" and (s.a, s.b) == (y, x) and (s.a, s.b) != (x, y):
        x, y = y, x  # the step wrote a commutative operation the other way round
    r = apply_op(q.op, x, y)
    if err:
        r = _slip(rng, r)
    parts.append(f"{x} {q.op} {y} = {r}")
    m = claim_line((x, q.op, y, r), (s.a, s.op, s.b, s.c))
    if err and "!" not in m and rng.random() < 0.5:
        m = _flip(rng, m)
    parts.append(m)
    return Check(" ; ".join(parts), "!" not in m)


def _slip(rng: random.Random, v: int) -> int:
    return v + rng.choice([-1, 1]) * rng.randint(1, 9)


def _flip(rng: random.Random, m: str) -> str:
    pos = [k for k, ch in enumerate(m) if ch in "=!"]
    k = rng.choice(pos)
    return m[:k] + ("!" if m[k] == "=" else "=") + m[k + 1:]


_CLAIM = re.compile(r"claimed ([\d+\-*/]?[=!])+(\|([\d+\-*/]?[=!])+)*")


def verdict_from_text(text: str) -> bool | None:
    """The verdict a check implies by its own marks: the zero-label rule.

    None when the text is not a well-formed check (the caller's parse-failure policy applies).

    >>> verdict_from_text("bob is ann + 7 ; ann has 23 ; 23 + 7 = 30 ; claimed 3=2=|+=|7=|0=3=")
    True
    >>> verdict_from_text("answer is cal ; cal = 90 ; claimed 1!9=")
    False
    >>> verdict_from_text("cal is bob * 3 ; bob = none")
    False
    >>> verdict_from_text("cal is bob") is None, verdict_from_text("x ; y ; claimed 3=2") is None
    (True, True)
    """
    text = text.strip()
    if text in ("unreadable", "after answer", "nothing is left to compute") or text.endswith("= none"):
        return False
    fields = [f.strip() for f in text.split(";")]
    if len(fields) < 2 or not _CLAIM.fullmatch(fields[-1]):
        return None
    return "!" not in fields[-1]
