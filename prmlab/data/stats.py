"""What a labelled data set holds, in numbers: a first look before any experiment.

`describe` counts solutions with an error, without, and with unknown labels, the mean number
of steps, the step labels actually known (the label budget a file can supply), and where first
errors fall (the histogram ProcessBench-style metrics depend on), overall and per source.
Everything is plain JSON-ready data; the CLI renders it as a table or prints it as JSON.

>>> from prmlab.data.record import Record
>>> recs = [Record("a", "p", ["x", "y"], [1, 0], 1, source="s"),
...         Record("b", "p", ["x"], [1], -1, source="s"),
...         Record("c", "p", ["x", "y", "z"], [None, None, None], None, source="t")]
>>> d = describe(recs)
>>> d["n"], d["n_erroneous"], d["n_correct"], d["n_unknown"], d["mean_steps"]
(3, 1, 1, 1, 2.0)
>>> d["first_error_hist"], sorted(d["by_source"])
({'1': 1}, ['s', 't'])
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from prmlab.data.record import Record

NO_SOURCE = "(none)"


def summarize(records: list[Record]) -> dict[str, Any]:
    """Counts for one group of records (no per-source breakdown)."""
    n = len(records)
    fe = [r.first_error for r in records]
    hist = Counter(e for e in fe if e is not None and e >= 0)
    answers = Counter(r.answer_correct for r in records)
    steps = [len(r.steps) for r in records]
    return {
        "n": n,
        "n_erroneous": sum(1 for e in fe if e is not None and e >= 0),
        "n_correct": sum(1 for e in fe if e == -1),
        "n_unknown": sum(1 for e in fe if e is None),
        "n_steps": sum(steps),
        "mean_steps": round(sum(steps) / n, 4) if n else 0.0,
        "max_steps": max(steps, default=0),
        "n_step_labels": sum(1 for r in records for lab in r.labels if lab is not None),
        "first_error_hist": {str(k): hist[k] for k in sorted(hist)},
        "answer_correct": {"true": answers[True], "false": answers[False],
                           "unknown": answers[None]},
    }


def describe(records: Iterable[Record]) -> dict[str, Any]:
    """`summarize` of all records, plus `by_source`: the same for each source."""
    records = list(records)
    groups: dict[str, list[Record]] = {}
    for r in records:
        groups.setdefault(r.source or NO_SOURCE, []).append(r)
    out = summarize(records)
    out["by_source"] = {s: summarize(g) for s, g in sorted(groups.items())}
    return out
