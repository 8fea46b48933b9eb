"""`prmlab judge-compute` and `prmlab chunk-reset`: test-time compute of a causal judge.

    prmlab judge-compute --judge JUDGE --eval eval.jsonl --train pool.jsonl [--bon bon.jsonl] --out DIR
    prmlab chunk-reset --policy POLICY --judge JUDGE --out DIR --problems 50 --tries 0,1,2,4

The studies are `prmlab.experiments.judge_compute` and `prmlab.experiments.chunk_reset`; the
figures `prmlab.reports.compute_figures`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError

from prmlab.errors import InputError


def register(app: typer.Typer) -> None:
    app.command("judge-compute", help="K sampled checks per step, aggregated by majority, mean "
                                      "P(good) and a meta-verifier: F1 and best-of-N vs judge "
                                      "tokens.")(judge_compute_command)
    app.command("chunk-reset", help="Policy decoding that resamples a step the judge rejects: "
                                    "answer accuracy vs tokens, beside best-of-N.")(chunk_reset_command)


def _ints(spec: str, flag: str, low: int = 1) -> list[int]:
    try:
        vals = sorted({int(x) for x in spec.split(",") if x.strip()})
    except ValueError:
        raise InputError(f"{flag} expects comma-separated integers, got {spec!r}") from None
    if not vals or vals[0] < low:
        raise InputError(f"{flag} expects integers >= {low}, got {spec!r}")
    return vals


def _validate(cls, values: dict):
    try:
        return cls.model_validate(values)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise InputError(f"{err['msg']}", field=field) from None


def judge_compute_command(
    judge: Path = typer.Option(..., help="A trained generative (or direct) judge checkpoint."),
    eval: Path = typer.Option(..., "--eval", help="Evaluation records (JSONL, with first_error)."),
    out: Path = typer.Option(..., help="Run folder to write."),
    train: Optional[Path] = typer.Option(None, help="Labelled budget the meta-verifier is fitted on."),
    bon: Optional[Path] = typer.Option(None, help="Best-of-N records (meta.problem_id, answer_correct)."),
    ks: str = typer.Option("1,2,4,8,16,32", help="Numbers of sampled checks per step."),
    temperature: float = typer.Option(0.7, help="Sampling temperature of the checks."),
    top_k: Optional[int] = typer.Option(None, help="Sample among the top-k ids only."),
    max_new_tokens: int = typer.Option(120, help="Tokens a check may write."),
    seed: int = typer.Option(0, help="Seed of stream judge.compute.check."),
    meta_keep: float = typer.Option(0.5, help="Fraction of checks the meta-verifier keeps."),
    bootstrap_resamples: int = typer.Option(1000, help="Bootstrap resamples of every CI."),
    overwrite: bool = typer.Option(False, help="Replace what prmlab wrote in --out before."),
) -> None:
    from prmlab.experiments.judge_compute import JudgeComputeConfig, run_judge_compute
    from prmlab.outdir import prepare_out
    from prmlab.reports.compute_figures import plot_judge_compute

    cfg = _validate(JudgeComputeConfig, {
        "judge": str(judge), "eval": str(eval), "train": None if train is None else str(train),
        "bon": None if bon is None else str(bon), "ks": _ints(ks, "--ks"),
        "temperature": temperature, "top_k": top_k, "max_new_tokens": max_new_tokens, "seed": seed,
        "meta_keep": meta_keep, "bootstrap_resamples": bootstrap_resamples})
    prepare_out(out, inputs=[eval, train, bon], input_folders=[judge], overwrite=overwrite)
    res = run_judge_compute(cfg, out, progress=True, log=lambda s: typer.echo(s, err=True))
    plot_judge_compute(res, out / "judge_compute.png")
    for name, by_k in res["f1"].items():
        cells = "  ".join(f"K={k}: {v['value'] if v['value'] is None else round(v['value'], 3)}"
                          for k, v in by_k.items())
        typer.echo(f"F1 {name:9s} {cells}")
    typer.echo(f"wrote {out}/metrics.json and {out}/judge_compute.png")


def chunk_reset_command(
    policy: Path = typer.Option(..., help="A trained policy checkpoint."),
    judge: Path = typer.Option(..., help="A trained generative (or direct) judge checkpoint."),
    out: Path = typer.Option(..., help="Run folder to write."),
    problems: int = typer.Option(50, help="Arith problems to solve."),
    problem_seed: int = typer.Option(0, help="Seed of the arith task's problems."),
    tries: str = typer.Option("0,1,2,4", help="Resample budgets R (0: plain sampling)."),
    ns: str = typer.Option("1,2,4,8", help="Best-of-N sizes to compare with."),
    threshold: float = typer.Option(0.5, help="A step scored below this is rejected."),
    temperature: float = typer.Option(1.0, help="Policy sampling temperature."),
    max_steps: int = typer.Option(8, help="Steps a solution may take."),
    seed: int = typer.Option(0, help="Seed of streams chunk_reset.step and chunk_reset.bon."),
    bootstrap_resamples: int = typer.Option(1000, help="Bootstrap resamples of every CI."),
    overwrite: bool = typer.Option(False, help="Replace what prmlab wrote in --out before."),
) -> None:
    from prmlab.experiments.chunk_reset import ChunkResetConfig, run_chunk_reset
    from prmlab.outdir import prepare_out
    from prmlab.reports.compute_figures import plot_chunk_reset

    cfg = _validate(ChunkResetConfig, {
        "policy": str(policy), "judge": str(judge), "problems": problems,
        "problem_seed": problem_seed, "tries": _ints(tries, "--tries", 0), "ns": _ints(ns, "--ns"),
        "threshold": threshold, "temperature": temperature, "max_steps": max_steps, "seed": seed,
        "bootstrap_resamples": bootstrap_resamples})
    prepare_out(out, input_folders=[policy, judge], overwrite=overwrite)
    res = run_chunk_reset(cfg, out, log=lambda s: typer.echo(s, err=True))
    plot_chunk_reset(res, out / "chunk_reset.png")
    for row in res["chunk_reset"]:
        typer.echo(f"chunk-reset R={row['tries']}: accuracy {row['accuracy']['value']:.3f} "
                   f"tokens {row['tokens']['total']}")
    for row in res["best_of_n"]:
        typer.echo(f"best-of-{row['n']}: accuracy {row['accuracy']['value']:.3f} "
                   f"tokens {row['tokens']['total']}")
    typer.echo(f"wrote {out}/metrics.json and {out}/chunk_reset.png")
