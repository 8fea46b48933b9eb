"""Balanced evaluation sets: policy samples drawn until each generator's part holds its quota.

One policy (an early snapshot) errs on nearly every problem, and most of its errors are at the
first step; an evaluation set of its plain samples rests acc_cor on a handful of solutions and
lets "flag the first step" score high. So the policy evaluation set is pooled from several
generators (policies of different strength, like ProcessBench's), and each generator's part is
drawn, round after round, until it holds

- exactly `correct` correct solutions and `erroneous` erroneous ones (both shares of its part),
- at most `max_per_position` erroneous solutions whose first error is at any one step
  (so a judge that flags one fixed step scores at most max_per_position / erroneous acc_err),

accepting solutions in the order they are drawn and skipping those whose class (or first-error
position) is full. Draws are bounded by `max_rounds`; a quota still unmet then is either an
error or a recorded shortfall (the caller's `on_shortfall`), never a silently smaller set.

The sampler takes a `draw(round) -> records` callable, so a test hands it a deterministic fake.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Callable, Literal, Mapping, Sequence

from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.experiments.records import Composition, GeneratorComposition


@dataclasses.dataclass(frozen=True)
class Quota:
    """What one generator's part of the set must hold."""

    correct: int
    erroneous: int
    max_per_position: int  # erroneous solutions with their first error at any one step

    @classmethod
    def of(cls, size: int, correct_share: float, max_first_error_share: float) -> "Quota":
        """`size` solutions, round-half-up(correct_share x size) of them correct, the rest
        erroneous, at most floor(max_first_error_share x erroneous) (at least 1) per position.

        >>> Quota.of(150, 0.5, 0.4)
        Quota(correct=75, erroneous=75, max_per_position=30)
        >>> Quota.of(3, 0.5, 0.4)
        Quota(correct=2, erroneous=1, max_per_position=1)
        """
        correct = math.floor(correct_share * size + 0.5)
        err = size - correct
        return cls(correct, err, max(1, math.floor(max_first_error_share * err)))


@dataclasses.dataclass
class Fill:
    """One generator's draws: the accepted solutions (in acceptance order) and what was drawn."""

    generator: str
    accepted: list[Record]
    drawn: int  # solutions sampled (whole rounds)
    drawn_erroneous: int  # of them with a wrong step
    rounds: int
    quota: Quota

    @property
    def correct(self) -> int:
        return sum(r.first_error == -1 for r in self.accepted)

    @property
    def erroneous(self) -> int:
        return len(self.accepted) - self.correct

    @property
    def met(self) -> bool:
        return self.correct == self.quota.correct and self.erroneous == self.quota.erroneous

    @property
    def natural_error_rate(self) -> float | None:
        return self.drawn_erroneous / self.drawn if self.drawn else None

    def draws(self) -> "Draws":
        return Draws(self.drawn, self.rounds, self.natural_error_rate, self.shortfall(), self.met)

    def shortfall(self) -> str | None:
        if self.met:
            return None
        return (f"{self.generator}: {self.correct} of {self.quota.correct} correct and "
                f"{self.erroneous} of {self.quota.erroneous} erroneous (at most "
                f"{self.quota.max_per_position} per first-error step) after {self.rounds} rounds, "
                f"{self.drawn} solutions drawn")


@dataclasses.dataclass(frozen=True)
class Draws:
    """What a generator drew to fill its part (from a `Fill`, or read back from a cached
    composition)."""

    drawn: int | None
    rounds: int | None
    natural_error_rate: float | None
    shortfall: str | None
    met: bool

    @classmethod
    def of(cls, g: GeneratorComposition) -> "Draws":
        return cls(g.drawn, g.rounds, g.natural_error_rate, g.shortfall, g.shortfall is None)


def fill_quota(generator: str, draw: Callable[[int], Sequence[Record]], quota: Quota,
               max_rounds: int) -> Fill:
    """Call `draw(0)`, `draw(1)`, ... (at most `max_rounds` times) and accept solutions in
    order until `quota` is met. A solution with an unknown first error is drawn, never kept."""
    kept: list[Record] = []
    n_cor = n_err = drawn = drawn_err = rounds = 0
    at: collections.Counter = collections.Counter()
    while rounds < max_rounds and not (n_cor == quota.correct and n_err == quota.erroneous):
        batch = list(draw(rounds))
        rounds += 1
        drawn += len(batch)
        drawn_err += sum(r.first_error is not None and r.first_error != -1 for r in batch)
        for r in batch:
            if r.first_error is None:
                continue
            if r.first_error == -1:
                if n_cor < quota.correct:
                    kept.append(r)
                    n_cor += 1
            elif n_err < quota.erroneous and at[r.first_error] < quota.max_per_position:
                kept.append(r)
                n_err += 1
                at[r.first_error] += 1
    return Fill(generator, kept, drawn, drawn_err, rounds, quota)


def interleave(fills: Sequence[Fill]) -> list[Record]:
    """The pooled set, round-robin over (generator, correct / erroneous) parts, so that every
    prefix of it (test-time scaling reads the first solutions) is mixed like the whole.

    >>> q = Quota(1, 1, 1)
    >>> a = Fill("a", [Record("a1", "", [], [], -1), Record("a2", "", [], [], 0)], 2, 1, 1, q)
    >>> b = Fill("b", [Record("b1", "", [], [], 1)], 1, 1, 1, q)
    >>> [r.id for r in interleave([a, b])]
    ['a1', 'a2', 'b1']
    """
    parts = [[r for r in f.accepted if r.first_error == -1] for f in fills]
    parts = [p for f, c in zip(fills, parts) for p in (c, [r for r in f.accepted if r.first_error != -1])]
    out: list[Record] = []
    for i in range(max((len(p) for p in parts), default=0)):
        out += [p[i] for p in parts if i < len(p)]
    return out


def rule_text(quota_size: int, n_generators: int, correct_share: float,
              max_first_error_share: float, max_rounds: int) -> str:
    return (f"{quota_size} solutions from each of {n_generators} generators, "
            f"{correct_share:.0%} of each generator's part correct, at most "
            f"{max_first_error_share:.0%} of its erroneous solutions with the first error at any "
            f"one step, drawn in at most {max_rounds} rounds")


def check_fills(fills: Sequence[Fill], on_shortfall: Literal["error", "record"]) -> None:
    """InputError naming every unmet quota when `on_shortfall` is "error"."""
    short = [f.shortfall() for f in fills if not f.met]
    if short and on_shortfall == "error":
        raise InputError("the balanced evaluation set's quota was not met within "
                         "data.eval_quota.max_rounds: " + "; ".join(short) + " (raise max_rounds, "
                         "lower the quota, or set data.eval_quota.on_shortfall=record to keep a "
                         "smaller set with its shortfall in the report)")


def generator_of(r: Record) -> str:
    return str(r.meta.get("generator") or r.source or "unknown")


def error_type(r: Record) -> str:
    if r.first_error == -1:
        return "correct"
    return str(r.meta.get("oracle_reason") or r.meta.get("error_type") or "unknown")


def _hist(records: Sequence[Record]) -> dict[str, int]:
    c = collections.Counter(r.first_error for r in records
                            if r.first_error is not None and r.first_error != -1)
    return {str(k): c[k] for k in sorted(c)}


def _types(records: Sequence[Record]) -> dict[str, int]:
    c = collections.Counter(error_type(r) for r in records)
    return {k: c[k] for k in sorted(c, key=lambda k: (-c[k], k))}


def composition(records: Sequence[Record], fills: Mapping[str, Draws] | None = None,
                rule: str | None = None) -> Composition:
    """What `records` hold, counted from them; each generator's draws beside its part when
    `fills` ({generator: Draws}) are given."""
    fills = fills or {}
    by_gen: dict[str, list[Record]] = {}
    for r in records:
        by_gen.setdefault(generator_of(r), []).append(r)
    gens = []
    for g in sorted(by_gen, key=lambda g: (g not in fills, list(fills).index(g) if g in fills else 0, g)):
        rs = by_gen[g]
        f = fills.get(g)
        gens.append(GeneratorComposition(
            generator=g, correct=sum(r.first_error == -1 for r in rs),
            erroneous=sum(r.first_error is not None and r.first_error != -1 for r in rs),
            drawn=f.drawn if f else None, rounds=f.rounds if f else None,
            natural_error_rate=f.natural_error_rate if f else None,
            first_error_histogram=_hist(rs), error_types=_types(rs),
            shortfall=f.shortfall if f else None))
    gens += [GeneratorComposition(generator=g, correct=0, erroneous=0, drawn=f.drawn,
                                  rounds=f.rounds, natural_error_rate=f.natural_error_rate,
                                  shortfall=f.shortfall)
             for g, f in fills.items() if g not in by_gen]
    return Composition(n=len(records), correct=sum(r.first_error == -1 for r in records),
                       erroneous=sum(r.first_error is not None and r.first_error != -1 for r in records),
                       first_error_histogram=_hist(records), error_types=_types(records),
                       generators=gens, rule=rule,
                       quota_met=all(f.met for f in fills.values()) if fills else None)
