"""`prmlab eval` (step-judge metrics) and `prmlab bon` (best-of-N / majority / pass@k)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Optional, Tuple

import typer

from prmlab.cli import backend as backend_opts
from prmlab.errors import InputError

OVERWRITE_HELP = ("Write into a non-empty --out prmlab did not create, replacing only files "
                  "prmlab wrote there (and removing those left by an earlier run).")

def register(app: typer.Typer) -> None:
    """Add the `eval` and `bon` commands to the top-level app."""
    app.command("eval", help="ProcessBench F1/acc_err/acc_cor, step AUROC and ECE of step "
                             "scores (from a file or a judge), with bootstrap CIs.")(eval_command)
    app.command("bon", help="Best-of-N: pass@k, maj@k and rm@k with bootstrap CIs, and a "
                            "plot.")(bon_command)


def resolve_judge(spec: str, *, seed: int = 0, **kwargs):
    """A judge from a spec: `baseline:never|last|first|random` or a checkpoint folder."""
    from prmlab.judges.baselines import BASELINES, BaselineJudge

    if spec.startswith("baseline:"):
        kind = spec.split(":", 1)[1]
        if kind not in BASELINES:
            raise InputError(f"unknown baseline {kind!r} in --judge {spec} "
                             f"(known: {', '.join(BASELINES)})")
        return BaselineJudge(kind, seed=seed)
    from prmlab.judges.load import load_judge

    return load_judge(spec, seed=seed, **kwargs)  # checkpoint folders; options apply to generative judges


def _read_data(path: Path, fmt: str | None):
    from prmlab.data.formats import read_any

    return read_any(path, fmt)


def _fmt_ci(m: dict[str, Any]) -> tuple[str, str]:
    if m.get("value") is None:
        return "—", m.get("reason", "undefined")
    ci = m.get("ci")
    return f"{m['value']:.4f}", ("" if not ci else f"[{ci[0]:.4f}, {ci[1]:.4f}]")


def eval_command(
    data: Path = typer.Option(..., "--data", help="Labelled solutions (any format read_any "
                                                  "reads)."),
    out: Path = typer.Option(..., "--out", help="Output folder: metrics.json, samples.jsonl."),
    scores: Optional[Path] = typer.Option(None, "--scores", help="JSONL of {id, step_scores} "
                                                                 "computed elsewhere."),
    judge: Optional[str] = typer.Option(None, "--judge", help="A judge checkpoint folder (a base "
                                        "checkpoint gives the zero-label judge), or "
                                        "baseline:never|last|first|random."),
    zero_label: bool = typer.Option(False, "--zero-label", help="Score a checkpoint's own "
                                    "checks with the zero-label rule (any \"!\" mark = bad), "
                                    "not its verdict: e.g. a fine-tuned generative judge."),
    k: int = typer.Option(1, "--k", min=1, help="Generative judges: rationales sampled per step "
                          "(1 = greedy); the step score averages them."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Rationale sampling "
                                                "temperature (default: greedy for --k 1, 0.7 above)."),
    threshold: Optional[float] = typer.Option(None, "--threshold",
                                              help="Flag steps scored below this (default: the "
                                              "threshold a trained judge chose on its dev split, "
                                              "saved with it; else 0.5)."),
    tune_on: Optional[Tuple[Path, Path]] = typer.Option(
        None, "--tune-on", metavar="DEV_FILE DEV_SCORES",
        help="Tune the threshold for F1 on a dev split and its scores."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Data format (default: sniffed)."),
    resamples: int = typer.Option(1000, "--resamples", min=0, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed (and random baseline seed)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Judge prompts "
                                             "per batch (default: the judge's own, 512 for "
                                             "generative judges; lower it for real LMs)."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
    backend: str = backend_opts.BACKEND,
    base_url: Optional[str] = backend_opts.BASE_URL,
    served_model: Optional[str] = backend_opts.SERVED_MODEL,
    concurrency: int = backend_opts.CONCURRENCY,
) -> None:
    from prmlab.evaluation.run import evaluate_scores, read_step_scores
    from prmlab.outdir import prepare_out, set_stage

    if (scores is None) == (judge is None):
        raise InputError("give exactly one of --scores and --judge")
    if zero_label and (judge is None or judge.startswith("baseline:")):
        raise InputError("--zero-label needs --judge with a checkpoint folder")
    if threshold is not None and tune_on is not None:
        raise InputError("give --threshold or --tune-on, not both")
    if threshold is not None and not 0.0 <= threshold <= 1.0:  # also refuses nan
        raise InputError(f"--threshold must be a probability in [0, 1], got {threshold}")
    if temperature is not None and not (math.isfinite(temperature) and temperature >= 0):
        raise InputError(f"--temperature must be a finite number >= 0, got {temperature}")
    prepare_out(out, inputs=[data, scores, *(tune_on or ())], overwrite=overwrite,
                input_folders=[judge], will_write=("metrics.json", "samples.jsonl"))
    config: dict[str, Any] = {
        "command": "eval", "argv": list(sys.argv[1:]), "data_path": str(data),
        "data_format": fmt, "threshold": threshold, "bootstrap_resamples": resamples,
        "bootstrap_seed": seed, "baseline_seed": seed,
    }
    records = _read_data(data, fmt)
    dev = None
    if tune_on is not None:
        dev_path, dev_scores_path = tune_on
        config.update(dev_path=str(dev_path), dev_scores_path=str(dev_scores_path))
        dev = (_read_data(dev_path, fmt), read_step_scores(dev_scores_path))
    if scores is not None:
        config.update(judge=f"scores:{scores}", scores_path=str(scores))
        step_scores: Any = read_step_scores(scores)
    else:
        extra = {"zero_label": True} if zero_label else {"k": k, "temperature": temperature}
        if batch_size is not None:
            extra["batch_size"] = batch_size
        set_stage(f"scoring with {judge}")
        gen = backend_opts.generator_from_options(backend, base_url, served_model, concurrency)
        if gen is not None:  # a generative or zero-label judge's tokens come from the server
            extra["generator"] = gen
            config.update(backend=backend, base_url=base_url, served_model=gen.config.model)
        j = resolve_judge(judge, seed=seed, progress=True, **extra)  # type: ignore[arg-type]
        config.update(judge=j.name, judge_spec=judge, k=k, temperature=temperature,
                      zero_label=zero_label, batch_size=batch_size)
        # A judge's saved threshold is for its own scores, not for the zero-label rule's 0/1.
        if threshold is None and tune_on is None and not zero_label and Path(judge).is_dir():  # type: ignore[arg-type]
            from prmlab.models.checkpoint import read_info

            saved = read_info(judge).get("threshold")  # type: ignore[arg-type]
            if isinstance(saved, dict) and saved.get("tuned"):
                config["threshold"] = float(saved["value"])
                config["threshold_source"] = f"{judge}/prmlab.json (chosen on its dev split)"
        step_scores = j.score(records)
        if getattr(j, "stats", None):
            config["judge_stats"] = j.stats
    metrics = evaluate_scores(records, step_scores, out, config, dev=dev)
    _print_eval(metrics, out)


def _print_eval(m: dict[str, Any], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    thr = m["threshold"]
    n = m["n"]
    t = Table(title=f"{m['judge']} — threshold {thr['value']:.4g}"
                    f"{' (tuned)' if thr['tuned'] else ''}",
              caption=f"{n['evaluated']} solutions ({n['with_error']} with an error, "
                      f"{n['correct']} correct), {n['problems']} problems; "
                      f"{n['excluded_unknown_first_error']} with unknown first_error excluded")
    t.add_column("metric")
    t.add_column("value", justify="right")
    t.add_column("95% CI")
    t.add_column("better")
    t.add_column("n", justify="right")
    for key in ("f1", "acc_err", "acc_cor", "auroc", "ece"):
        v, ci = _fmt_ci(m[key])
        t.add_row(key, v, ci, m[key]["direction"], str(m[key]["n"]))
    b = Table(title="trivial baselines (threshold 0.5)")
    b.add_column("judge")
    for key in ("f1", "acc_err", "acc_cor"):
        b.add_column(key, justify="right")
    for name, bm in m["baselines"].items():
        b.add_row(name, *(" ".join(_fmt_ci(bm[k])) for k in ("f1", "acc_err", "acc_cor")))
    console = Console(width=max(100, Console().width))
    console.print(t)
    console.print(b)
    console.print(f"wrote {out / 'metrics.json'} and {out / 'samples.jsonl'}")


def bon_command(
    samples: Path = typer.Option(..., "--samples", help="Canonical records with "
                                 "meta.problem_id, or lines with pred/score/pred_score lists."),
    out: Path = typer.Option(..., "--out", help="Output folder: metrics.json, bon.png."),
    agg: str = typer.Option("min", "--agg", help="Step-score aggregation: min|product|last|mean."),
    resamples: int = typer.Option(1000, "--resamples", min=0, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    from prmlab.atomic import write_json
    from prmlab.metrics.bon import bon_metrics, load_bon_samples, rm_by_aggregation
    from prmlab.evaluation.run import versions
    from prmlab.outdir import prepare_out
    from prmlab.reports.plots import plot_bon

    prepare_out(out, inputs=[samples], overwrite=overwrite, will_write=("metrics.json", "bon.png"))
    problems, fmt = load_bon_samples(samples, agg)
    kw = dict(n_resamples=resamples, seed=seed)
    m = bon_metrics(problems, agg=agg if problems[0].scores is not None else None, **kw)
    multi_step = problems[0].step_scores is not None and any(
        len(s) > 1 for p in problems for s in p.step_scores)  # type: ignore[union-attr]
    if multi_step:
        m["rm@k_by_agg"] = rm_by_aggregation(problems, m["ks"], **kw)
    m["format"] = fmt
    m["bootstrap"] = {"resamples": resamples, "confidence": 0.95, "seed": seed,
                      "method": "percentile", "cluster": "problem"}
    m["config"] = {"command": "bon", "argv": list(sys.argv[1:]), "samples_path": str(samples),
                   "agg": agg}
    m["versions"] = versions()
    write_json(out / "metrics.json", m)
    plot_bon(m, out / "bon.png")
    _print_bon(m, out)


def _print_bon(m: dict[str, Any], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    keys = [k for k in ("pass@k", "maj@k", "rm@k") if k in m]
    t = Table(title=f"best-of-N: {m['n_problems']} problems, N={m['N']}"
                    + (f" (up to {m['N_max']})" if m["N_max"] != m["N"] else "")
                    + (f", rm score = {m['agg']}" if m.get("agg") else ""))
    t.add_column("k", justify="right")
    for k in keys:
        t.add_column(k, justify="right")
    for k in m["ks"]:
        t.add_row(str(k), *(" ".join(_fmt_ci(m[key][str(k)])) for key in keys))
    console = Console(width=max(100, Console().width))
    console.print(t)
    v, ci = _fmt_ci(m["oracle"])
    console.print(f"oracle pass@N: {v} {ci}")
    console.print(f"wrote {out / 'metrics.json'} and {out / 'bon.png'}")
