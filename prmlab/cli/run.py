"""`prmlab run [CONFIG.yaml]`: the flagship experiment, with progress, ETA and a summary."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table

from prmlab.outdir import set_stage

console = Console(stderr=True)
if not console.is_terminal:  # a log file: rich's 80 columns would wrap every progress line
    console = Console(stderr=True, width=140)


class RichUI:
    """Progress for the sweep: an overall bar over cells (with ETA) and one for the current stage.

    Off a terminal (a background run logging to a file) rich draws no bars, so each stage prints
    a plain line with its ETA at most every `plain_every` seconds, and one per finished cell."""

    def __init__(self, console: Console = console, plain_every: float = 30.0):
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                                 TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                 console=console)
        self.plain = not console.is_terminal
        self.plain_every = plain_every
        self.cells = None  # the cell counters below are set by start_cells

    def log(self, msg: str) -> None:
        self.progress.console.print(msg)

    def _plain_line(self, desc: str, done: int, total: int, t0: float, info: str = "",
                    since: tuple[float, int] | None = None) -> None:
        now = time.time()
        # The rate is read from `since` (time, count) on: a stage's first step can come after
        # minutes of set-up (the base's corpus), which is no guide to the steps still to run.
        t_from, n_from = since if since is not None else (t0, 0)
        eta = (f", eta {_clock((now - t_from) / (done - n_from) * (total - done))}"
               if done > n_from else "")
        self.log(f"{desc} {done}/{total}{', ' + info if info else ''}, {_clock(now - t0)} elapsed{eta}")

    @contextlib.contextmanager
    def steps(self, desc: str):
        set_stage(desc)
        task = self.progress.add_task(desc, total=None, info="")
        t0 = last = time.time()
        first: tuple[float, int] | None = None

        def update(step: int, total: int, row: dict) -> None:
            nonlocal last, first
            first = first or (time.time(), step)
            info = f"loss {row['loss']:.3f}" + (f" dev F1 {row['dev']:.3f}" if "dev" in row else "")
            self.progress.update(task, completed=step, total=total, info=info)
            if self.plain and (time.time() - last >= self.plain_every or step == total):
                last = time.time()
                self._plain_line(f"{desc}: step", step, total, t0, info, since=first)
        try:
            yield update
        finally:
            self.progress.remove_task(task)

    @contextlib.contextmanager
    def phase(self, desc: str):
        set_stage(desc)
        task = self.progress.add_task(desc, total=None, info="")
        t0 = time.time()
        try:
            yield
        finally:
            self.progress.remove_task(task)
            self.log(f"{desc}: {time.time() - t0:.0f}s")

    def start_cells(self, total: int) -> None:
        self.cells = self.progress.add_task("sweep cells", total=total, info="")
        self.cells_done, self.cells_total, self.cells_t0 = 0, total, time.time()

    def advance(self) -> None:
        if self.cells is not None:
            self.progress.advance(self.cells)
            self.cells_done += 1
            if self.plain:
                self._plain_line("sweep: cell", self.cells_done, self.cells_total, self.cells_t0)


def _clock(seconds: float) -> str:
    """
    >>> _clock(75.4), _clock(3725)
    ('1:15', '1:02:05')
    """
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def run_command(
    config: Optional[Path] = typer.Argument(None, help="YAML file overriding the preset."),
    preset: Optional[str] = typer.Option(None, "--preset", help="quick (default), quick-rl, full or smoke."),
    sets: list[str] = typer.Option([], "--set", help="Override a key, e.g. --set budgets=[16,64] "
                                   "or --set judge.fit.max_steps=300."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/<preset>)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Artifact cache (default "
                                         "$PRMLAB_CACHE or ~/.cache/prmlab)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Run into a non-empty --out prmlab "
                                   "did not create, replacing only files prmlab wrote there."),
    executor: str = typer.Option("serial", "--executor", help="Where cells run: serial (this "
                                 "process) or ray (ready cells as Ray tasks; pip install 'prmlab[ray]')."),
    address: Optional[str] = typer.Option(None, "--address", help="ray: an existing cluster "
                                          "(auto, HOST:6379, ray://HOST:10001); default a local ray.init()."),
    cpus_per_cell: int = typer.Option(1, "--cpus-per-cell", help="ray: CPUs (torch threads) per cell."),
    gpus_per_cell: Optional[float] = typer.Option(None, "--gpus-per-cell", help="ray: GPUs per "
                                                  "cell that runs a model (default 1 where the cluster has GPUs)."),
) -> None:
    """Run the flagship experiment: how many labels does each judge format need?

    Interrupt it at any moment and run the same command again: finished cells are kept.
    """
    from prmlab.experiments.config import resolve_config
    from prmlab.experiments.executor import run_sweep
    from prmlab.experiments.executors import make_executor

    cfg = resolve_config(config, sets, preset)
    runner = make_executor(executor, address=address, cpus_per_cell=cpus_per_cell,
                           gpus_per_cell=gpus_per_cell)
    out = out or Path("runs") / cfg.preset
    from prmlab.experiments.artifacts import default_cache
    from prmlab.outdir import check_writable, is_run_folder, prepare_out

    prepare_out(out, inputs=[config] if config else [], overwrite=overwrite, adopt=is_run_folder)
    check_writable(cache or default_cache(), "--cache")
    ui = RichUI()
    t0 = time.time()
    console.print(f"prmlab run: preset [bold]{cfg.preset}[/], {len(cfg.formats)} formats x "
                  f"{len(cfg.budgets)} budgets x {len(cfg.seeds)} seeds -> {out}")
    with ui.progress:
        run_sweep(cfg, out, cache, ui=ui, executor=runner)
    from prmlab.reports.report import build_report

    result = build_report(out)
    _summary(out)
    console.print(f"\nreport: {out / 'report.md'} and {out / 'report.html'} ({time.time() - t0:.0f}s in all)")
    headline = result.get("headline") if isinstance(result, dict) else None
    if headline:
        console.print(f"[bold]{headline}[/]")


def _summary(out: Path) -> None:
    from prmlab.reports.load import load_run

    rows = []
    for c in load_run(out).cells:
        if c.kind not in ("judge", "baseline", "zero-label"):
            continue
        rec = c.record
        m = rec.metrics.policy
        name, budget = rec.format, str(rec.budget)
        source = getattr(rec, "label_source", "gold")
        if source != "gold":
            name += f" ({source} labels)"
            budget = f"0 ({rec.budget} rollout)"
        rows.append((name, budget, rec.seed, m, rec.budget))
    rows.sort(key=lambda r: (r[0].startswith("baseline"), r[0], r[4], r[2]))
    t = Table(title="F1 on policy-sampled solutions (95% bootstrap CI over problems)")
    for col in ("judge", "labelled solutions", "seed", "F1 ↑", "acc_err ↑", "acc_cor ↑"):
        t.add_column(col)

    def fmt(x) -> str:
        if x.value is None:
            return "—"
        return f"{x.value:.3f}" + (f" [{x.ci[0]:.2f}, {x.ci[1]:.2f}]" if x.ci else "")
    for name, budget, seed, m, _ in rows:
        t.add_row(name, budget, str(seed), fmt(m.f1), fmt(m.acc_err), fmt(m.acc_cor))
    console.print(t)


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
