"""Reading a run folder written by `prmlab run` (never a model): config, artifacts, cells.

A cell is finished iff its `cell.json` exists; other folders under `cells/` are listed as
unfinished and otherwise ignored. Judge cells that share (format, label source, budget) are
combined over their replicates (bases x judge seeds, `reports/replicates.py`): value = mean over
bases of each base's mean over seeds, CI = mean of the per-replicate bootstrap CI bounds, and
the spreads between seeds and between bases beside them. `combine` is the same for cells of one
base: value = mean, CI = mean of the CI bounds, sd = standard deviation.

Folders from before bases were an axis (cell ids without `-b<base>`, records without
`base_seed`, one `RunArtifacts` in artifacts.json) load as one base, `config.base.seed`.

>>> combine([{"value": 0.6, "ci": [0.5, 0.7], "direction": "higher", "n": 10},
...          {"value": 0.8, "ci": [0.7, 0.9], "direction": "higher", "n": 10}])["ci"]
[0.6, 0.8]
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from prmlab.data.jsonl import iter_json_lines
from prmlab.errors import InputError
from prmlab.evaluation.run import check_step_scores
from prmlab.experiments.records import (CELL_KINDS, EVAL_SETS, GOLD, BaselineCell, BonCell,
                                        JudgeCell, RunArtifacts, TTSCell, ZeroLabelCell,
                                        read_artifacts, record_from_dict)
from prmlab.reports.replicates import OverReplicates, over_replicates
from prmlab.strict import read_json

METRICS = ("f1", "acc_err", "acc_cor", "auroc", "ece")
DIRECTIONS = {"f1": "higher", "acc_err": "higher", "acc_cor": "higher", "auroc": "higher",
              "ece": "lower"}


@dataclass
class Cell:
    """One finished cell: its id (folder name), its folder, and its typed record (None for a
    kind this version does not know: such cells are listed, never read)."""

    id: str
    path: Path
    record: BaselineCell | ZeroLabelCell | JudgeCell | TTSCell | BonCell | None
    raw_kind: str = ""
    default_base: int = 0  # the run's single base, for records from before the axis

    @property
    def base(self) -> int:
        b = getattr(self.record, "base_seed", None)
        return self.default_base if b is None else b

    @property
    def kind(self) -> str:
        return self.record.kind if self.record is not None else (self.raw_kind or "unknown")

    @property
    def format(self) -> str:
        return str(getattr(self.record, "format", None) or self.id)

    @property
    def budget(self) -> int | None:
        return getattr(self.record, "budget", None)

    @property
    def seed(self) -> int | None:
        return getattr(self.record, "seed", None)


@dataclass
class Run:
    out: Path
    config: dict[str, Any]  # the RunConfig dump (its schema lives above torch-free code)
    provenance: dict[str, Any]  # command, git_revision, versions (from config.json)
    artifacts: RunArtifacts | None  # the first base's (None when artifacts.json is absent)
    cells: list[Cell]  # finished cells, sorted by id
    unfinished: list[str] = field(default_factory=list)  # cell folders without cell.json
    bases: dict[int, RunArtifacts] = field(default_factory=dict)  # base seed -> its artifacts

    def of_kind(self, kind: str) -> list[Cell]:
        return [c for c in self.cells if c.kind == kind]

    @property
    def base_seeds(self) -> list[int]:
        """Every base of the run: those of artifacts.json (in order), then any only cells name."""
        out = list(self.bases)
        return out + sorted({c.base for c in self.cells} - set(out))


def default_base(config: Mapping[str, Any]) -> int:
    b = (config.get("base") or {}).get("seed") if isinstance(config.get("base"), dict) else None
    return b if isinstance(b, int) and not isinstance(b, bool) else 0


def read_cell(folder: Path, base: int = 0) -> Cell:
    f = folder / "cell.json"
    raw = read_json(f)
    if not isinstance(raw, dict):
        raise InputError("expected a JSON object", path=str(f))
    kind = raw.get("kind")
    if kind not in CELL_KINDS:
        return Cell(folder.name, folder, None, str(kind), base)
    return Cell(folder.name, folder, record_from_dict(raw, path=str(f)), default_base=base)


def load_run(out_dir: str | Path) -> Run:
    """Read OUT/config.json, OUT/artifacts.json and every finished OUT/cells/*/cell.json.

    Raises InputError when OUT has no config.json or no finished cell, or when a cell.json does
    not match its kind's schema.
    """
    out = Path(out_dir)
    cfg_path = out / "config.json"
    if not cfg_path.is_file():
        raise InputError("no config.json: not a run folder written by `prmlab run`", path=str(out))
    raw = read_json(cfg_path)
    if not isinstance(raw, dict):
        raise InputError("expected a JSON object", path=str(cfg_path))
    config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    prov = {k: v for k, v in raw.items() if k != "config"}
    base = default_base(config)
    art_path = out / "artifacts.json"
    bases = read_artifacts(art_path, base) if art_path.is_file() else {}
    artifacts = next(iter(bases.values()), None)
    cells, unfinished = [], []
    cells_dir = out / "cells"
    if cells_dir.is_dir():
        for d in sorted(p for p in cells_dir.iterdir() if p.is_dir()):
            if not (d / "cell.json").is_file():
                unfinished.append(d.name)
                continue
            cells.append(read_cell(d, base))
    if not cells:
        raise InputError("no finished cells (no cells/*/cell.json) yet", path=str(out))
    return Run(out, config, prov, artifacts, cells, unfinished, bases)


def step_scores(cell: Cell, eval_set: str = "policy") -> list[tuple[list[float], int | None]]:
    """(step scores, first_error) of every solution a cell scored on `eval_set`, from its
    `samples.jsonl` (empty when the cell wrote none); scores are checked as `prmlab eval`
    checks a scores file. A bad row is an InputError naming the file, line and field."""
    path = cell.path / eval_set / "samples.jsonl"
    if not path.is_file():
        return []
    out = []
    for line, row in iter_json_lines(path):
        def fail(field: str | None, msg: str) -> InputError:
            return InputError(msg, path=str(path), line=line, field=field)

        if not isinstance(row, dict):
            raise fail(None, "expected a JSON object")
        fe = row.get("first_error")
        if isinstance(fe, bool) or not (fe is None or isinstance(fe, int)):
            raise fail("first_error", "expected an integer or null")
        out.append((check_step_scores(row.get("step_scores"), fail), fe))
    return out


# ---- combining seeds ---------------------------------------------------------------------------

def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def combine(metrics: Sequence[Mapping[str, Any] | None], direction: str | None = None) -> dict[str, Any]:
    """Seeds of one metric -> {value, ci, sd, n_seeds, n_defined, n, direction, reason}.

    value = mean of the defined per-seed values; ci = mean of the per-seed CI bounds; sd = the
    sample standard deviation over seeds (None with fewer than two defined values).
    """
    ms = [m for m in metrics if isinstance(m, Mapping)]
    vals = [float(m["value"]) for m in ms if _finite(m.get("value"))]
    cis = [m["ci"] for m in ms if _finite(m.get("value")) and isinstance(m.get("ci"), (list, tuple))
           and len(m["ci"]) == 2 and _finite(m["ci"][0]) and _finite(m["ci"][1])]
    d = direction or next((m.get("direction") for m in ms if m.get("direction")), None)
    ns = [int(m["n"]) for m in ms if _finite(m.get("n"))]
    out: dict[str, Any] = {
        "value": math.fsum(vals) / len(vals) if vals else None,
        "ci": ([math.fsum(c[0] for c in cis) / len(cis), math.fsum(c[1] for c in cis) / len(cis)]
               if cis else None),
        "sd": statistics.stdev(vals) if len(vals) >= 2 else None,
        "n_seeds": len(metrics), "n_defined": len(vals),
        "n": max(ns) if ns else None, "direction": d,
    }
    if not vals:
        reasons = sorted({str(m["reason"]) for m in ms if m.get("reason")})
        out["reason"] = "; ".join(reasons) if reasons else "missing"
    return out


def metric_of(cell: Cell, eval_set: str, metric: str) -> dict[str, Any] | None:
    """One metric of a cell with per-set metrics, as the metric dict `combine` reads."""
    metrics = getattr(cell.record, "metrics", None)
    return metrics.of(eval_set).metric(metric).as_dict() if metrics is not None else None


def mean_of(values: Sequence[Any]) -> float | None:
    v = [float(x) for x in values if _finite(x)]
    return math.fsum(v) / len(v) if v else None


@dataclass
class Group:
    """Judge cells that differ only in their replicate (base and judge seed)."""

    format: str
    label_source: str
    budget: float
    cells: list[Cell]

    @property
    def records(self) -> list[JudgeCell]:
        return [c.record for c in self.cells]  # type: ignore[misc]

    @property
    def seeds(self) -> list[Any]:
        return [r.seed for r in self.records]

    @property
    def bases(self) -> list[int]:
        return sorted({c.base for c in self.cells})

    def replicates(self, eval_set: str, metric: str) -> OverReplicates:
        return over_replicates(((c.base, c.seed if c.seed is not None else 0,
                                 metric_of(c, eval_set, metric)) for c in self.cells),
                               DIRECTIONS.get(metric))

    def metric(self, eval_set: str, metric: str) -> dict[str, Any]:
        """`replicates(...).as_dict()`: the mean over bases, CI, and the spreads."""
        return self.replicates(eval_set, metric).as_dict()

    def for_base(self, base: int) -> "Group | None":
        """The same group on one base only (None when it has no cell there)."""
        cells = [c for c in self.cells if c.base == base]
        return Group(self.format, self.label_source, self.budget, cells) if cells else None

    def mean(self, of: Callable[[JudgeCell], Any]) -> float | None:
        """Mean over seeds of `of(record)` (None values skipped)."""
        return mean_of([of(r) for r in self.records])

    def distinct(self, of: Callable[[JudgeCell], Any]) -> list[Any]:
        vals = {v for v in (of(r) for r in self.records) if v is not None}
        return sorted(vals, key=lambda x: (str(type(x)), x))


def _seed_key(c: Cell) -> tuple:
    return (c.base, 0, c.seed, c.id) if _finite(c.seed) else (c.base, 1, 0, c.id)


def format_order(run: Run, names: Sequence[str]) -> list[str]:
    """Formats in config order, then any others sorted."""
    cfg = [f for f in run.config.get("formats", []) if isinstance(f, str)]
    present = set(names)
    return [f for f in cfg if f in present] + sorted(present - set(cfg))


def judge_groups(run: Run) -> list[Group]:
    """Judge cells grouped by (format, label_source, budget), seeds combined; sorted by format
    (config order), label source (gold first), budget."""
    groups: dict[tuple, list[Cell]] = {}
    for c in run.of_kind("judge"):
        src = c.record.label_source  # type: ignore[union-attr]
        budget = float(c.budget or 0)
        groups.setdefault((c.format, src, budget), []).append(c)
    order = {f: i for i, f in enumerate(format_order(run, [k[0] for k in groups]))}
    keys = sorted(groups, key=lambda k: (order[k[0]], k[1] != GOLD, k[1], k[2]))
    return [Group(f, s, b, sorted(groups[(f, s, b)], key=_seed_key)) for f, s, b in keys]


__all__ = ["EVAL_SETS", "METRICS", "DIRECTIONS", "GOLD", "Cell", "Run", "Group", "load_run", "read_cell",
           "read_artifacts", "combine", "metric_of", "mean_of", "judge_groups", "format_order", "step_scores"]
