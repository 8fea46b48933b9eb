"""Judge compute at test time: K sampled checks of one step, aggregated into one step score.

A *check* is one sampled rationale of a generative judge and its verdict: `p_good` =
P(ok) / (P(ok) + P(bad)) at the verdict position, `parsed` = the rationale reached a verdict
(a check that ran out of tokens has p_good 0.5 and parsed False), `tokens` = the ids it
generated. A check *votes good* when p_good >= 0.5 (the decision rule's own tie rule: a score of
0.5 is not below the threshold).

Aggregators (each: checks of one step -> a step score in [0, 1]):
- `majority`: the fraction of parsed checks voting good (0.5 when none parsed), so a step is
  flagged at threshold 0.5 exactly when more parsed checks vote bad than good;
- `mean_p`: the mean p_good over all checks (unparsed at 0.5), what `GenerativeJudge` does;
- `meta_top`: the `keep` checks a meta-verifier scores highest (ties: the earlier check), then
  `majority` over them (DeepSeek-GRM, arXiv:2504.02495: meta RM guided voting).

The meta-verifier is a logistic-regression head on features of a (step, check) pair
(`check_features`), fitted (`fit_meta_verifier`) on the labelled budget's pairs with target
"this check's verdict agrees with the gold step label". Pure numpy: no torch here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import numpy as np

VOTE_THRESHOLD = 0.5


@dataclasses.dataclass(frozen=True)
class Check:
    """One sampled check of one step."""

    p_good: float
    parsed: bool = True
    tokens: int = 0

    @property
    def votes_good(self) -> bool:
        return self.p_good >= VOTE_THRESHOLD


def majority(checks: Sequence[Check]) -> float:
    """Fraction of parsed checks voting good; 0.5 when none parsed.

    >>> majority([Check(0.9), Check(0.2), Check(0.6)])
    0.6666666666666666
    >>> majority([Check(0.9), Check(0.5, parsed=False), Check(0.1), Check(0.2)])
    0.3333333333333333
    >>> majority([Check(0.5, parsed=False)])
    0.5
    """
    votes = [c.votes_good for c in checks if c.parsed]
    return sum(votes) / len(votes) if votes else 0.5


def mean_p(checks: Sequence[Check]) -> float:
    """Mean p_good over every check (an unparsed one counts at its 0.5).

    >>> mean_p([Check(0.9), Check(0.2), Check(0.5, parsed=False)])
    0.5333333333333333
    """
    if not checks:
        raise ValueError("no checks to aggregate")
    return sum(c.p_good for c in checks) / len(checks)


def top_indices(meta_scores: Sequence[float], keep: int) -> list[int]:
    """Indices of the `keep` highest meta scores, in check order (ties: the earlier check).

    >>> top_indices([0.2, 0.9, 0.2, 0.7], 2)
    [1, 3]
    >>> top_indices([0.5, 0.5, 0.5], 2)
    [0, 1]
    """
    if keep < 1:
        raise ValueError("keep at least one check")
    order = sorted(range(len(meta_scores)), key=lambda i: (-meta_scores[i], i))
    return sorted(order[:keep])


def meta_top(checks: Sequence[Check], meta_scores: Sequence[float], keep: int) -> float:
    """`majority` over the `keep` checks the meta-verifier trusts most.

    >>> cs = [Check(0.9), Check(0.1), Check(0.2), Check(0.8)]
    >>> meta_top(cs, [0.3, 0.9, 0.8, 0.1], 2)  # keeps the two bad votes
    0.0
    >>> meta_top(cs, [0.3, 0.9, 0.8, 0.1], 4) == majority(cs)
    True
    """
    if len(meta_scores) != len(checks):
        raise ValueError(f"{len(meta_scores)} meta scores for {len(checks)} checks")
    return majority([checks[i] for i in top_indices(meta_scores, min(keep, len(checks)))])


def keep_count(k: int, fraction: float) -> int:
    """How many of K checks the meta-verifier keeps: ceil(fraction * K), at least 1.

    >>> [keep_count(k, 0.5) for k in (1, 2, 3, 32)]
    [1, 1, 2, 16]
    """
    return max(1, math.ceil(fraction * k - 1e-9))


# ---- the meta-verifier -------------------------------------------------------------------------

FEATURES = ("bias", "p_good", "confidence", "parsed", "tokens/100", "agreement", "step position")


def check_features(checks: Sequence[Check], i: int, step: int, n_steps: int) -> list[float]:
    """Features of check `i` among the K `checks` of step `step` (of `n_steps`): bias, p_good,
    confidence |2 p_good - 1|, parsed, tokens / 100, the fraction of the other parsed checks
    whose vote agrees with this one (0.5 when there are none), relative step position.

    >>> cs = [Check(0.9, tokens=50), Check(0.8), Check(0.1)]
    >>> [round(x, 3) for x in check_features(cs, 0, 1, 3)]
    [1.0, 0.9, 0.8, 1.0, 0.5, 0.5, 0.5]
    """
    c = checks[i]
    others = [o.votes_good for j, o in enumerate(checks) if j != i and o.parsed]
    agree = sum(v == c.votes_good for v in others) / len(others) if others else 0.5
    pos = step / (n_steps - 1) if n_steps > 1 else 0.0
    return [1.0, c.p_good, abs(2 * c.p_good - 1), float(c.parsed), c.tokens / 100, agree, pos]


def check_was_right(check: Check, label: int) -> int:
    """The meta-verifier's target: 1 when a parsed check's vote matches the gold step label.

    >>> check_was_right(Check(0.8), 1), check_was_right(Check(0.8), 0), check_was_right(Check(0.5, parsed=False), 1)
    (1, 0, 0)
    """
    return int(check.parsed and check.votes_good == bool(label))


@dataclasses.dataclass(frozen=True)
class MetaVerifier:
    """Logistic regression over `FEATURES`: P(this check's verdict is right)."""

    weights: tuple[float, ...]
    n_train: int
    train_accuracy: float
    positive_rate: float  # the trivial baseline: always "right"

    def score(self, features: Sequence[float]) -> float:
        z = float(np.dot(self.weights, features))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_dict(self) -> dict:
        return {"features": list(FEATURES), "weights": list(self.weights), "n_train": self.n_train,
                "train_accuracy": self.train_accuracy, "positive_rate": self.positive_rate}


def fit_meta_verifier(x: Sequence[Sequence[float]], y: Sequence[int], *, l2: float = 1e-2,
                      iterations: int = 50) -> MetaVerifier:
    """Fit the logistic head by Newton's method with an L2 penalty (not on the bias);
    deterministic, no random draws. A ValueError when there are no pairs.

    >>> mv = fit_meta_verifier([[1, 0.9], [1, 0.8], [1, 0.1], [1, 0.2]], [1, 1, 0, 0])
    >>> mv.score([1, 0.95]) > 0.5 > mv.score([1, 0.05]), mv.train_accuracy
    (True, 1.0)
    """
    X = np.asarray(x, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0 or len(X) != len(t):
        raise ValueError("the meta-verifier needs (features, target) pairs")
    w = np.zeros(X.shape[1])
    pen = np.full(X.shape[1], l2)
    pen[0] = 0.0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(X @ w, -30, 30)))
        grad = X.T @ (p - t) / len(X) + pen * w
        hess = (X.T * (p * (1 - p))) @ X / len(X) + np.diag(pen + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    pred = (X @ w) >= 0
    return MetaVerifier(tuple(float(v) for v in w), len(X), float((pred == (t > 0.5)).mean()),
                        float(t.mean()))


Aggregator = Callable[[Sequence[Check], int, int], float]


def aggregators(meta: MetaVerifier | None, keep_fraction: float) -> dict[str, Aggregator]:
    """The aggregators by name, each `(checks, step, n_steps) -> step score`; `meta_top` only
    when a meta-verifier is given."""
    out: dict[str, Aggregator] = {"majority": lambda cs, s, n: majority(cs),
                                  "mean_p": lambda cs, s, n: mean_p(cs)}
    if meta is not None:
        def guided(cs: Sequence[Check], s: int, n: int) -> float:
            scores = [meta.score(check_features(cs, i, s, n)) for i in range(len(cs))]
            return meta_top(cs, scores, keep_count(len(cs), keep_fraction))
        out["meta_top"] = guided
    return out


def running_min(xs: Sequence[float]) -> list[float]:
    """Prefix semantics: a step is never more likely correct than the steps before it.

    >>> running_min([0.9, 0.4, 0.7, 0.2])
    [0.9, 0.4, 0.4, 0.2]
    """
    out, low = [], 1.0
    for v in xs:
        low = min(low, v)
        out.append(low)
    return out


__all__ = ["Check", "majority", "mean_p", "meta_top", "top_indices", "keep_count", "FEATURES",
           "check_features", "check_was_right", "MetaVerifier", "fit_meta_verifier", "aggregators",
           "running_min", "VOTE_THRESHOLD"]
