"""The flagship report, rebuilt from a run folder alone (never runs a model).

`build_report(OUT)` reads OUT/config.json, OUT/artifacts.json and every finished
OUT/cells/*/cell.json (typed records), and writes OUT/figures/*.png, OUT/report.md and a
self-contained OUT/report.html. Everything is sorted and nothing is timestamped, so the same
run folders give byte-identical files. The pieces: `summary` (what the run holds), `headline`,
`flagship_tables`, `flagship_figures`, and the generic `render`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from prmlab.atomic import write_text
from prmlab.reports.flagship_figures import FIGURE_NAMES, make_figures
from prmlab.reports.flagship_tables import (bon_tables, cells_table, compute_table, judge_table,
                                            labels_needed_table, other_sources_table,
                                            threshold_table, tts_table)
from prmlab.reports.headline import ceiling_floor, headline, per_base_headlines, report_headline
from prmlab.reports.input_tables import (base_table, composition_lines, composition_table,
                                         data_tables)
from prmlab.reports.load import EVAL_SETS, Run, load_run
from prmlab.reports.replicates import base_health
from prmlab.reports.render import Block, render_html, render_md
from prmlab.reports.summary import SET_TITLES, Summary, summarize
from prmlab.reports.tables import Table


def base_caveats(run: Run) -> list[str]:
    """Each base's own warnings, beside the headline: they bound every number below it. A base
    under the bar stays in every mean (bases are never dropped or replaced for their results)."""
    health = base_health(run)
    if len(health) <= 1:
        return [f"Warning: {w}" for h in health for w in h.warnings]
    out = []
    for h in health:
        out += [f"Warning: base {h.base} is under the health bar and stays in every mean: {w}"
                for w in h.warnings]
    under = [h.base for h in health if not h.healthy]
    out.append(f"Bases: {len(health)} ({', '.join(str(h.base) for h in health)}); under the health "
               f"bar: {', '.join(map(str, under)) if under else 'none'}. Every base is in every mean.")
    return out


def _blocks(s: Summary, figs: Sequence[tuple[str, str, bytes]], head: str,
            needed: Mapping[str, Table]) -> list[Block]:
    run, cfg, prov = s.run, s.run.config, s.run.provenance
    b: list[Block] = [("h1", f"prmlab report — preset {cfg.get('preset', '?')}"),
                      ("headline", head),
                      ("ul", composition_lines(s) + ceiling_floor(s) + base_caveats(run)
                       + per_base_headlines(s))]
    comp = composition_table(s)
    if comp is not None:
        b += [("h2", "Evaluation sets"), ("table", comp)]
    run_rows = [["preset", str(cfg.get("preset", "—"))],
                ["formats", ", ".join(map(str, cfg.get("formats", []))) or "—"],
                ["budgets (labelled solutions)", ", ".join(map(str, cfg.get("budgets", []))) or "—"],
                ["judge seeds", ", ".join(map(str, cfg.get("seeds", []))) or "—"],
                ["bases (base seeds)", ", ".join(map(str, s.bases)) or "—"],
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
    if len(s.bases) > 1:
        for base in s.bases:
            b += [("h3", f"{SET_TITLES['policy']}, base {base} alone"),
                  ("table", labels_needed_table(s, "policy", base=base)[0])]
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
        b += [("h2", "Verifier test-time scaling"), ("table", tts_table(s.tts_all))]
    if s.bon is not None:
        b += [("h2", "Best-of-N")] + [("table", t) for c in s.bon_all for t in bon_tables(s, c)]
    many = len(run.bases) > 1
    for base, art in run.bases.items():
        if art.base_report:
            b += [("h2", "Base model" + (f" — base {base}" if many else "")),
                  ("table", base_table(art.base_report, art.policy_init))]
    for base, art in run.bases.items():
        dts = data_tables(art)
        if dts:
            b += [("h2", "Data" + (f" — base {base}" if many else ""))] + [("table", t) for t in dts]
    b += [("h2", "Cells"), ("table", cells_table(s))]
    vers = prov.get("versions") or {}
    if vers:
        b += [("h2", "Versions"), ("table", Table(["package", "version"],
                                                  [[k, str(vers[k])] for k in sorted(vers)]))]
    return b


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


__all__ = ["build_report", "headline", "report_headline", "ceiling_floor", "summarize", "Summary",
           "make_figures", "render_md", "render_html", "judge_table", "labels_needed_table"]
