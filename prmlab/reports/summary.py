"""What a run folder holds, grouped for the flagship report: judge cells by (format, label
source, budget) with replicates (bases x seeds) combined, the flat cells (baselines, zero-label,
one per base), TTS and best-of-N (one per base)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prmlab.reports.load import (DIRECTIONS, GOLD, Cell, Group, Run, format_order, judge_groups,
                                 metric_of)
from prmlab.reports.replicates import over_replicates

SET_TITLES = {"policy": "policy samples", "injected": "injected errors", "all": "all solutions"}
DEFAULT_TARGETS = (0.5, 0.6, 0.7, 0.8)


@dataclass
class Summary:
    run: Run
    groups: list[Group]  # gold-label judge cells, seeds combined
    other: list[Group]  # judge cells with any other label source
    flat: list[Cell]  # trivial baselines, then the zero-label judge
    tts: Cell | None  # the first base's (tts_all: every base's)
    bon: Cell | None  # the first base's (bon_all: every base's)
    unknown: list[Cell]  # cells of a kind this report does not know
    formats: list[str] = field(default_factory=list)
    budgets: list[float] = field(default_factory=list)
    targets: list[float] = field(default_factory=list)
    bases: list[int] = field(default_factory=list)  # base seeds, in run order
    tts_all: list[Cell] = field(default_factory=list)
    bon_all: list[Cell] = field(default_factory=list)

    def curve(self, fmt: str, eval_set: str = "policy", metric: str = "f1",
              base: int | None = None) -> list[tuple[float, dict]]:
        """(budget, metric over replicates) of one format: the mean over bases, or one base's."""
        gs = [g for g in self.groups if g.format == fmt]
        if base is not None:
            gs = [x for x in (g.for_base(base) for g in gs) if x is not None]
        return [(g.budget, g.metric(eval_set, metric)) for g in gs]

    def flat_of(self, base: int) -> list[Cell]:
        return [c for c in self.flat if c.base == base]

    def flat_groups(self) -> list[tuple[str, list[Cell]]]:
        """The flat cells by name (one cell per base each), in order."""
        out: dict[str, list[Cell]] = {}
        for c in self.flat:
            out.setdefault(flat_name(c), []).append(c)
        return list(out.items())

    def flat_metric(self, cells: list[Cell], eval_set: str, metric: str) -> dict:
        """A flat cell's metric over its bases (`over_replicates`), as the tables read it."""
        return over_replicates(((c.base, c.seed or 0, metric_of(c, eval_set, metric)) for c in cells),
                               DIRECTIONS.get(metric)).as_dict()


def summarize(run: Run) -> Summary:
    groups = judge_groups(run)
    gold = [g for g in groups if g.label_source == GOLD]
    other = [g for g in groups if g.label_source != GOLD]
    order = [b for b in run.config.get("baselines", []) if isinstance(b, str)]
    base_cells = run.of_kind("baseline")
    rank = {f"baseline:{b}": i for i, b in enumerate(order)}
    bases = run.base_seeds
    border = {b: i for i, b in enumerate(bases)}
    base_cells.sort(key=lambda c: (border[c.base], rank.get(c.format, len(rank)), c.format, c.id))
    flat = base_cells + sorted(run.of_kind("zero-label"), key=lambda c: border[c.base])
    tts = sorted(run.of_kind("tts"), key=lambda c: (border[c.base], c.id))
    bon = sorted(run.of_kind("bon"), key=lambda c: (border[c.base], c.id))
    known = {"judge", "baseline", "zero-label", "tts", "bon"}
    raw_targets = run.config.get("f1_targets") or DEFAULT_TARGETS
    targets = sorted({float(t) for t in raw_targets if isinstance(t, (int, float))})
    return Summary(run, gold, other, flat, tts[0] if tts else None, bon[0] if bon else None,
                   [c for c in run.cells if c.kind not in known],
                   formats=format_order(run, [g.format for g in gold]),
                   budgets=sorted({g.budget for g in gold}), targets=targets, bases=bases,
                   tts_all=tts, bon_all=bon)


def flat_name(c: Cell, with_base: bool = False) -> str:
    if c.kind == "baseline":
        name = c.format if c.format.startswith("baseline:") else f"baseline:{c.format}"
    else:
        name = c.format or c.kind
    return f"{name} (base {c.base})" if with_base else name
