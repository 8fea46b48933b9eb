"""The report's tables of what a run was built on: the base's probes, the data sets, and the
evaluation sets' composition (generators, counts, first-error steps)."""

from __future__ import annotations

from typing import Any, Mapping

from prmlab.experiments.records import RunArtifacts
from prmlab.reports.summary import SET_TITLES, Summary
from prmlab.reports.tables import Table, fmt_int, fmt_num

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


def data_tables(art: RunArtifacts) -> list[Table]:
    out = []
    sizes = art.data
    if sizes:
        known = ("pool", "dev", "eval_policy", "eval_injected", "bon")
        keys = [k for k in known if k in sizes] + sorted(k for k in sizes if k not in known)
        out.append(Table(["set", "solutions"], [[k, fmt_int(sizes[k])] for k in keys], right=(1,)))
    summ = art.data_summary
    sets = [(k, n) for k, n in DATA_SETS if k in summ] + [(k, k) for k in sorted(summ)
                                                          if k not in dict(DATA_SETS)]
    if sets:
        fields = (("n", "solutions", fmt_int), ("natural_error_rate", "natural error rate", fmt_num),
                  ("answer_accuracy", "answer accuracy", fmt_num),
                  ("right_answer_wrong_process", "right answer, wrong process", fmt_num),
                  ("generated_tokens", "generated tokens", fmt_int),
                  ("prompt_tokens", "prompt tokens", fmt_int))
        rows = [[name] + [fmt(getattr(summ[k], key)) for k, _ in sets] for key, name, fmt in fields]
        out.append(Table([""] + [n for _, n in sets], rows,
                         ["Natural error rate: share of sampled solutions with a wrong step."],
                         right=tuple(range(1, len(sets) + 1))))
        types: dict[str, int] = {}
        for k, _ in sets:
            for r, cnt in summ[k].error_types.items():
                types[r] = types.get(r, 0) + cnt
        order = sorted(types, key=lambda r: (-types[r], r))
        rows = []
        for r in order:
            row = [r]
            for k, _ in sets:
                et = summ[k].error_types
                tot = sum(et.values())
                cnt = et.get(r, 0)
                row.append(f"{cnt} ({100 * cnt / tot:.1f}%)" if tot else "—")
            rows.append(row)
        if rows:
            out.append(Table(["error type"] + [n for _, n in sets], rows,
                             ["Counts (share) of each oracle reason, 'correct' included."],
                             right=tuple(range(1, len(sets) + 1))))
    return out


def _hist_text(h: Mapping[str, int]) -> str:
    tot = sum(h.values())
    return ", ".join(f"{k}: {v} ({100 * v / tot:.0f}%)" for k, v in
                     sorted(h.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 10**9)) if tot else "—"


def composition_table(s: Summary, eval_set: str = "policy") -> Table | None:
    """Each base's evaluation set by generator: counts, draws, natural error rate, first-error
    histogram (from the cells' records; every cell of a base reads the same set)."""
    rows, rules, short = [], [], []
    for b in s.bases:
        comp = next((c.record.metrics.of(eval_set).composition for c in s.run.cells
                     if c.base == b and getattr(c.record, "metrics", None) is not None
                     and c.record.metrics.of(eval_set).composition is not None), None)
        if comp is None:
            continue
        if comp.rule and comp.rule not in rules:
            rules.append(comp.rule)
        for g in comp.generators:
            rows.append([str(b), g.generator, fmt_int(g.correct), fmt_int(g.erroneous),
                         fmt_int(g.drawn), fmt_num(g.natural_error_rate), _hist_text(g.first_error_histogram)])
            if g.shortfall:
                short.append(f"base {b}: {g.shortfall}")
        rows.append([str(b), "all", fmt_int(comp.correct), fmt_int(comp.erroneous), "—", "—",
                     _hist_text(comp.first_error_histogram)])
    if not rows:
        return None
    notes = [f"{SET_TITLES[eval_set]}: correct / erroneous solutions each generator contributes, "
             "the solutions it sampled to fill its part and its natural error rate over them, and "
             "where the first error sits (step: count, share of the erroneous)."]
    notes += [f"Drawn by the rule: {r}." for r in rules]
    if short:
        notes.append("QUOTA NOT MET (the set is smaller than the rule asks): " + "; ".join(short) + ".")
    return Table(["base", "generator", "correct", "erroneous", "drawn", "natural error rate",
                  "first error at step"], rows, notes, right=(2, 3, 4, 5))


def composition_lines(s: Summary, eval_set: str = "policy", floor: int = 100) -> list[str]:
    """One sentence per base: what the headline's F1 rests on (beside the headline)."""
    out = []
    for b in s.bases:
        comp = next((c.record.metrics.of(eval_set).composition for c in s.run.cells
                     if c.base == b and getattr(c.record, "metrics", None) is not None
                     and c.record.metrics.of(eval_set).composition is not None), None)
        if comp is None:
            continue
        gens = "; ".join(f"{g.generator} {g.correct}/{g.erroneous}"
                         + (f" of {g.drawn} drawn, natural error rate {g.natural_error_rate:.2f}"
                            if g.drawn and g.natural_error_rate is not None else "")
                         for g in comp.generators)
        h = comp.first_error_histogram
        first = h.get("0", 0) / comp.erroneous if comp.erroneous else None
        line = (f"Evaluation set (base {b}): {comp.correct} correct and {comp.erroneous} erroneous "
                f"policy samples (correct/erroneous by generator: {gens})"
                + (f"; {first:.0%} of the erroneous fail at step 0" if first is not None else "") + ".")
        if comp.correct < floor or comp.erroneous < floor:
            line += (f" F1 here rests on fewer than {floor} correct or erroneous solutions: read it "
                     "as a smoke figure, not a result.")
        if comp.quota_met is False:
            line += " The quota was NOT met (see Evaluation sets)."
        out.append(line)
    return out
