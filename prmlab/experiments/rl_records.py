"""The typed results of a `prmlab rl` run (`result.json`), and of its evaluations
(`eval-before.json`, `eval-after.json`, `evals.jsonl`): what reports and claims read, never a
dict of guesses.

Torch-free (reports and claims read it on a machine without torch). A run folder written before
this schema has `summary.json` and no `result.json`: reports name the missing file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from prmlab.errors import InputError
from prmlab.experiments.records import Metric
from prmlab.metrics.passk import ProblemSamples
from prmlab.strict import loads, read_json

RESULT_FILE = "result.json"
RL_SCHEMA = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PassKCurve(_Strict):
    """`metrics.passk.pass_at_k_curve` of sampled test solutions, typed."""

    temperature: float
    ks: list[int]
    n_min: int
    n_problems: int
    pass_at_k: dict[str, Metric] = Field(alias="pass@k")
    coverage: Metric
    distinct_answers: Metric


class Crossing(_Strict):
    """Where pass@k(after) and pass@k(before) cross (`metrics.passk.crossing_k`)."""

    k: int | None
    rule: str
    ks: list[int]
    share_crossing: float | None  # share of bootstrap resamples that cross on the grid
    ci: list[int | None] | None  # percentile interval of k; None at an end: beyond the grid
    n_resamples: int


class PassKGap(_Strict):
    """`metrics.passk.pass_at_k_gap`: the RL policy minus the policy it started from."""

    ks: list[int]
    n_problems: int
    gap: dict[str, Metric]
    coverage_gap: Metric
    crossing: Crossing


class PolicyEval(_Strict):
    """Greedy accuracy of the policy after `step` optimizer steps (0: before RL) on the
    training problems it is evaluated on and on the held-out test problems."""

    step: int
    train_greedy_accuracy: Metric
    test_greedy_accuracy: Metric


class FullEval(PolicyEval):
    """Before or after RL: greedy accuracy and the sampled pass@k curve on the test problems."""

    test_sampled: PassKCurve

    def as_greedy(self) -> PolicyEval:
        return PolicyEval(step=self.step, train_greedy_accuracy=self.train_greedy_accuracy,
                          test_greedy_accuracy=self.test_greedy_accuracy)


class CurvePoint(_Strict):
    """One optimizer step of `curve.jsonl`, the fields reports read."""

    step: int
    reward_mean: float
    reward_std: float
    train_accuracy: float  # share of the step's completions the verifier accepts, whatever the reward
    groups_all_equal: int
    loss: float
    completion_tokens: int


class TrainSet(_Strict):
    """Which problems were trained on, and the rule that chose them before any training."""

    rule: str  # the rule in words
    problems: list[str]
    candidates: int  # problems the rule chose from (the first of stream rl.train)
    pass_rates: list[float] | None = None  # mid-pass-rate: each candidate's pre-RL pass rate


class RLResult(_Strict):
    """One `prmlab rl` run: the reward curve, every evaluation, pass@k before and after, and
    throughput."""

    kind: Literal["rl"] = "rl"
    schema_version: int = RL_SCHEMA
    reward: str
    seed: int
    policy: str
    base: str | None  # the policy's base checkpoint, as its prmlab.json names it
    label: str | None = None  # the arm a suite gave this run (e.g. its base's name)
    steps: int
    resumed_from: int
    train: TrainSet
    curve: list[CurvePoint]
    evals: list[PolicyEval]  # step 0 (before), every eval_every steps, the last step
    before: FullEval
    after: FullEval
    pass_at_k_gap: PassKGap
    train_saturated_at: int | None  # first step whose rollouts were all correct (None: never)
    train_seconds_this_run: float
    seconds: float
    steps_per_s: float
    samples_per_s: float


def read_result(folder: Path) -> RLResult:
    """The typed result of an RL run folder; an InputError naming the file when it is absent or
    does not match the schema."""
    f = Path(folder) / RESULT_FILE
    if not f.is_file():
        raise InputError(f"no {RESULT_FILE}: not a finished `prmlab rl` run folder "
                         "(or one written before result.json existed)", path=str(f))
    try:
        return RLResult.model_validate(read_json(f))
    except ValueError as e:
        raise InputError(f"{RESULT_FILE} does not match its schema: {str(e).splitlines()[0]}",
                         path=str(f)) from None


def problem_samples(rows: list[dict]) -> list[ProblemSamples]:
    """Sampled-solution rows (`problem_id`, `sample`, `answer`, `correct`) grouped by problem, in
    first-seen order and sample order: what pass@k is computed from."""
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(str(r["problem_id"]), []).append(r)
    return [ProblemSamples(pid, [r["answer"] for r in rs], [bool(r["correct"]) for r in rs])
            for pid, rs in ((pid, sorted(rs, key=lambda r: r["sample"])) for pid, rs in by.items())]


def read_eval_samples(path: Path) -> list[ProblemSamples]:
    """`eval-{before,after}-samples.jsonl` of a run folder, grouped by problem; an InputError at
    the file and line of a row without its fields."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no sampled solutions: pass@k cannot be recomputed", path=str(path))
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line:
            continue
        r = loads(line, path=path, line=i + 1)
        missing = [k for k in ("problem_id", "sample", "answer", "correct") if not isinstance(r, dict) or k not in r]
        if missing:
            raise InputError(f"a sampled solution without {missing[0]!r}", path=str(path), line=i + 1)
        rows.append(r)
    return problem_samples(rows)
