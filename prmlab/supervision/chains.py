"""Verification chains from the teacher, filtered against gold labels (ThinkPRM-style).

A chain is the teacher's check of every step of a solution up to and including its first
error. With a teacher error rate above zero some chains reach a wrong verdict; filtering keeps
only the chains whose every verdict agrees with the gold labels, and reports the kept fraction.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from prmlab import seeds
from prmlab.data.arith.problems import parse_problem
from prmlab.data.arith.teacher import check
from prmlab.data.record import Record
from prmlab.supervision.budget import step_labels_through_first_error


@dataclasses.dataclass(frozen=True)
class Chain:
    record: Record
    checks: tuple[str, ...]  # rationale per step, through the first error
    verdicts: tuple[bool, ...]

    @property
    def agrees(self) -> bool:
        return all(v == bool(lab) for v, lab in zip(self.verdicts, self.record.labels))


def teacher_chains(records: Sequence[Record], *, error_rate: float, seed: int) -> list[Chain]:
    out = []
    for r in records:
        rng = seeds.rng("judge.teacher", seed, r.id)
        p = parse_problem(r.problem)
        n = step_labels_through_first_error(r)
        cs = [check(p, r.steps, i, rng=rng, error_rate=error_rate) for i in range(n)]
        out.append(Chain(r, tuple(c.text for c in cs), tuple(c.ok for c in cs)))
    return out


def filter_chains(chains: Sequence[Chain]) -> tuple[list[Chain], dict]:
    kept = [c for c in chains if c.agrees]
    return kept, {"chains": len(chains), "kept": len(kept),
                  "kept_fraction": len(kept) / len(chains) if chains else 0.0}
