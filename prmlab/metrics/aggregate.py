"""A solution's score from its step scores: min, product, last or mean (named in every result)."""

from __future__ import annotations

import math
from typing import Sequence

AGGREGATIONS = ("min", "product", "last", "mean")


def aggregate(step_scores: Sequence[float], how: str = "min") -> float:
    """Combine one solution's step scores into a solution score.

    >>> s = [0.9, 0.5, 0.8]
    >>> [round(aggregate(s, h), 6) for h in AGGREGATIONS]
    [0.5, 0.36, 0.8, 0.733333]
    >>> aggregate([3.5], "product")  # one score (an outcome reward) is itself, whatever `how`
    3.5
    >>> aggregate([], "min")
    Traceback (most recent call last):
    ...
    ValueError: no step scores to aggregate
    """
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r} (known: {', '.join(AGGREGATIONS)})")
    xs = [float(x) for x in step_scores]
    if not xs:
        raise ValueError("no step scores to aggregate")
    if how == "min":
        return min(xs)
    if how == "product":
        return math.prod(xs)
    if how == "last":
        return xs[-1]
    return sum(xs) / len(xs)
