"""StepWiser's step labels (arXiv:2508.19229) as pure functions of per-step Q estimates.

Q_j is the Monte-Carlo estimate of the policy's success rate from the prefix `steps[:j]`
(`prmlab.supervision.rollouts` draws the rollouts; Q_0 is the problem alone, the empty prefix);
step i (0-based) is judged by Q_{i+1}, the prefix that includes it, against Q_i before it.
Nothing here draws a rollout or reads the oracle.

* `abs-q`: step i is good iff Q_{i+1} > 0 (some continuation still succeeds). The rule is
  Math-Shepherd's hard estimate (`mc-hard`): the two give the same labels from the same
  rollouts; it is here so that StepWiser's three rules are compared side by side.
* `rel-ratio`: good iff Q_{i+1} / Q_i > gamma (the step keeps at least a share gamma of the
  success rate it started from). When Q_i = 0 the ratio is undefined; the step is then good
  iff Q_{i+1} > 0 (any progress from a hopeless prefix counts, as `rpe` does).
* `rel-effective`: good iff Q^pi_{i+1} + alpha * A^mu_{i+1} > 0, the "effective reward" of
  Setlur et al. (arXiv:2410.08146) that StepWiser uses: mu is the best-of-n policy over pi, whose
  success rate from a prefix is Q^mu = 1 - (1 - Q^pi)^n, and A^mu_{i+1} = Q^mu_{i+1} - Q^mu_i is
  the step's advantage under mu (the progress it makes for a prover that may retry n times).

The defaults (gamma 0.8, alpha 1.0, n 4) are prmlab's choices, not values tuned on this domain
or copied from the paper; they are options everywhere these rules are selectable.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

STEPWISER_METHODS = ("abs-q", "rel-ratio", "rel-effective")


@dataclasses.dataclass(frozen=True)
class StepwiserParams:
    """The options of the StepWiser rules (each rule reads only its own)."""

    gamma: float = 0.8  # rel-ratio: the ratio Q_{i+1} / Q_i must exceed it
    alpha: float = 1.0  # rel-effective: weight of the best-of-n advantage
    n: int = 4  # rel-effective: the prover is best-of-n over the policy

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gamma) and self.gamma >= 0):
            raise ValueError(f"gamma must be a finite number >= 0, got {self.gamma}")
        if not (math.isfinite(self.alpha) and self.alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {self.alpha}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n must be an integer >= 1, got {self.n!r}")


@dataclasses.dataclass(frozen=True)
class StepwiserLabels:
    """Per-step verdicts of one rule and the number each verdict thresholds (None: undefined)."""

    good: list[bool]
    scores: list[float | None]


def _check_q(qs: Sequence[float]) -> list[float]:
    out = [float(q) for q in qs]
    bad = [q for q in out if not 0.0 <= q <= 1.0]
    if bad:
        raise ValueError(f"Q estimates are success rates in [0, 1], got {bad[0]}")
    return out


def prover_q(q: float, n: int) -> float:
    """Success rate of best-of-n over a policy that succeeds with probability q.

    >>> prover_q(0.5, 2), prover_q(0.0, 4), prover_q(1.0, 3)
    (0.75, 0.0, 1.0)
    """
    return 1.0 - (1.0 - q) ** n


def abs_q(q_steps: Sequence[float]) -> StepwiserLabels:
    """`q_steps[i]` = Q_{i+1}; step i is good iff it is > 0. Its score is Q_{i+1}.

    >>> abs_q([0.5, 0.25, 0.0]).good
    [True, True, False]
    """
    qs = _check_q(q_steps)
    return StepwiserLabels([q > 0 for q in qs], list(qs))


def rel_ratio(q0: float, q_steps: Sequence[float], gamma: float = 0.8) -> StepwiserLabels:
    """Good iff Q_{i+1} / Q_i > gamma; with Q_i = 0, good iff Q_{i+1} > 0 (score None).

    Q = 0.5, 0.5, 0.25, 0, 0.5: ratios 1.0, 0.5, 0.0, then undefined (Q_3 = 0) with Q_4 > 0.

    >>> r = rel_ratio(0.5, [0.5, 0.25, 0.0, 0.5], gamma=0.8)
    >>> r.good, r.scores
    ([True, False, False, True], [1.0, 0.5, 0.0, None])
    >>> rel_ratio(0.5, [0.4], gamma=0.8).good  # 0.8 is not > 0.8
    [False]
    """
    qs = _check_q([q0, *q_steps])
    good: list[bool] = []
    scores: list[float | None] = []
    for before, after in zip(qs, qs[1:]):
        if before > 0:
            ratio = after / before
            scores.append(ratio)
            good.append(ratio > gamma)
        else:
            scores.append(None)
            good.append(after > 0)
    return StepwiserLabels(good, scores)


def rel_effective(q0: float, q_steps: Sequence[float], alpha: float = 1.0,
                  n: int = 4) -> StepwiserLabels:
    """Good iff Q^pi_{i+1} + alpha * (Q^mu_{i+1} - Q^mu_i) > 0, Q^mu = 1 - (1 - Q^pi)^n.

    Worked by hand with n = 2, alpha = 1, Q = 0.5, 0.5, 0.25, 0:
    Q^mu = 0.75, 0.75, 0.4375, 0; step 0: 0.5 + (0.75 - 0.75) = 0.5 > 0, good;
    step 1: 0.25 + (0.4375 - 0.75) = -0.0625, bad; step 2: 0 + (0 - 0.4375) < 0, bad.

    >>> r = rel_effective(0.5, [0.5, 0.25, 0.0], alpha=1.0, n=2)
    >>> r.good, r.scores
    ([True, False, False], [0.5, -0.0625, -0.4375])

    With alpha = 0 it is abs-q; a step that keeps Q = 0 scores 0, which is not > 0:

    >>> rel_effective(0.5, [0.25, 0.0, 0.0], alpha=0.0).good
    [True, False, False]
    """
    qs = _check_q([q0, *q_steps])
    mu = [prover_q(q, n) for q in qs]
    scores: list[float | None] = [qs[i + 1] + alpha * (mu[i + 1] - mu[i]) for i in range(len(qs) - 1)]
    return StepwiserLabels([s > 0 for s in scores], scores)  # type: ignore[operator]


def stepwiser_labels(method: str, q0: float | None, q_steps: Sequence[float],
                     params: StepwiserParams = StepwiserParams()) -> StepwiserLabels:
    """The rule `method` (one of `STEPWISER_METHODS`); `q0` may be None for `abs-q` only.

    >>> stepwiser_labels("rel-ratio", 1.0, [0.75, 0.5]).good
    [False, False]
    """
    if method == "abs-q":
        return abs_q(q_steps)
    if q0 is None:
        raise ValueError(f"{method} needs Q_0, the success rate of the empty prefix")
    if method == "rel-ratio":
        return rel_ratio(q0, q_steps, params.gamma)
    if method == "rel-effective":
        return rel_effective(q0, q_steps, params.alpha, params.n)
    raise ValueError(f"unknown StepWiser rule {method!r} (known: {', '.join(STEPWISER_METHODS)})")
