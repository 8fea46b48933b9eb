"""The flagship report, rebuilt from a run folder alone (never runs a model).

`build_report(OUT)` reads OUT/config.json, OUT/artifacts.json and every finished
OUT/cells/*/cell.json, and writes OUT/figures/*.png, OUT/report.md and a self-contained
OUT/report.html (figures embedded as base64 data URIs). Everything is sorted and nothing is
timestamped, so the same run folders give byte-identical files.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from prmlab.atomic import write_text
from prmlab.metrics.aggregate import AGGREGATIONS
from prmlab.reports import figures as F
from prmlab.reports.load import (DIRECTIONS, EVAL_SETS, GOLD, METRICS, Cell, Group, Run, combine,
                                 format_order, judge_groups, load_run, mean_of, metric_of)
from prmlab.reports.tables import (Link, Table, arrow, fmt_budget, fmt_ci, fmt_int, fmt_lr,
                                   fmt_metric, fmt_num, labels_needed, needed_ratio, table_html,
                                   table_md)
from prmlab.training.base_health import base_warnings

GEN, DISC = "generative", "discriminative"
SET_TITLES = {"policy": "policy samples", "injected": "injected errors", "all": "all solutions"}
METRIC_NAMES = {"f1": "F1", "acc_err": "acc_err", "acc_cor": "acc_cor", "auroc": "AUROC",
                "ece": "ECE"}
DEFAULT_TARGETS = (0.5, 0.6, 0.7, 0.8)
FIGURE_NAMES = ("f1_vs_budget.png", "acc_vs_budget.png", "f1_vs_step_labels.png", "tts.png",
                "bon.png", "bon_aggregations.png")
SEED_NOTE = ("Rows with several seeds: value = mean over seeds; CI = mean of the per-seed 95% "
             "bootstrap CI bounds (over problems); sd = standard deviation over seeds.")


# ---- what the run holds ------------------------------------------------------------------------

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


# ---- the headline ------------------------------------------------------------------------------

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
                       f"judge is {g.format}, F1 {fmt_metric(m)} on {where}.")
        else:
            out.append(f"Ceiling: no judge has a defined F1 on {where} at the largest budget.")
    base = [(combine([metric_of(c, eval_set, "f1")]), c) for c in s.flat if c.kind == "baseline"]
    base = [(m, c) for m, c in base if m["value"] is not None]
    if base:
        m, c = max(base, key=lambda x: x[0]["value"])
        out.append(f"Floor: the best trivial baseline is {flat_name(c)}, F1 {fmt_metric(m)} on "
                   f"{where}.")
    else:
        out.append(f"Floor: no trivial baseline has a defined F1 on {where}.")
    for c in s.flat:
        if c.kind == "zero-label":
            m = combine([metric_of(c, eval_set, "f1")])
            out.append(f"Zero-label judge (no labels at all): F1 {fmt_metric(m)} on {where}.")
    return out


# ---- tables ------------------------------------------------------------------------------------

def _direction(s: Summary, metric: str) -> str:
    for c in s.run.cells:
        for es in EVAL_SETS:
            m = metric_of(c, es, metric)
            if m and m.get("direction"):
                return str(m["direction"])
    return DIRECTIONS[metric]


def _metric_headers(s: Summary) -> list[str]:
    return [f"{METRIC_NAMES[m]} {arrow(_direction(s, m))}".strip() for m in METRICS]


def _join(vals: Sequence[Any], fmt=str) -> str:
    return "/".join(fmt(v) for v in vals) if vals else "—"


def _budget_cell(g: Group) -> str:
    """The nominal budget, and the solutions actually drawn when fewer (a small pool)."""
    used = g.mean("budget_solutions")
    if used is not None and abs(used - g.budget) > 1e-9:
        return f"{fmt_budget(g.budget)} (used {fmt_int(used)})"
    return fmt_budget(g.budget)


def judge_table(s: Summary, eval_set: str) -> Table:
    headers = (["judge", "labelled solutions", "seeds"] + _metric_headers(s)
               + ["threshold", "step labels", "chosen lr", "chosen step", "kept fraction"])
    rows, notes_undef = [], []
    for g in s.groups:
        ms = [g.metric(eval_set, m) for m in METRICS]
        kept = g.mean("filter", "kept_fraction")
        rows.append([g.format, _budget_cell(g), str(len(g.cells)), *(fmt_metric(m) for m in ms),
                     _threshold_cell(g.cells, eval_set), fmt_int(g.mean("step_labels")),
                     _join(g.distinct("selection", "chosen_lr"), fmt_lr),
                     _join(g.distinct("selection", "chosen_step")),
                     fmt_num(kept) if kept is not None else "—"])
        notes_undef += [(f"{g.format} N={fmt_budget(g.budget)}", METRIC_NAMES[k], m["reason"])
                        for k, m in zip(METRICS, ms) if m["value"] is None]
    for c in s.flat:
        ms = [combine([metric_of(c, eval_set, m)], DIRECTIONS[m]) for m in METRICS]
        rows.append([flat_name(c), "0", "1", *(fmt_metric(m) for m in ms),
                     _threshold_cell([c], eval_set), fmt_int(c.info.get("step_labels", 0)), "—", "—", "—"])
        notes_undef += [(flat_name(c), METRIC_NAMES[k], m["reason"])
                        for k, m in zip(METRICS, ms) if m["value"] is None]
    notes = ["Each metric: value [95% bootstrap CI over problems]; ↑ higher is better, ↓ lower "
             "is better. F1/acc_err/acc_cor are read at each judge's threshold (mean over seeds "
             "shown): 0.5, ProcessBench's rule, unless judge.tune_threshold chose it on dev; the "
             "Decision threshold table has both for every judge.", SEED_NOTE]
    if notes_undef:
        by: dict[tuple[str, str], list[str]] = {}
        for r, k, why in notes_undef:
            by.setdefault((k, why), []).append(r)
        n_rows = len(rows)
        parts = [f"{k}: {why} ({'all rows' if len(rs) == n_rows else ', '.join(rs)})"
                 for (k, why), rs in by.items()]
        notes.append("Undefined (—): " + "; ".join(parts) + ".")
    return Table(headers, rows, notes, right=tuple(range(1, len(headers))))


def _threshold_of(c: Cell, eval_set: str) -> float:
    t = ((c.info.get("metrics") or {}).get(eval_set) or {}).get("threshold")
    return float(t) if isinstance(t, (int, float)) else 0.5  # cells from before thresholds were tuned


def _threshold_cell(cells: Sequence[Cell], eval_set: str) -> str:
    return fmt_num(mean_of([_threshold_of(c, eval_set) for c in cells]))


def _at(c: Cell, eval_set: str, tuned: bool) -> tuple[float | None, Any]:
    """(threshold, F1 metric) of a cell at its fixed-0.5 or its dev-tuned threshold."""
    m = (c.info.get("metrics") or {}).get(eval_set) or {}
    thr = c.info.get("threshold") if isinstance(c.info.get("threshold"), dict) else {}
    if bool(thr.get("tuned")) == tuned:
        return thr.get("value", 0.5), m.get("f1")
    o = m.get("other_threshold") or {}
    return o.get("threshold"), o.get("f1")


def threshold_table(s: Summary, eval_set: str = "policy") -> Table | None:
    """Every judge's F1 at ProcessBench's fixed 0.5 beside F1 at the threshold that maximised its
    dev F1: how much of a format's F1 is calibration rather than ranking. None for runs from
    before judges saved both."""
    cells = [c for g in s.groups for c in g.cells]
    if not any(((c.info.get("metrics") or {}).get(eval_set) or {}).get("other_threshold") for c in cells):
        return None
    rows = []
    for g in s.groups:
        fixed = [_at(c, eval_set, False) for c in g.cells]
        tuned = [_at(c, eval_set, True) for c in g.cells]
        rows.append([g.format, _budget_cell(g), str(len(g.cells)),
                     "tuned" if all(bool((c.info.get("threshold") or {}).get("tuned")) for c in g.cells) else "0.5",
                     fmt_metric(combine([f for _, f in fixed], "higher")),
                     fmt_num(mean_of([t for t, _ in tuned])),
                     fmt_metric(combine([f for _, f in tuned], "higher"))])
    notes = [f"{SET_TITLES[eval_set]}. The same judge (the learning rate and step chosen on dev by "
             "F1 at the threshold in 'selected at') read at ProcessBench's fixed 0.5 and at the "
             "threshold that maximised its F1 on the dev split (mean over seeds). A judge that "
             "ranks steps well but sits on the wrong side of 0.5 gains in the last column; one "
             "that cannot tell steps apart does not. Values: mean over seeds [mean 95% CI].",
             SEED_NOTE]
    return Table(["judge", "labelled solutions", "seeds", "selected at", "F1 at 0.5 ↑",
                  "dev-tuned threshold", "F1 at it ↑"], rows, notes, right=(1, 2, 5, 6))


def labels_needed_table(s: Summary, eval_set: str = "policy") -> tuple[Table, dict]:
    pts = {f: _pts(s.curve(f, eval_set)) for f in s.formats}
    res = {t: {f: labels_needed(pts[f], t) for f in s.formats} for t in s.targets}
    ratio = GEN in s.formats and DISC in s.formats
    headers = ["F1 target"] + list(s.formats) + (["discriminative / generative"] if ratio else [])
    rows = []
    for t in s.targets:
        row = [f"{t:.2f}"] + [res[t][f]["text"] for f in s.formats]
        if ratio:
            res[t]["ratio"] = needed_ratio(res[t][DISC], res[t][GEN])
            row.append(res[t]["ratio"]["text"])
        rows.append(row)
    notes = [f"Smallest number of labelled solutions at which the judge's F1 on {SET_TITLES[eval_set]} "
             "(mean over seeds) reaches the target: log-linear interpolation between the two "
             "adjacent budgets around the first crossing; ≤min = the smallest budget already "
             "reaches it; >max = never reached within the budgets tried; — = no data. The ratio "
             "is discriminative / generative at matched F1 (a bound where either is one)."]
    return Table(headers, rows, notes, right=tuple(range(1, len(headers)))), res


def _equivalent_gold(s: Summary, fmt: str, f1: Any) -> str:
    """The gold budget at which the same format reaches this F1 on policy samples."""
    if not isinstance(f1, dict) or f1.get("value") is None or fmt not in s.formats:
        return "—"
    return labels_needed(_pts(s.curve(fmt, "policy")), float(f1["value"]))["text"]


def other_sources_table(s: Summary) -> Table:
    headers = (["judge", "label source", "solutions labelled by rollouts", "seeds"]
               + [f"F1 ({SET_TITLES[e]}) {arrow(_direction(s, 'f1'))}" for e in EVAL_SETS]
               + ["equivalent gold labels", "gold step labels", "rollout tokens generated",
                  "rollout tokens processed", "train tokens"])
    rows = [[g.format, g.label_source, fmt_budget(g.budget), str(len(g.cells)),
             *(fmt_metric(g.metric(e, "f1")) for e in EVAL_SETS),
             _equivalent_gold(s, g.format, g.metric("policy", "f1")), fmt_int(g.mean("step_labels")),
             fmt_int(g.mean("compute", "rollout_tokens_generated")),
             fmt_int(g.mean("compute", "rollout_tokens_processed")),
             fmt_int(g.mean("compute", "train_tokens_processed"))] for g in s.other]
    return Table(headers, rows, ["Judges trained on step labels from a source other than the gold "
                                 "labels (e.g. Monte-Carlo rollouts); their cost is the compute "
                                 "bill rather than labelled solutions. Equivalent gold labels: "
                                 "the number of gold-labelled solutions at which the same format "
                                 "reaches the same F1 on policy samples (log-linear "
                                 "interpolation of its gold curve; ≤min / >max outside it).",
                                 SEED_NOTE], right=tuple(range(2, len(headers))))


def compute_table(s: Summary) -> Table:
    headers = ["judge", "labelled solutions", "train tokens processed", "scoring tokens generated",
               "scoring prompt tokens", "parse failures"]
    rows = [[g.format, fmt_budget(g.budget), fmt_int(g.mean("compute", "train_tokens_processed")),
             fmt_int(g.mean("compute", "generated_tokens")), fmt_int(g.mean("compute", "prompt_tokens")),
             fmt_int(g.mean("compute", "parse_failures"))] for g in s.groups]
    for c in s.flat:
        comp = c.info.get("compute") or {}
        if comp:
            rows.append([flat_name(c), "0", "—", fmt_int(comp.get("generated_tokens")),
                         fmt_int(comp.get("prompt_tokens")), fmt_int(comp.get("parse_failures"))])
    return Table(headers, rows, ["Means over seeds; — where a judge does not report it. Compute is "
                                 "counted in tokens, which a rerun reproduces; wall-clock seconds "
                                 "are in each cell.json."],
                 right=tuple(range(1, len(headers))))


def _sorted_k(d: Mapping[str, Any]) -> list[str]:
    return sorted(d, key=lambda k: (int(k) if str(k).isdigit() else 10**9, str(k)))


def tts_table(c: Cell) -> Table:
    fk = c.info.get("f1_by_k") or {}
    rows = []
    for k in _sorted_k(fk):
        m = fk[k]
        rows.append([str(k), fmt_metric(m), fmt_num(m.get("acc_err")), fmt_num(m.get("acc_cor")),
                     fmt_num(m.get("n"))])
    note = (f"Generative judge at N={c.info.get('budget')} labelled solutions (seed "
            f"{c.info.get('seed')}), step score = mean verdict probability over K sampled "
            f"rationales (temperature {c.info.get('temperature')}), on policy-sampled solutions.")
    return Table(["K", f"F1 {arrow('higher')}", "acc_err", "acc_cor", "n"], rows, [note],
                 right=(1, 2, 3, 4))


def _judge_order(s: Summary, names: Sequence[str]) -> list[str]:
    base = [f for f in s.run.config.get("formats", []) if f in names]
    rest = sorted(n for n in names if n not in base and n != "zero-label")
    return base + rest + (["zero-label"] if "zero-label" in names else [])


def _aggs(d: Mapping[str, Any]) -> list[str]:
    return [a for a in AGGREGATIONS if a in d] + sorted(a for a in d if a not in AGGREGATIONS)


def bon_tables(s: Summary, c: Cell, agg: str = "min") -> list[Table]:
    info = c.info
    rm = info.get("rm@k") or {}
    judges = _judge_order(s, list(rm))
    ks = _sorted_k(info.get("pass@k") or {})
    headers = ["k", "pass@k", "maj@k"] + [f"rm@k {j} ({agg})" for j in judges]
    rows = []
    for k in ks:
        rows.append([k, fmt_metric((info.get("pass@k") or {}).get(k)),
                     fmt_metric((info.get("maj@k") or {}).get(k))]
                    + [fmt_metric(((rm.get(j) or {}).get(agg) or {}).get(k)) for j in judges])
    t1 = Table(headers, rows, [f"{info.get('n_problems')} problems, N={info.get('n')} samples "
                               f"each; judges at N={info.get('budget')} labelled solutions (seed "
                               f"{info.get('seed')}). Oracle pass@N: "
                               f"{fmt_metric(info.get('oracle'))}. Accuracy ↑."],
               right=tuple(range(1, len(headers))))
    kmax = ks[-1] if ks else None
    aggs = sorted({a for j in judges for a in (rm.get(j) or {})},
                  key=lambda a: (AGGREGATIONS.index(a) if a in AGGREGATIONS else 99, a))
    rows2 = [[j] + [fmt_metric(((rm.get(j) or {}).get(a) or {}).get(kmax)) for a in aggs]
             for j in judges]
    t2 = Table(["judge"] + [f"rm@{kmax} {a}" for a in aggs], rows2,
               [f"rm@k at k={kmax} by how a solution's score aggregates its step scores."],
               right=tuple(range(1, len(aggs) + 1)))
    return [t1, t2] if judges else [t1]


PROBES = (("worked_exact", "worked arithmetic"), ("copy_exact", "copy"),
          ("recompute_exact", "recompute"), ("marks_exact", "marks"), ("name_exact", "naming"),
          ("check_exact", "check"), ("hard_check_exact", "check of a step that copying gets wrong"),
          ("slip_flagged", "check of an arithmetic slip that says bad"))


def base_table(rep: Mapping[str, Any], policy_init: str | None = None) -> Table:
    bar = rep.get("bar", 0.95)
    snap = rep.get("snapshot") or {}
    rows = []
    for key, name in PROBES:
        v = rep.get(key)
        if v is None:
            continue
        row = [name, fmt_num(v), fmt_num(bar, 2), "yes" if v >= bar else "no"]
        if snap:
            row.insert(2, fmt_num(snap.get(key)))
        rows.append(row)
    notes = [f"Meets the bar (worked arithmetic and copy ≥ {bar:g}): "
             f"{'yes' if rep.get('meets_bar') else 'no'}. Parameters {fmt_int(rep.get('params'))}, "
             f"pretraining tokens {fmt_int(rep.get('tokens'))}."]
    head = ["probe", "exact match", "bar", "meets bar"]
    if snap:
        head.insert(2, f"snapshot (step {snap.get('steps')})")
        used = bool(policy_init) and str(policy_init).endswith(f"-step{snap.get('steps')}")
        notes.append(f"The snapshot is the same pretraining run stopped at step {snap.get('steps')} of "
                     f"{fmt_int(rep.get('steps'))}: a weaker model of the same family. "
                     + ("The policy starts from it, so the judges grade another model's solutions "
                        "(as ProcessBench's PRMs do)." if used else "The policy does not use it here."))
    return Table(head, rows, notes, right=(1, 2, 3) if snap else (1, 2))


DATA_SETS = (("pool_policy", "labelled pool (policy part)"), ("eval_policy", "policy evaluation"),
             ("bon", "best-of-N"))


def data_tables(art: Mapping[str, Any]) -> list[Table]:
    out = []
    sizes = art.get("data") or {}
    if sizes:
        known = ("pool", "dev", "eval_policy", "eval_injected", "bon")
        keys = [k for k in known if k in sizes] + sorted(k for k in sizes if k not in known)
        out.append(Table(["set", "solutions"], [[k, fmt_int(sizes[k])] for k in keys], right=(1,)))
    summ = art.get("data_summary") or {}
    sets = [(k, n) for k, n in DATA_SETS if k in summ] + [(k, k) for k in sorted(summ)
                                                          if k not in dict(DATA_SETS)]
    if sets:
        fields = (("n", "solutions", fmt_int), ("natural_error_rate", "natural error rate", fmt_num),
                  ("answer_accuracy", "answer accuracy", fmt_num),
                  ("right_answer_wrong_process", "right answer, wrong process", fmt_num),
                  ("generated_tokens", "generated tokens", fmt_int),
                  ("prompt_tokens", "prompt tokens", fmt_int))
        rows = [[name] + [fmt(summ[k].get(key)) for k, _ in sets] for key, name, fmt in fields]
        out.append(Table([""] + [n for _, n in sets], rows,
                         ["Natural error rate: share of sampled solutions with a wrong step."],
                         right=tuple(range(1, len(sets) + 1))))
        types: dict[str, int] = {}
        for k, _ in sets:
            for r, cnt in (summ[k].get("error_types") or {}).items():
                types[r] = types.get(r, 0) + int(cnt)
        order = sorted(types, key=lambda r: (-types[r], r))
        rows = []
        for r in order:
            row = [r]
            for k, _ in sets:
                et = summ[k].get("error_types") or {}
                tot = sum(int(v) for v in et.values())
                cnt = int(et.get(r, 0))
                row.append(f"{cnt} ({100 * cnt / tot:.1f}%)" if tot else "—")
            rows.append(row)
        if rows:
            out.append(Table(["error type"] + [n for _, n in sets], rows,
                             ["Counts (share) of each oracle reason, 'correct' included."],
                             right=tuple(range(1, len(sets) + 1))))
    return out


def cells_table(s: Summary) -> Table:
    rows = []
    for c in s.run.cells:
        links = [Link("cell.json", f"cells/{c.id}/cell.json")]
        links += [Link(e, f"cells/{c.id}/{e}/metrics.json") for e in EVAL_SETS
                  if (c.path / e / "metrics.json").is_file()]
        rows.append([c.id, c.kind, str(c.info.get("label_source", "—") if c.kind == "judge" else "—"),
                     fmt_num(c.info.get("budget")), fmt_num(c.info.get("seed")), links])
    notes = []
    if s.run.unfinished:
        notes.append("Unfinished (no cell.json, ignored): " + ", ".join(s.run.unfinished) + ".")
    if s.unknown:
        notes.append("Cells of an unknown kind (listed only): "
                     + ", ".join(f"{c.id} ({c.kind})" for c in s.unknown) + ".")
    return Table(["cell", "kind", "label source", "budget", "seed", "files"], rows, notes)


# ---- figures -----------------------------------------------------------------------------------

def _series(s: Summary, eval_set: str, metric: str, x: str = "budget") -> list[F.Series]:
    out = []
    for f in s.formats:
        gs = [g for g in s.groups if g.format == f]
        if x == "budget":
            xs = [g.budget for g in gs]
        else:
            xs = [g.mean("step_labels") for g in gs]
        ms = [g.metric(eval_set, metric) for g in gs]
        pts = sorted(((xx, m) for xx, m in zip(xs, ms) if xx), key=lambda p: p[0])
        out.append(F.Series(f, [p[0] for p in pts], [p[1]["value"] for p in pts],
                            [(p[1]["ci"] or [None, None])[0] for p in pts],
                            [(p[1]["ci"] or [None, None])[1] for p in pts],
                            color=F.color_for(f, s.formats)))
    return out


def _hlines(s: Summary, eval_set: str, metric: str) -> list[F.HLine]:
    out, i = [], 0
    for c in s.flat:
        m = metric_of(c, eval_set, metric)
        if not m or m.get("value") is None:
            continue
        if c.kind == "zero-label":
            out.append(F.HLine("zero-label", m["value"], "#000000", "--"))
        else:
            out.append(F.HLine(flat_name(c), m["value"], "#8c8c8c",
                               F.HLINE_STYLES[i % len(F.HLINE_STYLES)]))
            i += 1
    return out


def make_figures(s: Summary, fig_dir: Path) -> list[tuple[str, str, bytes]]:
    """Write the figures; returns [(file name, caption, PNG bytes)] in report order."""
    figs: list[tuple[str, str, bytes]] = []
    if s.groups:
        panels = [F.Panel(SET_TITLES[e], _series(s, e, "f1"), _hlines(s, e, "f1"), "F1",
                          "labelled solutions (log)") for e in EVAL_SETS]
        figs.append(("f1_vs_budget.png", "F1 vs labelled solutions per judge format (95% CI "
                     "bands), trivial baselines and the zero-label judge dashed.",
                     F.plot_panels(panels, fig_dir / "f1_vs_budget.png")))
        panels = [F.Panel(f"{m} — {SET_TITLES[e]}", _series(s, e, m), _hlines(s, e, m), m,
                          "labelled solutions (log)") for m in ("acc_err", "acc_cor") for e in EVAL_SETS]
        figs.append(("acc_vs_budget.png", "acc_err (exact first-error index on wrong solutions) "
                     "and acc_cor (no flag on correct solutions) vs labelled solutions.",
                     F.plot_panels(panels, fig_dir / "acc_vs_budget.png", ncols=3)))
    if any(g.mean("step_labels") for g in s.groups):
        panels = [F.Panel(SET_TITLES[e], _series(s, e, "f1", x="step_labels"), _hlines(s, e, "f1"),
                          "F1", "step labels used (log)") for e in EVAL_SETS]
        figs.append(("f1_vs_step_labels.png", "The same F1, counting the budget in step labels "
                     "actually used instead of labelled solutions.",
                     F.plot_panels(panels, fig_dir / "f1_vs_step_labels.png")))
    if s.tts is not None:
        fk = s.tts.info.get("f1_by_k") or {}
        ks = _sorted_k(fk)
        ser = F.Series(f"generative, N={s.tts.info.get('budget')}", [float(k) for k in ks],
                       [fk[k].get("value") for k in ks],
                       [(fk[k].get("ci") or [None, None])[0] for k in ks],
                       [(fk[k].get("ci") or [None, None])[1] for k in ks],
                       color=F.color_for(GEN))
        p = F.Panel("verifier test-time scaling (policy samples)", [ser], [], "F1",
                    "K sampled rationales (log2)")
        figs.append(("tts.png", "Generative judge F1 vs K sampled rationales averaged (95% CI "
                     "error bars).", F.plot_panels([p], fig_dir / "tts.png", log_base=2,
                                                   errorbars=True)))
    if s.bon is not None:
        info = s.bon.info
        rm = info.get("rm@k") or {}
        judges = _judge_order(s, list(rm))

        def ser(name: str, d: Mapping[str, Any], color: str, marker: str = "o") -> F.Series:
            ks = _sorted_k(d)
            return F.Series(name, [float(k) for k in ks], [d[k].get("value") for k in ks],
                            [(d[k].get("ci") or [None, None])[0] for k in ks],
                            [(d[k].get("ci") or [None, None])[1] for k in ks], color, marker)

        def panel(agg: str, title: str) -> F.Panel:
            sers = [ser("pass@k", info.get("pass@k") or {}, F.color_for("pass@k"), "s"),
                    ser("maj@k", info.get("maj@k") or {}, F.color_for("maj@k"), "D")]
            sers += [ser(f"rm@k {j}", (rm.get(j) or {}).get(agg) or {}, F.color_for(j, judges))
                     for j in judges if (rm.get(j) or {}).get(agg)]
            o = (info.get("oracle") or {}).get("value")
            return F.Panel(title, sers, [F.HLine("oracle pass@N", o, "#555555", ":")] if o is not None
                           else [], "accuracy", "k samples (log2)")

        figs.append(("bon.png", "Best-of-N accuracy vs k: pass@k, majority vote and each judge's "
                     "pick (solution score = min of step scores), 95% CI bands.",
                     F.plot_panels([panel("min", f"best-of-{info.get('n')}, rm score = min")],
                                   fig_dir / "bon.png", log_base=2, band_alpha=0.08)))
        aggs = sorted({a for j in judges for a in (rm.get(j) or {})},
                      key=lambda a: (AGGREGATIONS.index(a) if a in AGGREGATIONS else 99, a))
        if aggs:
            figs.append(("bon_aggregations.png", "Best-of-N by step-score aggregation.",
                         F.plot_panels([panel(a, f"rm score = {a}") for a in aggs],
                                       fig_dir / "bon_aggregations.png", log_base=2,
                                       ncols=min(2, len(aggs)), band_alpha=0.08)))
    return figs


# ---- the document ------------------------------------------------------------------------------

Block = tuple


def base_caveats(run: Run) -> list[str]:
    """The base's own warnings, beside the headline: they bound every number below it."""
    rep = run.artifacts.get("base_report")
    return [f"Warning: {w}" for w in base_warnings(rep)] if isinstance(rep, dict) else []


def _blocks(s: Summary, figs: Sequence[tuple[str, str, bytes]], head: str,
            needed: Mapping[str, Table]) -> list[Block]:
    run, cfg, prov = s.run, s.run.config, s.run.provenance
    b: list[Block] = [("h1", f"prmlab report — preset {cfg.get('preset', '?')}"),
                      ("headline", head), ("ul", ceiling_floor(s) + base_caveats(run))]
    run_rows = [["preset", str(cfg.get("preset", "—"))],
                ["formats", ", ".join(map(str, cfg.get("formats", []))) or "—"],
                ["budgets (labelled solutions)", ", ".join(map(str, cfg.get("budgets", []))) or "—"],
                ["seeds", ", ".join(map(str, cfg.get("seeds", []))) or "—"],
                ["F1 targets", ", ".join(f"{t:g}" for t in s.targets)],
                ["bootstrap resamples", str(cfg.get("bootstrap_resamples", "—"))],
                ["finished cells", str(len(run.cells))],
                ["unfinished cells (ignored)", ", ".join(run.unfinished) or "none"],
                ["git revision", str(prov.get("git_revision") or "—")],
                ["command", " ".join(map(str, prov.get("command") or [])) or "—"]]
    b += [("h2", "Run"), ("table", Table(["", ""], run_rows))]
    b.append(("h2", "Labels needed"))
    for e in EVAL_SETS:
        b += [("h3", f"{SET_TITLES[e]}"), ("table", needed[e])]
    if figs:
        b.append(("h2", "Figures"))
        b += [("fig", name, cap) for name, cap, _ in figs]
    for e in EVAL_SETS:
        if s.groups or s.flat:
            b += [("h2", f"Judges — {SET_TITLES[e]}"), ("table", judge_table(s, e))]
    thr = threshold_table(s)
    if thr is not None:
        b += [("h2", "Decision threshold"), ("table", thr)]
    if s.other:
        b += [("h2", "Other label sources"), ("table", other_sources_table(s))]
    if s.groups:
        b += [("h2", "Compute"), ("table", compute_table(s))]
    if s.tts is not None:
        b += [("h2", "Verifier test-time scaling"), ("table", tts_table(s.tts))]
    if s.bon is not None:
        b += [("h2", "Best-of-N")] + [("table", t) for t in bon_tables(s, s.bon)]
    rep = run.artifacts.get("base_report")
    if isinstance(rep, dict) and rep:
        b += [("h2", "Base model"), ("table", base_table(rep, run.artifacts.get("policy_init")))]
    dts = data_tables(run.artifacts)
    if dts:
        b += [("h2", "Data")] + [("table", t) for t in dts]
    b += [("h2", "Cells"), ("table", cells_table(s))]
    vers = prov.get("versions") or {}
    if vers:
        b += [("h2", "Versions"), ("table", Table(["package", "version"],
                                                  [[k, str(vers[k])] for k in sorted(vers)]))]
    return b


def render_md(blocks: Sequence[Block]) -> str:
    parts = []
    for blk in blocks:
        kind = blk[0]
        if kind == "h1":
            parts.append(f"# {blk[1]}\n")
        elif kind == "h2":
            parts.append(f"## {blk[1]}\n")
        elif kind == "h3":
            parts.append(f"### {blk[1]}\n")
        elif kind == "headline":
            parts.append(f"**Headline.** {blk[1]}\n")
        elif kind == "ul":
            parts.append("".join(f"- {x}\n" for x in blk[1]))
        elif kind == "table":
            parts.append(table_md(blk[1]))
        elif kind == "fig":
            parts.append(f"![{blk[1]}](figures/{blk[1]})\n\n*{blk[2]}*\n")
    return "\n".join(parts)


CSS = """body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .55em;vertical-align:top}
th{background:#f3f3f3}td.r,th.r{text-align:right}tbody tr:nth-child(even){background:#fafafa}
.headline{background:#eef5ff;border-left:4px solid #1f77b4;padding:.6em .9em}
.note{font-size:.8em;color:#555;margin:.2em 0}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#444}"""


def render_html(blocks: Sequence[Block], figs: Mapping[str, bytes]) -> str:
    title = next((blk[1] for blk in blocks if blk[0] == "h1"), "prmlab report")
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>", f"<style>\n{CSS}\n</style>", "</head>",
             "<body>"]
    for blk in blocks:
        kind = blk[0]
        if kind == "h1":
            parts.append(f"<h1>{html.escape(blk[1])}</h1>")
        elif kind == "h2":
            parts.append(f"<h2>{html.escape(blk[1])}</h2>")
        elif kind == "h3":
            parts.append(f"<h3>{html.escape(blk[1])}</h3>")
        elif kind == "headline":
            parts.append(f'<p class="headline"><strong>Headline.</strong> {html.escape(blk[1])}</p>')
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in blk[1]) + "</ul>")
        elif kind == "table":
            parts.append(table_html(blk[1]).rstrip("\n"))
        elif kind == "fig":
            data = base64.b64encode(figs[blk[1]]).decode("ascii")
            parts.append(f'<figure><img alt="{html.escape(blk[1])}" src="data:image/png;base64,'
                         f'{data}"><figcaption>{html.escape(blk[2])}</figcaption></figure>')
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def build_report(out_dir: str | os.PathLike) -> dict[str, Any]:
    """Rebuild OUT/figures/*.png, OUT/report.md and OUT/report.html from the run folder alone.

    Returns {"report_md", "report_html", "figures" (paths), "headline", "ceiling_floor",
    "labels_needed" (policy set: {target: {format|"ratio": result}}), "labels_needed_by_set"
    ({eval set: the same}), "cells", "unfinished"}.
    Raises InputError when OUT has no config.json or no finished cell.
    """
    out = Path(out_dir)
    run = load_run(out)
    s = summarize(run)
    fig_dir = out / "figures"
    figs = make_figures(s, fig_dir)
    made = {name for name, _, _ in figs}
    for name in FIGURE_NAMES:  # a figure this run no longer has must not linger
        if name not in made and (fig_dir / name).is_file():
            (fig_dir / name).unlink()
    needed, needed_res = {}, {}
    for e in EVAL_SETS:
        needed[e], needed_res[e] = labels_needed_table(s, e)
    head = report_headline(s)
    blocks = _blocks(s, figs, head, needed)
    write_text(out / "report.md", render_md(blocks))
    write_text(out / "report.html", render_html(blocks, {n: d for n, _, d in figs}))
    return {"report_md": str(out / "report.md"), "report_html": str(out / "report.html"),
            "figures": [str(fig_dir / n) for n, _, _ in figs], "headline": head,
            "ceiling_floor": ceiling_floor(s), "labels_needed": needed_res["policy"],
            "labels_needed_by_set": needed_res,
            "cells": [c.id for c in run.cells], "unfinished": list(run.unfinished)}


__all__ = ["build_report", "headline", "report_headline", "ceiling_floor", "summarize", "Summary", "make_figures",
           "render_md", "render_html", "judge_table", "labels_needed_table"]
