"""`prmlab data generate` and `prmlab data check`: the `arith` domain from the command line."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from prmlab.errors import InputError

console = Console(stderr=True)


def _steps_range(text: str) -> tuple[int, int]:
    try:
        lo, _, hi = text.partition("-")
        return int(lo), int(hi or lo)
    except ValueError:
        raise InputError(f"--steps must look like 2-4 or 3, got {text!r}") from None


def generate(
    n: int = typer.Option(..., "--n", help="Number of solutions."),
    seed: int = typer.Option(0, "--seed", help="Same seed and options give byte-identical files."),
    out: Path = typer.Option(..., "--out", help="Output canonical JSONL."),
    steps: str = typer.Option("2-4", "--steps", help="Derived steps per problem, MIN-MAX."),
    digits: int = typer.Option(2, "--digits", help="Digits of given numbers and constants."),
    max_value: int = typer.Option(999, "--max-value", help="Every quantity stays in [0, max]."),
    ops: str = typer.Option("+-*", "--ops", help="Operations: a subset of '+-*/'."),
    distractors: int = typer.Option(1, "--distractors", help="Up to this many unneeded facts."),
    error_rate: float = typer.Option(0.5, "--error-rate", help="Fraction of solutions with an injected error."),
    error_types: str = typer.Option("all", "--error-types", help="Comma-separated error types, or 'all'."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out even if prmlab did not write it."),
) -> None:
    """Generate `arith` word problems with solutions labelled by the exact oracle."""
    from prmlab.atomic import write_jsonl
    from prmlab.data.arith.generate import iter_records
    from prmlab.data.arith.problems import Difficulty
    from prmlab.data.arith.solutions import ERROR_TYPES
    from prmlab.outdir import prepare_out_file

    if n < 1:
        raise InputError(f"--n must be at least 1, got {n}")
    if not 0.0 <= error_rate <= 1.0:  # also refuses nan
        raise InputError(f"--error-rate must be in [0, 1], got {error_rate}")
    lo, hi = _steps_range(steps)
    prepare_out_file(out, overwrite=overwrite)
    d = Difficulty(min_steps=lo, max_steps=hi, digits=digits, max_value=max_value, ops=ops,
                   distractors=distractors)
    types = ERROR_TYPES if error_types == "all" else tuple(t.strip() for t in error_types.split(","))
    rows = (r.to_dict() for r in iter_records(n, seed, d, error_rate=error_rate, error_types=types))
    written = write_jsonl(out, rows)
    console.print(f"wrote {written} solutions to {out}")


def check(
    file: Path = typer.Argument(..., help="Canonical JSONL of arith solutions."),
    out: Path = typer.Option(None, "--out", help="Write the relabelled records here."),
    show: int = typer.Option(10, "--show", help="Print at most this many disagreements."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out even if prmlab did not write it."),
) -> None:
    """Relabel a file with the oracle and report where its labels disagree."""
    from prmlab.atomic import write_jsonl
    from prmlab.data.arith.generate import relabel
    from prmlab.data.jsonl import read_records
    from prmlab.outdir import prepare_out_file

    if out is not None:
        prepare_out_file(out, inputs=[file], overwrite=overwrite)
    records = read_records(file)
    relabelled, disagree = [], []
    for line, rec in enumerate(records, start=1):
        try:
            new = relabel(rec)
        except InputError as e:
            raise InputError(e.message, path=str(file), line=line, field=e.field) from None
        relabelled.append(new)
        if (new.labels, new.first_error, new.answer_correct) != (rec.labels, rec.first_error, rec.answer_correct):
            disagree.append((line, rec, new))
    for line, rec, new in disagree[:show]:
        console.print(f"{file}:{line} id={rec.id}: first_error {rec.first_error} -> {new.first_error}"
                      f" ({new.meta.get('oracle_reason')}), answer_correct {rec.answer_correct} -> {new.answer_correct}")
    if out is not None:
        write_jsonl(out, (r.to_dict() for r in relabelled))
    console.print(f"{len(records)} records, {len(disagree)} disagreements with the oracle")
    if disagree:
        raise typer.Exit(1)
