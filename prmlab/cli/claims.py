"""`prmlab claims`: run the pre-registered claim suite, or rebuild its verdicts from its run
folders (`--report-only`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from prmlab.errors import InputError


def claims_command(
    size: Optional[str] = typer.Option(None, "--size", help="quick (default: one base, two judge "
                                       "seeds), full (three bases x three judge seeds); smoke is the tests' tiny size."),
    out: Optional[Path] = typer.Option(None, "--out", help="Suite folder (default runs/claims-<size>)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Artifact cache (default "
                                         "$PRMLAB_CACHE or ~/.cache/prmlab)."),
    report_only: Optional[Path] = typer.Option(None, "--report-only", help="Rebuild OUT's "
                                               "claims.json/md/html from its run folders; runs no model."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty folder prmlab "
                                   "did not create, replacing only files prmlab wrote there."),
    claim: list[str] = typer.Option([], "--claim", help="Run only the folders this claim reads "
                                    "(repeatable); the others stay planned, their claims not run yet."),
) -> None:
    """Run the claim suite: one verdict per pre-registered claim (supported, refuted or
    inconclusive), in OUT/claims.md, OUT/claims.html and OUT/claims.json.

    Interrupt it at any moment and run the same command again: finished cells are kept.
    """
    from prmlab.claims.registry import CLAIMS
    from prmlab.claims.suite import folders_for, load_plan, plan_suite, run_suite
    from prmlab.outdir import check_writable, prepare_out
    from prmlab.reports.claims import FILES, build_claims, fmt_effect

    if report_only is not None and out is not None and out != report_only:
        raise InputError("give the suite folder once: --report-only OUT or --out OUT")
    known = {c.id: c for c in CLAIMS}
    if unknown := [c for c in claim if c not in known]:
        raise InputError(f"--claim: unknown claim {unknown[0]!r} (known: {', '.join(known)})")
    if claim and report_only is not None:
        raise InputError("--claim runs folders; --report-only runs none (it rebuilds every claim)")
    folder = report_only or out or Path("runs") / f"claims-{size or 'quick'}"
    pinned = load_plan(folder) if folder.is_dir() else None
    if pinned is not None and size is not None and size != pinned.size.name:
        raise InputError(f"this folder holds the {pinned.size.name} suite, not {size}; use a new "
                         "--out", path=str(folder / "suite.json"))
    if report_only is not None:  # the pinned plan, as the folders were run
        plan = pinned or plan_suite(size or "quick", CLAIMS)
    else:  # planned afresh (validated before any work); run_suite refuses another pinned plan
        plan = plan_suite(size or (pinned.size.name if pinned else "quick"), CLAIMS)
    prepare_out(folder, overwrite=overwrite, will_write=FILES)
    todo = folders_for(plan, [known[c] for c in claim]) if claim else plan.folders
    t0 = time.time()
    if report_only is None:
        from prmlab.cli.run import RichUI, console
        from prmlab.experiments.artifacts import default_cache
        from prmlab.reports.report import build_report

        check_writable(cache or default_cache(), "--cache")
        ui = RichUI()
        which = (f"{len(todo)} of its {len(plan.folders)} run folders (for {', '.join(claim)})"
                 if claim else f"{len(plan.folders)} run folders")
        console.print(f"prmlab claims: size [bold]{plan.size.name}[/], {len(CLAIMS)} claims, "
                      f"{which} -> {folder}")
        with ui.progress:
            run_suite(plan, folder, cache, ui=ui, only=todo)
        from prmlab.reports.rl import suite_runs, write_rl_suite_report

        for f in todo:
            if f.kind == "rl":  # an RL suite folder: its own report
                write_rl_suite_report(folder / "runs" / f.name, suite_runs(folder / "runs" / f.name))
            elif f.kind in ("tree", "pcl"):  # a tree-grpo / pcl run: the command's own report
                _policy_run_report(folder / "runs" / f.name, f.kind)
            else:
                build_report(folder / "runs" / f.name)
    res = build_claims(folder, CLAIMS, plan)
    for c in res.claims:
        typer.echo(f"{c.verdict:<13} {c.title}: {fmt_effect(c.summary)}")
    typer.echo(f"wrote {', '.join(str(folder / f) for f in FILES)} ({time.time() - t0:.0f}s)")


def _policy_run_report(run: Path, kind: str) -> None:
    """What `prmlab tree-grpo` / `prmlab pcl` draw for their folder, once the run finished."""
    if not (run / "metrics.json").is_file():
        return
    if kind == "pcl":
        from prmlab.reports.pcl import report

        report(run)
    else:
        from prmlab.reports.tree_figures import plot_tree_vs_chain
        from prmlab.strict import read_json

        plot_tree_vs_chain(read_json(run / "metrics.json", note=False), run / "tree_vs_chain.png")


def register(app: typer.Typer) -> None:
    app.command("claims")(claims_command)
