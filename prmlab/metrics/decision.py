"""A step judge's decision rule, and the threshold that makes it best on labelled solutions.

The rule is ProcessBench's: the predicted first error is the first step scored below the
threshold (0.5 unless tuned), -1 when none is. The threshold search lives here rather than in
`evaluation` because training uses it too: every trained judge saves the threshold that
maximises its dev F1 (and can be selected by it), so that a head whose scores rank steps well
but sit on the wrong side of 0.5 is seen as uncalibrated, not weak.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from prmlab.data.record import Record

DEFAULT_THRESHOLD = 0.5


def predict_first_error(step_scores: Sequence[float], threshold: float = DEFAULT_THRESHOLD) -> int:
    """Index of the first step scored below `threshold`, or -1 when none is.

    >>> predict_first_error([0.9, 0.7, 0.4, 0.1])
    2
    >>> predict_first_error([0.9, 0.5, 0.6])  # 0.5 is not below 0.5
    -1
    >>> predict_first_error([0.9, 0.5, 0.6], threshold=0.55)
    1
    """
    for i, s in enumerate(step_scores):
        if s < threshold:
            return i
    return -1


def check_aligned(records: Sequence[Record], scores: Sequence[Sequence[float]]) -> None:
    if len(records) != len(scores):
        raise ValueError(f"{len(records)} records but {len(scores)} score lists")
    for r, s in zip(records, scores):
        if len(s) != len(r.steps):
            raise ValueError(f"record {r.id!r}: {len(s)} scores for {len(r.steps)} steps")


def candidate_thresholds(scores: Sequence[Sequence[float]]) -> np.ndarray:
    """Midpoints between consecutive distinct scores, plus the two extremes: the lowest score
    (no step is below it: nothing flagged) and the next float above the highest (every first
    step flagged).

    >>> candidate_thresholds([[0.2, 0.8], [0.8, 0.6]]).tolist()
    [0.2, 0.4, 0.7, 0.8000000000000002]
    """
    flat = np.unique(np.concatenate([np.asarray(s, dtype=np.float64) for s in scores]
                                    or [np.zeros(0)]))
    if flat.size == 0:
        return np.array([DEFAULT_THRESHOLD])
    mids = (flat[:-1] + flat[1:]) / 2.0
    return np.concatenate([[flat[0]], mids, [np.nextafter(flat[-1], np.inf)]])


def f1_at_thresholds(records: Sequence[Record], scores: Sequence[Sequence[float]],
                     thresholds: Sequence[float]) -> dict[str, np.ndarray]:
    """acc_err, acc_cor and f1 at every threshold at once (records with unknown first_error
    skipped).

    A record with first error e is right exactly for thresholds t in (m_e, m_{e-1}], m_j being the
    minimum of its first j+1 scores (m_{-1} = +inf); a correct record for t <= m_{n-1}. Counting
    the intervals that contain each t needs two sorted searches, not a pass per threshold.

    >>> from prmlab.data.record import Record
    >>> recs = [Record(id="a", problem="p", steps=["x", "y"], labels=[1, 0], first_error=1),
    ...         Record(id="b", problem="p", steps=["x", "y"], labels=[1, 1], first_error=-1)]
    >>> r = f1_at_thresholds(recs, [[0.9, 0.3], [0.8, 0.6]], [0.5, 0.7])
    >>> r["acc_err"].tolist(), r["acc_cor"].tolist(), r["f1"].tolist()
    ([1.0, 1.0], [1.0, 0.0], [1.0, 0.0])
    """
    check_aligned(records, scores)
    t = np.asarray(thresholds, dtype=np.float64)
    lo_e, hi_e, lo_c, hi_c = [], [], [], []
    for r, s in zip(records, scores):
        if r.first_error is None:
            continue
        m = np.minimum.accumulate(np.asarray(s, dtype=np.float64))
        if r.first_error == -1:
            lo_c.append(-np.inf)
            hi_c.append(m[-1])
        else:
            e = r.first_error
            lo_e.append(m[e])
            hi_e.append(np.inf if e == 0 else m[e - 1])

    def frac(lo: list[float], hi: list[float]) -> np.ndarray:
        if not lo:
            return np.full(t.shape, np.nan)
        a, b = np.sort(lo), np.sort(hi)
        inside = np.searchsorted(a, t, side="left") - np.searchsorted(b, t, side="left")
        return inside / len(lo)

    acc_err, acc_cor = frac(lo_e, hi_e), frac(lo_c, hi_c)
    with np.errstate(invalid="ignore", divide="ignore"):
        tot = acc_err + acc_cor
        f1 = np.where(tot > 0, 2 * acc_err * acc_cor / np.where(tot > 0, tot, 1.0), 0.0)
    f1 = np.where(np.isnan(tot), np.nan, f1)
    return {"thresholds": t, "acc_err": acc_err, "acc_cor": acc_cor, "f1": f1}


def tune_threshold(dev_records: Sequence[Record], dev_scores: Sequence[Sequence[float]]) -> float:
    """The threshold maximising ProcessBench F1 on a dev split.

    Candidates are `candidate_thresholds(dev_scores)`; among equally good ones the closest to the
    default 0.5 wins (then the smaller). Needs both erroneous and correct dev solutions.

    >>> from prmlab.data.record import Record
    >>> recs = [Record(id="a", problem="p", steps=["x", "y"], labels=[1, 0], first_error=1),
    ...         Record(id="b", problem="p", steps=["x", "y"], labels=[1, 1], first_error=-1)]
    >>> tune_threshold(recs, [[0.9, 0.7], [0.9, 0.8]])  # right for t in (0.7, 0.8]
    0.75
    """
    return threshold_sweep(dev_records, dev_scores)["threshold"]


def threshold_sweep(dev_records: Sequence[Record],
                    dev_scores: Sequence[Sequence[float]]) -> dict[str, Any]:
    """The tuned threshold with its dev acc_err/acc_cor/f1 and the number of candidates tried."""
    cands = candidate_thresholds(dev_scores)
    res = f1_at_thresholds(dev_records, dev_scores, cands)
    f1 = res["f1"]
    if np.all(np.isnan(f1)):
        raise ValueError("cannot tune a threshold: the dev split needs solutions both with and "
                         "without an error (known first_error)")
    best = np.nanmax(f1)
    idx = [i for i in range(len(cands)) if f1[i] == best]
    i = min(idx, key=lambda j: (abs(cands[j] - DEFAULT_THRESHOLD), cands[j]))
    return {"threshold": float(cands[i]), "dev_f1": float(f1[i]),
            "dev_acc_err": float(res["acc_err"][i]), "dev_acc_cor": float(res["acc_cor"][i]),
            "candidates": int(len(cands)),
            "dev_n": int(sum(r.first_error is not None for r in dev_records))}
