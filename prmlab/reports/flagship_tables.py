"""The flagship report's tables, each built from the run's typed cell records."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from prmlab.metrics.aggregate import AGGREGATIONS
from prmlab.reports.headline import DISC, GEN, _pts
from prmlab.reports.load import (DIRECTIONS, EVAL_SETS, METRICS, Cell, Group, combine, mean_of,
                                 metric_of)
from prmlab.reports.replicates import over_replicates
from prmlab.reports.summary import SET_TITLES, Summary, flat_name
from prmlab.reports.tables import (Link, Table, arrow, fmt_budget, fmt_int, fmt_lr, fmt_metric,
                                   fmt_num, labels_needed, needed_ratio)

METRIC_NAMES = {"f1": "F1", "acc_err": "acc_err", "acc_cor": "acc_cor", "auroc": "AUROC",
                "ece": "ECE"}
SEED_NOTE = ("Rows with several replicates (bases × judge seeds): value = mean over bases of each "
             "base's mean over seeds; CI = mean of the per-replicate 95% bootstrap CI bounds (over "
             "problems); sd = standard deviation over replicates; the spread between bases (range "
             "and sd of the per-base means) is in its own column.")


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
    used = g.mean(lambda r: r.budget_solutions)
    if used is not None and abs(used - g.budget) > 1e-9:
        return f"{fmt_budget(g.budget)} (used {fmt_int(used)})"
    return fmt_budget(g.budget)


def replicates_cell(cells: Sequence[Cell]) -> str:
    """'2 × 3' (bases × judge seeds), or the count when the design is not a grid."""
    bases = {c.base for c in cells}
    seeds = {c.seed for c in cells}
    return f"{len(bases)} × {len(seeds)}" if len(bases) * len(seeds) == len(cells) else str(len(cells))


def spread_cell(m: Mapping[str, Any]) -> str:
    """The spread between bases of a metric over replicates: 'sd 0.050 (0.600–0.700)'."""
    if m.get("value") is None or (m.get("n_bases") or 0) < 2 or not m.get("base_range"):
        return "— (1 base)" if m.get("value") is not None else "—"
    lo, hi = m["base_range"]
    sd = m.get("base_sd")
    return (f"sd {sd:.3f} " if sd is not None else "") + f"({lo:.3f}–{hi:.3f})"


def judge_table(s: Summary, eval_set: str) -> Table:
    headers = (["judge", "labelled solutions", "bases × seeds"] + _metric_headers(s)
               + ["F1 between bases", "threshold", "step labels", "chosen lr", "chosen step",
                  "kept fraction"])
    rows, notes_undef = [], []
    for g in s.groups:
        ms = [g.metric(eval_set, m) for m in METRICS]
        kept = g.mean(lambda r: r.filter.kept_fraction if r.filter else None)
        rows.append([g.format, _budget_cell(g), replicates_cell(g.cells), *(fmt_metric(m) for m in ms),
                     spread_cell(ms[0]),
                     _threshold_cell(g.cells, eval_set), fmt_int(g.mean(lambda r: r.step_labels)),
                     _join(g.distinct(lambda r: r.selection.chosen_lr), fmt_lr),
                     _join(g.distinct(lambda r: r.selection.chosen_step)),
                     fmt_num(kept) if kept is not None else "—"])
        notes_undef += [(f"{g.format} N={fmt_budget(g.budget)}", METRIC_NAMES[k], m["reason"])
                        for k, m in zip(METRICS, ms) if m["value"] is None]
    for name, cells in s.flat_groups():
        ms = [s.flat_metric(cells, eval_set, m) for m in METRICS]
        rows.append([name, "0", replicates_cell(cells), *(fmt_metric(m) for m in ms), spread_cell(ms[0]),
                     _threshold_cell(cells, eval_set), fmt_int(cells[0].record.step_labels), "—", "—", "—"])
        notes_undef += [(name, METRIC_NAMES[k], m["reason"])
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
    return c.record.metrics.of(eval_set).threshold


def _threshold_cell(cells: Sequence[Cell], eval_set: str) -> str:
    return fmt_num(mean_of([_threshold_of(c, eval_set) for c in cells]))


def _at(c: Cell, eval_set: str, tuned: bool) -> tuple[float | None, Any]:
    """(threshold, F1 metric) of a cell at its fixed-0.5 or its dev-tuned threshold."""
    m = c.record.metrics.of(eval_set)
    if c.record.threshold.tuned == tuned:
        return c.record.threshold.value, m.f1.as_dict()
    o = m.other_threshold
    return (o.threshold, o.f1.as_dict()) if o is not None else (None, None)


def threshold_table(s: Summary, eval_set: str = "policy") -> Table | None:
    """Every judge's F1 at ProcessBench's fixed 0.5 beside F1 at the threshold that maximised its
    dev F1: how much of a format's F1 is calibration rather than ranking. None for runs from
    before judges saved both."""
    cells = [c for g in s.groups for c in g.cells]
    if not any(c.record.metrics.of(eval_set).other_threshold for c in cells):
        return None
    rows = []
    for g in s.groups:
        fixed = [_at(c, eval_set, False) for c in g.cells]
        tuned = [_at(c, eval_set, True) for c in g.cells]
        rows.append([g.format, _budget_cell(g), str(len(g.cells)),
                     "tuned" if all(r.threshold.tuned for r in g.records) else "0.5",
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


def labels_needed_table(s: Summary, eval_set: str = "policy",
                        base: int | None = None) -> tuple[Table, dict]:
    """Labels each format needs for each F1 target: on the mean over bases, or on one base."""
    pts = {f: _pts(s.curve(f, eval_set, base=base)) for f in s.formats}
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
    over = "mean over bases and seeds" if base is None else f"base {base} alone, mean over seeds"
    notes = [f"Smallest number of labelled solutions at which the judge's F1 on {SET_TITLES[eval_set]} "
             f"({over}) reaches the target: log-linear interpolation between the two "
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
             _equivalent_gold(s, g.format, g.metric("policy", "f1")), fmt_int(g.mean(lambda r: r.step_labels)),
             fmt_int(g.mean(lambda r: r.compute.get("rollout_tokens_generated"))),
             fmt_int(g.mean(lambda r: r.compute.get("rollout_tokens_processed"))),
             fmt_int(g.mean(lambda r: r.compute.get("train_tokens_processed")))] for g in s.other]
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
    rows = [[g.format, fmt_budget(g.budget), fmt_int(g.mean(lambda r: r.compute.get("train_tokens_processed"))),
             fmt_int(g.mean(lambda r: r.compute.get("generated_tokens"))),
             fmt_int(g.mean(lambda r: r.compute.get("prompt_tokens"))),
             fmt_int(g.mean(lambda r: r.compute.get("parse_failures")))] for g in s.groups]
    for c in s.flat:
        comp = getattr(c.record, "compute", None) or {}
        if comp:
            rows.append([flat_name(c), "0", "—", fmt_int(comp.get("generated_tokens")),
                         fmt_int(comp.get("prompt_tokens")), fmt_int(comp.get("parse_failures"))])
    return Table(headers, rows, ["Means over seeds; — where a judge does not report it. Compute is "
                                 "counted in tokens, which a rerun reproduces; wall-clock seconds "
                                 "are in each cell.json."],
                 right=tuple(range(1, len(headers))))


def _sorted_k(d: Mapping[str, Any]) -> list[str]:
    return sorted(d, key=lambda k: (int(k) if str(k).isdigit() else 10**9, str(k)))


def tts_by_k(cells: Sequence[Cell]) -> dict[str, dict]:
    """F1 with K rationales over the TTS cells' bases: {K: metric over replicates}."""
    ks = _sorted_k({k: 0 for c in cells for k in c.record.f1_by_k})
    return {k: over_replicates(((c.base, c.seed or 0, c.record.f1_by_k[k].as_dict() if k in c.record.f1_by_k
                                 else None) for c in cells), "higher").as_dict() for k in ks}


def tts_table(cells: Cell | Sequence[Cell]) -> Table:
    cells = [cells] if isinstance(cells, Cell) else list(cells)
    rec = cells[0].record
    fk = tts_by_k(cells)
    multi = len(cells) > 1
    rows = []
    for k, m in fk.items():
        accs = [(mean_of([c.record.f1_by_k[k].acc_err for c in cells if k in c.record.f1_by_k])),
                mean_of([c.record.f1_by_k[k].acc_cor for c in cells if k in c.record.f1_by_k])]
        row = [str(k), fmt_metric(m), fmt_num(accs[0]), fmt_num(accs[1]), fmt_num(m.get("n"))]
        if multi:
            row += [spread_cell(m)] + [fmt_num(c.record.f1_by_k[k].value if k in c.record.f1_by_k else None)
                                       for c in cells]
        rows.append(row)
    note = (f"Generative judge at N={rec.budget} labelled solutions (seed {rec.seed}), step "
            f"score = mean verdict probability over K sampled rationales (temperature "
            f"{rec.temperature}), on policy-sampled solutions"
            + (f"; mean over {len(cells)} bases, each base's F1 beside it." if multi else "."))
    head = ["K", f"F1 {arrow('higher')}", "acc_err", "acc_cor", "n"]
    if multi:
        head += ["F1 between bases"] + [f"F1 base {c.base}" for c in cells]
    return Table(head, rows, [note], right=tuple(range(1, len(head))))


def _judge_order(s: Summary, names: Sequence[str]) -> list[str]:
    base = [f for f in s.run.config.get("formats", []) if f in names]
    rest = sorted(n for n in names if n not in base and n != "zero-label")
    return base + rest + (["zero-label"] if "zero-label" in names else [])


def _aggs(d: Mapping[str, Any]) -> list[str]:
    return [a for a in AGGREGATIONS if a in d] + sorted(a for a in d if a not in AGGREGATIONS)


def bon_dicts(c: Cell) -> tuple[dict, dict, dict, dict]:
    """pass@k, maj@k, rm@k ({judge: {aggregation: {k: metric dict}}}) and the oracle, as the
    metric dicts the table and figure helpers read."""
    rec = c.record
    pk = {k: m.as_dict() for k, m in rec.pass_at_k.items()}
    mk = {k: m.as_dict() for k, m in rec.maj_at_k.items()}
    rm = {j: {a: {k: m.as_dict() for k, m in by_k.items()} for a, by_k in by_agg.items()}
          for j, by_agg in rec.rm_at_k.items()}
    return pk, mk, rm, rec.oracle.as_dict()


def bon_tables(s: Summary, c: Cell, agg: str = "min") -> list[Table]:
    rec = c.record
    pk, mk, rm, oracle = bon_dicts(c)
    judges = _judge_order(s, list(rm))
    ks = _sorted_k(pk)
    headers = ["k", "pass@k", "maj@k"] + [f"rm@k {j} ({agg})" for j in judges]
    rows = []
    for k in ks:
        rows.append([k, fmt_metric(pk.get(k)), fmt_metric(mk.get(k))]
                    + [fmt_metric(rm[j].get(agg, {}).get(k)) for j in judges])
    t1 = Table(headers, rows, [f"Base {c.base}: {rec.n_problems} problems, N={rec.n} samples each; judges at "
                               f"N={rec.budget} labelled solutions (seed {rec.seed}). Oracle "
                               f"pass@N: {fmt_metric(oracle)}. Accuracy ↑."],
               right=tuple(range(1, len(headers))))
    kmax = ks[-1] if ks else None
    aggs = sorted({a for j in judges for a in rm[j]},
                  key=lambda a: (AGGREGATIONS.index(a) if a in AGGREGATIONS else 99, a))
    rows2 = [[j] + [fmt_metric(rm[j].get(a, {}).get(kmax)) for a in aggs] for j in judges]
    t2 = Table(["judge"] + [f"rm@{kmax} {a}" for a in aggs], rows2,
               [f"rm@k at k={kmax} by how a solution's score aggregates its step scores."],
               right=tuple(range(1, len(aggs) + 1)))
    return [t1, t2] if judges else [t1]


def cells_table(s: Summary) -> Table:
    rows = []
    for c in s.run.cells:
        links = [Link("cell.json", f"cells/{c.id}/cell.json")]
        links += [Link(e, f"cells/{c.id}/{e}/metrics.json") for e in EVAL_SETS
                  if (c.path / e / "metrics.json").is_file()]
        rows.append([c.id, c.kind, c.record.label_source if c.kind == "judge" else "—",
                     fmt_num(c.budget), fmt_num(c.seed), str(c.base), links])
    notes = []
    if s.run.unfinished:
        notes.append("Unfinished (no cell.json, ignored): " + ", ".join(s.run.unfinished) + ".")
    if s.unknown:
        notes.append("Cells of an unknown kind (listed only): "
                     + ", ".join(f"{c.id} ({c.kind})" for c in s.unknown) + ".")
    return Table(["cell", "kind", "label source", "budget", "seed", "base", "files"], rows, notes)
