"""ProcessBench: find the first wrong step (arXiv:2412.06559), exactly as its authors score it.

A step-scoring judge predicts the first step whose score is below the threshold (0.5 unless tuned
on a dev split), or -1 when no step is. On the solutions that have an error (first_error != -1),
`acc_err` is the fraction whose first error is predicted exactly; on the correct ones
(first_error == -1), `acc_cor` is the fraction predicted -1; `f1` is their harmonic mean
(0 when both are 0). Records whose first_error is unknown (None) are excluded and counted. When a
class is absent its accuracy, and F1, are undefined: reported as null with a reason, never as 0.
Every number carries a cluster-bootstrap CI over problems (see `bootstrap`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from prmlab.data.record import Record
from prmlab.metrics.bootstrap import (DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED,
                                         HIGHER, problem_key, with_ci)
# The decision rule and its threshold live with the judges (training selects on them too).
from prmlab.metrics.decision import (DEFAULT_THRESHOLD, check_aligned,  # noqa: F401
                                    candidate_thresholds, f1_at_thresholds, predict_first_error,
                                    threshold_sweep, tune_threshold)


def f1_from_accuracies(acc_err: float, acc_cor: float) -> float:
    """Harmonic mean of the two accuracies; 0 when both are 0; NaN when either is NaN.

    >>> f1_from_accuracies(0.5, 1.0)
    0.6666666666666666
    >>> f1_from_accuracies(0.0, 0.0)
    0.0
    >>> math.isnan(f1_from_accuracies(float("nan"), 1.0))
    True
    """
    if math.isnan(acc_err) or math.isnan(acc_cor):
        return float("nan")
    tot = acc_err + acc_cor
    return 2.0 * acc_err * acc_cor / tot if tot > 0 else 0.0


def processbench_point(first_errors: Sequence[int], predictions: Sequence[int]) -> dict[str, float]:
    """acc_err, acc_cor, f1 (NaN where undefined) from known first errors and predictions.

    >>> processbench_point([-1, -1, 2, 0], [-1, 1, 2, 1])
    {'acc_err': 0.5, 'acc_cor': 0.5, 'f1': 0.5}
    """
    fe = np.asarray(first_errors)
    pr = np.asarray(predictions)
    stats = _stats(fe, pr)
    w = np.ones(len(fe))
    return {k: stats[k](w) for k in ("acc_err", "acc_cor", "f1")}


def _stats(fe: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    err = fe != -1
    hit = (pred == fe).astype(np.float64)
    err_f = err.astype(np.float64)
    cor_f = 1.0 - err_f

    def acc_err(w: np.ndarray) -> float:
        d = (w * err_f).sum()
        return float((w * err_f * hit).sum() / d) if d > 0 else float("nan")

    def acc_cor(w: np.ndarray) -> float:
        d = (w * cor_f).sum()
        return float((w * cor_f * hit).sum() / d) if d > 0 else float("nan")

    def f1(w: np.ndarray) -> float:
        return f1_from_accuracies(acc_err(w), acc_cor(w))

    return {"acc_err": acc_err, "acc_cor": acc_cor, "f1": f1}


def processbench_metrics(records: Sequence[Record], scores: Sequence[Sequence[float]],
                         threshold: float = DEFAULT_THRESHOLD, *,
                         n_resamples: int = DEFAULT_RESAMPLES,
                         confidence: float = DEFAULT_CONFIDENCE,
                         seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """f1, acc_err, acc_cor (each a metric dict with a CI over problems) and the counts `n`.

    `scores[i]` are the step scores of `records[i]`.

    >>> from prmlab.data.record import Record
    >>> recs = [Record(id=f"r{i}", problem="p", steps=["a", "b"], labels=[None, None],
    ...                first_error=fe) for i, fe in enumerate([-1, 1, 0, None])]
    >>> m = processbench_metrics(recs, [[0.9, 0.8], [0.9, 0.2], [0.9, 0.1], [0.1, 0.1]],
    ...                          n_resamples=50)
    >>> m["acc_err"]["value"], m["acc_cor"]["value"], round(m["f1"]["value"], 4)
    (0.5, 1.0, 0.6667)
    >>> m["n"]["excluded_unknown_first_error"]
    1
    """
    check_aligned(records, scores)
    keep = [i for i, r in enumerate(records) if r.first_error is not None]
    fe = np.array([records[i].first_error for i in keep], dtype=np.int64)
    pred = np.array([predict_first_error(scores[i], threshold) for i in keep], dtype=np.int64)
    clusters = [problem_key(records[i]) for i in keep]
    n_err = int((fe != -1).sum())
    n_cor = int((fe == -1).sum())
    stats = _stats(fe, pred)
    kw = dict(n_resamples=n_resamples, confidence=confidence, seed=seed)
    out: dict[str, Any] = {
        "f1": with_ci(stats["f1"], clusters, direction=HIGHER, n=len(keep),
                      aggregation="harmonic mean of acc_err and acc_cor (0 when both are 0)",
                      reason=_absent_reason(n_err, n_cor), **kw),
        "acc_err": with_ci(stats["acc_err"], clusters, direction=HIGHER, n=n_err,
                           aggregation="mean over solutions with an error of "
                                       "[predicted index == first_error]",
                           reason="no solutions with an error (first_error != -1)", **kw),
        "acc_cor": with_ci(stats["acc_cor"], clusters, direction=HIGHER, n=n_cor,
                           aggregation="mean over correct solutions of [prediction == -1]",
                           reason="no correct solutions (first_error == -1)", **kw),
    }
    out["n"] = {"solutions": len(records), "evaluated": len(keep), "with_error": n_err,
                "correct": n_cor, "excluded_unknown_first_error": len(records) - len(keep),
                "problems": len(set(clusters))}
    return out


def _absent_reason(n_err: int, n_cor: int) -> str:
    if n_err == 0 and n_cor == 0:
        return "no solutions with a known first_error"
    if n_err == 0:
        return "no solutions with an error, so acc_err and F1 are undefined"
    return "no correct solutions, so acc_cor and F1 are undefined"


def f1_by_k(records: Sequence[Record], scores_by_k: Mapping[int, Sequence[Sequence[float]]],
            threshold: float = DEFAULT_THRESHOLD, *, n_resamples: int = DEFAULT_RESAMPLES,
            confidence: float = DEFAULT_CONFIDENCE,
            seed: int = DEFAULT_SEED) -> dict[int, dict[str, Any]]:
    """Verifier F1 as a function of K (e.g. verdicts averaged over K sampled rationales).

    `scores_by_k[K][i]` are the step scores of `records[i]` with K samples. Returns, per K in
    ascending order, the f1 metric dict with `acc_err` and `acc_cor` values beside it. The same
    seed is used for every K, so the problems resampled are the same across K.

    >>> from prmlab.data.record import Record
    >>> recs = [Record(id="a", problem="p", steps=["x"], labels=[0], first_error=0),
    ...         Record(id="b", problem="p", steps=["x"], labels=[1], first_error=-1)]
    >>> r = f1_by_k(recs, {4: [[0.2], [0.7]], 1: [[0.6], [0.7]]}, n_resamples=20)
    >>> [(k, v["value"]) for k, v in r.items()]
    [(1, 0.0), (4, 1.0)]
    """
    out: dict[int, dict[str, Any]] = {}
    for k in sorted(scores_by_k):
        m = processbench_metrics(records, scores_by_k[k], threshold, n_resamples=n_resamples,
                                 confidence=confidence, seed=seed)
        f1 = dict(m["f1"])
        f1["acc_err"] = m["acc_err"]["value"]
        f1["acc_cor"] = m["acc_cor"]["value"]
        f1["k"] = int(k)
        out[int(k)] = f1
    return out


__all__ = ["DEFAULT_THRESHOLD", "predict_first_error", "f1_from_accuracies", "processbench_point",
           "processbench_metrics", "candidate_thresholds", "f1_at_thresholds", "tune_threshold",
           "threshold_sweep", "f1_by_k"]
