"""`prmlab rl`: GRPO on the policy (the experiment is `prmlab.experiments.rl`; this only parses).

    prmlab rl --policy CKPT --out runs/rl [--reward outcome] [--set rl.steps=40 --set rl.beta=0.04]

Rewards: outcome, process (--set reward.judge=JUDGE_CKPT, reward.agg=min|product|last),
outcome+process, random (reward.p), incorrect, format, majority. Rerunning the same command
resumes an interrupted run.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("rl", help="GRPO on the policy with an outcome, process or control reward; "
                           "run folder with the reward curve, samples and before/after "
                           "accuracy.")(rl_command)


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
    from prmlab.cli.train import _set_value, _validated
    from prmlab.errors import InputError
    from prmlab.experiments.rl import RLRunConfig, run_rl
    from prmlab.models.checkpoint import check_checkpoint
    from prmlab.outdir import prepare_out, set_stage

    data: dict = {"policy": str(policy), "reward": {"name": reward}}
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
    cfg = _validated(RLRunConfig, data, "--set: " if sets else "")
    check_checkpoint(policy)
    if cfg.reward.judge:
        check_checkpoint(cfg.reward.judge)
    prepare_out(out, overwrite=overwrite, input_folders=[policy] + (
        [Path(cfg.reward.judge)] if cfg.reward.judge else []))
    set_stage("RL on the policy")
    prog, update = _bar(f"GRPO ({cfg.reward.name})")
    with prog:
        summary = run_rl(cfg, out, log=console.print, progress=update)
    for key in ("train_greedy_accuracy", "test_greedy_accuracy"):
        b, a = summary[f"{key}_before"], summary[f"{key}_after"]
        console.print(f"{key}: {_fmt(b)} -> {_fmt(a)}")
    console.print(f"test pass@1 (sampled): {_fmt(summary['test_pass@1_before'])} -> "
                  f"{_fmt(summary['test_pass@1_after'])}")
    console.print(f"{summary['steps_per_s']:.3f} steps/s, {summary['samples_per_s']:.1f} samples/s; "
                  f"wrote {out}")
    print(json.dumps({k: summary[k] for k in ("steps", "reward", "reward_first", "reward_last")}))


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
