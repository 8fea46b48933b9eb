"""RL rewards: each one a plain function of (problem, solution), plus the batch adapter the GRPO
loop calls (`build_reward`).

* `outcome`: 1 iff the solution's final answer is the task's gold answer (the verifier).
* `process`: a prmlab judge's step scores aggregated (min / product / last; `aggregate`).
* `outcome+process`: outcome + `process_weight` x process.
* controls (arXiv:2506.10947's spurious rewards, label-free rewards):
  - `random`: Bernoulli(p), drawn per sample from the named stream `rl.reward.random` keyed by
    (config seed, step, problem slot, sample): the same run draws the same rewards, and the
    reward does not depend on the solution at all;
  - `incorrect`: 1 iff the final answer equals one fixed wrong answer per problem: gold + 1
    (`wrong_answer`; the rule is stated, not learned from samples, so it is the same for every
    policy);
  - `format`: 1 iff the solution states a final answer at all (the task's `final_answer`);
  - `majority`: 1 iff the final answer equals the most frequent answer of the problem's group
    (`prmlab.metrics.bon.majority_answer`; ties: the answer seen first; no answer: 0) — no gold
    answer is read.

A solution is its list of steps (`Codec.split_steps` of the completion).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Callable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from prmlab import seeds
from prmlab.data.record import Record
from prmlab.data.tasks import Task, is_solved
from prmlab.errors import InputError
from prmlab.metrics.aggregate import aggregate
from prmlab.metrics.bon import majority_answer

REWARDS = ("outcome", "process", "outcome+process", "random", "incorrect", "format", "majority")


class RewardConfig(BaseModel):
    """What the policy is rewarded for."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: Literal["outcome", "process", "outcome+process", "random", "incorrect", "format",
                  "majority"] = Field("outcome", description="the reward: " + ", ".join(REWARDS))
    p: float = Field(0.5, ge=0, le=1, allow_inf_nan=False, description="random: P(reward = 1)")
    judge: str | None = Field(None, description="process rewards: the judge checkpoint folder that scores the steps")
    agg: Literal["min", "product", "last"] = Field("min", description="process rewards: how step scores make one score")
    process_weight: float = Field(1.0, ge=0, allow_inf_nan=False, description="outcome+process: weight of the process term")

    @model_validator(mode="after")
    def _judge_when_needed(self) -> "RewardConfig":
        if self.name in ("process", "outcome+process") and not self.judge:
            raise ValueError(f"reward {self.name} needs judge (a judge checkpoint folder)")
        if self.name not in ("process", "outcome+process") and self.judge:
            raise ValueError(f"reward {self.name} reads no judge")
        return self


@dataclasses.dataclass(frozen=True)
class Completion:
    """One sampled solution in a GRPO batch."""

    problem: str
    steps: list[str]
    step: int  # the optimizer step that sampled it
    group: int  # the problem slot within the step's batch
    sample: int  # its index within the group


RewardFn = Callable[[Sequence[Completion]], list[float]]
"""A batch of completions in, one reward each out (same order)."""


# ---- the plain functions ----------------------------------------------------------------------

def outcome_reward(task: Task, problem: str, steps: Sequence[str]) -> float:
    """1.0 iff the solution states the gold answer.

    >>> from prmlab.data.tasks import ARITH
    >>> p = ("ann has 23 coins. bob has 7 more coins than ann. "
    ...      "cal has 3 times as many coins as bob. how many coins does cal have?")
    >>> outcome_reward(ARITH, p, ["23 + 7 = 30", "30 * 3 = 90", "answer = 90"])
    1.0
    >>> outcome_reward(ARITH, p, ["23 + 7 = 30", "answer = 30"]), outcome_reward(ARITH, p, ["23 + 7 = 30"])
    (0.0, 0.0)
    """
    return float(is_solved(task, problem, steps))


def format_reward(task: Task, problem: str, steps: Sequence[str]) -> float:
    """1.0 iff the solution states some final answer, right or wrong.

    >>> from prmlab.data.tasks import ARITH
    >>> format_reward(ARITH, "any", ["answer = 5"]), format_reward(ARITH, "any", ["2 + 3 = 5"])
    (1.0, 0.0)
    """
    return float(task.final_answer(steps) is not None)


_INT = re.compile(r"-?\d+")


def wrong_answer(task: Task, problem: str) -> str:
    """The one wrong answer `incorrect` rewards: gold + 1 (integer answers only).

    >>> from prmlab.data.tasks import ARITH
    >>> wrong_answer(ARITH, "ann has 4 coins. bob has 2 more coins than ann. how many coins does bob have?")
    '7'
    """
    gold = task.gold_answer(problem).strip()
    if not _INT.fullmatch(gold):
        raise InputError(f"the incorrect reward needs integer gold answers, got {gold!r}")
    return str(int(gold) + 1)


def incorrect_reward(task: Task, problem: str, steps: Sequence[str]) -> float:
    """1.0 iff the final answer is `wrong_answer` of the problem.

    >>> from prmlab.data.tasks import ARITH
    >>> p = "ann has 4 coins. bob has 2 more coins than ann. how many coins does bob have?"
    >>> incorrect_reward(ARITH, p, ["answer = 7"]), incorrect_reward(ARITH, p, ["answer = 6"])
    (1.0, 0.0)
    """
    answer = task.final_answer(steps)
    return float(answer is not None and answer.strip() == wrong_answer(task, problem))


def random_reward(p: float, seed: int, step: int, group: int, sample: int) -> float:
    """Bernoulli(p) from the named stream `rl.reward.random`, keyed by the sample's place.

    >>> random_reward(0.5, 0, 3, 1, 2) == random_reward(0.5, 0, 3, 1, 2)
    True
    >>> random_reward(0.0, 0, 0, 0, 0), random_reward(1.0, 0, 0, 0, 0)
    (0.0, 1.0)
    """
    return float(seeds.rng("rl.reward.random", seed, step, group, sample).random() < p)


def majority_rewards(task: Task, group: Sequence[Sequence[str]]) -> list[float]:
    """1.0 for each solution whose final answer is the group's most frequent one.

    >>> from prmlab.data.tasks import ARITH
    >>> majority_rewards(ARITH, [["answer = 5"], ["answer = 6"], ["answer = 6"], ["2 + 2 = 4"]])
    [0.0, 1.0, 1.0, 0.0]
    >>> majority_rewards(ARITH, [["2 + 2 = 4"]])
    [0.0]
    """
    answers = [task.final_answer(s) for s in group]
    i = majority_answer(answers)
    if i is None:
        return [0.0] * len(answers)
    return [float(a is not None and a == answers[i]) for a in answers]


def process_rewards(judge, problems: Sequence[str], solutions: Sequence[Sequence[str]],
                    agg: str = "min") -> list[float]:
    """A judge's step scores of each solution, aggregated; 0.0 for a solution with no steps."""
    records = [Record(id=str(i), problem=p, steps=list(s) or ["(empty)"], labels=[None] * max(1, len(s)),
                      first_error=None) for i, (p, s) in enumerate(zip(problems, solutions))]
    scores = judge.score(records)
    return [aggregate(sc.step_scores, agg) if s else 0.0 for sc, s in zip(scores, solutions)]


# ---- the batch adapter ------------------------------------------------------------------------

def build_reward(cfg: RewardConfig, task: Task, *, seed: int, judge=None) -> RewardFn:
    """The batched reward of `cfg`; `judge` (a prmlab judge) for process rewards, loaded from
    `cfg.judge` by the caller."""
    name = cfg.name
    if name in ("process", "outcome+process") and judge is None:
        raise ValueError(f"reward {name} needs a judge")

    def per_sample(fn) -> RewardFn:
        return lambda batch: [fn(task, c.problem, c.steps) for c in batch]

    if name == "outcome":
        return per_sample(outcome_reward)
    if name == "format":
        return per_sample(format_reward)
    if name == "incorrect":
        return per_sample(incorrect_reward)
    if name == "random":
        return lambda batch: [random_reward(cfg.p, seed, c.step, c.group, c.sample) for c in batch]
    if name == "majority":
        def majority(batch: Sequence[Completion]) -> list[float]:
            out = [0.0] * len(batch)
            groups: dict[tuple[int, int], list[int]] = {}
            for i, c in enumerate(batch):
                groups.setdefault((c.step, c.group), []).append(i)
            for idx in groups.values():
                for i, r in zip(idx, majority_rewards(task, [batch[i].steps for i in idx])):
                    out[i] = r
            return out
        return majority

    def process(batch: Sequence[Completion]) -> list[float]:
        pr = process_rewards(judge, [c.problem for c in batch], [c.steps for c in batch], cfg.agg)
        if name == "process":
            return pr
        return [outcome_reward(task, c.problem, c.steps) + cfg.process_weight * x
                for c, x in zip(batch, pr)]
    return process
