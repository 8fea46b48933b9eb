"""`prmlab report OUT`: rebuild the report of a run folder (figures, report.md, report.html)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the `report` command to the top-level app."""
    app.command("report", help="Rebuild OUT/figures/*.png, OUT/report.md and a self-contained "
                               "OUT/report.html from a run folder (never runs a model).")(report_command)


def report_command(
    out: Path = typer.Argument(..., help="A run folder written by `prmlab run` or `prmlab rl`."),
) -> None:
    if (out / "result.json").is_file():  # a `prmlab rl` run folder (its typed RLResult)
        from prmlab.reports.rl import write_rl_report

        typer.echo(f"wrote {write_rl_report(out)} from {out / 'result.json'}")
        return
    if (out / "rl-suite.json").is_file():  # a `prmlab rl-suite` folder
        from prmlab.reports.rl import suite_runs, write_rl_report, write_rl_suite_report

        runs = suite_runs(out)
        for r in runs:
            if (r / "result.json").is_file():
                write_rl_report(r)
        typer.echo(f"wrote {write_rl_suite_report(out, runs)} from {len(runs)} run folders")
        return
    from prmlab.reports.report import build_report

    res = build_report(out)  # InputError (no config.json, no finished cell) -> exit 2 in main
    typer.echo(res["headline"])
    for line in res["ceiling_floor"]:
        typer.echo(line)
    if res["unfinished"]:
        typer.echo(f"ignored {len(res['unfinished'])} unfinished cell(s): {', '.join(res['unfinished'])}")
    typer.echo(f"wrote {res['report_md']}, {res['report_html']} and {len(res['figures'])} figures "
               f"from {len(res['cells'])} cells")
