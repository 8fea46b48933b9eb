"""`prmlab label`: step labels without annotation, from policy rollouts, with their compute bill.

    prmlab label --method mc-hard --policy CKPT --data solutions.jsonl --out labels.jsonl --k 8
    prmlab label --method omega ... --quality            # + quality vs the oracle, K sweep, plot
    prmlab label --method mc-hard ... --consensus judge_run/samples.jsonl

Methods (`prmlab.supervision.rollouts` documents each rule): mc-hard, mc-soft, rpe, omega, tree,
and StepWiser's abs-q, rel-ratio (`--threshold` = gamma), rel-effective (`--alpha`, `--prover-n`).
Outputs, beside OUT (`labels.jsonl` → `labels.*`):

* OUT — the records relabelled (prefix semantics), meta `rollout_labels` with the evidence and
  the bill (rollouts, tokens generated, tokens processed);
* `<stem>.summary.json` — file totals of the bill, label histogram, sampler statistics;
* with `--consensus SAMPLES.jsonl` (a judge's samples.jsonl: `id`, `prediction` = its first
  error): `<stem>.consensus.jsonl`, the records whose rollout first error equals the judge's;
* with `--quality`: every method in `--quality-methods` at every K in `--quality-ks` against
  the oracle labels of the same solutions (the oracle is used here and only here), a table,
  `<stem>.quality.json` and `<stem>.quality.png` (quality vs generated tokens).

The study is `prmlab.experiments.label_study` (one sampler serves it all, so identical prefixes
are rolled out once), the figure `prmlab.reports.label_quality`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from prmlab.cli import backend as backend_opts
from prmlab.errors import InputError

console = Console(stderr=True)

QUALITY_COLUMNS = ("step_agreement", "first_error_exact", "wrong_precision", "wrong_recall",
                   "wrong_f1", "pb_f1")


def register(app: typer.Typer) -> None:
    app.command("label", help="Label solution steps from policy rollouts (Math-Shepherd MC, "
                              "GenPRM relative progress, OmegaPRM binary search, rollout "
                              "trees), with the compute bill and quality vs the oracle.")(label_command)


def sibling(out: Path, suffix: str) -> Path:
    """`labels.jsonl` + `.summary.json` → `labels.summary.json` (next to OUT)."""
    return out.with_name(out.stem + suffix) if out.suffix else out.with_name(out.name + suffix)


def _ints(spec: str, flag: str) -> list[int]:
    try:
        vals = [int(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"{flag} expects comma-separated integers, got {spec!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise InputError(f"{flag} expects integers >= 1, got {spec!r}")
    return sorted(set(vals))


def _methods(spec: str) -> list[str]:
    from prmlab.supervision.rollouts import METHODS

    if spec == "all":
        return list(METHODS)
    ms = [m.strip() for m in spec.split(",") if m.strip()]
    bad = [m for m in ms if m not in METHODS]
    if bad or not ms:
        raise InputError(f"unknown method {bad[0] if bad else spec!r} in --quality-methods "
                         f"(known: {', '.join(METHODS)}, all)")
    return ms


def _stepwiser_params(method: str, alpha: float | None, prover_n: int | None, quality: bool):
    """rel-effective's options (defaults where not given); InputError where nothing reads them."""
    from prmlab.supervision.stepwiser import StepwiserParams

    if (alpha is not None or prover_n is not None) and method != "rel-effective" and not quality:
        raise InputError(f"--alpha and --prover-n are rel-effective's options, not {method}'s")
    d = StepwiserParams()
    try:
        return StepwiserParams(alpha=d.alpha if alpha is None else alpha,
                               n=d.n if prover_n is None else prover_n)
    except ValueError as e:
        raise InputError(f"--alpha/--prover-n: {e}") from None


def read_judge_predictions(path: Path) -> dict[str, int | None]:
    """{id: prediction} from a judge's samples.jsonl (prediction = first error, null = failed)."""
    from prmlab.data.jsonl import iter_json_lines

    out: dict[str, int | None] = {}
    for line, row in iter_json_lines(path):
        if not isinstance(row, dict) or "id" not in row or "prediction" not in row:
            raise InputError("expected an object with `id` and `prediction`", path=str(path), line=line)
        p = row["prediction"]
        if p is not None and (isinstance(p, bool) or not isinstance(p, int)):
            raise InputError(f"prediction must be an integer or null, got {p!r}", path=str(path),
                             line=line, field="prediction")
        out[str(row["id"])] = p
    if not out:
        raise InputError("no predictions", path=str(path))
    return out


def label_command(
    method: str = typer.Option(..., "--method", help="mc-hard | mc-soft | rpe | omega | tree | "
                               "abs-q | rel-ratio | rel-effective"),
    policy: Path = typer.Option(..., "--policy", help="Policy checkpoint (causal LM) that rolls out."),
    data: Path = typer.Option(..., "--data", help="Solutions to label (arith problems)."),
    out: Path = typer.Option(..., "--out", help="Output canonical JSONL."),
    k: int = typer.Option(8, "--k", min=1, help="Rollouts per prefix."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="mc-soft: MC >= T is good "
                                              "(0.5); rpe: MC ratio >= T (0.8); tree: margin (0.5); "
                                              "rel-ratio: Q ratio > T (gamma, 0.8)."),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="rel-effective: weight of the "
                                          "best-of-n advantage (1.0)."),
    prover_n: Optional[int] = typer.Option(None, "--prover-n", help="rel-effective: the prover "
                                           "is best-of-n over the policy (4)."),
    seed: int = typer.Option(0, "--seed"),
    temperature: float = typer.Option(1.0, "--temperature", help="Rollout sampling temperature."),
    max_new_tokens: int = typer.Option(80, "--max-new-tokens", min=1),
    batch_size: int = typer.Option(256, "--batch-size", min=1),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Label only the first N records."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Data format (default: sniffed)."),
    quality: bool = typer.Option(False, "--quality", help="Compare with the oracle over a K sweep."),
    quality_ks: str = typer.Option("1,2,4,8", "--quality-ks", help="K values of the sweep."),
    quality_methods: str = typer.Option("all", "--quality-methods", help="Methods of the sweep "
                                        "(comma list or all)."),
    task_spec: str = typer.Option("arith", "--task", help="What a right answer is: arith, or a "
                                  ".jsonl/.json file of problems with gold answers (GSM8K, "
                                  "MATH500; checked by math-verify)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT and its sibling files "
                                   "even if prmlab did not write them (never a link or a folder)."),
    consensus: Optional[Path] = typer.Option(None, "--consensus", help="A judge's samples.jsonl: keep "
                                             "solutions where its first error agrees."),
    backend: str = backend_opts.BACKEND,
    base_url: Optional[str] = backend_opts.BASE_URL,
    served_model: Optional[str] = backend_opts.SERVED_MODEL,
    concurrency: int = backend_opts.CONCURRENCY,
) -> None:
    """Label solution steps from policy rollouts; print and save the compute bill."""
    from prmlab.atomic import write_json, write_jsonl
    from prmlab.data.formats import read_any
    from prmlab.models.checkpoint import load_codec, load_model
    from prmlab.experiments.label_study import check_gold, quality_study
    from prmlab.reports.label_quality import plot_quality
    from prmlab.supervision.rollouts import METHODS, consensus_filter, derive_labels
    from prmlab.training.rollout_sampler import RolloutSampler

    if method not in METHODS:
        raise InputError(f"unknown --method {method!r} (known: {', '.join(METHODS)})")
    stepwiser = _stepwiser_params(method, alpha, prover_n, quality)
    ks = _ints(quality_ks, "--quality-ks") if quality else []
    methods = _methods(quality_methods) if quality else []
    from prmlab.outdir import prepare_out_file

    inputs = [data] + ([consensus] if consensus is not None else [])
    for target in [out] + [sibling(out, s) for s in (".summary.json", ".consensus.jsonl",
                                                     ".quality.json", ".quality.png")]:
        prepare_out_file(target, inputs=inputs, overwrite=overwrite, input_folders=[policy])
    judge = read_judge_predictions(consensus) if consensus is not None else None
    records = read_any(data, fmt)
    if limit is not None:
        records = records[:limit]
    from prmlab.data.tasks import load_task

    task = load_task(task_spec)
    if quality and task.step_oracle is None:
        raise InputError(f"--quality compares with a step oracle; task {task.name!r} has none")
    check_gold(records, task, str(data))

    t0 = time.perf_counter()
    codec = load_codec(policy)
    gen = backend_opts.generator_from_options(backend, base_url, served_model, concurrency,
                                              tokenizer=codec.tok)
    model = load_model(policy, "causal") if gen is None else None  # a server holds the weights
    sampler = RolloutSampler(model, codec, temperature=temperature, max_new_tokens=max_new_tokens,
                             seed=seed, batch_size=batch_size, progress=True, task=task,
                             generator=gen)
    sampler.begin_run()
    labelled, summary = derive_labels(records, method, sampler, k=k, threshold=threshold, task=task,
                                      stepwiser=stepwiser if method == "rel-effective" else None)
    wall = time.perf_counter() - t0
    write_jsonl(out, (r.to_dict() for r in labelled))
    summary.update(data=str(data), policy=str(policy), seed=seed, temperature=temperature,
                   max_new_tokens=max_new_tokens, seconds=wall,
                   tokens_per_s=sampler.stats["tokens_generated"] / max(sampler.stats["seconds"], 1e-9),
                   sampler=dict(sampler.stats))
    _print_bill(summary, out)

    if judge is not None:
        kept, info = consensus_filter(labelled, judge)
        kept_path = sibling(out, ".consensus.jsonl")
        write_jsonl(kept_path, (r.to_dict() for r in kept))
        summary["consensus"] = {"samples": str(consensus), "out": str(kept_path), **info}
        frac = info["kept_fraction"]
        console.print(f"consensus with {consensus}: kept {info['kept']}/{info['n']} "
                      f"({'—' if frac is None else f'{frac:.1%}'}; {info['missing']} not judged, "
                      f"{info['judge_unparsed']} judge parse failures) -> {kept_path}")

    if quality:
        qual = quality_study(records, labelled, sampler, method=method, k=k,
                             threshold=threshold, main_threshold=summary["threshold"], methods=methods, ks=ks, judge=judge,
                             task=task, stepwiser=stepwiser)
        rows = qual["rows"]
        qpath, ppath = sibling(out, ".quality.json"), sibling(out, ".quality.png")
        write_json(qpath, qual)
        plot_quality(rows, ppath, title=f"rollout labels vs oracle, {len(records)} solutions")
        _print_quality(rows)
        console.print(f"wrote {qpath} and {ppath}")
        summary["quality"] = str(qpath)
        summary["sampler"] = dict(sampler.stats)

    write_json(sibling(out, ".summary.json"), summary)
    console.print(f"wrote {out} and {sibling(out, '.summary.json')}")
    print(json.dumps({key: summary[key] for key in ("method", "k", "n", "rollouts",
                                                    "tokens_generated", "tokens_processed",
                                                    "with_error")}))


def _print_bill(s: dict[str, Any], out: Path) -> None:
    n = max(s["n"], 1)
    console.print(f"{s['method']} K={s['k']} threshold={s['threshold']}: {s['n']} solutions, "
                  f"{s['with_error']} labelled with an error; first errors {s['first_error_histogram']}")
    console.print(f"  bill: {s['rollouts']:,} rollouts ({s['rollouts'] / n:.1f}/solution, "
                  f"{s['rollouts_used']:,} used incl. shared), {s['terminal_prefixes']:,} terminal "
                  f"prefixes free, {s['tokens_generated']:,} tokens generated, "
                  f"{s['tokens_processed']:,} prompt tokens processed, {s['rounds']} rounds")
    console.print(f"  {s['seconds']:.1f}s, {s['tokens_per_s']:,.0f} generated tok/s -> {out}")


def _fmt(v: Any) -> str:
    return "—" if v is None else f"{v:.3f}"


def _print_quality(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    t = Table(title="rollout labels vs oracle")
    for c in ("method", "K", "rollouts", "tokens gen", *QUALITY_COLUMNS):
        t.add_column(c, justify="left" if c == "method" else "right")
    for r in rows:
        t.add_row(r["method"] + (" *" if r.get("main") else ""), str(r["k"]), f"{r['rollouts']:,}",
                  f"{r['tokens_generated']:,}", *(_fmt(r[c]) for c in QUALITY_COLUMNS))
    Console(width=max(120, Console().width)).print(t)
