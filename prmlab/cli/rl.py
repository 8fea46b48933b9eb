"""`prmlab rl`: GRPO on the policy (the experiment is `prmlab.experiments.rl`; this only parses).

    prmlab rl --policy CKPT --out runs/rl [--reward outcome] [--set rl.steps=40 --set rl.beta=0.04]

Rewards: outcome, process (--set reward.judge=JUDGE_CKPT, reward.agg=min|product|last),
outcome+process, random (reward.p), incorrect, format, majority. One-example RLVR:
--set train_problems=1 [--set train_pick=mid-pass-rate --set eval_every=5]. pass@k up to k = n:
--set eval_samples=1024. Rerunning the same command resumes an interrupted run; the run folder's
report.md is rebuilt by `prmlab report OUT`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("rl", help="GRPO on the policy with an outcome, process or control reward; "
                           "run folder with the reward curve, samples and before/after "
                           "accuracy.")(rl_command)
    app.command("rl-suite", help="Seeds x rewards x training-set sizes x bases of RL runs, and "
                                 "one report over them.")(rl_suite_command)


def rl_suite_command(
    out: Path = typer.Option(..., "--out", help="Suite folder (rerun the same command to resume)."),
    size: str = typer.Option("quick", "--size", help="smoke | quick | smoke-controls | quick-controls"),
    base_seed: int = typer.Option(0, "--base-seed", help="base.seed of every base."),
    rewards: list[str] = typer.Option([], "--reward", help="Replace the size's rewards (repeat: "
                                      "--reward outcome --reward process)."),
    seeds: list[int] = typer.Option([], "--seed", help="Replace the size's RL seeds (repeat)."),
    sets: list[str] = typer.Option([], "--set", help="Override a key of every run, after the "
                                   "size's own, e.g. rl.steps=80, reward.agg=min."),
    judge: Optional[Path] = typer.Option(None, "--judge", help="Judge checkpoint of the process "
                                         "rewards."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Artifact cache (default "
                                         "$PRMLAB_CACHE or ~/.cache/prmlab)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty --out prmlab "
                                   "did not create."),
) -> None:
    """Run (or resume) an RL suite and write OUT/report.md over its runs."""
    from prmlab.cli.run import RichUI, console as run_console
    from prmlab.experiments.artifacts import default_cache
    from prmlab.experiments.rl_suite import RUNS, run_configs, run_name, run_rl_suite, suite_config
    from prmlab.outdir import check_writable, prepare_out
    from prmlab.reports.rl import write_rl_suite_report

    from prmlab.models.checkpoint import check_checkpoint

    cfg = suite_config(size, base_seed=base_seed, seeds=seeds or None, rewards=rewards or None,
                       sets=sets, judge=str(judge.resolve()) if judge else None)
    run_configs(cfg, {b.name: "POLICY" for b in cfg.bases})  # every run validated before any work
    if judge:
        check_checkpoint(judge)
    cache = cache or default_cache()
    check_writable(cache, "--cache")
    prepare_out(out, overwrite=overwrite, input_folders=[judge] if judge else [])
    ui = RichUI()
    names = [run_name(b.name, r, n, s) for b in cfg.bases for r in cfg.rewards
             for n in cfg.train_sizes for s in cfg.seeds]
    run_console.print(f"prmlab rl-suite: size [bold]{size}[/], {len(names)} runs -> {out}")
    with ui.progress:
        ran = run_rl_suite(cfg, out, cache, ui)
    rep = write_rl_suite_report(out, [out / RUNS / n for n in names])
    for n in names:
        from prmlab.reports.rl import write_rl_report

        if (out / RUNS / n / "result.json").is_file():
            write_rl_report(out / RUNS / n)
    typer.echo(f"ran {len(ran)} of {len(names)} runs; wrote {rep}")


def rl_command(
    policy: Path = typer.Option(..., "--policy", help="Policy checkpoint to start from."),
    out: Path = typer.Option(..., "--out", help="Run folder (rerun the same command to resume)."),
    reward: str = typer.Option("outcome", "--reward", help="outcome | process | outcome+process "
                               "| random | incorrect | format | majority"),
    sets: list[str] = typer.Option([], "--set", help="Override a config key, e.g. rl.steps=40, "
                                   "rl.loss_type=dr_grpo, reward.p=0.3."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty --out prmlab "
                                   "did not create (never replacing files it did not write)."),
) -> None:
    """Train the policy with GRPO and report accuracy before and after, with CIs."""
    from prmlab.cli.train import _with_sets
    from prmlab.experiments.rl import RLRunConfig, run_rl
    from prmlab.models.checkpoint import check_checkpoint
    from prmlab.outdir import prepare_out, set_stage

    data: dict = {"policy": str(policy), "reward": {"name": reward}}
    cfg = _with_sets(RLRunConfig, data, sets)
    check_checkpoint(policy)
    if cfg.reward.judge:
        check_checkpoint(cfg.reward.judge)
    prepare_out(out, overwrite=overwrite, input_folders=[policy] + (
        [Path(cfg.reward.judge)] if cfg.reward.judge else []))
    set_stage("RL on the policy")
    prog, update = _bar(f"GRPO ({cfg.reward.name})")
    with prog:
        res = run_rl(cfg, out, log=console.print, progress=update)
    from prmlab.reports.rl import write_rl_report

    rep = write_rl_report(out)
    for key in ("train_greedy_accuracy", "test_greedy_accuracy"):
        b, a = getattr(res.before, key), getattr(res.after, key)
        console.print(f"{key}: {_fmt(b.model_dump())} -> {_fmt(a.model_dump())}")
    k1 = res.before.test_sampled.pass_at_k["1"], res.after.test_sampled.pass_at_k["1"]
    console.print(f"test pass@1 (sampled): {_fmt(k1[0].model_dump())} -> {_fmt(k1[1].model_dump())}")
    kmax = str(res.pass_at_k_gap.ks[-1])
    cross = res.pass_at_k_gap.crossing
    console.print(f"test pass@{kmax} gap (after - before): {_fmt(res.pass_at_k_gap.gap[kmax].model_dump())}; "
                  f"curves cross at k = {cross.k if cross.k is not None else 'none on the grid'}")
    console.print(f"{res.steps_per_s:.3f} steps/s, {res.samples_per_s:.1f} samples/s; wrote {out} "
                  f"and {rep.name}")
    print(json.dumps({"steps": res.steps, "reward": res.reward,
                      "reward_first": res.curve[0].reward_mean if res.curve else None,
                      "reward_last": res.curve[-1].reward_mean if res.curve else None}))


def _bar(desc: str):
    """A bar over optimizer steps showing the latest loss and mean reward."""
    from rich.progress import (BarColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    prog = Progress(TextColumn(desc), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("eta"),
                    TimeRemainingColumn(), console=console, transient=True,
                    disable=not console.is_terminal)
    task = prog.add_task(desc, total=1, info="")

    def update(step: int, total: int, row: dict) -> None:
        prog.update(task, completed=step, total=total,
                    info=f"loss {row['loss']:.3f} reward {row['reward']:.3f}")
        if not console.is_terminal and (step == total or step % 10 == 0):
            console.print(f"step {step}/{total}: loss {row['loss']:.3f} reward {row['reward']:.3f}")

    return prog, update


def _fmt(m: dict) -> str:
    if m.get("value") is None:
        return "—"
    ci = m.get("ci")
    return f"{m['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
