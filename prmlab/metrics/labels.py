"""How well derived step labels (rollouts, a judge, a teacher) match the oracle's.

Point estimates: label sets are compared in full, nothing is resampled.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from prmlab.data.record import Record, labels_from_first_error
from prmlab.metrics.processbench import f1_from_accuracies, processbench_point


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else x


def _f1(p: float | None, r: float | None) -> float | None:
    return None if p is None or r is None else f1_from_accuracies(p, r)


def label_agreement(derived: Sequence[Record], oracle: Sequence[Record]) -> dict[str, Any]:
    """Derived labels against oracle labels (records matched by id).

    `step_agreement`: fraction of steps with the same label; `first_error_exact`: fraction of
    solutions with the same first error; `wrong_precision/recall/f1`: of "step is wrong"
    (label 0) as the positive class, over steps; `acc_err` / `acc_cor` / `pb_f1`: ProcessBench's
    (`processbench_point`) with the derived first error as the prediction;
    `error_precision/recall`: of "the solution has an error". Undefined ratios are None.
    Records with an unknown first error on either side are skipped (counted as `skipped`).

    >>> o = [Record("a", "p", ["x", "y"], [1, 0], 1), Record("b", "p", ["x", "y"], [1, 1], -1)]
    >>> d = [Record("a", "p", ["x", "y"], [0, 0], 0), Record("b", "p", ["x", "y"], [1, 1], -1)]
    >>> q = label_agreement(d, o)
    >>> q["step_agreement"], q["first_error_exact"], q["acc_err"], q["acc_cor"], q["pb_f1"]
    (0.75, 0.5, 0.0, 1.0, 0.0)
    """
    by_id = {r.id: r for r in oracle}
    missing = [r.id for r in derived if r.id not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} derived records have no oracle record (e.g. {missing[0]!r})")
    n = agree_steps = n_steps = fe_exact = 0
    tp = fp = fn = 0
    sol_tp = sol_fp = sol_fn = 0
    skipped = 0
    gold: list[int] = []
    pred: list[int] = []
    for d in derived:
        o = by_id[d.id]
        if o.first_error is None or d.first_error is None:
            skipped += 1
            continue
        if len(o.steps) != len(d.steps):
            raise ValueError(f"record {d.id!r}: {len(d.steps)} steps derived, {len(o.steps)} in oracle")
        n += 1
        ol = labels_from_first_error(o.first_error, len(o.steps))
        dl = labels_from_first_error(d.first_error, len(d.steps))
        for a, b in zip(dl, ol):
            n_steps += 1
            agree_steps += a == b
            tp += a == 0 and b == 0
            fp += a == 0 and b == 1
            fn += a == 1 and b == 0
        fe_exact += d.first_error == o.first_error
        gold.append(o.first_error)
        pred.append(d.first_error)
        sol_tp += d.first_error != -1 and o.first_error != -1
        sol_fp += d.first_error != -1 and o.first_error == -1
        sol_fn += d.first_error == -1 and o.first_error != -1
    prec, rec = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    pb = processbench_point(gold, pred) if gold else {"acc_err": math.nan, "acc_cor": math.nan,
                                                      "f1": math.nan}
    return {
        "n": n, "n_steps": n_steps, "skipped": skipped,
        "step_agreement": _ratio(agree_steps, n_steps),
        "first_error_exact": _ratio(fe_exact, n),
        "wrong_precision": prec, "wrong_recall": rec, "wrong_f1": _f1(prec, rec),
        "acc_err": _none_if_nan(pb["acc_err"]), "acc_cor": _none_if_nan(pb["acc_cor"]),
        "pb_f1": _none_if_nan(pb["f1"]),
        "error_precision": _ratio(sol_tp, sol_tp + sol_fp),
        "error_recall": _ratio(sol_tp, sol_tp + sol_fn),
    }
