"""One replicate's cells, read from the suite's run folders (never a model).

A replicate is one base (its `base.seed`) and one judge seed. The suite's run folders hold one
base each; `base_of` is the one place that says which base a record belongs to (its own
`base_seed`, else the folder's), so folders with several bases (`base_seeds`) read the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from prmlab.claims.schema import Input
from prmlab.experiments.records import (CELL_KINDS, GOLD, JudgeCell, TTSCell,
                                        ZeroLabelCell, read_artifacts, record_from_dict)
from prmlab.experiments.policy_records import PCLResult, TreeResult, read_metrics
from prmlab.experiments.rl_records import RESULT_FILE, RLResult, read_result
from prmlab.strict import read_json

RL_SUITE_FILE = "rl-suite.json"  # experiments/rl_suite.py's (that module loads torch)
POLICY_RUN_FILE = "policy-run.json"  # experiments/policy_runs.py's (it loads torch)
METRICS = "metrics.json"  # a Tree-GRPO / PCL run's results: the one record of its folder


@dataclass
class Folder:
    """A planned run folder and its finished cells (none when it was not run yet)."""

    name: str
    experiment: str
    base: int
    seed: int | None  # the judge seed it was planned for
    path: Path
    records: dict[str, Any] = field(default_factory=dict)  # cell id -> typed record
    config: dict[str, Any] | None = None  # the resolved config it holds (config.json)
    base_meets_bar: bool | None = None

    @property
    def finished(self) -> bool:
        return bool(self.records)


def read_rl_folder(f: Folder) -> Folder:
    """An RL suite folder: its config (rl-suite.json) and every finished run's `RLResult`,
    keyed by run name (`runs/<run>/result.json`)."""
    cfg = f.path / RL_SUITE_FILE
    if not cfg.is_file():
        return f
    raw = read_json(cfg)
    f.config = raw.get("config") if isinstance(raw, dict) else None
    runs = f.path / "runs"
    for d in sorted(runs.iterdir()) if runs.is_dir() else ():
        if (d / RESULT_FILE).is_file():
            f.records[d.name] = read_result(d)
    return f


def read_policy_run_folder(f: Folder, kind: str) -> Folder:
    """A Tree-GRPO or PCL folder of the suite: its config (policy-run.json) and, once the run
    finished, its typed `metrics.json` as the one record (keyed "metrics.json")."""
    cfg = f.path / POLICY_RUN_FILE
    if not cfg.is_file():
        return f
    raw = read_json(cfg)
    f.config = raw.get("config") if isinstance(raw, dict) else None
    if (f.path / METRICS).is_file():
        f.records[METRICS] = read_metrics(f.path / METRICS, kind)
    return f


def read_folder(path: Path, name: str, experiment: str, base: int, seed: int | None,
                kind: str = "flagship") -> Folder:
    """The folder's config and every finished cell of a known kind (RL: every finished run);
    an absent folder is empty. A cell.json that does not match its schema is an InputError
    naming it."""
    f = Folder(name, experiment, base, seed, path)
    if kind == "rl":
        return read_rl_folder(f)
    if kind in ("tree", "pcl"):
        return read_policy_run_folder(f, kind)
    cfg = path / "config.json"
    if not cfg.is_file():
        return f
    raw = read_json(cfg)
    f.config = raw.get("config") if isinstance(raw, dict) else None
    art = path / "artifacts.json"
    if art.is_file():
        mine = read_artifacts(art, base).get(base)  # the folder's own base
        rep = (mine.base_report if mine else None) or {}
        bar = rep.get("meets_bar")
        f.base_meets_bar = bar if isinstance(bar, bool) else None
    cells = path / "cells"
    for d in sorted(cells.iterdir()) if cells.is_dir() else ():
        c = d / "cell.json"
        if not c.is_file():
            continue  # unfinished: resumed later, never read
        obj = read_json(c)
        if isinstance(obj, dict) and obj.get("kind") in CELL_KINDS:
            f.records[d.name] = record_from_dict(obj, path=str(c))
    return f


def base_of(folder: Folder, record: Any) -> int:
    """The base replicate a record belongs to: its own base seed once records carry one, else
    the folder's (one base per folder today)."""
    own = getattr(record, "base_seed", None)
    return own if isinstance(own, int) else folder.base


@dataclass(frozen=True)
class Ref:
    """A cell found for a replicate: where it is and its typed record."""

    folder: str
    cell: str
    record: Any

    def input(self, field: str, value: float | int | None) -> Input:
        return Input(folder=self.folder, cell=self.cell, field=field, value=value)

    def f1(self, eval_set: str = "policy") -> tuple[float | None, Input]:
        """F1 on an evaluation set (`metrics.<set>.f1.value`), and where it came from."""
        v = self.record.metrics.of(eval_set).f1.value
        return v, self.input(f"metrics.{eval_set}.f1.value", v)


@dataclass
class ReplicateView:
    """The cells of one replicate: base `base`, judge seed `seed` (None for an effect of the
    base alone). `folders` maps an experiment name to this replicate's folder of it."""

    base: int
    seed: int | None
    folders: dict[str, Folder]

    def folder(self, experiment: str) -> Folder | None:
        f = self.folders.get(experiment)
        return f if f is not None and f.finished else None

    def _find(self, experiment: str, keep: Callable[[Any], bool], per_seed: bool) -> list[Ref]:
        f = self.folder(experiment)
        if f is None:
            return []
        seed = self.seed if self.seed is not None else f.seed
        return [Ref(f.name, cid, r) for cid, r in f.records.items()
                if base_of(f, r) == self.base and keep(r) and (not per_seed or r.seed == seed)]

    def judges(self, experiment: str, fmt: str, source: str = GOLD) -> list[Ref]:
        """Trained judges of `fmt` on `source` labels, by budget."""
        refs = self._find(experiment, lambda r: isinstance(r, JudgeCell) and r.format == fmt
                          and r.label_source == source, per_seed=True)
        return sorted(refs, key=lambda x: x.record.budget)

    def judge(self, experiment: str, fmt: str, budget: int, source: str = GOLD) -> Ref | None:
        return next((j for j in self.judges(experiment, fmt, source) if j.record.budget == budget), None)

    def gold_budgets(self, experiment: str) -> list[int]:
        refs = self._find(experiment, lambda r: isinstance(r, JudgeCell) and r.label_source == GOLD,
                          per_seed=True)
        return sorted({x.record.budget for x in refs})

    def gold_at(self, experiment: str, budget: int) -> list[Ref]:
        refs = self._find(experiment, lambda r: isinstance(r, JudgeCell) and r.label_source == GOLD
                          and r.budget == budget, per_seed=True)
        return sorted(refs, key=lambda x: x.record.format)

    def zero_label(self, experiment: str) -> Ref | None:
        return next(iter(self._find(experiment, lambda r: isinstance(r, ZeroLabelCell), False)), None)

    def tts(self, experiment: str) -> Ref | None:
        return next(iter(self._find(experiment, lambda r: isinstance(r, TTSCell), True)), None)

    def rl_run(self, experiment: str, label: str, reward: str, one_example: int | None) -> Ref | None:
        """The RL run of this replicate's RL seed on base arm `label` with `reward`, trained on
        `one_example` problems (None: on all of its candidates). Its `cell` is the run's name;
        its fields are those of `runs/<cell>/result.json`."""
        def keep(r) -> bool:
            n = len(r.train.problems)
            return (isinstance(r, RLResult) and r.label == label and r.reward == reward
                    and (n == r.train.candidates if one_example is None else n == one_example))
        return next(iter(sorted(self._find(experiment, keep, per_seed=True), key=lambda x: x.cell)), None)

    def tree_run(self, experiment: str) -> Ref | None:
        """This replicate's Tree-GRPO run (its `cell` is "metrics.json", its fields that file's)."""
        f = self.folder(experiment)
        r = f.records.get(METRICS) if f is not None else None
        return Ref(f.name, METRICS, r) if isinstance(r, TreeResult) else None

    def pcl_run(self, experiment: str) -> Ref | None:
        """This replicate's PCL run (its `cell` is "metrics.json", its fields that file's)."""
        f = self.folder(experiment)
        r = f.records.get(METRICS) if f is not None else None
        return Ref(f.name, METRICS, r) if isinstance(r, PCLResult) else None
