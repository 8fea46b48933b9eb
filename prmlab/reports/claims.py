"""`claims.md`, `claims.html` and `claims.json` of a claim suite, rebuilt from its run folders
alone (never a model). Every number in claims.md is in claims.json (the replicate values and
the cell.json fields each came from); nothing is timestamped, so the same folders give the same
files."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from prmlab.atomic import write_json, write_text
from prmlab.claims.claim import Claim
from prmlab.claims.evaluate import evaluate_suite
from prmlab.claims.schema import VERDICTS, ClaimResult, ClaimsResult, EffectSummary, RunLink
from prmlab.claims.suite import SuitePlan, load_plan
from prmlab.errors import InputError
from prmlab.reports.render import Block, render_html, render_md
from prmlab.reports.tables import Link, Table

FILES = ("claims.json", "claims.md", "claims.html")


def fmt_effect(s: EffectSummary) -> str:
    """
    >>> fmt_effect(EffectSummary(n=2, n_undefined=0, mean=0.05, sd=0.01, ci=[-0.04, 0.14]))
    '+0.050 [-0.040, +0.140] (n=2)'
    >>> fmt_effect(EffectSummary(n=0, n_undefined=2, mean=None, sd=None, ci=None))
    '— (n=0, 2 undefined)'
    """
    undef = f", {s.n_undefined} undefined" if s.n_undefined else ""
    if s.mean is None:
        return f"— (n=0{undef})"
    ci = f" [{s.ci[0]:+.3f}, {s.ci[1]:+.3f}]" if s.ci else " (no CI)"
    return f"{s.mean:+.3f}{ci} (n={s.n}{undef})"


def _run_link(r: RunLink) -> Link:
    return Link(r.folder.split("/")[-1], r.folder + "/")


def _seed(s: int | None) -> str:
    return "— (per base)" if s is None else str(s)


def _claim_blocks(c: ClaimResult) -> list[Block]:
    b: list[Block] = [("h2", f"{c.title} — {c.verdict}"), ("ul", [
        f"Statement: {c.statement}",
        f"Anchor: {c.anchor.figure} — {c.anchor.citation}",
        f"Effect ({c.unit}): {c.effect}",
        f"Rule (written before the run): {c.rule.words}",
        f"Measured: {fmt_effect(c.summary)}, sd over replicates "
        f"{'—' if c.summary.sd is None else f'{c.summary.sd:.3f}'}; {c.summary.method}",
        f"Verdict: {c.verdict} — {c.verdict_reason}",
        *[f"Note: {n}" for n in c.notes]])]
    rows = []
    for r in c.replicates:
        where = "; ".join(f"{i.folder}/{i.cell}: {i.field} = {i.value}" for i in r.inputs) or "—"
        rows.append([str(r.base), _seed(r.seed), "—" if r.value is None else f"{r.value:+.3f}",
                     r.detail or (r.reason or ""), where])
    b.append(("table", Table(["base", "judge seed", f"effect ({c.unit})", "detail", "from"], rows,
                             right=(2,))))
    return b


def claims_blocks(res: ClaimsResult) -> list[Block]:
    counts = {v: sum(c.verdict == v for c in res.claims) for v in VERDICTS}
    b: list[Block] = [("h1", f"prmlab claims — size {res.size}"),
                      ("headline", ", ".join(f"{n} {v}" for v, n in counts.items())
                       + f" of {len(res.claims)} claims."),
                      ("ul", [*res.notes,
                              f"Replicates: bases (base.seed) {', '.join(map(str, res.bases))} × "
                              f"judge seeds {', '.join(map(str, res.seeds))} of the {res.preset} "
                              "preset; effects are on policy-sampled solutions.",
                              "Negative and inconclusive verdicts are results, like positive ones."])]
    rows = [[c.title, c.statement, f"{c.anchor.figure} — {c.anchor.citation}", fmt_effect(c.summary),
             c.rule.words, c.verdict, [_run_link(r) for r in c.runs]] for c in res.claims]
    b += [("h2", "Verdicts"), ("table", Table(
        ["claim", "statement", "anchor", "effect, mean [95% CI over replicates] (n)", "rule",
         "verdict", "run folders"], rows))]
    for c in res.claims:
        b += _claim_blocks(c)
    b += [("h2", "Run folders"), ("table", Table(
        ["folder", "experiment", "base", "judge seed", "finished cells", "base meets the health bar"],
        [[_run_link(r), r.experiment, str(r.base), _seed(r.seed), "yes" if r.finished else "no (not run yet)",
          {True: "yes", False: "NO", None: "—"}[r.base_meets_bar]] for r in res.runs]))]
    return b


def build_claims(out: str | Path, claims: Sequence[Claim], plan: SuitePlan | None = None) -> ClaimsResult:
    """Evaluate the suite in OUT (its pinned plan, or `plan`) and write OUT/claims.json,
    OUT/claims.md and OUT/claims.html."""
    out = Path(out)
    plan = plan or load_plan(out)
    if plan is None:
        raise InputError("no suite.json: not a claim suite folder (give --size to read run "
                         "folders planned by that size)", path=str(out))
    res = evaluate_suite(plan, out, claims)
    blocks = claims_blocks(res)
    write_json(out / "claims.json", res.model_dump(mode="json"))
    write_text(out / "claims.md", render_md(blocks))
    write_text(out / "claims.html", render_html(blocks, {}))
    return res
