"""The flagship report's figures (PNG via `figures`), from the run's typed cell records."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from prmlab.metrics.aggregate import AGGREGATIONS
from prmlab.metrics.position import by_position
from prmlab.reports import figures as F
from prmlab.reports.flagship_tables import _judge_order, _sorted_k, bon_dicts, tts_by_k
from prmlab.reports.headline import GEN
from prmlab.reports.load import EVAL_SETS, step_scores
from prmlab.reports.judge_rl_figures import FIGURE as RL_FIGURE, rl_figure
from prmlab.reports.summary import SET_TITLES, Summary

FIGURE_NAMES = ("f1_vs_budget.png", "f1_vs_budget_by_base.png", "acc_vs_budget.png",
                "f1_vs_step_labels.png", "score_by_position.png", "tts.png", "bon.png",
                "bon_aggregations.png", RL_FIGURE)


def _series(s: Summary, eval_set: str, metric: str, x: str = "budget",
            base: int | None = None) -> list[F.Series]:
    out = []
    for f in s.formats:
        gs = [g for g in s.groups if g.format == f]
        if base is not None:
            gs = [x for x in (g.for_base(base) for g in gs) if x is not None]
        if x == "budget":
            xs = [g.budget for g in gs]
        else:
            xs = [g.mean(lambda r: r.step_labels) for g in gs]
        ms = [g.metric(eval_set, metric) for g in gs]
        pts = sorted(((xx, m) for xx, m in zip(xs, ms) if xx), key=lambda p: p[0])
        out.append(F.Series(f, [p[0] for p in pts], [p[1]["value"] for p in pts],
                            [(p[1]["ci"] or [None, None])[0] for p in pts],
                            [(p[1]["ci"] or [None, None])[1] for p in pts],
                            color=F.color_for(f, s.formats)))
    return out


def _hlines(s: Summary, eval_set: str, metric: str, base: int | None = None) -> list[F.HLine]:
    out, i = [], 0
    for name, cells in s.flat_groups():
        if base is not None:
            cells = [c for c in cells if c.base == base]
        m = s.flat_metric(cells, eval_set, metric) if cells else None
        if not m or m.get("value") is None:
            continue
        if cells[0].kind == "zero-label":
            out.append(F.HLine("zero-label", m["value"], "#000000", "--"))
        else:
            out.append(F.HLine(name, m["value"], "#8c8c8c", F.HLINE_STYLES[i % len(F.HLINE_STYLES)]))
            i += 1
    return out


def make_figures(s: Summary, fig_dir: Path) -> list[tuple[str, str, bytes]]:
    """Write the figures; returns [(file name, caption, PNG bytes)] in report order."""
    figs: list[tuple[str, str, bytes]] = []
    if s.groups:
        panels = [F.Panel(SET_TITLES[e], _series(s, e, "f1"), _hlines(s, e, "f1"), "F1",
                          "labelled solutions (log)") for e in EVAL_SETS]
        over = f" Mean over {len(s.bases)} bases." if len(s.bases) > 1 else ""
        figs.append(("f1_vs_budget.png", "F1 vs labelled solutions per judge format (95% CI "
                     "bands), trivial baselines and the zero-label judge dashed." + over,
                     F.plot_panels(panels, fig_dir / "f1_vs_budget.png")))
        if len(s.bases) > 1:
            panels = [F.Panel(f"base {b} — {SET_TITLES['policy']}", _series(s, "policy", "f1", base=b),
                              _hlines(s, "policy", "f1", base=b), "F1", "labelled solutions (log)")
                      for b in s.bases]
            figs.append(("f1_vs_budget_by_base.png", "The same F1 on policy samples, each base "
                         "alone (mean over its judge seeds): the spread between bases.",
                         F.plot_panels(panels, fig_dir / "f1_vs_budget_by_base.png",
                                       ncols=min(3, len(panels)))))
        panels = [F.Panel(f"{m} — {SET_TITLES[e]}", _series(s, e, m), _hlines(s, e, m), m,
                          "labelled solutions (log)") for m in ("acc_err", "acc_cor") for e in EVAL_SETS]
        figs.append(("acc_vs_budget.png", "acc_err (exact first-error index on wrong solutions) "
                     "and acc_cor (no flag on correct solutions) vs labelled solutions.",
                     F.plot_panels(panels, fig_dir / "acc_vs_budget.png", ncols=3)))
    if any(g.mean(lambda r: r.step_labels) for g in s.groups):
        panels = [F.Panel(SET_TITLES[e], _series(s, e, "f1", x="step_labels"), _hlines(s, e, "f1"),
                          "F1", "step labels used (log)") for e in EVAL_SETS]
        figs.append(("f1_vs_step_labels.png", "The same F1, counting the budget in step labels "
                     "actually used instead of labelled solutions.",
                     F.plot_panels(panels, fig_dir / "f1_vs_step_labels.png")))
    pos = _position_figure(s, fig_dir)
    if pos is not None:
        figs.append(pos)
    if s.tts is not None:
        fk = tts_by_k(s.tts_all)
        ks = list(fk)
        multi = len(s.tts_all) > 1
        ser = F.Series(f"generative, N={s.tts.record.budget}" + (" (mean over bases)" if multi else ""),
                       [float(k) for k in ks], [fk[k].get("value") for k in ks],
                       [(fk[k].get("ci") or [None, None])[0] for k in ks],
                       [(fk[k].get("ci") or [None, None])[1] for k in ks],
                       color=F.color_for(GEN))
        sers = [ser]
        if multi:
            sers += [F.Series(f"base {c.base}", [float(k) for k in ks],
                              [c.record.f1_by_k[k].value if k in c.record.f1_by_k else None for k in ks],
                              color="#8c8c8c", marker="x") for c in s.tts_all]
        p = F.Panel("verifier test-time scaling (policy samples)", sers, [], "F1",
                    "K sampled rationales (log2)")
        figs.append(("tts.png", "Generative judge F1 vs K sampled rationales averaged (95% CI "
                     "error bars).", F.plot_panels([p], fig_dir / "tts.png", log_base=2,
                                                   errorbars=True)))
    if s.bon is not None:
        figs += _bon_figures(s, fig_dir)
    rl = rl_figure(s.run.cells, fig_dir)
    if rl is not None:
        figs.append(rl)
    return figs


def _position_figure(s: Summary, fig_dir: Path) -> tuple[str, str, bytes] | None:
    """Mean step score by step position on policy samples, each format at its largest budget
    (every replicate's solutions pooled): correct steps against first errors."""
    panels = []
    for f in s.formats:
        gs = [g for g in s.groups if g.format == f]
        if not gs:
            continue
        top = max(gs, key=lambda g: g.budget)
        prof = by_position(row for c in top.cells for row in step_scores(c, "policy"))
        if not any(prof.values()):
            continue
        sers = [F.Series(kind, [float(q.position + 1) for q in pts], [q.mean for q in pts],
                         [q.ci[0] if q.ci else None for q in pts], [q.ci[1] if q.ci else None for q in pts],
                         color=color, marker=marker)
                for kind, color, marker in (("correct", "#2ca02c", "o"), ("first error", "#d62728", "x"))
                for pts in [prof[kind]] if pts]
        panels.append(F.Panel(f"{f}, N={top.budget:g}", sers, [], "mean step score", "step", unit_y=True))
    if not panels:
        return None
    name = "score_by_position.png"
    return (name, "Mean step score (P(correct)) by step on policy samples, each format at its "
            "largest budget: correct steps (green) and first errors (red), 95% CI bands over "
            "solutions; steps after a first error left out. Correct steps scored lower the "
            "later they come mean the judge reads position, not correctness.",
            F.plot_panels(panels, fig_dir / name, linear=True, ncols=min(4, len(panels))))


def _bon_figures(s: Summary, fig_dir: Path) -> list[tuple[str, str, bytes]]:
    """Best-of-N: one panel per base (each base samples its own N problems), and the
    step-score aggregations of the first base."""

    def ser(name: str, d: Mapping[str, Any], color: str, marker: str = "o") -> F.Series:
        ks = _sorted_k(d)
        return F.Series(name, [float(k) for k in ks], [d[k].get("value") for k in ks],
                        [(d[k].get("ci") or [None, None])[0] for k in ks],
                        [(d[k].get("ci") or [None, None])[1] for k in ks], color, marker)

    def panel(cell, agg: str, title: str) -> F.Panel:
        pk, mk, rm, oracle = bon_dicts(cell)
        judges = _judge_order(s, list(rm))
        sers = [ser("pass@k", pk, F.color_for("pass@k"), "s"),
                ser("maj@k", mk, F.color_for("maj@k"), "D")]
        sers += [ser(f"rm@k {j}", rm[j][agg], F.color_for(j, judges))
                 for j in judges if rm[j].get(agg)]
        o = oracle.get("value")
        return F.Panel(title, sers, [F.HLine("oracle pass@N", o, "#555555", ":")] if o is not None
                       else [], "accuracy", "k samples (log2)")

    multi = len(s.bon_all) > 1
    panels = [panel(c, "min", f"best-of-{c.record.n}, rm score = min"
                    + (f" (base {c.base})" if multi else "")) for c in s.bon_all]
    figs = [("bon.png", "Best-of-N accuracy vs k: pass@k, majority vote and each judge's "
             "pick (solution score = min of step scores), 95% CI bands"
             + (", one panel per base." if multi else "."),
             F.plot_panels(panels, fig_dir / "bon.png", log_base=2, band_alpha=0.08,
                           ncols=min(3, len(panels))))]
    first = s.bon_all[0]
    rm = bon_dicts(first)[2]
    judges = _judge_order(s, list(rm))
    aggs = sorted({a for j in judges for a in rm[j]},
                  key=lambda a: (AGGREGATIONS.index(a) if a in AGGREGATIONS else 99, a))
    if aggs:
        figs.append(("bon_aggregations.png", "Best-of-N by step-score aggregation"
                     + (f" (base {first.base})." if multi else "."),
                     F.plot_panels([panel(first, a, f"rm score = {a}") for a in aggs],
                                   fig_dir / "bon_aggregations.png", log_base=2,
                                   ncols=min(2, len(aggs)), band_alpha=0.08)))
    return figs
