"""Step-level metrics: AUROC of P(step correct) against step labels, and calibration (ECE).

Positives are correct steps (label 1), so a useful judge has AUROC above 0.5. Unlabelled steps
(label None) are skipped. Ties count one half (the average-rank / Mann-Whitney definition).
AUROC is undefined — null with a reason — when only one class is present. ECE uses 10
equal-width bins [0, .1), [.1, .2), ..., [.9, 1.0] and weighs each bin by its share of steps.
Both carry a cluster-bootstrap CI over problems. ECE's is the *centred* percentile interval
(`prmlab.metrics.bootstrap`): resampling can only unbalance a bin, so every resample's ECE of a
near-calibrated judge exceeds the estimate and the plain percentile interval misses it.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from prmlab.data.record import Record
from prmlab.metrics.bootstrap import (DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED,
                                         HIGHER, LOWER, problem_key, with_ci)

DEFAULT_BINS = 10


def _auroc_stat(scores: Sequence[float], labels: Sequence[int]) -> Callable[[np.ndarray], float]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    uniq, inv = np.unique(s, return_inverse=True)
    pos = y == 1
    neg = ~pos
    n_u = len(uniq)

    def stat(w: np.ndarray) -> float:
        p = np.bincount(inv[pos], weights=w[pos], minlength=n_u)
        q = np.bincount(inv[neg], weights=w[neg], minlength=n_u)
        wp, wn = p.sum(), q.sum()
        if wp <= 0 or wn <= 0:
            return float("nan")
        below = np.cumsum(q) - q  # negative weight strictly below each distinct score
        return float((p * (below + 0.5 * q)).sum() / (wp * wn))

    return stat


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """P(score of a random positive > score of a random negative), ties counting 1/2; NaN when a
    class is absent.

    >>> auroc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1])  # pairs: 1 + .5 + 1 + 1 out of 4
    0.875
    >>> import math; math.isnan(auroc([0.1, 0.2], [1, 1]))
    True
    """
    return _auroc_stat(scores, labels)(np.ones(len(scores)))


def _ece_stat(scores: Sequence[float], labels: Sequence[int],
              n_bins: int = DEFAULT_BINS) -> Callable[[np.ndarray], float]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    b = np.clip(np.floor(s * n_bins).astype(np.int64), 0, n_bins - 1)

    def stat(w: np.ndarray) -> float:
        tot = w.sum()
        if tot <= 0:
            return float("nan")
        conf = np.bincount(b, weights=w * s, minlength=n_bins)
        acc = np.bincount(b, weights=w * y, minlength=n_bins)
        # sum_b (W_b / W) * |mean conf_b - mean acc_b| = sum_b |conf_b - acc_b| / W
        return float(np.abs(conf - acc).sum() / tot)

    return stat


def ece(scores: Sequence[float], labels: Sequence[int], n_bins: int = DEFAULT_BINS) -> float:
    """Expected calibration error over equal-width bins of [0, 1]; NaN with no steps.

    >>> round(ece([0.2, 0.4, 0.6, 0.9], [0, 1, 1, 1], n_bins=2), 6)  # .5*|.3-.5| + .5*|.75-1|
    0.225
    """
    return _ece_stat(scores, labels, n_bins)(np.ones(len(scores)))


def labelled_steps(records: Sequence[Record], scores: Sequence[Sequence[float]]
                   ) -> tuple[list[float], list[int], list[str]]:
    """(scores, labels, problem keys) of every labelled step, records in order.

    >>> from prmlab.data.record import Record
    >>> r = Record(id="a", problem="p", steps=["x", "y", "z"], labels=[1, None, None],
    ...            first_error=None)
    >>> labelled_steps([r], [[0.9, 0.4, 0.1]])
    ([0.9], [1], ['a'])
    """
    s_out, y_out, c_out = [], [], []
    for r, s in zip(records, scores):
        if len(s) != len(r.steps):
            raise ValueError(f"record {r.id!r}: {len(s)} scores for {len(r.steps)} steps")
        key = problem_key(r)
        for sc, lab in zip(s, r.labels):
            if lab is None:
                continue
            s_out.append(float(sc))
            y_out.append(int(lab))
            c_out.append(key)
    return s_out, y_out, c_out


def step_metrics(records: Sequence[Record], scores: Sequence[Sequence[float]], *,
                 n_bins: int = DEFAULT_BINS, n_resamples: int = DEFAULT_RESAMPLES,
                 confidence: float = DEFAULT_CONFIDENCE,
                 seed: int = DEFAULT_SEED) -> dict[str, dict[str, Any]]:
    """{"auroc": metric, "ece": metric} over every labelled step, CI over problems.

    >>> from prmlab.data.record import Record
    >>> r = Record(id="a", problem="p", steps=["x", "y"], labels=[1, 0], first_error=1)
    >>> m = step_metrics([r], [[0.8, 0.3]], n_resamples=10)
    >>> m["auroc"]["value"], round(m["ece"]["value"], 6)
    (1.0, 0.25)
    """
    s, y, c = labelled_steps(records, scores)
    kw = dict(n_resamples=n_resamples, confidence=confidence, seed=seed)
    n_pos = sum(y)
    if not y:
        reason = "no labelled steps"
    elif n_pos == 0:
        reason = "no correct (label 1) steps: AUROC needs both classes"
    else:
        reason = "no wrong (label 0) steps: AUROC needs both classes"
    return {
        "auroc": with_ci(_auroc_stat(s, y), c, direction=HIGHER, n=len(y),
                         aggregation="over labelled steps; positives = correct steps; "
                                     "ties count 1/2", reason=reason, **kw),
        "ece": with_ci(_ece_stat(s, y, n_bins), c, direction=LOWER, n=len(y),
                       aggregation=f"over labelled steps; {n_bins} equal-width bins, weighted "
                                   "by bin size", reason="no labelled steps",
                       method="centred", bounds=(0.0, 1.0), **kw),
    }
