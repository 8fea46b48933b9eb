"""Outcome judges: how well a per-solution score P(answer correct) separates right from wrong
answers, beside the trivial judges that ignore the solution.

Per solution a judge gives a score in [0, 1] and a verdict (1: "correct", 0: "wrong"); the
truth is the verifier's 0/1. Reported, each with a cluster-bootstrap CI over problems (the
samples of one problem move together):

* `auroc` — P(score of a correct answer > score of a wrong one), ties one half
  (`metrics.stepwise`'s definition, positives = correct); 0.5 for any constant judge;
* `acc_err` / `acc_cor` — share of wrong answers the verdict calls wrong / of correct answers it
  calls correct; `f1` their harmonic mean, ProcessBench's convention (`f1_from_accuracies`),
  so a judge must get both classes right: both trivial judges score 0;
* `f1_wrong` — the binary F1 of flagging wrong answers (positive = wrong): "always wrong" scores
  2q / (1 + q) on a share q of wrong answers, the number a useful error detector must beat.

A metric whose class is absent is null with a reason, never 0. The trivial judges
(`TRIVIAL`): "always correct" (score 1, verdict 1) and "always wrong" (score 0, verdict 0).
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Sequence

import numpy as np

from prmlab.metrics.bootstrap import DEFAULT_RESAMPLES, HIGHER, with_ci
from prmlab.metrics.processbench import f1_from_accuracies
from prmlab.metrics.stepwise import auroc  # noqa: F401  (the definition this module reuses)
from prmlab.metrics.stepwise import _auroc_stat

TRIVIAL = {"always correct": 1, "always wrong": 0}


def _share(num: np.ndarray, den: np.ndarray) -> Callable[[np.ndarray], float]:
    def stat(w: np.ndarray) -> float:
        d = float((w * den).sum())
        return float((w * num).sum()) / d if d > 0 else float("nan")
    return stat


def outcome_point(verdicts: Sequence[int], correct: Sequence[int]) -> dict[str, float]:
    """acc_err, acc_cor, f1 and f1_wrong of verdicts against the truth (NaN where undefined).

    >>> outcome_point([1, 0, 0, 1], [1, 1, 0, 0])  # one of two right each way; flags: 1 hit of 2
    {'acc_err': 0.5, 'acc_cor': 0.5, 'f1': 0.5, 'f1_wrong': 0.5}
    >>> outcome_point([0, 0, 0], [1, 0, 0])["f1_wrong"]  # always wrong, q = 2/3: 2q / (1 + q)
    0.8
    """
    stats = _stats(np.asarray(verdicts), np.asarray(correct))
    w = np.ones(len(verdicts))
    return {k: stats[k](w) for k in ("acc_err", "acc_cor", "f1", "f1_wrong")}


def _stats(v: np.ndarray, y: np.ndarray) -> dict[str, Callable[[np.ndarray], float]]:
    wrong, right = (y == 0).astype(np.float64), (y == 1).astype(np.float64)
    flag = (v == 0).astype(np.float64)
    acc_err = _share(flag * wrong, wrong)
    acc_cor = _share((1 - flag) * right, right)
    tp, fp, fn = flag * wrong, flag * right, (1 - flag) * wrong

    def f1_wrong(w: np.ndarray) -> float:
        d = float((w * (2 * tp + fp + fn)).sum())
        return 2 * float((w * tp).sum()) / d if d > 0 else float("nan")

    return {"acc_err": acc_err, "acc_cor": acc_cor,
            "f1": lambda w: f1_from_accuracies(acc_err(w), acc_cor(w)), "f1_wrong": f1_wrong}


def outcome_judge_metrics(scores: Sequence[float], verdicts: Sequence[int], correct: Sequence[int],
                          clusters: Sequence[Hashable], *,
                          n_resamples: int = DEFAULT_RESAMPLES) -> dict[str, Any]:
    """Every metric of the module doc, each with its CI, direction and aggregation."""
    if not len(scores) == len(verdicts) == len(correct) == len(clusters):
        raise ValueError("scores, verdicts, correct and clusters must align")
    y = np.asarray(correct, dtype=np.int64)
    n, n_cor = len(y), int(y.sum())
    one_class = (f"only one class among {n} answers ({n_cor} correct)" if n_cor in (0, n) else None)
    stats = _stats(np.asarray(verdicts, dtype=np.int64), y)
    kw = dict(direction=HIGHER, n=n, n_resamples=n_resamples)
    out = {"n": n, "n_correct": n_cor,
           "auroc": with_ci(_auroc_stat(list(scores), list(y)), clusters,
                            aggregation="AUROC over answers (positive = correct)",
                            reason=one_class, **kw)}
    what = {"acc_err": "share of wrong answers called wrong",
            "acc_cor": "share of correct answers called correct",
            "f1": "harmonic mean of acc_err and acc_cor (ProcessBench's F1)",
            "f1_wrong": "binary F1 of flagging wrong answers (positive = wrong)"}
    for k, agg in what.items():
        reason = ("no wrong answers" if k in ("acc_err", "f1_wrong") and n_cor == n else
                  "no correct answers" if k == "acc_cor" and n_cor == 0 else one_class)
        out[k] = with_ci(stats[k], clusters, aggregation=agg, reason=reason, **kw)
    return out


def trivial_judges(correct: Sequence[int], clusters: Sequence[Hashable], *,
                   n_resamples: int = DEFAULT_RESAMPLES) -> dict[str, dict[str, Any]]:
    """The metrics of "always correct" and "always wrong" on the same answers."""
    return {name: outcome_judge_metrics([float(v)] * len(correct), [v] * len(correct), correct,
                                        clusters, n_resamples=n_resamples)
            for name, v in TRIVIAL.items()}
