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
