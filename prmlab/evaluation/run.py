"""Evaluate step scores computed elsewhere (or by a judge handed in) and write a run's outputs.

`evaluate_scores` is pure apart from writing `out_dir/metrics.json` and `out_dir/samples.jsonl`
(atomically); it never calls a model. `evaluate_judge` asks the judge it is given for scores and
hands them on — the only place a judge is called, and only through the `Judge` protocol.
"""

from __future__ import annotations

import math
import numbers
import os
import platform
from pathlib import Path
from typing import Any, Mapping, Sequence

from prmlab.atomic import write_json, write_jsonl
from prmlab.data.jsonl import iter_json_lines
from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.metrics.bootstrap import (DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED,
                                         problem_key)
from prmlab.metrics.processbench import (DEFAULT_THRESHOLD, predict_first_error,
                                           processbench_metrics, threshold_sweep)
from prmlab.metrics.stepwise import step_metrics
from prmlab.judges.baselines import all_baselines
from prmlab.judges.protocol import Judge, StepScores

METRIC_KEYS = ("f1", "acc_err", "acc_cor", "auroc", "ece")


# ---- step-score files --------------------------------------------------------------------------

def check_step_scores(values: Any, fail) -> list[float]:
    """`values` as step scores (a non-empty list of probabilities); `fail(field, message)`
    builds the located error raised otherwise."""
    if not isinstance(values, list) or not values:
        raise fail("step_scores", "expected a non-empty list of numbers")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise fail(f"step_scores[{i}]", f"expected a finite number, got {v!r}")
        if not 0.0 <= v <= 1.0:
            raise fail(f"step_scores[{i}]", f"{v!r} is not a probability in [0, 1]")
        out.append(float(v))
    return out


def read_step_scores(path: str | os.PathLike) -> dict[str, tuple[int, StepScores]]:
    """id -> (line, StepScores) from a JSONL of {"id", "step_scores", ["rationales"], ["meta"]}.

    Other fields are ignored, so an earlier run's samples.jsonl is itself a valid scores file.
    """
    out: dict[str, tuple[int, StepScores]] = {}
    for line, obj in iter_json_lines(path):
        def fail(field: str | None, msg: str) -> InputError:
            return InputError(msg, path=str(path), line=line, field=field)

        if not isinstance(obj, dict):
            raise fail(None, "expected a JSON object")
        rid = obj.get("id")
        if not isinstance(rid, str) or not rid:
            raise fail("id", "expected a non-empty string")
        if rid in out:
            raise fail("id", f"duplicate id {rid!r} (first on line {out[rid][0]})")
        if "step_scores" not in obj:
            raise fail("step_scores", "missing required field")
        scores = check_step_scores(obj["step_scores"], fail)
        rats = obj.get("rationales")
        if rats is not None:
            if not isinstance(rats, list) or len(rats) != len(scores):
                raise fail("rationales", f"expected a list of {len(scores)} strings or nulls")
            for i, r in enumerate(rats):
                if r is not None and not isinstance(r, str):
                    raise fail(f"rationales[{i}]", "expected a string or null")
        meta = obj.get("meta") or {}
        if not isinstance(meta, dict):
            raise fail("meta", "expected an object")
        out[rid] = (line, StepScores(id=rid, step_scores=scores, rationales=rats, meta=meta))
    if not out:
        raise InputError("no step scores", path=str(path))
    return out


def align_scores(records: Sequence[Record],
                 scores: Sequence[StepScores] | Mapping[str, StepScores | tuple[int, StepScores]],
                 *, path: str | os.PathLike | None = None,
                 data_path: str | os.PathLike | None = None) -> list[StepScores]:
    """The scores of each record, in record order; InputError for a missing id, an id the
    records do not have, or a length that does not match the record's steps (naming the scores
    file, line and field when known)."""
    if isinstance(scores, Mapping):
        by_id = dict(scores)
    else:
        by_id = {}
        for s in scores:
            if s.id in by_id:
                raise InputError(f"duplicate scores for id {s.id!r}", path=_s(path), field="id")
            by_id[s.id] = s
    out, seen = [], set()
    for r in records:
        if r.id in seen:
            raise InputError(f"duplicate record id {r.id!r}", path=_s(data_path), field="id")
        seen.add(r.id)
        entry = by_id.get(r.id)
        if entry is None:
            where = f" in {data_path}" if data_path is not None else ""
            raise InputError(f"no step scores for record id {r.id!r}{where}", path=_s(path),
                             field="id")
        line, s = entry if isinstance(entry, tuple) else (None, entry)
        if len(s.step_scores) != len(r.steps):
            raise InputError(f"has {len(s.step_scores)} scores but record {r.id!r} has "
                             f"{len(r.steps)} steps", path=_s(path), line=line,
                             field="step_scores")
        if line is None:  # scores handed in directly: check them as a file would be checked
            check_step_scores(list(s.step_scores),
                          lambda f, m: InputError(f"record {r.id!r}: {m}", field=f))
        out.append(s)
    extra = [k for k in by_id if k not in seen]
    if extra:  # scores for solutions the data does not have: a mismatched pair of files
        entry = by_id[extra[0]]
        line = entry[0] if isinstance(entry, tuple) else None
        where = f" {data_path}" if data_path is not None else " the data"
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise InputError(f"scores for id {extra[0]!r}, which is not in{where}{more}; the scores "
                         "must be of exactly the records evaluated", path=_s(path), line=line,
                         field="id")
    return out


def _s(p: str | os.PathLike | None) -> str | None:
    return None if p is None else str(p)


# ---- run outputs -------------------------------------------------------------------------------

def versions() -> dict[str, Any]:
    """Library versions and git revision, for the run folder."""
    from prmlab.provenance import git_revision, versions as lib_versions

    return {**lib_versions(), "platform": platform.platform(), "git_revision": git_revision()}


def evaluate_scores(records: Sequence[Record],
                    scores: Sequence[StepScores] | Mapping[str, Any],
                    out_dir: str | os.PathLike | None, config: Mapping[str, Any] | None = None,
                    *, dev: tuple[Sequence[Record], Sequence[StepScores] | Mapping[str, Any]]
                    | None = None) -> dict[str, Any]:
    """All step-judge metrics for `records` under `scores`; writes metrics.json and samples.jsonl
    into `out_dir` (skipped when None) and returns the metrics dict.

    config keys read (all optional, all recorded in metrics.json under "config"): `threshold`
    (default 0.5; must be absent/None when `dev` is given), `bootstrap_resamples` (1000),
    `bootstrap_seed` (0), `confidence` (0.95), `baseline_seed` (0, for the random baseline),
    `judge` (a name for the scores), `scores_path`, `data_path`, `dev_path`, `dev_scores_path`.
    `dev` = (dev records, their scores) tunes the threshold for F1 on the dev split.
    """
    cfg = dict(config or {})
    threshold = cfg.get("threshold")
    if dev is not None and threshold is not None:
        raise InputError("give a threshold or a dev split to tune it on, not both")
    kw = dict(n_resamples=int(cfg.get("bootstrap_resamples", DEFAULT_RESAMPLES)),
              seed=int(cfg.get("bootstrap_seed", DEFAULT_SEED)),
              confidence=float(cfg.get("confidence", DEFAULT_CONFIDENCE)))
    if not records:
        raise InputError("no records to evaluate", path=_s(cfg.get("data_path")))
    aligned = align_scores(records, scores, path=cfg.get("scores_path"),
                           data_path=cfg.get("data_path"))
    lists = [s.step_scores for s in aligned]

    if dev is not None:
        dev_records, dev_scores = dev
        dev_aligned = align_scores(dev_records, dev_scores, path=cfg.get("dev_scores_path"),
                                   data_path=cfg.get("dev_path"))
        try:
            sweep = threshold_sweep(dev_records, [s.step_scores for s in dev_aligned])
        except ValueError as e:
            raise InputError(str(e), path=_s(cfg.get("dev_path"))) from None
        threshold = sweep["threshold"]
        thr_info = {"value": threshold, "tuned": True, "tuned_on": _s(cfg.get("dev_path")),
                    "objective": "ProcessBench F1 on the dev split", **sweep}
        thr_info.pop("threshold")
    else:
        threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        thr_info = {"value": threshold, "tuned": False}

    pb = processbench_metrics(records, lists, threshold, **kw)
    steps = step_metrics(records, lists, **kw)
    baselines: dict[str, Any] = {}
    for judge in all_baselines(int(cfg.get("baseline_seed", 0))):
        b_lists = [s.step_scores for s in judge.score(records)]
        b = processbench_metrics(records, b_lists, DEFAULT_THRESHOLD, **kw)
        baselines[judge.name] = {k: b[k] for k in ("f1", "acc_err", "acc_cor")}
        baselines[judge.name]["threshold"] = DEFAULT_THRESHOLD

    cfg.setdefault("threshold", None)
    metrics: dict[str, Any] = {
        "judge": cfg.get("judge"),
        "f1": pb["f1"], "acc_err": pb["acc_err"], "acc_cor": pb["acc_cor"], "n": pb["n"],
        "auroc": steps["auroc"], "ece": steps["ece"],
        "threshold": thr_info,
        "baselines": baselines,
        "bootstrap": {"resamples": kw["n_resamples"], "confidence": kw["confidence"],
                      "seed": kw["seed"], "method": "percentile",
                      "cluster": "problem: meta.problem_id, else record id"},
        "config": _jsonable(cfg),
        "versions": versions(),
    }
    if out_dir is not None:
        out = Path(out_dir)
        rows = []
        for r, s in zip(records, aligned):
            row: dict[str, Any] = {"id": r.id, "problem_id": problem_key(r),
                                   "step_scores": [float(x) for x in s.step_scores],
                                   "prediction": predict_first_error(s.step_scores, threshold),
                                   "first_error": r.first_error}
            if "generator" in r.meta:  # a pooled evaluation set: its composition is countable here
                row["generator"] = r.meta["generator"]
            if r.first_error is not None and r.first_error != -1 and r.meta.get("oracle_reason"):
                row["error_type"] = r.meta["oracle_reason"]
            if s.rationales is not None:
                row["rationales"] = s.rationales
            if s.meta:
                row["meta"] = s.meta
            rows.append(row)
        write_jsonl(out / "samples.jsonl", rows)
        write_json(out / "metrics.json", metrics)
    return metrics


def evaluate_judge(judge: Judge, records: Sequence[Record], out_dir: str | os.PathLike | None,
                   config: Mapping[str, Any] | None = None, *,
                   dev_records: Sequence[Record] | None = None) -> dict[str, Any]:
    """Score `records` (and `dev_records`, to tune the threshold) with `judge`, then
    `evaluate_scores`."""
    cfg = dict(config or {})
    cfg.setdefault("judge", judge.name)
    dev = None if dev_records is None else (dev_records, judge.score(dev_records))
    return evaluate_scores(records, judge.score(records), out_dir, cfg, dev=dev)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)
