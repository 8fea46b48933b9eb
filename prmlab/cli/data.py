"""`prmlab data ...`: convert, validate and describe step-labelled data files.

Every problem with a file is an `InputError` (one line on stderr, exit status 2, via
prmlab.cli.main); outputs are written atomically, so a failed convert leaves no file behind.
Formats and options are plain strings checked by prmlab itself (not click choices) so that a
wrong one gets the same one-line error as a wrong file.
"""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from prmlab.data.formats import (FORMATS, ReadReport, WriteError, get_format, read_any_located,
                                 representable, write_any)
from prmlab.data.stats import describe

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Generate, check, validate, convert and describe data.")

_NAMES = ", ".join(FORMATS)
FormatOpt = Annotated[Optional[str], typer.Option(
    "--format", "-f", help=f"Input format ({_NAMES}); sniffed from the content when omitted.")]
NeutralOpt = Annotated[Optional[str], typer.Option(
    "--neutral", help="PRM800K only: how a neutral (0) rating maps. 'correct' (the default, as "
    "PRM800K and ProcessBench treat neutral as not an error) or 'wrong'.")]
OverwriteOpt = Annotated[bool, typer.Option(
    "--overwrite", help="Replace OUT even if prmlab did not write it (never a link, a folder, a "
    "device or the input itself).")]
AfterErrorOpt = Annotated[Optional[str], typer.Option(
    "--after-error", help="Math-Shepherd, and TRL under --label-semantics prefix: a step marked "
    "correct after a wrong one breaks prefix semantics; 'reject' it (the default) or label it "
    "'wrong' (the file's own labels are kept in meta).")]
UnfinishedOpt = Annotated[Optional[str], typer.Option(
    "--unfinished", help="PRM800K only: how a trajectory the labeler did not finish (give_up, "
    "bad_problem, no finish_reason, or a path that ends early) is read. 'unknown' (the default): "
    "rated steps keep their labels, an error found stays the first error, else the first error "
    "is unknown; 'drop': leave it out (counted); 'as-rated': as if finished.")]
SemanticsOpt = Annotated[Optional[str], typer.Option(
    "--label-semantics", help="TRL only: 'independent' (the default: each label is its own "
    "step's verdict, a true may follow a false, the first false is the first error) or 'prefix' "
    "(the file follows prefix semantics; see --after-error).")]


def _read(path: str, fmt: Optional[str], neutral: Optional[str], after_error: Optional[str],
          unfinished: Optional[str], label_semantics: Optional[str], report: ReadReport):
    return read_any_located(path, fmt, report=report, neutral=neutral, after_error=after_error,
                            unfinished=unfinished, label_semantics=label_semantics)


def _echo_report(report: ReadReport) -> None:
    for line in report.summary():
        typer.echo(line)


@app.command()
def convert(
    src: Annotated[str, typer.Argument(metavar="IN", help="File to read.")],
    dst: Annotated[str, typer.Argument(metavar="OUT", help="File to write (atomically).")],
    to: Annotated[str, typer.Option("--to", help=f"Output format ({_NAMES}).")],
    from_: Annotated[Optional[str], typer.Option(
        "--from", help=f"Input format ({_NAMES}); sniffed from the content when omitted.")] = None,
    neutral: NeutralOpt = None,
    after_error: AfterErrorOpt = None,
    unfinished: UnfinishedOpt = None,
    label_semantics: SemanticsOpt = None,
    skip_bad: Annotated[bool, typer.Option(
        "--skip-bad", help="Skip records that cannot be converted (read or written) instead of "
        "stopping at the first; the summary gives their count and the first reasons.")] = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Convert a file between formats, through the canonical record."""
    from prmlab.errors import InputError
    from prmlab.outdir import prepare_out_file

    get_format(to)  # an unknown --to fails before anything is read
    prepare_out_file(dst, inputs=[src], overwrite=overwrite, option="OUT")
    report = ReadReport(skip_bad=skip_bad)
    name, located = _read(src, from_, neutral, after_error, unfinished, label_semantics, report)
    records = [rec for _, rec in located]
    bad = set()
    for i, err in representable(records, to, dst):
        if err is None:
            continue
        located_err = located[i][0].error(
            err.field, f"{err.bare_message} (id {err.record_id!r}; cannot convert to {to})")
        if not skip_bad:  # say where in the input the unrepresentable record is
            raise located_err
        report.skip(located_err)
        bad.add(i)
    records = [r for i, r in enumerate(records) if i not in bad]
    if not records:
        raise InputError("no record can be converted (" + "; ".join(report.summary()) + ")",
                         path=src)
    try:
        n = write_any(dst, records, to)
    except WriteError as e:  # representable() said yes; kept as a guard with the location
        raise located[e.index][0].error(
            e.field, f"{e.bare_message} (id {e.record_id!r}; cannot convert to {to})") from None
    typer.echo(f"converted {n} records: {src} ({name}) -> {dst} ({to})")
    _echo_report(report)


@app.command()
def validate(
    file: Annotated[str, typer.Argument(metavar="FILE", help="File to check.")],
    fmt: FormatOpt = None,
    neutral: NeutralOpt = None,
    after_error: AfterErrorOpt = None,
    unfinished: UnfinishedOpt = None,
    label_semantics: SemanticsOpt = None,
) -> None:
    """Check every record of a file; exit 0 with a one-line summary, or 2 naming the problem."""
    report = ReadReport()
    name, located = _read(file, fmt, neutral, after_error, unfinished, label_semantics, report)
    d = describe(rec for _, rec in located)
    typer.echo(f"{file}: valid {name}, {d['n']} records ({d['n_erroneous']} with an error, "
               f"{d['n_correct']} correct, {d['n_unknown']} unknown), {d['n_steps']} steps")
    _echo_report(report)


@app.command()
def stats(
    file: Annotated[str, typer.Argument(metavar="FILE", help="File to describe.")],
    fmt: FormatOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    neutral: NeutralOpt = None,
    after_error: AfterErrorOpt = None,
    unfinished: UnfinishedOpt = None,
    label_semantics: SemanticsOpt = None,
) -> None:
    """Counts, mean steps and where first errors fall, overall and by source."""
    report = ReadReport()
    name, located = _read(file, fmt, neutral, after_error, unfinished, label_semantics, report)
    d = describe(rec for _, rec in located)
    if as_json:
        extra = {"dropped": report.dropped} if report.dropped else {}
        typer.echo(json.dumps({"file": file, "format": name, **d, **extra}, indent=2,
                              ensure_ascii=False))
        return
    _print_tables(file, name, d)
    _echo_report(report)


def _print_tables(file: str, name: str, d: dict) -> None:
    console = Console()
    if not console.is_terminal:  # piped: rich would assume 80 columns and cut the table
        console = Console(width=120)
    groups = [*d["by_source"].items()]
    total = len(groups) > 1
    if total:
        groups.append(("(all)", d))
    t = Table(title=f"{file} ({name})", box=box.SIMPLE_HEAD)
    t.add_column("source", no_wrap=True, min_width=max(len(s) for s, _ in groups))
    for col in ("n", "error", "correct", "unknown", "steps", "labels", "answer ok"):
        t.add_column(col, justify="right", no_wrap=True)
    for i, (src, g) in enumerate(groups):
        ac = g["answer_correct"]
        known = ac["true"] + ac["false"]
        t.add_row(src, str(g["n"]), str(g["n_erroneous"]), str(g["n_correct"]),
                  str(g["n_unknown"]), f"{g['mean_steps']:.2f}", str(g["n_step_labels"]),
                  f"{ac['true']}/{known}" if known else "-",
                  end_section=total and i == len(groups) - 2)
    console.print(t)
    # First-error positions: rows 0..9 and 10+, one column per source.
    if d["n_erroneous"]:
        h = Table(title="first error at step (0-based)", box=box.SIMPLE_HEAD)
        h.add_column("step", justify="right")
        for src, _ in groups:
            h.add_column(src, justify="right")
        for label, lo, hi in [*((str(i), i, i) for i in range(10)), ("10+", 10, None)]:
            cells = []
            for _, g in groups:
                c = sum(v for k, v in g["first_error_hist"].items()
                        if int(k) >= lo and (hi is None or int(k) <= hi))
                cells.append(str(c))
            h.add_row(label, *cells)
        console.print(h)
