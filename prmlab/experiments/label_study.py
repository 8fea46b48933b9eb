"""Rollout labels of a set of solutions, and how good they are: one method at one K with its
compute bill, then (optionally) every method at every K against the oracle's labels.

One sampler serves the whole study, so rollouts of identical prefixes are drawn once and reused
across records, rounds, methods and K (a K=4 run reuses the K=2 run's draws and adds two per
prefix). Each run's bill is still what that run would cost alone; `sampler` in the results is
what was physically generated.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.data.tasks import Task
from prmlab.supervision.rollouts import consensus_filter, derive_labels, label_quality
from prmlab.supervision.stepwiser import StepwiserParams

QUALITY_NOTE = ("quality of rollout labels against the oracle's labels of the same solutions; "
                "tokens_generated is each run's own bill (a run alone would cost that); rollouts "
                "are reused across K and methods, so a larger K extends a smaller one's draws")


def check_gold(records: Sequence[Record], task: Task, path: str) -> None:
    """Fail before loading anything when the task does not know a record's gold answer."""
    for r in records:
        try:
            task.gold_answer(r.problem)
        except InputError as e:
            raise InputError(f"record {r.id!r}: {e.message}", path=path) from None


def quality_study(records: Sequence[Record], labelled: Sequence[Record], sampler, *, method: str,
                  k: int, threshold: float | None, main_threshold: float | None, methods: Sequence[str], ks: Sequence[int],
                  judge: Mapping[str, int | None] | None = None,
                  task: Task | None = None,
                  stepwiser: StepwiserParams | None = None) -> dict[str, Any]:
    """Every method in `methods` at every K in `ks` (besides `method` at `k`, already derived as
    `labelled`, read at `main_threshold`) against the oracle labels of `records`; the judge-consensus subset beside them
    when `judge` ({id: predicted first error}) is given. `stepwiser` (alpha, n) applies to
    every rel-effective row."""
    from prmlab.data.arith.generate import relabel

    if task is not None and task.name != "arith":
        raise InputError(f"the quality study needs a step oracle; task {task.name!r} has none")

    oracle = [relabel(r) for r in records]  # the oracle enters here, for evaluation only
    main_row = {"method": method, "k": k, "threshold": main_threshold, "main": True,
                **label_quality(labelled, oracle)}
    rows = [main_row]
    for m in methods:
        for kk in ks:
            if m == method and kk == k:
                continue
            sampler.begin_run()
            d, _ = derive_labels(records, m, sampler, k=kk,
                                 threshold=threshold if m == method else None, task=task,
                                 stepwiser=stepwiser if m == "rel-effective" else None)
            rows.append({"method": m, "k": kk,
                         "threshold": d[0].meta["rollout_labels"]["threshold"] if d else None,
                         "main": False, **label_quality(d, oracle)})
    rows.sort(key=lambda r: (methods.index(r["method"]) if r["method"] in methods else -1, r["k"]))
    qual: dict[str, Any] = {
        "rows": rows, "n": len(records),
        "oracle_with_error": sum(r.first_error not in (-1, None) for r in oracle),
        "note": QUALITY_NOTE, "sampler": dict(sampler.stats)}
    if judge is not None:
        kept, _ = consensus_filter(labelled, judge)
        qual["consensus"] = {"kept": label_quality(kept, oracle) if kept else None, "all": main_row}
    return qual
