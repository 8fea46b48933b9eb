"""`prmlab tree-grpo`: Tree-GRPO against chain GRPO at matched tokens (the experiment is
`prmlab.experiments.tree_rl`; this only parses, draws the bar and prints).

    prmlab tree-grpo --policy CKPT --out runs/tree [--set tree.m_trees=4 --set tree.n_expand=2
                     --set tree.l_rounds=1 --set tree.advantage=sum|intra|inter --set rl.steps=20]

Rerunning the same command resumes an interrupted run.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("tree-grpo", help="Tree-GRPO vs chain GRPO from one policy at a matched token "
                                  "budget: accuracy vs tokens, and the sibling preferences' "
                                  "agreement with the step oracle.")(tree_grpo_command)


def tree_grpo_command(
    policy: Path = typer.Option(..., "--policy", help="Policy checkpoint both arms start from."),
    out: Path = typer.Option(..., "--out", help="Run folder (rerun the same command to resume)."),
    sets: list[str] = typer.Option([], "--set", help="Override a config key, e.g. tree.m_trees=4, "
                                   "tree.advantage=intra, rl.steps=40, chain_generations=8."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty --out prmlab "
                                   "did not create (never replacing files it did not write)."),
) -> None:
    """Train Tree-GRPO and chain GRPO at matched tokens; write metrics with CIs and a figure."""
    from prmlab.cli.train import _with_sets
    from prmlab.experiments.tree_rl import TreeRunConfig, run_tree_rl
    from prmlab.models.checkpoint import check_checkpoint
    from prmlab.outdir import prepare_out, set_stage
    from prmlab.reports.tree_figures import plot_tree_vs_chain

    data: dict = {"policy": str(policy)}
    cfg = _with_sets(TreeRunConfig, data, sets)
    check_checkpoint(policy)
    if cfg.reward.judge:
        check_checkpoint(cfg.reward.judge)
    prepare_out(out, overwrite=overwrite, input_folders=[policy] + (
        [Path(cfg.reward.judge)] if cfg.reward.judge else []))
    set_stage("Tree-GRPO vs chain GRPO")
    prog, update = _bar()
    with prog:
        metrics = run_tree_rl(cfg, out, log=console.print, progress=update)
    plot_tree_vs_chain(metrics, out / "tree_vs_chain.png")
    console.print(f"starting policy: {_fmt(metrics['initial_accuracy'])}")
    tok = metrics["tokens"]["generated"]
    for arm in ("tree", "chain"):
        console.print(f"{arm}: greedy test accuracy {_fmt(metrics['final_accuracy'][arm])} "
                      f"after {tok[arm]} generated tokens")
    console.print(f"tree - chain: {_fmt(metrics['final_difference'])}; chain/tree tokens "
                  f"{metrics['tokens']['chain_over_tree']:.3f} (groups of "
                  f"{metrics['tokens']['chain_generations']})")
    pa = metrics["preference_agreement"]
    console.print(f"sibling preferences agreeing with the oracle: {_fmt(pa['agreement'])} over "
                  f"{pa['agree'] + pa['disagree']} decisive pairs ({pa['tie']} ties; shorter-branch "
                  f"baseline {_fmt(pa['baselines']['shorter'])})")
    console.print(f"wrote {out}")
    print(json.dumps({"steps": cfg.rl.steps, "tokens": tok,
                      "final_accuracy": {a: metrics["final_accuracy"][a]["value"] for a in tok},
                      "agreement": pa["agreement"]["value"]}))


def _bar():
    """A bar over both arms' optimizer steps showing the arm, loss, reward and tokens."""
    from rich.progress import (BarColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    prog = Progress(TextColumn("{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"), TextColumn("{task.fields[info]}"),
                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console,
                    transient=True, disable=not console.is_terminal)
    tasks: dict[str, int] = {}

    def update(arm: str, step: int, total: int, row: dict) -> None:
        if arm not in tasks:
            tasks[arm] = prog.add_task(f"{arm} GRPO", total=total, info="")
        info = f"loss {row['loss']:.3f} reward {row['reward']:.3f} tokens {row['tokens']}"
        prog.update(tasks[arm], completed=step, total=total, info=info)
        if not console.is_terminal and (step == total or step % 10 == 0):
            console.print(f"{arm} step {step}/{total}: {info}")

    return prog, update


def _fmt(m: dict) -> str:
    if m.get("value") is None:
        return "—" + (f" ({m['reason']})" if m.get("reason") else "")
    ci = m.get("ci")
    return f"{m['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
