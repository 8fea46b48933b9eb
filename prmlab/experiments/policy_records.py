"""The typed `metrics.json` of a `prmlab tree-grpo` run (`experiments/tree_rl.py`) and of a
`prmlab pcl` run (`experiments/pcl.py`): what the claims read, never a dict of guesses.

Torch-free (claims and reports read it without torch). A file that does not match is an
InputError naming it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prmlab.errors import InputError
from prmlab.experiments.records import Metric
from prmlab.strict import read_json


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TokenPoint(_Strict):
    step: int
    tokens: int
    accuracy: Metric


class TreeTokens(_Strict):
    generated: dict[str, int]  # arm -> generated tokens over the run
    chain_over_tree: float
    trained_tree: int
    per_step: dict[str, list[int]]
    chain_generations: int


class PreferenceBaselines(_Strict):
    random: float
    shorter: Metric


class PreferenceAgreement(_Strict):
    """`tree_rl.preference_agreement`: the sibling preferences against the step oracle."""

    pairs: int
    agree: int
    disagree: int
    tie: int
    agreement: Metric
    agreement_prefix_correct: Metric
    baselines: PreferenceBaselines


class TreeResult(_Strict):
    """A Tree-GRPO run's `metrics.json`."""

    initial_accuracy: Metric
    final_accuracy: dict[str, Metric]  # "tree", "chain"
    final_difference: Metric  # tree - chain, paired over test problems
    accuracy_vs_tokens: dict[str, list[TokenPoint]]
    tokens: TreeTokens
    preference_agreement: PreferenceAgreement
    advantage: str


class OutcomeJudge(_Strict):
    """`metrics.outcome.outcome_judge_metrics` (+ the self-evaluation's `no_verdict`)."""

    n: int
    n_correct: int
    auroc: Metric
    acc_err: Metric
    acc_cor: Metric
    f1: Metric
    f1_wrong: Metric
    no_verdict: int | None = None


class PCLArm(_Strict):
    test_greedy_accuracy: Metric
    test_sampled_accuracy: Metric
    judges: dict[str, OutcomeJudge]  # "self-eval", "always correct", "always wrong", "orm"?


class PCLResult(_Strict):
    """A PCL run's `metrics.json`."""

    steps: int
    lam: float
    n_test: int
    eval_samples: int
    arms: dict[str, PCLArm]  # "before", "grpo", "pcl" (those run)
    pcl_minus_grpo_greedy: Metric | None = Field(None, description="pcl - grpo greedy, paired")


def read_metrics(path: Path, kind: str) -> TreeResult | PCLResult:
    """`path` (a run's metrics.json) typed by the run's kind ("tree" or "pcl")."""
    cls = TreeResult if kind == "tree" else PCLResult
    try:
        return cls.model_validate(read_json(path))
    except ValidationError as e:
        err = e.errors()[0]
        raise InputError(f"metrics.json does not match the {kind} run's schema: {err['msg']}",
                         path=str(path), field=".".join(map(str, err["loc"])) or None) from None
