"""The report's headline: how many labelled solutions each format needs for an F1 target,
generative against discriminative, and the ceiling / floor / zero-label sentences beside it."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from prmlab.reports.summary import SET_TITLES, Summary
from prmlab.reports.tables import fmt_budget, fmt_ci, fmt_metric, labels_needed

GEN, DISC = "generative", "discriminative"


def _v(x: Any) -> float | None:
    return x.get("value") if isinstance(x, Mapping) else x


def _pts(curve: Sequence[tuple[float, Any]]) -> list[tuple[float, float]]:
    return sorted((float(b), float(_v(m))) for b, m in curve if _v(m) is not None and b and b > 0)


def _n(x: float) -> str:
    s = fmt_budget(x)
    return s


def _compare(t: float, g: dict, d: dict, first: bool) -> str:
    """One comparison at target t between the generative (g) and discriminative (d) needs."""
    reached = {"exact", "le_min"}
    if g["kind"] == "le_min" and d["kind"] == "le_min":
        return (f"both judges reach F1 {t:.2f} already at the smallest budget tried "
                f"({_n(g['min'])} labelled solutions), so these budgets cannot separate them")
    if g["kind"] in reached and (d["kind"] == "gt_max" or g["value"] < d["value"] or
                                 (g["kind"] == "le_min" and d["kind"] == "exact")):
        w, wn, lo, ln = "generative", g, "discriminative", d
    elif d["kind"] in reached and (g["kind"] == "gt_max" or d["value"] < g["value"] or
                                   (d["kind"] == "le_min" and g["kind"] == "exact")):
        w, wn, lo, ln = "discriminative", d, "generative", g
    else:  # both exact and equal
        return f"both judges reach F1 {t:.2f} with {_n(g['value'])} labelled solutions"
    if wn["kind"] == "le_min":
        win = (f"the {w} judge reaches F1 {t:.2f} already at the smallest budget tried "
               f"({_n(wn['value'])} labelled solutions)" if first else
               f"the {w} judge already reaches it at the smallest budget tried ({_n(wn['value'])})")
    else:
        win = (f"the {w} judge reaches F1 {t:.2f} with {_n(wn['value'])} labelled solutions" if first
               else f"the {w} judge needs {_n(wn['value'])} labelled solutions")
    r = ln["value"] / wn["value"]
    if ln["kind"] == "gt_max":
        lose = (f"the {lo} judge never reaches it within the budgets tried (up to "
                f"{_n(ln['max'])}; >{r:.1f}× more)")
    else:
        rel = "≥" if wn["kind"] == "le_min" else ""
        if not rel and r < 1.05:
            return (f"both judges reach F1 {t:.2f} with about {_n(wn['value'])} labelled solutions "
                    f"(generative {_n(g['value'])}, discriminative {_n(d['value'])})")
        lose = f"the {lo} judge needs {_n(ln['value'])} ({rel}{r:.1f}× more)"
    s = f"{win}; {lose}"
    if w == DISC:
        s += " — so here the claim that the generative format needs fewer labels does not hold"
    return s


def headline(curves: Mapping[str, Sequence[tuple[float, Any]]], targets: Sequence[float],
             where: str = "On policy-sampled solutions") -> str:
    """The generative-vs-discriminative label-budget sentence, computed from F1 curves
    ({format: [(labelled solutions, F1 or metric dict)]}) and the F1 targets.

    The main target is the highest one that both formats reach between two budgets (so the
    ratio is measured, not bounded); a second sentence follows for the highest target reached
    by either when that is higher.

    >>> headline({"generative": [(16, .6), (64, .8)], "discriminative": [(16, .3), (64, .7)]},
    ...          [0.7])
    'On policy-sampled solutions, the generative judge reaches F1 0.70 with 32 labelled solutions; the discriminative judge needs 64 (2.0× more).'
    """
    pts = {f: _pts(c) for f, c in curves.items()}
    pts = {f: p for f, p in pts.items() if p}
    if GEN not in pts or DISC not in pts:
        if not pts:
            return f"{where}, no judge has a defined F1 yet."
        best = max(pts, key=lambda f: (pts[f][-1][0], pts[f][-1][1]))
        b, v = pts[best][-1]
        missing = " and ".join(f for f in (GEN, DISC) if f not in pts)
        return (f"{where}, the best judge at its largest budget is {best} (F1 {v:.3f} with "
                f"{_n(b)} labelled solutions); no {missing} judge was evaluated, so the "
                f"generative-vs-discriminative comparison is not available.")
    budgets = sorted({b for f in (GEN, DISC) for b, _ in pts[f]})
    if len(budgets) == 1:
        (b, g), (_, d) = pts[GEN][-1], pts[DISC][-1]
        gc = next((fmt_ci(m.get("ci")) for bb, m in curves[GEN] if isinstance(m, Mapping) and bb == b), "")
        dc = next((fmt_ci(m.get("ci")) for bb, m in curves[DISC] if isinstance(m, Mapping) and bb == b), "")
        s = (f"{where}, with a single label budget ({_n(b)} labelled solutions), the generative "
             f"judge reaches F1 {g:.3f}{' ' + gc if gc else ''} and the discriminative judge "
             f"{d:.3f}{' ' + dc if dc else ''}")
        if g > d:
            s += f"; the generative judge is ahead by {g - d:.3f}"
        elif d > g:
            s += (f"; the discriminative judge is ahead by {d - g:.3f}, so here the claim that the "
                  "generative format needs fewer labels does not hold")
        return s + " (labels needed cannot be interpolated from one budget)."
    ts = sorted(targets)
    need = {t: {f: labels_needed(pts[f], t) for f in (GEN, DISC)} for t in ts}
    reached = {"exact", "le_min"}
    any_t = [t for t in ts if need[t][GEN]["kind"] in reached or need[t][DISC]["kind"] in reached]
    if not any_t:
        lo = ts[0] if ts else 0.0
        return (f"{where}, neither the generative nor the discriminative judge reaches F1 "
                f"{lo:.2f} within the budgets tried (up to {_n(budgets[-1])} labelled solutions); "
                f"at their largest budgets F1 is {pts[GEN][-1][1]:.3f} (generative) vs "
                f"{pts[DISC][-1][1]:.3f} (discriminative).")
    both = [t for t in any_t if need[t][GEN]["kind"] == need[t][DISC]["kind"] == "exact"]
    main = max(both) if both else max(any_t)
    out = f"{where}, " + _compare(main, need[main][GEN], need[main][DISC], True) + "."
    top = max(any_t)
    if top > main:
        out += f" For F1 {top:.2f}, " + _compare(top, need[top][GEN], need[top][DISC], False) + "."
    return out


def report_headline(s: Summary) -> str:
    """`headline` on policy samples; when no judge has a defined F1 there, say why and give the
    headline on all solutions instead."""
    curves = {f: s.curve(f) for f in s.formats}
    if any(_pts(c) for c in curves.values()) or not s.formats:
        return headline(curves, s.targets)
    reasons = sorted({m.get("reason", "undefined") for c in curves.values() for _, m in c})
    out = (f"On policy-sampled solutions, F1 is undefined for every judge "
           f"({'; '.join(reasons)}).")
    curves_all = {f: s.curve(f, "all") for f in s.formats}
    if any(_pts(c) for c in curves_all.values()):
        out += " " + headline(curves_all, s.targets, where="On all evaluation solutions "
                              "(policy samples and injected errors)")
    return out


def ceiling_floor(s: Summary, eval_set: str = "policy") -> list[str]:
    """Sentences for the ceiling (best judge at the largest budget), the floor (best trivial
    baseline) and the zero-label judge, on one evaluation set."""
    out = []
    where = SET_TITLES[eval_set]
    if s.budgets:
        top = s.budgets[-1]
        at = [(g.metric(eval_set, "f1"), g) for g in s.groups if g.budget == top]
        at = [(m, g) for m, g in at if m["value"] is not None]
        if at:
            m, g = max(at, key=lambda x: x[0]["value"])  # first wins ties (format order)
            out.append(f"Ceiling: at the largest budget ({_n(top)} labelled solutions) the best "
                       f"judge is {g.format}, F1 {fmt_metric(m)}{_spread(m)} on {where}.")
        else:
            out.append(f"Ceiling: no judge has a defined F1 on {where} at the largest budget.")
    groups = s.flat_groups()
    base = [(s.flat_metric(cs, eval_set, "f1"), name) for name, cs in groups
            if cs[0].kind == "baseline"]
    base = [(m, name) for m, name in base if m["value"] is not None]
    if base:
        m, name = max(base, key=lambda x: x[0]["value"])
        out.append(f"Floor: the best trivial baseline is {name}, F1 {fmt_metric(m)}"
                   f"{_spread(m)} on {where}.")
    else:
        out.append(f"Floor: no trivial baseline has a defined F1 on {where}.")
    for name, cs in groups:
        if cs[0].kind == "zero-label":
            m = s.flat_metric(cs, eval_set, "f1")
            out.append(f"Zero-label judge (no labels at all): F1 {fmt_metric(m)}{_spread(m)} on {where}.")
    return out


def _spread(m: Mapping[str, Any]) -> str:
    """', bases 0.61–0.72' when the metric is over several bases (their means' range)."""
    r = m.get("base_range")
    if not r or (m.get("n_bases") or 0) < 2:
        return ""
    return f" (mean of {m['n_bases']} bases; per base {r[0]:.3f}–{r[1]:.3f})"


def per_base_headlines(s: Summary) -> list[str]:
    """The headline computed on each base alone (only when the run has several): the spread
    between bases, said the way the headline says it."""
    if len(s.bases) < 2:
        return []
    return [headline({f: s.curve(f, base=b) for f in s.formats}, s.targets,
                     where=f"Base {b} alone") for b in s.bases]
