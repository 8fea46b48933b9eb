"""Gold step labels under a budget: which labelled solutions a judge may learn from.

`--budget N` means N labelled solutions, drawn deterministically from the seed. What the labels
cost is counted two ways: solutions used and step labels actually used (a format that stops at
the first error uses fewer step labels than one that reads every step).
"""

from __future__ import annotations

from typing import Sequence

from prmlab import seeds
from prmlab.data.record import Record
from prmlab.errors import InputError


def draw_budget(pool: Sequence[Record], n: int, seed: int) -> list[Record]:
    """`n` labelled solutions from `pool`; nested in n for a fixed seed (a smaller budget is
    a prefix of a larger one), so budget curves compare like with like."""
    labelled = [r for r in pool if r.first_error is not None]
    if n > len(labelled):
        raise InputError(f"budget {n} exceeds the {len(labelled)} labelled solutions in the pool")
    order = list(range(len(labelled)))
    seeds.rng("budget.draw", seed).shuffle(order)
    return [labelled[i] for i in order[:n]]


def step_labels_through_first_error(r: Record) -> int:
    """Step labels a verifier that stops at the first error reads."""
    return len(r.steps) if r.first_error == -1 else r.first_error + 1
