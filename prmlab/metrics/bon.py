"""Best-of-N: reward-model selection (rm@k) vs majority vote (maj@k) vs pass@k and oracle pass@N.

For each problem with N sampled solutions, each with a final answer, a correctness flag and
(optionally) a solution score:
- `rm@k`: is the top-scored of the first k samples correct (ties: the first of them)?
- `maj@k`: is the most frequent final answer among the first k samples correct? Ties go to the
  answer that occurs first; missing/blank answers abstain; with no answer at all, wrong. The
  voted answer's correctness is that of its first sample.
- `pass@k`: the unbiased estimator 1 - C(n-c, k)/C(n, k) (n samples, c correct), in the stable
  product form 1 - prod_{i=n-c+1}^{n} (1 - k/i).
- `oracle`: pass@N with all the problem's samples (is any correct?).
Each is averaged over problems with a bootstrap CI over problems, for k = 1, 2, 4, ... up to N
(and N itself when it is not a power of two). When problems have different N, k stops at the
smallest N.

Two input formats are read, sniffed from the first line:
- canonical JSONL records (one per solution), grouped by `meta.problem_id` in file order, with
  `answer`, `answer_correct`, and a solution score in `meta.score` (a number) or step scores in
  `meta.step_scores` (aggregated with `agg`);
- one line per problem with lists `pred` (answers), `score` (correctness flags) and optionally
  `pred_score` (reward scores) and `gt` — the format of One-Shot-RLVR's eval_rm_maj_example
  (`../shared/data/bon/math_cot_100.jsonl`). There each `pred_score` entry is a one-element
  list holding an unbounded reward (an outcome score, range about -4..6, not a probability); a
  list is treated as step scores and aggregated with `agg` (identity for one element), a bare
  number is used as is.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Sequence

import numpy as np

from prmlab.data.jsonl import iter_json_lines
from prmlab.data.record import record_from_dict
from prmlab.errors import InputError
from prmlab.metrics.aggregate import AGGREGATIONS, aggregate
from prmlab.metrics.bootstrap import (DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED,
                                         HIGHER, weighted_mean, with_ci)


@dataclasses.dataclass
class BonProblem:
    """One problem's N samples, in sampling order."""

    problem_id: str
    answers: list[str | None]
    correct: list[bool]
    scores: list[float] | None = None  # solution scores (aggregated), None when unscored
    step_scores: list[list[float]] | None = None  # per-sample step scores, when given

    @property
    def n(self) -> int:
        return len(self.correct)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k: 1 - C(n-c, k) / C(n, k), computed as a stable product.

    >>> pass_at_k(4, 1, 2)  # 1 - C(3,2)/C(4,2) = 1 - 3/6
    0.5
    >>> pass_at_k(8, 0, 8), pass_at_k(8, 7, 2)
    (0.0, 1.0)
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def rm_at_k(problem: BonProblem, k: int) -> bool:
    """Is the top-scored of the first k samples correct? Ties go to the earliest.

    >>> p = BonProblem("q", ["1", "2", "3"], [False, True, False], scores=[0.5, 0.9, 0.9])
    >>> rm_at_k(p, 1), rm_at_k(p, 3)
    (False, True)
    """
    if problem.scores is None:
        raise ValueError(f"problem {problem.problem_id!r} has no scores")
    head = problem.scores[:k]
    best = max(range(len(head)), key=lambda i: (head[i], -i))
    return bool(problem.correct[best])


def majority_answer(answers: Sequence[str | None]) -> int | None:
    """Index of the first sample carrying the most frequent answer (ties: the answer seen first);
    None/blank answers abstain; None when nobody answered.

    >>> majority_answer(["b", "a", "a", "b"])  # 2-2 tie: "b" occurs first
    0
    >>> majority_answer([None, "x", " ", "y", "y"])
    3
    >>> majority_answer([None, ""]) is None
    True
    """
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for i, a in enumerate(answers):
        if a is None or not str(a).strip():
            continue
        counts[a] = counts.get(a, 0) + 1
        first.setdefault(a, i)
    if not counts:
        return None
    best = max(counts, key=lambda a: (counts[a], -first[a]))
    return first[best]


def maj_at_k(problem: BonProblem, k: int) -> bool:
    """Is the majority answer of the first k samples correct?

    >>> p = BonProblem("q", ["7", "5", "5", "7"], [True, False, False, True])
    >>> maj_at_k(p, 3), maj_at_k(p, 4)  # 3: "5" wins 2-1; 4: 2-2 tie, "7" seen first
    (False, True)
    """
    i = majority_answer(problem.answers[:k])
    return False if i is None else bool(problem.correct[i])


def default_ks(n: int) -> list[int]:
    """1, 2, 4, ... up to n, and n itself.

    >>> default_ks(8), default_ks(6), default_ks(1)
    ([1, 2, 4, 8], [1, 2, 4, 6], [1])
    """
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    if ks[-1] != n:
        ks.append(n)
    return ks


def ks_within(problems: Sequence[Any], ks: Sequence[int] | None = None) -> list[int]:
    """The k values to report for `problems` (each with `.n` samples): `ks`, or the default
    powers of two up to the smallest n; a ValueError when there is nothing to report or a k
    lies outside 1..smallest n."""
    if not problems:
        raise ValueError("no problems")
    n_min = min(p.n for p in problems)
    if n_min < 1:
        raise ValueError("a problem has no samples")
    out = list(default_ks(n_min) if ks is None else ks)
    bad = [k for k in out if not 1 <= k <= n_min]
    if bad:
        raise ValueError(f"k={bad[0]} is outside 1..{n_min} (the smallest n)")
    return out


def bon_metrics(problems: Sequence[BonProblem], ks: Sequence[int] | None = None, *,
                agg: str | None = None, n_resamples: int = DEFAULT_RESAMPLES,
                confidence: float = DEFAULT_CONFIDENCE,
                seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """pass@k, maj@k, rm@k (when scored) per k, and oracle pass@N, each with a CI over problems.

    `agg` only labels the result (the solution scores are already aggregated). Keys of the
    per-k dicts are strings ("1", "2", ...) so the result is JSON as is.

    >>> ps = [BonProblem("a", ["1", "2"], [True, False], [0.1, 0.9]),
    ...       BonProblem("b", ["3", "3"], [True, True], [0.5, 0.4])]
    >>> m = bon_metrics(ps, n_resamples=20)
    >>> [m[key]["2"]["value"] for key in ("pass@k", "maj@k", "rm@k")], m["oracle"]["value"]
    ([1.0, 1.0, 0.5], 1.0)
    """
    ks = ks_within(problems, ks)
    n_min, n_max = min(p.n for p in problems), max(p.n for p in problems)
    clusters = [p.problem_id for p in problems]
    kw = dict(n_resamples=n_resamples, confidence=confidence, seed=seed)
    n = len(problems)
    scored = all(p.scores is not None for p in problems)

    def per_k(fn, aggregation: str) -> dict[str, Any]:
        out = {}
        for k in ks:
            vals = np.array([fn(p, k) for p in problems], dtype=np.float64)
            out[str(k)] = with_ci(weighted_mean(vals), clusters, direction=HIGHER, n=n,
                                  aggregation=aggregation, **kw)
        return out

    result: dict[str, Any] = {
        "N": n_min, "N_max": n_max, "n_problems": n, "ks": ks,
        "pass@k": per_k(lambda p, k: pass_at_k(p.n, sum(p.correct), k),
                        "mean over problems of unbiased pass@k 1 - C(n-c,k)/C(n,k)"),
        "maj@k": per_k(maj_at_k, "mean over problems of [majority answer of the first k "
                                 "samples is correct] (ties: first occurrence)"),
    }
    if scored:
        what = f"solution score = {agg} of step scores" if agg else "solution score"
        result["rm@k"] = per_k(rm_at_k, f"mean over problems of [top-{what} among the first k "
                                        "samples is correct] (ties: first)")
        result["agg"] = agg
    oracle = np.array([float(any(p.correct)) for p in problems])
    result["oracle"] = with_ci(weighted_mean(oracle), clusters, direction=HIGHER, n=n,
                               aggregation="mean over problems of [any of all N samples is "
                                           "correct] (pass@N)", **kw)
    return result


def rm_by_aggregation(problems: Sequence[BonProblem], ks: Sequence[int] | None = None,
                      **kw: Any) -> dict[str, dict[str, Any]]:
    """rm@k for every aggregation of step scores (problems must carry `step_scores`)."""
    out = {}
    for how in AGGREGATIONS:
        re_scored = [dataclasses.replace(p, scores=[aggregate(s, how) for s in p.step_scores])
                     for p in problems]  # type: ignore[union-attr]
        out[how] = bon_metrics(re_scored, ks, agg=how, **kw)["rm@k"]
    return out


# ---- reading -----------------------------------------------------------------------------------

LIST_FORMAT = "pred-lists"
CANONICAL_FORMAT = "canonical"


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _score_entry(v: Any, agg: str, fail) -> tuple[float, list[float]]:
    """A reward entry: a number, or a non-empty list of numbers (step scores) to aggregate."""
    if _number(v):
        return float(v), [float(v)]
    if isinstance(v, list) and v and all(_number(x) for x in v):
        xs = [float(x) for x in v]
        return aggregate(xs, agg), xs
    raise fail("expected a finite number or a non-empty list of finite numbers")


def load_bon_samples(path: str | os.PathLike, agg: str = "min") -> tuple[list[BonProblem], str]:
    """Read a best-of-N sample file in either format; return (problems, format name)."""
    if agg not in AGGREGATIONS:
        raise InputError(f"unknown aggregation {agg!r} (known: {', '.join(AGGREGATIONS)})")
    rows = list(iter_json_lines(path))
    if not rows:
        raise InputError("no samples", path=str(path))
    first = rows[0][1]
    if isinstance(first, dict) and "pred" in first and "score" in first:
        return _load_lists(path, rows, agg), LIST_FORMAT
    if isinstance(first, dict) and "steps" in first:
        return _load_canonical(path, rows, agg), CANONICAL_FORMAT
    raise InputError("unrecognised best-of-N format: expected canonical records (with steps, "
                     "meta.problem_id, answer, answer_correct) or lines with lists pred/score",
                     path=str(path), line=rows[0][0])


def _load_lists(path, rows, agg: str) -> list[BonProblem]:
    problems: list[BonProblem] = []
    seen: dict[str, int] = {}
    for line, obj in rows:
        def fail(field: str | None, msg: str) -> InputError:
            return InputError(msg, path=str(path), line=line, field=field)

        if not isinstance(obj, dict):
            raise fail(None, "expected a JSON object")
        for f in ("pred", "score"):
            if f not in obj:
                raise fail(f, "missing required field")
            if not isinstance(obj[f], list) or not obj[f]:
                raise fail(f, "expected a non-empty list")
        preds, flags = obj["pred"], obj["score"]
        if len(preds) != len(flags):
            raise fail("score", f"has {len(flags)} entries for {len(preds)} preds")
        for i, a in enumerate(preds):
            if a is not None and not isinstance(a, str):
                raise fail(f"pred[{i}]", "expected a string or null")
        for i, c in enumerate(flags):
            if not isinstance(c, bool):
                raise fail(f"score[{i}]", "expected true or false")
        scores = steps = None
        if obj.get("pred_score") is not None:
            ps = obj["pred_score"]
            if not isinstance(ps, list) or len(ps) != len(preds):
                raise fail("pred_score", f"expected a list of {len(preds)} entries")
            pairs = [_score_entry(v, agg, lambda m, i=i: fail(f"pred_score[{i}]", m))
                     for i, v in enumerate(ps)]
            scores = [a for a, _ in pairs]
            steps = [s for _, s in pairs]
        pid = str(obj.get("idx", line))
        if pid in seen:
            raise fail("idx", f"duplicate problem {pid!r} (first on line {seen[pid]})")
        seen[pid] = line
        problems.append(BonProblem(pid, list(preds), list(flags), scores, steps))
    if any(p.scores is None for p in problems) and any(p.scores is not None for p in problems):
        raise InputError("pred_score is given for some problems but not all", path=str(path))
    return problems


def _load_canonical(path, rows, agg: str) -> list[BonProblem]:
    groups: dict[str, BonProblem] = {}
    has_score: list[bool] = []
    seen_ids: dict[str, int] = {}
    for line, obj in rows:
        rec = record_from_dict(obj, path=str(path), line=line)

        def fail(field: str, msg: str) -> InputError:
            return InputError(msg, path=str(path), line=line, field=field)

        if rec.id in seen_ids:
            raise fail("id", f"duplicate id {rec.id!r} (first on line {seen_ids[rec.id]})")
        seen_ids[rec.id] = line
        if "problem_id" not in rec.meta:
            raise fail("meta.problem_id", "missing: best-of-N groups solutions by problem")
        if rec.answer_correct is None:
            raise fail("answer_correct", "missing: best-of-N needs each solution's correctness")
        pid = str(rec.meta["problem_id"])
        score = steps = None
        if rec.meta.get("score") is not None:
            if not _number(rec.meta["score"]):
                raise fail("meta.score", "expected a finite number")
            score = float(rec.meta["score"])
            steps = [score]
        elif rec.meta.get("step_scores") is not None:
            score, steps = _score_entry(rec.meta["step_scores"], agg,
                                        lambda m: fail("meta.step_scores", m))
            if len(steps) != len(rec.steps):
                raise fail("meta.step_scores", f"has {len(steps)} scores for {len(rec.steps)} "
                           "steps")
        has_score.append(score is not None)
        p = groups.setdefault(pid, BonProblem(pid, [], [], [], []))
        p.answers.append(rec.answer)
        p.correct.append(bool(rec.answer_correct))
        p.scores.append(score)  # type: ignore[union-attr, arg-type]
        p.step_scores.append(steps)  # type: ignore[union-attr, arg-type]
    if any(has_score) and not all(has_score):
        raise InputError("meta.score / meta.step_scores is given for some solutions but not all",
                         path=str(path))
    problems = list(groups.values())
    if not any(has_score):
        for p in problems:
            p.scores = p.step_scores = None
    return problems
