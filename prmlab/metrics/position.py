"""Mean step score by step position, split by what the step is.

A judge that reads correctness scores a correct step alike wherever it sits; a judge that
learnt where errors tend to be (under prefix labels every step after a first error is bad, so
late steps are bad more often) scores late correct steps lower too. Two kinds of step, by the
gold labels: "correct" (every step of a correct solution and the steps before the first error
of a wrong one) and "first error" (the first wrong step). Steps after the first error are left
out: what they are says nothing new under prefix labels. Solutions with an unknown first error
are skipped.

Rows are (step scores, first_error) per solution; positions are 0-based step indices; each
kind maps to (position, mean score, steps) in position order.

>>> p = by_position([([0.9, 0.8], -1), ([0.7, 0.1, 0.2], 1), ([0.5], None)])
>>> p["correct"]
[(0, 0.8, 2), (1, 0.8, 1)]
>>> p["first error"]
[(1, 0.1, 1)]
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

KINDS = ("correct", "first error")


def by_position(rows: Iterable[tuple[Sequence[float], int | None]]) -> dict[str, list[tuple[int, float, int]]]:
    scores_at: dict[str, dict[int, list[float]]] = {k: {} for k in KINDS}
    for scores, first_error in rows:
        if first_error is None:
            continue
        last = len(scores) if first_error == -1 else min(first_error + 1, len(scores))
        for i in range(last):
            kind = "first error" if i == first_error else "correct"
            scores_at[kind].setdefault(i, []).append(float(scores[i]))
    return {k: [(i, math.fsum(v) / len(v), len(v)) for i, v in sorted(by_i.items())]
            for k, by_i in scores_at.items()}
