"""A metric over replicates: bases x judge seeds.

A replicate is one (base seed, judge seed) cell. Its metric carries a bootstrap CI over
problems; the replicates add two more spreads: between judge seeds of one base, and between
bases. `OverReplicates` keeps all three apart:

- `value`: the mean over bases of each base's mean over its seeds (every base weighs the same,
  whatever number of its seeds gave a defined value);
- `ci`: the mean of the replicates' bootstrap CI bounds (the spread over problems);
- `base_sd`, `base_min`, `base_max`: the spread of the per-base means (`by_base`);
- `seed_sd`: the mean over bases of the standard deviation over that base's seeds.

No replicate is dropped for its value: an undefined one is counted in `n_replicates` and left
out of the means, and a base with no defined value is listed in `by_base` with value None.

>>> r = over_replicates([(0, 0, {"value": 0.6, "ci": [0.5, 0.7]}), (0, 1, {"value": 0.8, "ci": [0.7, 0.9]}),
...                      (1, 0, {"value": 0.4, "ci": [0.3, 0.5]})], "higher")
>>> round(r.value, 6), [round(x, 6) for x in r.ci], round(r.base_sd, 6), (r.base_min, r.base_max)
(0.55, [0.5, 0.7], 0.212132, (0.4, 0.7))
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _mean(xs: Sequence[float]) -> float | None:
    return math.fsum(xs) / len(xs) if xs else None


@dataclass(frozen=True)
class Replicate:
    """One (base, judge seed) value of a metric, with its bootstrap CI over problems."""

    base: int
    seed: int
    value: float | None
    ci: tuple[float, float] | None = None
    n: int | None = None
    reason: str | None = None  # why the value is undefined

    @classmethod
    def of(cls, base: int, seed: int, m: Mapping[str, Any] | float | None) -> "Replicate":
        """From a metric dict (`value`, `ci`, `n`, `reason`), a bare number, or None."""
        if m is None or _finite(m):
            return cls(base, seed, float(m) if m is not None else None,
                       reason=None if m is not None else "missing")
        v = m.get("value")
        ci = m.get("ci")
        ok = isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_finite(x) for x in ci)
        return cls(base, seed, float(v) if _finite(v) else None,
                   (float(ci[0]), float(ci[1])) if ok and _finite(v) else None,
                   int(m["n"]) if _finite(m.get("n")) else None,
                   None if _finite(v) else str(m.get("reason") or "undefined"))


@dataclass(frozen=True)
class BaseMean:
    """One base's mean over its judge seeds."""

    base: int
    value: float | None
    n_seeds: int
    n_defined: int
    seed_sd: float | None  # sample sd over its seeds (None with fewer than two defined)


@dataclass(frozen=True)
class OverReplicates:
    replicates: tuple[Replicate, ...]
    direction: str | None = None

    @property
    def by_base(self) -> list[BaseMean]:
        """Each base's mean over its seeds, bases in first-seen order."""
        order: list[int] = []
        for r in self.replicates:
            if r.base not in order:
                order.append(r.base)
        out = []
        for b in order:
            vals = [r.value for r in self.replicates if r.base == b and r.value is not None]
            out.append(BaseMean(b, _mean(vals), sum(r.base == b for r in self.replicates), len(vals),
                                statistics.stdev(vals) if len(vals) >= 2 else None))
        return out

    def _base_values(self) -> list[float]:
        return [m.value for m in self.by_base if m.value is not None]

    @property
    def value(self) -> float | None:
        return _mean(self._base_values())

    @property
    def ci(self) -> list[float] | None:
        cis = [r.ci for r in self.replicates if r.ci is not None]
        return [math.fsum(c[0] for c in cis) / len(cis), math.fsum(c[1] for c in cis) / len(cis)] if cis else None

    @property
    def base_sd(self) -> float | None:
        v = self._base_values()
        return statistics.stdev(v) if len(v) >= 2 else None

    @property
    def base_min(self) -> float | None:
        v = self._base_values()
        return min(v) if v else None

    @property
    def base_max(self) -> float | None:
        v = self._base_values()
        return max(v) if v else None

    @property
    def seed_sd(self) -> float | None:
        return _mean([m.seed_sd for m in self.by_base if m.seed_sd is not None])

    @property
    def n_bases(self) -> int:
        return len(self.by_base)

    @property
    def n_replicates(self) -> int:
        return len(self.replicates)

    @property
    def n_defined(self) -> int:
        return sum(r.value is not None for r in self.replicates)

    @property
    def reason(self) -> str | None:
        if self.value is not None:
            return None
        reasons = sorted({r.reason for r in self.replicates if r.reason})
        return "; ".join(reasons) if reasons else "missing"

    def as_dict(self) -> dict[str, Any]:
        """The metric dict the tables read (`reports.load.combine`'s keys, and the spreads):
        value, ci, sd (over every defined replicate), n_seeds (replicates), n_defined, n,
        direction, n_bases, base_sd, base_range, seed_sd, by_base, and reason when undefined."""
        vals = [r.value for r in self.replicates if r.value is not None]
        ns = [r.n for r in self.replicates if r.n is not None]
        out: dict[str, Any] = {
            "value": self.value, "ci": self.ci,
            "sd": statistics.stdev(vals) if len(vals) >= 2 else None,
            "n_seeds": self.n_replicates, "n_defined": self.n_defined,
            "n": max(ns) if ns else None, "direction": self.direction,
            "n_bases": self.n_bases, "base_sd": self.base_sd,
            "base_range": [self.base_min, self.base_max] if self.base_min is not None else None,
            "seed_sd": self.seed_sd, "by_base": {m.base: m.value for m in self.by_base}}
        if self.value is None:
            out["reason"] = self.reason
        return out


def over_replicates(items: Iterable[tuple[int, int, Mapping[str, Any] | float | None]],
                    direction: str | None = None) -> OverReplicates:
    """(base, seed, metric dict or number) triples -> OverReplicates."""
    reps = tuple(Replicate.of(b, s, m) for b, s, m in items)
    return OverReplicates(reps, direction)


def over_cells(cells: Sequence[Any], value: Callable[[Any], Mapping[str, Any] | float | None],
               direction: str | None = None) -> OverReplicates:
    """Any per-cell quantity over the cells' replicates: `value(cell)` for each (a cell has
    `.base` and `.seed`, as `reports.load.Cell` does), e.g. a claim's effect per replicate."""
    return over_replicates(((c.base, c.seed if c.seed is not None else 0, value(c)) for c in cells),
                           direction)


def judge_metric(run: Any, fmt: str, budget: float, *, eval_set: str = "policy",
                 metric: str = "f1", label_source: str = "gold") -> OverReplicates:
    """One judge format's metric at one budget over every (base, seed) of a loaded run
    (`reports.load.load_run`). Label-free judges: their budget is the relabelled solutions."""
    from prmlab.reports.load import DIRECTIONS, metric_of  # load imports this module

    cells = [c for c in run.of_kind("judge") if c.format == fmt
             and c.record.label_source == label_source and float(c.budget or 0) == float(budget)]
    return over_cells(cells, lambda c: metric_of(c, eval_set, metric), DIRECTIONS.get(metric))


@dataclass(frozen=True)
class BaseHealth:
    """One base replicate's health by its own probes (`training/base_health.py`)."""

    base: int
    warnings: tuple[str, ...]
    report: Mapping[str, Any] | None

    @property
    def healthy(self) -> bool:
        return not self.warnings


def base_health(run: Any) -> list[BaseHealth]:
    """Every base of a loaded run, in order, with the warnings its probes raise. A base under
    the bar stays in every mean: this says so, it never drops it."""
    from prmlab.training.base_health import base_warnings

    out = []
    for b, art in run.bases.items():
        rep = art.base_report if isinstance(art.base_report, dict) else None
        out.append(BaseHealth(b, tuple(base_warnings(rep)) if rep else (), rep))
    return out


__all__ = ["Replicate", "BaseMean", "OverReplicates", "over_replicates", "over_cells",
           "judge_metric", "BaseHealth", "base_health"]
