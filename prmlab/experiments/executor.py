"""Runs a planned sweep into a run folder, resuming by the finished record.

A cell is finished when its `cell.json` exists; it is written last and atomically, so a sweep
killed at any moment resumes with nothing lost or doubled. The folder's `config.json` pins the
config: resuming with another config is refused. Which cells run where is the executor's
business (`SerialExecutor` here, one after another in this process; the others in
`prmlab.experiments.executors`): every executor runs a cell through `run_cell`, so a cell's
files, its record and resume are the same whichever ran it.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

from prmlab.atomic import write_json
from prmlab.errors import InputError
from prmlab.experiments.artifacts import build_all, default_cache, describe_all
from prmlab.experiments.cells import CELL_FUNCTIONS, Env
from prmlab.experiments.config import RunConfig
from prmlab.experiments.plan import plan
from prmlab.experiments.records import record_to_dict
from prmlab.provenance import provenance
from prmlab.strict import read_json


def is_done(out: Path, cell_id: str) -> bool:
    return (out / "cells" / cell_id / "cell.json").exists()


def pin_config(cfg: RunConfig, out: Path) -> None:
    """Write OUT/config.json, or check that the one there is this config."""
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.json"
    resolved = cfg.model_dump()
    if cfg_path.exists():
        old = read_json(cfg_path)
        if old.get("config") != resolved:
            raise InputError("this folder holds a sweep with another config; use a new --out "
                             "or the same config to resume", path=str(cfg_path))
    else:
        write_json(cfg_path, {"config": resolved, **provenance()})


def run_cell(spec: Any, art, env: Env) -> None:
    """Run one cell into its folder on its base's artifacts `art`, and write its record last (the
    cell is then finished)."""
    folder = env.cell_dir(spec.id)
    record = CELL_FUNCTIONS[spec.kind](spec, art, folder, env)
    write_json(folder / "cell.json", {**record_to_dict(record), "provenance": provenance()})


def missing_dep(spec: Any, out: Path) -> str | None:
    return next((d for d in spec.deps if not is_done(out, d)), None)


class Executor(Protocol):
    """Runs every spec whose record is missing (a spec only after the cells it reads), each on
    its base's artifacts (`arts`, by base seed); returns the ids run now, in plan order."""

    def execute(self, specs: Sequence[Any], arts: Mapping[int, Any], env: Env) -> list[str]: ...


class SerialExecutor:
    """In this process, in plan order."""

    def execute(self, specs: Sequence[Any], arts: Mapping[int, Any], env: Env) -> list[str]:
        ran = []
        env.ui.start_cells(len(specs))
        for spec in specs:
            if not is_done(env.out, spec.id):
                missing = missing_dep(spec, env.out)
                if missing:
                    raise InputError(f"cell {spec.id} needs the finished cell {missing}")
                run_cell(spec, arts[spec.base], env)
                ran.append(spec.id)
            env.ui.advance()
        return ran


def run_sweep(cfg: RunConfig, out: str | Path, cache: str | Path | None = None, ui: Any = None,
              executor: Executor | None = None) -> list[str]:
    """The flagship experiment into `out`: plan (validated before any work), artifacts (built
    here, before any cell), then the cells by `executor` (default: serially, in this process)."""
    out = Path(out)
    ui = ui or PlainUI()
    specs = plan(cfg)
    pin_config(cfg, out)
    arts = build_all(cfg, Path(cache) if cache else default_cache(), ui)
    write_json(out / "artifacts.json", describe_all(arts).model_dump(mode="json"))
    return (executor or SerialExecutor()).execute(specs, arts, Env(out, ui, cfg.bootstrap_resamples))


class PlainUI:
    """Progress for library use: prints lines, no bars (the CLI's RichUI draws bars)."""

    def log(self, msg: str) -> None:
        print(msg, file=sys.stderr)

    @contextlib.contextmanager
    def steps(self, desc: str):
        yield lambda step, total, row: None

    @contextlib.contextmanager
    def phase(self, desc: str):
        self.log(desc)
        yield

    def start_cells(self, total: int) -> None:
        pass

    def advance(self) -> None:
        pass
