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

from prmlab.data.formats import FORMATS, WriteError, get_format, read_any_located, write_any
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
    "--after-error", help="Math-Shepherd and TRL only: a step marked correct after a wrong one "
    "breaks prefix semantics; 'reject' it (the default) or label it 'wrong'.")]


def _read(path: str, fmt: Optional[str], neutral: Optional[str], after_error: Optional[str]):
    return read_any_located(path, fmt, neutral=neutral, after_error=after_error)


@app.command()
def convert(
    src: Annotated[str, typer.Argument(metavar="IN", help="File to read.")],
    dst: Annotated[str, typer.Argument(metavar="OUT", help="File to write (atomically).")],
    to: Annotated[str, typer.Option("--to", help=f"Output format ({_NAMES}).")],
    from_: Annotated[Optional[str], typer.Option(
        "--from", help=f"Input format ({_NAMES}); sniffed from the content when omitted.")] = None,
    neutral: NeutralOpt = None,
    after_error: AfterErrorOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Convert a file between formats, through the canonical record."""
    from prmlab.outdir import prepare_out_file

    get_format(to)  # an unknown --to fails before anything is read
    prepare_out_file(dst, inputs=[src], overwrite=overwrite, option="OUT")
    name, located = _read(src, from_, neutral, after_error)
    try:
        n = write_any(dst, [rec for _, rec in located], to)
    except WriteError as e:  # say where in the input the unrepresentable record is
        raise located[e.index][0].error(
            e.field, f"{e.bare_message} (id {e.record_id!r}; cannot convert to {to})") from None
    typer.echo(f"converted {n} records: {src} ({name}) -> {dst} ({to})")


@app.command()
def validate(
    file: Annotated[str, typer.Argument(metavar="FILE", help="File to check.")],
    fmt: FormatOpt = None,
    neutral: NeutralOpt = None,
    after_error: AfterErrorOpt = None,
) -> None:
    """Check every record of a file; exit 0 with a one-line summary, or 2 naming the problem."""
    name, located = _read(file, fmt, neutral, after_error)
    d = describe(rec for _, rec in located)
    typer.echo(f"{file}: valid {name}, {d['n']} records ({d['n_erroneous']} with an error, "
               f"{d['n_correct']} correct, {d['n_unknown']} unknown), {d['n_steps']} steps")


@app.command()
def stats(
    file: Annotated[str, typer.Argument(metavar="FILE", help="File to describe.")],
    fmt: FormatOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    neutral: NeutralOpt = None,
    after_error: AfterErrorOpt = None,
) -> None:
    """Counts, mean steps and where first errors fall, overall and by source."""
    name, located = _read(file, fmt, neutral, after_error)
    d = describe(rec for _, rec in located)
    if as_json:
        typer.echo(json.dumps({"file": file, "format": name, **d}, indent=2, ensure_ascii=False))
        return
    _print_tables(file, name, d)


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
