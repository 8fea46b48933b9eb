"""Runs a planned sweep into a run folder, serially, resuming by the finished record.

A cell is finished when its `cell.json` exists; it is written last and atomically, so a sweep
killed at any moment resumes with nothing lost or doubled. The folder's `config.json` pins the
config: resuming with another config is refused.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

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


def execute(specs: Sequence[Any], arts: Mapping[int, Any], env: Env) -> list[str]:
    """Run every spec whose record is missing, in order, on its base's artifacts (`arts`, by
    base seed); returns the ids run now."""
    ran = []
    env.ui.start_cells(len(specs))
    for spec in specs:
        if not is_done(env.out, spec.id):
            missing = [d for d in spec.deps if not is_done(env.out, d)]
            if missing:
                raise InputError(f"cell {spec.id} needs the finished cell {missing[0]}")
            folder = env.cell_dir(spec.id)
            record = CELL_FUNCTIONS[spec.kind](spec, arts[spec.base], folder, env)
            write_json(folder / "cell.json", {**record_to_dict(record), "provenance": provenance()})
            ran.append(spec.id)
        env.ui.advance()
    return ran


def run_sweep(cfg: RunConfig, out: str | Path, cache: str | Path | None = None, ui: Any = None) -> list[str]:
    """The flagship experiment into `out`: plan (validated before any work), artifacts, cells."""
    out = Path(out)
    ui = ui or PlainUI()
    specs = plan(cfg)
    pin_config(cfg, out)
    arts = build_all(cfg, Path(cache) if cache else default_cache(), ui)
    write_json(out / "artifacts.json", describe_all(arts).model_dump(mode="json"))
    return execute(specs, arts, Env(out, ui, cfg.bootstrap_resamples))


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
