"""The `arith` task: synthetic word problems whose gold answer is computed from the problem text.

* gold answer: the value of the problem's target quantity (`parse_problem`: the text is the
  source of truth), as a decimal string;
* final answer: the value of the FIRST `answer = v` step of a solution (what the oracle reads
  as the solution's answer; anything after it is already wrong);
* verify: the answer is an integer equal to the gold value (no other normalisation: the domain
  writes plain integers);
* step oracle: `prmlab.data.arith.oracle.judge_steps`;
* problems: `iter_records(n, seed, difficulty, error_rate=0.0)` — the same problems the policy
  and the flagship draw for a seed.

>>> t = ArithTask()
>>> p = ("ann has 23 coins. bob has 7 more coins than ann. "
...      "cal has 3 times as many coins as bob. how many coins does cal have?")
>>> t.gold_answer(p), t.final_answer(["23 + 7 = 30", "answer = 90"]), t.verify(p, "90")
('90', '90', True)
>>> t.final_answer(["23 + 7 = 30"]) is None, t.verify(p, "91"), t.verify(p, "ninety")
(True, False, False)
>>> t.step_oracle(p, ["23 + 7 = 30", "30 * 3 = 91", "answer = 91"])
StepJudgement(labels=[1, 0, 0], first_error=1, reason='arithmetic')
"""

from __future__ import annotations

import functools
import re
from typing import Sequence

from prmlab.data.arith.oracle import judge_steps, parse_step
from prmlab.data.arith.problems import Difficulty, parse_problem
from prmlab.data.tasks.protocol import StepJudgement, StepOracle, TaskProblem
from prmlab.errors import InputError

_INT = re.compile(r"\s*-?\d+\s*")


@functools.lru_cache(maxsize=1 << 16)
def gold_value(problem: str) -> int:
    """The value of the problem's target quantity; InputError when it is not an arith problem."""
    try:
        p = parse_problem(problem)
    except ValueError as e:
        raise InputError(f"rollout labels need a gold answer; not an arith problem: {e}") from None
    return p.by_name()[p.target].value


def first_answer(steps: Sequence[str]) -> int | None:
    """The value of the first `answer = v` step, None when there is none."""
    for s in steps:
        parsed = parse_step(s)
        if parsed is not None and parsed.kind == "answer":
            return parsed.c
    return None


def arith_step_oracle(problem: str, steps: Sequence[str]) -> StepJudgement:
    """The exact oracle's labels; InputError when the problem is not an arith problem."""
    try:
        p = parse_problem(problem)
    except ValueError as e:
        raise InputError(f"not an arith problem: {e}") from None
    j = judge_steps(p, list(steps))
    return StepJudgement(j.labels, j.first_error, j.reason)


class ArithTask:
    """The arith domain as a task. `seed` and `difficulty` only shape `problems()`."""

    name = "arith"

    def __init__(self, *, seed: int = 0, difficulty: Difficulty | None = None):
        self.seed = seed
        self.difficulty = difficulty if difficulty is not None else Difficulty()
        self.step_oracle: StepOracle | None = arith_step_oracle

    def __repr__(self) -> str:
        return f"ArithTask(seed={self.seed}, difficulty={self.difficulty})"

    def problems(self, n: int | None = None) -> list[TaskProblem]:
        from prmlab.data.arith.generate import iter_records  # generate imports the oracle

        if n is None:
            raise InputError("the arith task draws problems without end: give n")
        return [TaskProblem(r.meta["problem_id"], r.problem, self.gold_answer(r.problem))
                for r in iter_records(n, self.seed, self.difficulty, error_rate=0.0)]

    def gold_answer(self, problem: str) -> str:
        return str(gold_value(problem))

    def final_answer(self, steps: Sequence[str]) -> str | None:
        a = first_answer(steps)
        return None if a is None else str(a)

    def verify(self, problem: str, answer: str) -> bool:
        gold = gold_value(problem)
        return bool(_INT.fullmatch(answer)) and int(answer) == gold


ARITH = ArithTask()
"""The default task wherever a caller names none."""
