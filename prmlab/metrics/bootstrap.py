"""Cluster bootstrap over problems, and the one shape every reported number takes.

Solutions of the same problem are not independent, so confidence intervals resample whole
problems (clusters) with replacement: a resample draws C problems out of C, and every item
(solution, or step) of a drawn problem enters with weight = how many times its problem was drawn.
A statistic is therefore a function of an item-weight vector, which lets the expensive parts
(sorting, binning) be done once, outside the resampling loop.

The interval is the percentile interval of the resampled statistic (default 1000 resamples, 95%),
from a fixed-seed generator, so the same inputs always give the same interval. Resamples where
the statistic is undefined (NaN — e.g. a class absent from the resample) are dropped and counted.

A statistic that resampling itself biases — ECE, a sum of |mean confidence − accuracy| over bins,
where the absolute value turns resampling noise into a larger error every time — gets the
*centred* percentile interval instead (`method="centred"`): the resampled values shifted by
their median bias (median of the resamples − the estimate), clipped to the statistic's range.
For an unbiased statistic the shift is about zero and it is the percentile interval; for a
biased one it is the percentile interval put back around the estimate, which it then always
contains (the plain percentile interval of a near-calibrated judge's ECE lies wholly above
the estimate: 0.0013 reported with [0.0136, 0.1830]).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Hashable, Sequence

import numpy as np

from prmlab.data.record import Record

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0

HIGHER, LOWER = "higher", "lower"
METHODS = ("percentile", "centred")
CI_METHOD_TEXT = {"centred": "percentile interval centred on the estimate: resamples shifted by "
                             "their median bias (the statistic is biased upward by resampling)"}


def problem_key(record: Record) -> str:
    """The cluster a solution belongs to: `meta.problem_id` when present, else the record id.

    >>> from prmlab.data.record import Record
    >>> problem_key(Record(id="s1", problem="p", steps=["a"], labels=[1], first_error=-1,
    ...                    meta={"problem_id": 7}))
    '7'
    >>> problem_key(Record(id="s1", problem="p", steps=["a"], labels=[1], first_error=-1))
    's1'
    """
    return str(record.meta.get("problem_id", record.id))


def cluster_index(keys: Sequence[Hashable]) -> tuple[np.ndarray, int]:
    """Map each item's cluster key to 0..C-1 in order of first appearance; return (codes, C).

    >>> codes, c = cluster_index(["b", "a", "b", "c"])
    >>> codes.tolist(), c
    ([0, 1, 0, 2], 3)
    """
    seen: dict[Hashable, int] = {}
    codes = np.fromiter((seen.setdefault(k, len(seen)) for k in keys), dtype=np.int64,
                        count=len(keys))
    return codes, len(seen)


def cluster_bootstrap(clusters: Sequence[Hashable] | np.ndarray,
                      statistic: Callable[[np.ndarray], float], *,
                      n_resamples: int = DEFAULT_RESAMPLES,
                      confidence: float = DEFAULT_CONFIDENCE,
                      seed: int = DEFAULT_SEED, method: str = "percentile",
                      bounds: tuple[float, float] | None = None) -> dict[str, Any]:
    """Percentile CI of `statistic(weights)` under resampling of clusters with replacement.

    `clusters[i]` is item i's cluster key; `statistic` receives a float weight per item (1.0
    everywhere gives the point estimate) and returns a float, NaN when undefined.
    `method="centred"` shifts the resamples by their median bias first (see the module
    docstring); `bounds` clips the interval to the statistic's range.
    Returns {"ci": [lo, hi] or None, "n_resamples": B, "n_undefined": #NaN resamples}.

    >>> x = np.array([0., 1., 1., 0., 1.])
    >>> mean = lambda w: float((w * x).sum() / w.sum())
    >>> a = cluster_bootstrap(["p", "p", "q", "r", "s"], mean, n_resamples=200, seed=3)
    >>> a == cluster_bootstrap(["p", "p", "q", "r", "s"], mean, n_resamples=200, seed=3)
    True
    >>> 0.0 <= a["ci"][0] <= 0.6 <= a["ci"][1] <= 1.0
    True
    """
    codes, n_clusters = cluster_index(list(clusters))
    if n_clusters == 0 or n_resamples <= 0:
        return {"ci": None, "n_resamples": 0, "n_undefined": 0}
    rng = np.random.default_rng(seed)
    stats = np.empty(n_resamples, dtype=np.float64)
    for b in range(n_resamples):
        draws = np.bincount(rng.integers(0, n_clusters, n_clusters), minlength=n_clusters)
        stats[b] = statistic(draws[codes].astype(np.float64))
    ok = stats[~np.isnan(stats)]
    n_undef = int(n_resamples - ok.size)
    if ok.size == 0:
        return {"ci": None, "n_resamples": n_resamples, "n_undefined": n_undef}
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    alpha = (1.0 - confidence) / 2.0
    point = statistic(np.ones(len(codes))) if method == "centred" else float("nan")
    if not math.isnan(point):
        ok = ok - (float(np.median(ok)) - point)
    lo, hi = (float(x) for x in np.quantile(ok, [alpha, 1.0 - alpha]))
    if not math.isnan(point):  # the median lies between the quantiles: only rounding is left
        lo, hi = min(lo, point), max(hi, point)
    if bounds is not None:
        lo = float(min(max(lo, bounds[0]), bounds[1]))
        hi = float(min(max(hi, bounds[0]), bounds[1]))
    return {"ci": [lo, hi], "n_resamples": n_resamples, "n_undefined": n_undef}


def metric(value: float | None, *, direction: str, n: int, aggregation: str,
           ci: list[float] | None = None, reason: str | None = None,
           **extra: Any) -> dict[str, Any]:
    """The JSON shape of one reported number. NaN/None value -> null, with `reason` saying why.

    >>> metric(0.5, direction="higher", n=4, aggregation="mean", ci=[0.25, 0.75])
    {'value': 0.5, 'ci': [0.25, 0.75], 'direction': 'higher', 'n': 4, 'aggregation': 'mean'}
    >>> metric(float("nan"), direction="lower", n=0, aggregation="mean", reason="no steps")["value"]
    """
    if direction not in (HIGHER, LOWER):
        raise ValueError(f"direction must be {HIGHER!r} or {LOWER!r}")
    undefined = value is None or (isinstance(value, float) and math.isnan(value))
    out: dict[str, Any] = {"value": None if undefined else float(value),
                           "ci": None if undefined else ci, "direction": direction, "n": int(n),
                           "aggregation": aggregation}
    if undefined:
        out["reason"] = reason or "undefined"
    out.update(extra)
    return out


def with_ci(point: Callable[[np.ndarray], float], clusters: Sequence[Hashable], *,
            direction: str, aggregation: str, n: int, reason: str | None = None,
            n_resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
            seed: int = DEFAULT_SEED, method: str = "percentile",
            bounds: tuple[float, float] | None = None) -> dict[str, Any]:
    """Evaluate `point` at unit weights and bootstrap it; package as `metric(...)`.

    A `method` other than the percentile interval is recorded in the metric as `ci_method`.

    >>> x = np.array([1.0, 0.0, 1.0, 1.0])
    >>> m = with_ci(lambda w: float((w * x).sum() / w.sum()), ["a", "b", "c", "d"],
    ...             direction="higher", aggregation="mean", n=4, n_resamples=100)
    >>> m["value"], m["ci"][0] <= 0.75 <= m["ci"][1]
    (0.75, True)
    """
    n_items = len(clusters)
    value = point(np.ones(n_items)) if n_items else float("nan")
    if value is None or math.isnan(value):
        return metric(None, direction=direction, n=n, aggregation=aggregation, reason=reason)
    boot = cluster_bootstrap(clusters, point, n_resamples=n_resamples, confidence=confidence,
                             seed=seed, method=method, bounds=bounds)
    extra: dict[str, Any] = {"n_undefined_resamples": boot["n_undefined"]} if boot["n_undefined"] else {}
    if method != "percentile":
        extra["ci_method"] = CI_METHOD_TEXT[method]
    return metric(value, direction=direction, n=n, aggregation=aggregation, ci=boot["ci"],
                  **extra)


def weighted_mean(x: np.ndarray) -> Callable[[np.ndarray], float]:
    """Statistic: the weighted mean of `x`, NaN when the weights sum to 0.

    >>> weighted_mean(np.array([1.0, 0.0]))(np.array([3.0, 1.0]))
    0.75
    """
    x = np.asarray(x, dtype=np.float64)

    def stat(w: np.ndarray) -> float:
        tot = w.sum()
        return float((w * x).sum() / tot) if tot > 0 else float("nan")

    return stat
