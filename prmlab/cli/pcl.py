"""`prmlab pcl`: Post-Completion Learning vs plain GRPO (the experiment is
`prmlab.experiments.pcl`; this only parses, draws the bar and prints).

    prmlab pcl --policy CKPT --out runs/pcl [--set rl.steps=20 --set pcl.lam=0.5] [--orm JUDGE]

Rerunning the same command resumes an interrupted run.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.command("pcl", help="Post-Completion Learning: GRPO with a training-only self-evaluation "
                            "segment, against plain GRPO; the self-evaluation as an outcome judge.")(pcl_command)


def pcl_command(
    policy: Path = typer.Option(..., "--policy", help="Policy checkpoint both arms start from."),
    out: Path = typer.Option(..., "--out", help="Run folder (rerun the same command to resume)."),
    orm: Path | None = typer.Option(None, "--orm", help="An ORM judge checkpoint scoring the same test answers."),
    sets: list[str] = typer.Option([], "--set", help="Override a config key, e.g. rl.steps=20, "
                                   "pcl.lam=0.5, pcl.eval_max_tokens=16, arms=[\"pcl\"]."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty --out prmlab "
                                   "did not create (never replacing files it did not write)."),
) -> None:
    """Train both arms, evaluate them, and write metrics.json, report.md and pcl.png."""
    from prmlab.cli.rl import _bar, _fmt
    from prmlab.cli.train import _with_sets
    from prmlab.experiments.pcl import PCLRunConfig, run_pcl
    from prmlab.models.checkpoint import check_checkpoint
    from prmlab.outdir import prepare_out, set_stage
    from prmlab.reports.pcl import report

    data: dict = {"policy": str(policy)}
    if orm is not None:
        data["orm"] = str(orm)
    cfg = _with_sets(PCLRunConfig, data, sets)
    check_checkpoint(policy)
    if orm is not None:
        check_checkpoint(orm)
    prepare_out(out, overwrite=overwrite, input_folders=[policy] + ([orm] if orm else []))
    set_stage("PCL vs GRPO")
    prog, bar = _bar("GRPO then PCL" if len(cfg.arms) > 1 else cfg.arms[0])

    def update(arm: str, step: int, total: int, row: dict) -> None:
        bar(step, total, {"loss": row["loss"], "reward": row["reward_mean"]})

    with prog:
        metrics = run_pcl(cfg, out, log=console.print, progress=update)
    path = report(out)
    for name, a in metrics["arms"].items():
        se = a["judges"]["self-eval"]
        console.print(f"{name}: greedy test accuracy {_fmt(a['test_greedy_accuracy'])}; self-eval "
                      f"AUROC {_fmt(se['auroc'])}, F1 {_fmt(se['f1'])}")
    if "pcl_minus_grpo_greedy" in metrics:
        console.print(f"pcl - grpo (greedy, paired): {_fmt(metrics['pcl_minus_grpo_greedy'])}")
    console.print(f"wrote {path}")
    print(json.dumps({"steps": metrics["steps"], "arms": list(metrics["arms"])}))
