"""Mean step score by step position, split by what the step is.

A judge that reads correctness scores a correct step alike wherever it sits; a judge that
learnt where errors tend to be (under prefix labels every step after a first error is bad, so
late steps are bad more often) scores late correct steps lower too. Two kinds of step, by the
gold labels: "correct" (every step of a correct solution and the steps before the first error
of a wrong one) and "first error" (the first wrong step). Steps after the first error are left
out: what they are says nothing new under prefix labels. Solutions with an unknown first error
are skipped.

Rows are (step scores, first_error) per solution; positions are 0-based step indices; each
kind maps to `Point`s in position order: the mean score, the number of steps and a 95% interval
of the mean (normal approximation over solutions: a solution has one step at a position; None
below two steps).

>>> p = by_position([([0.9, 0.8], -1), ([0.7, 0.1, 0.2], 1), ([0.5], None)])
>>> [(q.position, round(q.mean, 6), q.n, [round(x, 3) for x in q.ci]) for q in p["correct"][:1]]
[(0, 0.8, 2, [0.604, 0.996])]
>>> p["correct"][1].ci is None, p["first error"]
(True, [Point(position=1, mean=0.1, n=1, ci=None)])
"""

from __future__ import annotations

import math
import statistics
from typing import Iterable, NamedTuple, Sequence

KINDS = ("correct", "first error")
Z975 = statistics.NormalDist().inv_cdf(0.975)


class Point(NamedTuple):
    position: int
    mean: float
    n: int
    ci: list[float] | None


def _point(i: int, v: list[float]) -> Point:
    mean = math.fsum(v) / len(v)
    if len(v) < 2:
        return Point(i, mean, len(v), None)
    half = Z975 * statistics.stdev(v) / math.sqrt(len(v))
    return Point(i, mean, len(v), [mean - half, mean + half])


def by_position(rows: Iterable[tuple[Sequence[float], int | None]]) -> dict[str, list[Point]]:
    scores_at: dict[str, dict[int, list[float]]] = {k: {} for k in KINDS}
    for scores, first_error in rows:
        if first_error is None:
            continue
        last = len(scores) if first_error == -1 else min(first_error + 1, len(scores))
        for i in range(last):
            kind = "first error" if i == first_error else "correct"
            scores_at[kind].setdefault(i, []).append(float(scores[i]))
    return {k: [_point(i, v) for i, v in sorted(by_i.items())] for k, by_i in scores_at.items()}
