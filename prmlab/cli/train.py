"""`prmlab train base|policy|judge` and `prmlab sample`: one command per stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from prmlab import seeds
from prmlab.cli import backend as backend_opts
from prmlab.errors import InputError
from prmlab.judges.formats import JUDGE_FORMATS, judge_format

console = Console(stderr=True)
train_app = typer.Typer(no_args_is_help=True, help="Train the base, the policy or a judge.")


def step_progress(desc: str):
    """A rich progress bar driven by the training loop's (step, total, row) callback."""
    prog = Progress(TextColumn(desc), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("eta"),
                    TimeRemainingColumn(), console=console, transient=True,
                    disable=not console.is_terminal)  # off a terminal it would only add a blank line
    task = prog.add_task(desc, total=1, info="")

    def update(step: int, total: int, row: dict) -> None:
        info = f"loss {row['loss']:.3f}" + (f" dev {row['dev']:.3f}" if "dev" in row else "")
        prog.update(task, completed=step, total=total, info=info)

    return prog, update


def _overrides(cfg_cls, sets: list[str]):
    """Apply `key=value` overrides (dotted keys, JSON values) to a pydantic config's defaults."""
    data = cfg_cls().model_dump(context={"every_field": True})  # sections left out at default too
    for s in sets:
        key, sep, raw = s.partition("=")
        if not sep:
            raise InputError(f"--set expects key=value, got {s!r}")
        value = _set_value(key, raw)
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            if not isinstance(node.get(p), dict):
                raise InputError(f"--set {key}: {p!r} is not a section of the config")
            node = node[p]
        if leaf not in node:
            raise InputError(f"--set {key}: unknown key {leaf!r} (known: {', '.join(node)})")
        node[leaf] = value
    return _validated(cfg_cls, data, "--set: ")


def _with_sets(cfg_cls, data: dict, sets: list[str]):
    """`data` (a partial config: what the command's own options fill) with `key=value` overrides
    (dotted keys, JSON values) merged in, creating sections as needed, then validated."""
    for s in sets:
        key, sep, raw = s.partition("=")
        if not sep:
            raise InputError(f"--set expects key=value, got {s!r}")
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise InputError(f"--set {key}: {p!r} is not a section of the config")
        node[leaf] = _set_value(key, raw)
    return _validated(cfg_cls, data, "--set: " if sets else "")


def _set_value(key: str, raw: str):
    """A --set value: strict JSON when it parses as JSON at all, else the text itself; NaN,
    Infinity, huge integers and deep nesting are refused rather than passed on.

    >>> _set_value("a", "[1, 2]"), _set_value("a", "adam")
    ([1, 2], 'adam')
    """
    from prmlab.strict import loads

    if raw.strip().lower().lstrip("+-") in ("nan", "inf", "infinity"):
        raise InputError(f"--set {key}: {raw} is not a finite number")
    try:
        json.loads(raw)
    except json.JSONDecodeError:
        return raw
    except (ValueError, RecursionError):
        pass  # the strict parse below says what is wrong
    try:
        return loads(raw)
    except InputError as e:
        raise InputError(f"--set {key}: {e}") from None


def _validated(cfg_cls, data: dict, where: str = ""):
    """`cfg_cls.model_validate(data)`, a validation error as one InputError line."""
    from pydantic import ValidationError

    try:
        return cfg_cls.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise InputError(f"{where}field {'.'.join(map(str, err['loc']))}: {err['msg']}") from None


OVERWRITE_HELP = ("Write into a non-empty --out prmlab did not create, replacing only files "
                  "prmlab wrote there (and removing those left by an earlier run).")


def _prepare_checkpoint_out(out: Path, inputs=(), overwrite: bool = False, folders=()) -> None:
    from prmlab.models.checkpoint import CHECKPOINT_FILES
    from prmlab.outdir import prepare_out

    prepare_out(out, inputs=inputs, overwrite=overwrite, will_write=CHECKPOINT_FILES,
                input_folders=folders)


@train_app.command("base")
def train_base_cmd(
    out: Path = typer.Option(..., "--out", help="Checkpoint folder to write."),
    preset: str = typer.Option("small", "--preset", help="Model preset: tiny, small, medium."),
    no_worked: bool = typer.Option(False, "--no-worked", help="Leave worked arithmetic out of the corpus."),
    sets: list[str] = typer.Option([], "--set", help="Override a config key, e.g. fit.max_steps=2000."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """Pretrain the base on the unlabelled arith corpus and report what it can compute."""
    from prmlab.outdir import set_stage
    from prmlab.training.base import BaseConfig, snapshot_path, train_base

    cfg = _overrides(BaseConfig, sets)
    cfg = _validated(BaseConfig, {**cfg.model_dump(), "preset": preset, "worked": not no_worked})
    _prepare_checkpoint_out(out, overwrite=overwrite)
    if cfg.snapshot_step is not None:  # written beside --out, as OUT-stepN
        _prepare_checkpoint_out(snapshot_path(out, cfg), overwrite=overwrite)
    set_stage("pretraining the base")
    prog, update = step_progress("pretraining")
    with prog:
        report = train_base(cfg, out, log=console.print, progress=update)
    _print_base_report(report)


def _print_base_report(report: dict) -> None:
    bar = report["bar"]
    for k in ("worked_exact", "recompute_exact", "copy_exact", "marks_exact", "check_exact"):
        flag = "" if k not in ("worked_exact", "copy_exact") else ("  ok" if report[k] >= bar else f"  BELOW the {bar:.0%} bar")
        console.print(f"  {k:16s} {report[k]:.3f}{flag}")


@train_app.command("policy")
def train_policy_cmd(
    base: Path = typer.Option(..., "--base", help="Base checkpoint."),
    out: Path = typer.Option(..., "--out", help="Checkpoint folder to write."),
    sets: list[str] = typer.Option([], "--set", help="Override a config key, e.g. fit.max_steps=300."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """Fine-tune the base on gold solutions: the policy whose samples have natural errors."""
    from prmlab.models.checkpoint import check_checkpoint
    from prmlab.outdir import set_stage
    from prmlab.training.policy import PolicyConfig, train_policy

    cfg = _overrides(PolicyConfig, sets)
    _prepare_checkpoint_out(out, folders=[base], overwrite=overwrite)
    check_checkpoint(base)
    set_stage("training the policy")
    prog, update = step_progress("policy")
    with prog:
        info = train_policy(cfg, base, out, progress=update)
    console.print(f"policy saved to {out} ({info['seconds']:.0f}s)")


@train_app.command("judge")
def train_judge_cmd(
    init: Path = typer.Option(..., "--init", help="Base (or any HF causal LM) checkpoint to start from."),
    data: Path = typer.Option(..., "--data", help="Labelled pool to draw the budget from."),
    dev: Path = typer.Option(..., "--dev", help="Labelled dev split (model selection)."),
    out: Path = typer.Option(..., "--out", help="Checkpoint folder to write."),
    fmt: str = typer.Option("generative", "--judge-format", help="Judge format: " + "; ".join(
        f"{f.name} ({f.description})" for f in JUDGE_FORMATS.values()) + "."),
    budget: int = typer.Option(256, "--budget", help="Labelled solutions used."),
    seed: int = typer.Option(0, "--seed"),
    sets: list[str] = typer.Option([], "--set", help="Override a config key, e.g. teacher_error_rate=0.2."),
    overwrite: bool = typer.Option(False, "--overwrite", help=OVERWRITE_HELP),
) -> None:
    """Train a judge of one format on a label budget, choosing lr and length on the dev split."""
    from prmlab.data.formats import read_any
    from prmlab.models.checkpoint import check_checkpoint
    from prmlab.outdir import set_stage
    from prmlab.training.judges import JudgeConfig, train_judge

    judge_format(fmt)  # an unknown name: one line listing the known formats
    if budget < 1:
        raise InputError(f"--budget must be at least 1 labelled solution, got {budget}")
    cfg = _overrides(JudgeConfig, sets)
    cfg = _validated(JudgeConfig, {**cfg.model_dump(), "format": fmt, "budget": budget, "seed": seed})
    _prepare_checkpoint_out(out, inputs=[data, dev], folders=[init], overwrite=overwrite)
    check_checkpoint(init)
    pool, dev_records = read_any(data), read_any(dev)
    set_stage(f"training the {fmt} judge (N={budget})")
    prog, update = step_progress(f"{fmt} N={budget}")
    with prog:
        info = train_judge(cfg, init, pool, dev_records, out, log=console.print, progress=update)
    if info.get("rl"):  # trained by RL: its reward curve drawn beside it
        from prmlab.reports.judge_rl_figures import judge_curve_figure

        console.print(f"reward curve: {judge_curve_figure(out)} (rows: {out / 'rl_curve.jsonl'})")
    console.print(f"{fmt} judge saved to {out}: {info['budget_solutions']} solutions, "
                  f"{info['step_labels']} step labels, chosen lr {info['selection']['chosen_lr']:g}")
    t, o = info["threshold"], info["threshold"]["other"]
    said = "tuned on dev" if t["tuned"] else "fixed"
    console.print(f"threshold {t['value']:.4g} ({said}): dev F1 {t['dev_f1']:.3f}" + (
        f"; at {o['value']:.4g} ({'tuned on dev' if o['tuned'] else 'fixed'}): {o['dev_f1']:.3f}"
        if o else "; no tuned threshold (the dev split lacks correct or wrong solutions)"))


def sample_cmd(
    policy: Path = typer.Option(..., "--policy", help="Policy checkpoint."),
    out: Path = typer.Option(..., "--out", help="Output canonical JSONL, labelled by the oracle."),
    problems: Optional[Path] = typer.Option(None, "--problems", help="Records whose problems to solve "
                                            "(default: fresh arith problems)."),
    n_problems: int = typer.Option(200, "--n-problems", help="Fresh problems when --problems is not given."),
    n_per_problem: int = typer.Option(4, "--n-per-problem"),
    temperature: float = typer.Option(1.0, "--temperature", help="Sampling temperature (0 = greedy)."),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out even if prmlab did not write it."),
    backend: str = backend_opts.BACKEND,
    base_url: Optional[str] = backend_opts.BASE_URL,
    served_model: Optional[str] = backend_opts.SERVED_MODEL,
    concurrency: int = backend_opts.CONCURRENCY,
) -> None:
    """Sample solutions from the policy and label them with the oracle."""
    import math

    from prmlab.atomic import write_jsonl
    from prmlab.data.arith.generate import iter_records
    from prmlab.data.formats import read_any
    from prmlab.models.checkpoint import load_codec, load_model
    from prmlab.outdir import prepare_out_file, set_stage
    from prmlab.training.policy import sample_policy

    if not math.isfinite(temperature) or temperature < 0:
        raise InputError(f"--temperature must be a finite number >= 0, got {temperature}")
    for flag, v in (("--n-problems", n_problems), ("--n-per-problem", n_per_problem)):
        if v < 1:
            raise InputError(f"{flag} must be at least 1, got {v}")
    prepare_out_file(out, inputs=[problems], input_folders=[policy], overwrite=overwrite)
    set_stage("sampling")
    if problems is not None:
        texts = list(dict.fromkeys(r.problem for r in read_any(problems)))
    else:
        texts = [r.problem for r in iter_records(n_problems, seeds.seed("cli.sample", seed), error_rate=0.0)]
    codec = load_codec(policy)
    gen = backend_opts.generator_from_options(backend, base_url, served_model, concurrency,
                                              tokenizer=codec.tok)
    model = load_model(policy, "causal") if gen is None else None  # a server holds the weights
    records, summary = sample_policy(model, codec, texts, n_per_problem=n_per_problem,
                                     temperature=temperature, seed=seed, progress=True,
                                     generator=gen)
    write_jsonl(out, (r.to_dict() for r in records))
    console.print(f"wrote {len(records)} solutions to {out}")
    console.print(json.dumps(summary, indent=2))


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
    app.command("sample")(sample_cmd)
