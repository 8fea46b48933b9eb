"""Gold solutions and an error injector with named error types.

An injected error changes one step; later steps are recomputed from the solution's own (now
wrong) values, as a model that believes its earlier steps would. Labels always come from the
oracle, never from the injector: an "error" that happens to be harmless is labelled correct.

>>> import random
>>> from prmlab.data.arith.problems import parse_problem
>>> p = parse_problem("ann has 23 coins. bob has 7 more coins than ann. "
...                   "cal has 3 times as many coins as bob. how many coins does cal have?")
>>> gold_steps(p)
['23 + 7 = 30', '30 * 3 = 90', 'answer = 90']
>>> inject(p, "wrong_final_answer", random.Random(0))[0][-1] != "answer = 90"
True
"""

from __future__ import annotations

import random

from prmlab.data.arith.problems import Problem, Quantity, apply_op

ERROR_TYPES = ("arithmetic", "wrong_operand", "wrong_operation", "skipped_step", "copy_error",
               "wrong_final_answer", "right_answer_wrong_process")


def format_step(a: int, op: str, b: int, c: int) -> str:
    return f"{a} {op} {b} = {c}"


def format_answer(v: int) -> str:
    return f"answer = {v}"


def _operands(q: Quantity, believed: dict[str, int]) -> tuple[int, int]:
    return tuple(a if isinstance(a, int) else believed[a] for a in q.args)  # type: ignore


def gold_steps(p: Problem) -> list[str]:
    values = {q.name: q.value for q in p.quantities}
    steps = [format_step(*_with(q, values)) for q in p.needed()]
    return steps + [format_answer(values[p.target])]


def _with(q: Quantity, believed: dict[str, int]) -> tuple[int, str, int, int]:
    a, b = _operands(q, believed)
    c = apply_op(q.op, a, b)
    if c is None:  # a wrong earlier value made a division inexact: write the floor, as a model might
        c = a // b if b else 0
    return a, q.op, b, c  # type: ignore[return-value]


def slip(rng: random.Random, v: int) -> int:
    """A nearby wrong value: off by a small amount or one digit changed."""
    for _ in range(50):
        if rng.random() < 0.5:
            w = v + rng.choice([-1, 1]) * rng.randint(1, 10)
        else:
            s = list(str(abs(v)))
            i = rng.randrange(len(s))
            s[i] = str(rng.choice([d for d in range(10) if str(d) != s[i]]))
            w = int("".join(s))
        if w != v and w >= 0:
            return w
    return v + 1


def copy_slip(rng: random.Random, v: int) -> int:
    """A mis-copied number: digits swapped, or one digit dropped/doubled."""
    s = str(v)
    options = []
    if len(s) >= 2 and s[0] != s[1]:
        options.append(s[1] + s[0] + s[2:])
    if len(s) >= 2:
        options.append(s[:-1])
    options.append(s + s[-1])
    return int(rng.choice(options))


def inject(p: Problem, error_type: str, rng: random.Random) -> tuple[list[str], int]:
    """Steps with one error of `error_type`, and the index of the step it was put in."""
    plan = p.needed()
    values = {q.name: q.value for q in p.quantities}
    believed = dict(values)
    n = len(plan)
    if error_type == "wrong_final_answer":
        steps = gold_steps(p)
        steps[-1] = format_answer(slip(rng, values[p.target]))
        return steps, n
    if error_type == "skipped_step":
        at = rng.randrange(n)
        steps = [format_step(*_with(q, believed)) for i, q in enumerate(plan) if i != at]
        return steps + [format_answer(values[p.target])], at
    if error_type == "right_answer_wrong_process" and n < 2:
        error_type = "arithmetic"  # needs a step before the last to hide the slip
    limit = n - 1 if error_type == "right_answer_wrong_process" else n
    at = rng.randrange(limit)
    steps: list[str] = []
    for i, q in enumerate(plan):
        a, op, b, c = _with(q, believed)
        if i == at:
            if error_type in ("arithmetic", "right_answer_wrong_process"):
                c = slip(rng, c)
            elif error_type == "wrong_operation":
                op = rng.choice([o for o in "+-*" if o != q.op])
                c = apply_op(op, a, b)  # type: ignore[assignment]
            elif error_type == "wrong_operand":
                pool = [v for k, v in believed.items()
                        if k not in (q.name,) and v not in (a, b)
                        and (values_known(p, k, plan[:i]))]
                pool += [v for v in _problem_numbers(p) if v not in (a, b)]
                if pool:
                    if rng.random() < 0.5:
                        a = rng.choice(pool)
                    else:
                        b = rng.choice(pool)
                else:
                    b = b + 1
                c = apply_op(op, a, b)  # type: ignore[assignment]
                if c is None:  # inexact division: keep the wrong operand, slip the result
                    c = slip(rng, a // max(b, 1))
            elif error_type == "copy_error":
                if isinstance(q.args[0], str) or rng.random() < 0.5:
                    a = copy_slip(rng, a)
                else:
                    b = copy_slip(rng, b)
                c = apply_op(op, a, b)  # type: ignore[assignment]
                if c is None:
                    c = slip(rng, a // max(b, 1))
            else:
                raise ValueError(f"unknown error type {error_type!r} (known: {', '.join(ERROR_TYPES)})")
        believed[q.name] = c
        steps.append(format_step(a, op, b, c))
    final = values[p.target] if error_type == "right_answer_wrong_process" else believed[p.target]
    return steps + [format_answer(final)], at


def values_known(p: Problem, name: str, done: list[Quantity]) -> bool:
    """Whether a solution that has computed `done` can see quantity `name`."""
    q = p.by_name()[name]
    return q.op is None or any(d.name == name for d in done)


def _problem_numbers(p: Problem) -> list[int]:
    nums = [q.value for q in p.quantities if q.op is None]
    nums += [a for q in p.quantities for a in q.args if isinstance(a, int)]
    return sorted(set(nums))
