"""Trivial baseline judges, in every table beside the real ones.

- `never`: never flags a step (every score 1.0); ProcessBench acc_cor = 1, acc_err = 0.
- `last`: flags only the last step (last score 0.0, the others 1.0).
- `first`: flags the first step (first score 0.0, the others 1.0).
- `random`: independent uniform scores in [0, 1), seeded per (seed, record id), so a record's
  scores do not depend on which other records are scored with it, nor on their order.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from prmlab.data.record import Record
from prmlab.judges.protocol import StepScores

BASELINES = ("never", "last", "first", "random")


def _baseline_scores(kind: str, n_steps: int, rid: str, seed: int) -> list[float]:
    """One record's scores.

    >>> _baseline_scores("last", 3, "x", 0), _baseline_scores("first", 2, "x", 0)
    ([1.0, 1.0, 0.0], [0.0, 1.0])
    >>> _baseline_scores("random", 2, "x", 0) == _baseline_scores("random", 2, "x", 0)
    True
    """
    if kind == "never":
        return [1.0] * n_steps
    if kind == "last":
        return [1.0] * (n_steps - 1) + [0.0]
    if kind == "first":
        return [0.0] + [1.0] * (n_steps - 1)
    digest = hashlib.sha256(f"{seed}\0{rid}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return [float(x) for x in rng.random(n_steps)]


class BaselineJudge:
    """A trivial judge implementing the `Judge` protocol.

    >>> from prmlab.data.record import Record
    >>> r = Record(id="a", problem="p", steps=["x", "y"], labels=[1, 1], first_error=-1)
    >>> j = BaselineJudge("never")
    >>> j.name, j.score([r])[0].step_scores
    ('baseline:never', [1.0, 1.0])
    """

    def __init__(self, kind: str, seed: int = 0):
        if kind not in BASELINES:
            raise ValueError(f"unknown baseline {kind!r} (known: {', '.join(BASELINES)})")
        self.kind = kind
        self.seed = seed
        self.name = f"baseline:{kind}"

    def score(self, records: Sequence[Record]) -> list[StepScores]:
        return [StepScores(id=r.id, step_scores=_baseline_scores(self.kind, len(r.steps), r.id,
                                                                 self.seed))
                for r in records]


def all_baselines(seed: int = 0) -> list[BaselineJudge]:
    """One judge per baseline kind, in BASELINES order."""
    return [BaselineJudge(k, seed) for k in BASELINES]
