"""The task protocol: problems with gold answers, an answer check, and (for step domains) an
exact step oracle.

A *task* is anything with these members (a `typing.Protocol`; implementations share no code
by inheritance):

* `name` — "arith", "math", ...;
* `problems(n=None) -> list[TaskProblem]` — problems with their gold answers (the first `n`);
* `gold_answer(problem) -> str` — the gold final answer of a problem text; `InputError` when
  the task does not know the problem;
* `final_answer(steps) -> str | None` — the final answer a (partial) solution states, None
  while it states none (a prefix that states one is *terminal*: its outcome is decided);
* `verify(problem, answer) -> bool` — is `answer` the right final answer of `problem`;
* `step_oracle` — None, or a callable `(problem, steps) -> StepJudgement` with the exact
  prefix-semantics labels of every step (only synthetic domains have one).

Answers are strings on both sides (the canonical record's `answer` is a string too).
`is_solved(task, problem, steps)` is the outcome reward: did this solution (prefix plus
completion) state the right final answer.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, Sequence, runtime_checkable


@dataclasses.dataclass(frozen=True)
class TaskProblem:
    """One problem of a task and its gold final answer."""

    id: str
    problem: str
    gold: str


@dataclasses.dataclass(frozen=True)
class StepJudgement:
    """A step oracle's verdict on one solution, under prefix semantics (labels 1…1 0…0)."""

    labels: list[int]
    first_error: int  # -1 when every step is correct
    reason: str | None  # why the first wrong step is wrong (None when none is)


class StepOracle(Protocol):
    def __call__(self, problem: str, steps: Sequence[str]) -> StepJudgement: ...


@runtime_checkable
class Task(Protocol):
    name: str
    step_oracle: StepOracle | None

    def problems(self, n: int | None = None) -> list[TaskProblem]:
        """The task's problems with gold answers (the first `n` when given)."""
        ...

    def gold_answer(self, problem: str) -> str:
        """The gold final answer of `problem`; InputError when the task does not know it."""
        ...

    def final_answer(self, steps: Sequence[str]) -> str | None:
        """The final answer the solution `steps` states, None when it states none (yet)."""
        ...

    def verify(self, problem: str, answer: str) -> bool:
        """Is `answer` the right final answer of `problem`?"""
        ...


def is_solved(task: Task, problem: str, steps: Sequence[str]) -> bool:
    """Did the solution `steps` (a prefix plus its completion) state the right final answer?

    False when it states no answer. The gold answer is only looked up when there is an answer
    to check (an unknown problem is an InputError then).
    """
    answer = task.final_answer(steps)
    return answer is not None and task.verify(problem, answer)
