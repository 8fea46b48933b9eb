"""What a run folder holds, grouped for the flagship report: judge cells by (format, label
source, budget) with seeds combined, the flat cells (baselines, zero-label), TTS and best-of-N."""

from __future__ import annotations

from dataclasses import dataclass, field

from prmlab.reports.load import GOLD, Cell, Group, Run, format_order, judge_groups

SET_TITLES = {"policy": "policy samples", "injected": "injected errors", "all": "all solutions"}
DEFAULT_TARGETS = (0.5, 0.6, 0.7, 0.8)


@dataclass
class Summary:
    run: Run
    groups: list[Group]  # gold-label judge cells, seeds combined
    other: list[Group]  # judge cells with any other label source
    flat: list[Cell]  # trivial baselines, then the zero-label judge
    tts: Cell | None
    bon: Cell | None
    unknown: list[Cell]  # cells of a kind this report does not know
    formats: list[str] = field(default_factory=list)
    budgets: list[float] = field(default_factory=list)
    targets: list[float] = field(default_factory=list)

    def curve(self, fmt: str, eval_set: str = "policy", metric: str = "f1") -> list[tuple[float, dict]]:
        return [(g.budget, g.metric(eval_set, metric)) for g in self.groups if g.format == fmt]


def summarize(run: Run) -> Summary:
    groups = judge_groups(run)
    gold = [g for g in groups if g.label_source == GOLD]
    other = [g for g in groups if g.label_source != GOLD]
    order = [b for b in run.config.get("baselines", []) if isinstance(b, str)]
    base_cells = run.of_kind("baseline")
    rank = {f"baseline:{b}": i for i, b in enumerate(order)}
    base_cells.sort(key=lambda c: (rank.get(c.format, len(rank)), c.format, c.id))
    flat = base_cells + run.of_kind("zero-label")
    tts = run.of_kind("tts")
    bon = run.of_kind("bon")
    known = {"judge", "baseline", "zero-label", "tts", "bon"}
    raw_targets = run.config.get("f1_targets") or DEFAULT_TARGETS
    targets = sorted({float(t) for t in raw_targets if isinstance(t, (int, float))})
    return Summary(run, gold, other, flat, tts[0] if tts else None, bon[0] if bon else None,
                   [c for c in run.cells if c.kind not in known],
                   formats=format_order(run, [g.format for g in gold]),
                   budgets=sorted({g.budget for g in gold}), targets=targets)


def flat_name(c: Cell) -> str:
    if c.kind == "baseline":
        return c.format if c.format.startswith("baseline:") else f"baseline:{c.format}"
    return c.format or c.kind
