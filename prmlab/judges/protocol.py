"""The judge protocol: score every step of many solutions with P(step correct).

A judge is anything with a `name` and a `score(records) -> list[StepScores]`. Nothing else is
shared between judges (no base class): each format owns its own code and defaults.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, Sequence

from prmlab.data.record import Record


@dataclasses.dataclass
class StepScores:
    """One solution's step scores. `step_scores[i]` = P(step i correct) in [0, 1]."""

    id: str
    step_scores: list[float]
    rationales: list[str] | None = None  # one per step, generative judges only
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)  # parse failures, tokens...

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "step_scores": self.step_scores}
        if self.rationales is not None:
            d["rationales"] = self.rationales
        if self.meta:
            d["meta"] = self.meta
        return d


class Judge(Protocol):
    name: str

    def score(self, records: Sequence[Record]) -> list[StepScores]:
        """Scores for each record, in the same order."""
        ...
