"""`claims.json`: the typed results of a claim suite, from which every number in `claims.md` is
recomputed (the replicate values, and the cell.json fields each was computed from).

Torch-free and free of the executor: the report layer reads it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Verdict = Literal["supported", "refuted", "inconclusive"]
VERDICTS = ("supported", "refuted", "inconclusive")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EffectSummary(_Strict):
    """An effect over replicates (`claims.stats.summarize`)."""

    n: int  # replicates with a defined value
    n_undefined: int
    mean: float | None
    sd: float | None  # sample standard deviation over replicates (None below 2)
    ci: list[float] | None  # Student-t interval of the mean (None below 2)
    confidence: float = 0.95
    method: str = "Student-t interval of the mean over replicates (bases × judge seeds)"


class Input(_Strict):
    """One number an effect was computed from: `field` of `cells/<cell>/cell.json` in run
    folder `runs/<folder>`."""

    folder: str
    cell: str
    field: str
    value: float | int | None


class ReplicateValue(_Strict):
    """The effect in one replicate: one base (`base`: its base.seed) and one judge seed (None
    for an effect of the base alone, like the zero-label judge's)."""

    base: int
    seed: int | None
    value: float | None
    reason: str | None = None  # why the value is undefined
    detail: str = ""  # the effect's parts in words ("generative 0.61 at N=16; ...")
    inputs: list[Input] = []


class Anchor(_Strict):
    figure: str
    citation: str


class RuleSpec(_Strict):
    """A verdict rule as data: its kind, its threshold, and the rule in words."""

    kind: str
    threshold: float
    words: str


class RunLink(_Strict):
    folder: str  # runs/<folder>, relative to the suite folder
    experiment: str
    base: int
    seed: int | None
    finished: bool  # has finished cells
    base_meets_bar: bool | None  # the base's health (None: not recorded)


class ClaimResult(_Strict):
    id: str
    title: str
    statement: str
    anchor: Anchor
    effect: str  # what the effect is, in words
    unit: str
    level: Literal["seed", "base"]
    rule: RuleSpec
    replicates: list[ReplicateValue]
    summary: EffectSummary
    verdict: Verdict
    verdict_reason: str
    runs: list[RunLink]
    notes: list[str] = []


class ClaimsResult(_Strict):
    """Everything `claims.md` shows."""

    size: str
    preset: str
    bases: list[int]
    seeds: list[int]
    notes: list[str]
    claims: list[ClaimResult]
    runs: list[RunLink]
