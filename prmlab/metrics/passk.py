"""pass@k curves and answer coverage of sampled solutions, with CIs over problems.

The estimator is `prmlab.metrics.bon.pass_at_k` (unbiased, 1 - C(n-c, k)/C(n, k) as a stable
product, so k = 1024 of n = 2048 samples is fine); this module curves it over k and adds what
arXiv:2504.13837 reads beside it:

* `pass@k` (higher is better): mean over problems of the unbiased estimate from n samples with
  c correct, for every k <= the smallest n;
* `coverage` (higher): share of problems whose gold answer is among the sampled answers at all
  (pass@n with every sample);
* `distinct_answers` (higher = more diverse samples, not better): mean number of different
  final answers per problem (a missing answer is not an answer): how widely samples spread.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from prmlab.metrics.bon import ks_within, pass_at_k
from prmlab.metrics.bootstrap import DEFAULT_RESAMPLES, HIGHER, weighted_mean, with_ci


@dataclasses.dataclass(frozen=True)
class ProblemSamples:
    """One problem's sampled final answers (None: none stated) and their correctness."""

    problem_id: str
    answers: list[str | None]
    correct: list[bool]

    @property
    def n(self) -> int:
        return len(self.correct)


def distinct_answers(answers: Sequence[str | None]) -> int:
    """Different stated answers (blank and missing ones are not answers).

    >>> distinct_answers(["3", "4", "3", None, " "])
    2
    """
    return len({a.strip() for a in answers if a is not None and a.strip()})


def pass_at_k_curve(problems: Sequence[ProblemSamples], ks: Sequence[int] | None = None, *,
                    n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict[str, Any]:
    """pass@k for each k (default 1, 2, 4, ... up to the smallest n), coverage and distinct
    answers, each with a bootstrap CI over problems.

    Two problems, 4 samples each: 1 and 2 correct. pass@1 = (1/4 + 2/4) / 2; pass@2 =
    ((1 - C(3,2)/C(4,2)) + (1 - C(2,2)/C(4,2))) / 2 = (1/2 + 5/6) / 2.

    >>> ps = [ProblemSamples("a", ["1", "2", "2", "3"], [True, False, False, False]),
    ...       ProblemSamples("b", ["5", "5", "6", None], [True, True, False, False])]
    >>> m = pass_at_k_curve(ps, n_resamples=20)
    >>> [round(m["pass@k"][k]["value"], 4) for k in ("1", "2", "4")], m["coverage"]["value"]
    ([0.375, 0.6667, 1.0], 1.0)
    >>> m["distinct_answers"]["value"]  # (3 + 2) / 2
    2.5
    """
    ks = ks_within(problems, ks)
    n_min = min(p.n for p in problems)
    clusters = [p.problem_id for p in problems]
    kw = dict(n=len(problems), n_resamples=n_resamples, seed=seed)
    curve = {}
    for k in ks:
        vals = np.array([pass_at_k(p.n, sum(p.correct), k) for p in problems])
        curve[str(k)] = with_ci(weighted_mean(vals), clusters, direction=HIGHER,
                                aggregation="mean over problems of unbiased pass@k "
                                            "1 - C(n-c,k)/C(n,k)", **kw)
    covered = np.array([float(any(p.correct)) for p in problems])
    spread = np.array([float(distinct_answers(p.answers)) for p in problems])
    return {"ks": ks, "n_min": n_min, "n_problems": len(problems), "pass@k": curve,
            "coverage": with_ci(weighted_mean(covered), clusters, direction=HIGHER,
                                aggregation="share of problems with the gold answer among "
                                            "all samples' answers", **kw),
            "distinct_answers": with_ci(weighted_mean(spread), clusters, direction=HIGHER,
                                        aggregation="mean over problems of distinct final "
                                                    "answers among the samples (higher: more "
                                                    "diverse, not better)", **kw)}


def crossing_k(ks: Sequence[int], gap: Sequence[float], tol: float = 1e-12) -> int | None:
    """Where two pass@k curves cross: the first k of the grid at which the gap (after − before)
    has the opposite sign of its sign at the grid's first k. None: no crossing on the grid, or
    a gap of 0 (within `tol`) at the first k (nothing to cross from). A gap of 0 later is a
    touch, not a crossing.

    >>> crossing_k([1, 2, 4, 8], [0.10, 0.02, 0.0, -0.05])
    8
    >>> crossing_k([1, 2, 4], [-0.1, -0.2, 0.3]), crossing_k([1, 2], [0.1, 0.2]), crossing_k([1, 2], [0.0, -0.1])
    (4, None, None)
    """
    if len(ks) != len(gap) or not ks:
        raise ValueError("need one gap per k, and at least one k")
    s0 = np.sign(gap[0]) if abs(gap[0]) > tol else 0.0
    if s0 == 0:
        return None
    for k, g in zip(ks, gap):
        if abs(g) > tol and np.sign(g) == -s0:
            return int(k)
    return None


def pass_at_k_gap(before: Sequence[ProblemSamples], after: Sequence[ProblemSamples],
                  ks: Sequence[int] | None = None, *, n_resamples: int = DEFAULT_RESAMPLES,
                  seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """pass@k of `after` minus `before` on the same problems (paired by `problem_id`), per k,
    the coverage gap, and where the curves cross (`crossing_k`), each with a bootstrap over
    problems: one resample draws problems with replacement and keeps both policies' samples of
    a drawn problem together, so the per-k gaps and the crossing of one resample come from the
    same draw.

    The crossing's interval is the percentile interval of the resampled crossing k, a resample
    without a crossing counting as beyond the grid: an end beyond the grid is `None` (reported
    as "no crossing up to k_max"); `share_crossing` is the share of resamples that cross.

    One problem, before 1 of 4 correct, after 2 of 4: pass@1 gap 2/4 − 1/4 = 0.25, pass@4
    gap 1 − 1 = 0. Two problems where RL sharpens one and loses the other:
    before (2/4, 2/4) and after (4/4, 0/4): pass@1 gap (1 + 0)/2 − 0.5 = 0; pass@2 gap
    (1 + 0)/2 − (1 − C(2,2)/C(4,2)) = 0.5 − 5/6 = −1/3.

    >>> b = [ProblemSamples("a", ["1"] * 4, [True, True, False, False]),
    ...      ProblemSamples("b", ["1"] * 4, [True, True, False, False])]
    >>> a = [ProblemSamples("a", ["1"] * 4, [True] * 4), ProblemSamples("b", ["1"] * 4, [False] * 4)]
    >>> g = pass_at_k_gap(b, a, n_resamples=20)
    >>> [round(g["gap"][k]["value"], 4) for k in ("1", "2", "4")], g["crossing"]["k"]
    ([0.0, -0.3333, -0.5], None)
    """
    ids_b = [p.problem_id for p in before]
    ids_a = {p.problem_id: p for p in after}
    if sorted(ids_b) != sorted(ids_a) or len(set(ids_b)) != len(ids_b):
        raise ValueError("pass@k gaps need the same problems (unique ids) before and after")
    pairs = [(p, ids_a[p.problem_id]) for p in before]
    ks = ks_within([x for pair in pairs for x in pair], ks)
    kw = dict(n=len(pairs), n_resamples=n_resamples, seed=seed, confidence=confidence)
    clusters = [p.problem_id for p, _ in pairs]
    diff = np.array([[pass_at_k(a.n, sum(a.correct), k) - pass_at_k(b.n, sum(b.correct), k)
                      for k in ks] for b, a in pairs])  # (P, K)
    gap = {str(k): with_ci(weighted_mean(diff[:, j]), clusters, direction=HIGHER,
                           aggregation="mean over problems of pass@k(after) − pass@k(before) "
                                       "(unbiased estimates, paired by problem)", **kw)
           for j, k in enumerate(ks)}
    cov = np.array([float(any(a.correct)) - float(any(b.correct)) for b, a in pairs])
    point = crossing_k(ks, [float(x) for x in diff.mean(axis=0)])
    crossing: dict[str, Any] = {"k": point, "rule": "first k of the grid where pass@k(after) − "
                                "pass@k(before) has the opposite sign of its sign at the first k",
                                "ks": list(ks), "share_crossing": None, "ci": None,
                                "n_resamples": 0}
    if n_resamples > 0:
        # the same draws as with_ci's (cluster_bootstrap: one rng of `seed`, problems drawn C of C)
        rng = np.random.default_rng(seed)
        c = len(pairs)
        found = np.empty(n_resamples)
        for b_ in range(n_resamples):
            w = np.bincount(rng.integers(0, c, c), minlength=c).astype(np.float64)
            k_b = crossing_k(ks, list(w @ diff / w.sum()))
            found[b_] = np.inf if k_b is None else k_b
        alpha = (1.0 - confidence) / 2.0
        lo, hi = (float(x) for x in np.quantile(found, [alpha, 1.0 - alpha], method="lower"))
        crossing.update(share_crossing=float(np.isfinite(found).mean()), n_resamples=n_resamples,
                        ci=[None if np.isinf(lo) else int(lo), None if np.isinf(hi) else int(hi)])
    return {"ks": list(ks), "n_problems": len(pairs), "gap": gap,
            "coverage_gap": with_ci(weighted_mean(cov), clusters, direction=HIGHER,
                                    aggregation="share of problems covered after − before "
                                                "(gold answer among all samples)", **kw),
            "crossing": crossing}
