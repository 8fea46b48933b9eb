"""Step labels from outcomes alone: Monte-Carlo rollouts, relative progress, binary search, trees.

Nothing here runs a model. A labelling method asks for rollouts through a `Complete` callable:
given `Request(record, n_prefix, k)` — "continue the problem plus `record.steps[:n_prefix]` k
times" — it returns one `Outcome` per request: k booleans "this completion reached the right
final answer" and what the rollouts cost (tokens generated, prompt tokens processed).
`prmlab.training.rollout_sampler.RolloutSampler` implements it with a policy model; tests use a
stub with known success rates.

Only outcome correctness is used, and a *task* (`prmlab.data.tasks`) decides it: "right final
answer" means `is_solved(task, problem, prefix + completion)`, the task's final answer of the
steps verified against the problem's gold answer. The default task is arith (`ARITH`): the
first `answer = v` step of prefix + completion states the problem's gold value (the target
quantity of the problem's own computation graph, `parse_problem`). The oracle's step labels
are never consulted here, except by `label_quality`, which exists to compare against them.

Notation: MC(j) = fraction of rollouts from the prefix `steps[:j]` that reach the right answer
(j = 0: the problem alone). Step i is judged by MC(i + 1), the prefix that includes it.

Methods (`METHODS`; every result is converted to prefix semantics: the first step judged bad is
`first_error`, labels 1…1 0…0):

* `mc-hard` (Math-Shepherd hard estimation): K rollouts from every prefix j = 1..n; step i is
  good iff MC(i + 1) > 0 (any rollout succeeds). n·K rollouts.
* `mc-soft` (Math-Shepherd soft estimation): the same rollouts; the soft score of step i is
  MC(i + 1) (stored in meta as `soft_scores`); the hard label is MC(i + 1) >= threshold
  (default 0.5).
* `rpe` (GenPRM relative progress estimation): K rollouts from every prefix j = 0..n; step i is
  good iff MC(i + 1) > 0 and MC(i + 1) / MC(i) >= threshold (default 0.8, GenPRM's ε). When
  MC(i) = 0 the ratio is undefined (stored as null) and the step is good iff MC(i + 1) > 0
  (any progress from a hopeless prefix counts). (n + 1)·K rollouts.
* `omega` (OmegaPRM binary search): assumes a prefix stays hopeless once it is wrong. Search
  lo = 0 (the problem alone, assumed fine), hi = n + 1 (virtual bad end); probe mid = (lo+hi)//2
  with K rollouts: MC(mid) > 0 → the first error is after mid (lo = mid), else it is at or before
  step mid - 1 (hi = mid). The first error is step hi - 1 (-1 when hi = n + 1). About
  log2(n + 1)·K rollouts instead of n·K; no threshold.
* `tree` (Tree-GRPO-style sibling subtrees): the solution is the spine of a rollout tree; nodes
  are its prefixes j = 0..n, expanded in order. A rollout drawn from node j whose first
  generated steps repeat the solution's next steps is *also* a sample of the deeper spine nodes
  it passes through (it is an exact draw from the policy conditioned on those prefixes), so it
  is pooled there, and node j only draws max(0, K - samples already pooled at j) new rollouts.
  V(j) = success rate of all samples through node j. Step i is wrong iff V(i + 1) = 0 or
  V(i) - V(i + 1) > margin (threshold, default 0.5): its subtree does no better than hopeless,
  or much worse than its parent prefix. Pairwise step preferences: at each node, the samples
  are grouped by the step they take next (siblings; the solution's own step i is the subtree
  of node i + 1); every pair of siblings with different success rates gives
  {prefix, chosen, rejected, rates, counts} in meta `preferences`. Without completion texts
  (an `Outcome` with `completions=None`) nothing is pooled and there are no siblings.
* `abs-q`, `rel-ratio`, `rel-effective` (StepWiser's rules, `prmlab.supervision.stepwiser`):
  K rollouts from every prefix j = 0..n (j = 1..n for abs-q), Q_j = MC(j); abs-q: Q_{i+1} > 0;
  rel-ratio: Q_{i+1} / Q_i > threshold (gamma, default 0.8); rel-effective: Q_{i+1} +
  alpha * (Q^mu_{i+1} - Q^mu_i) > 0 with the best-of-n prover Q^mu = 1 - (1 - Q)^n (alpha, n:
  `StepwiserParams`). The rule's per-step numbers are in meta `stepwiser_scores`.

Terminal prefixes cost nothing: a prefix that already states an answer (the task's
`final_answer` is not None) has a decided outcome (that answer vs the gold answer), so it is resolved here without a rollout and counted as
`terminal_prefixes`, not as rollouts.

The compute bill of each record (meta `rollout_labels`): `rollouts` it paid for, `rollouts_used`
(including ones another request paid for: identical prefixes are shared by the sampler),
`tokens_generated`, `tokens_processed` (prompt tokens of the rollouts it paid for), `rounds`.
File totals are the sums; they equal what was actually generated in the run. The rest of the
input meta is kept, except `oracle_reason` (it explained the labels that are replaced).

The five methods share one round-based scheduler and one bill, which is why they live in one
module past 400 lines: each method is a small planner beside the others it is compared with.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Generator, Mapping, Sequence

from prmlab.data.record import Record, labels_from_first_error
from prmlab.data.tasks import ARITH, Task
from prmlab.errors import InputError
from prmlab.metrics.labels import label_agreement
from prmlab.supervision.stepwiser import STEPWISER_METHODS, StepwiserParams, stepwiser_labels

METHODS = ("mc-hard", "mc-soft", "rpe", "omega", "tree", *STEPWISER_METHODS)
DEFAULT_THRESHOLD: dict[str, float | None] = {
    "mc-hard": None, "mc-soft": 0.5, "rpe": 0.8, "omega": None, "tree": 0.5,
    "abs-q": None, "rel-ratio": StepwiserParams().gamma, "rel-effective": None}


@dataclasses.dataclass(frozen=True)
class Request:
    """Continue `record.problem` + `record.steps[:n_prefix]` k times."""

    record: Record
    n_prefix: int
    k: int

    @property
    def prefix_steps(self) -> list[str]:
        return list(self.record.steps[: self.n_prefix])


@dataclasses.dataclass
class Outcome:
    """What `k` rollouts of one request gave."""

    successes: list[bool]
    generated_tokens: int = 0  # tokens this request paid for
    prompt_tokens: int = 0  # prompt tokens processed for the rollouts it paid for
    completions: list[list[str]] | None = None  # the generated steps of each rollout
    shared: int = 0  # rollouts used here that another request (or earlier run) paid for


Complete = Callable[[list[Request]], list[Outcome]]


def _norm(s: str) -> str:
    return " ".join(s.split())


# ---- the methods (one generator per record: yields [(n_prefix, k)], receives [Outcome]) ------

Plan = Generator[list[tuple[int, int]], list[Outcome], dict[str, Any]]


def _rate(o: Outcome) -> float:
    return sum(o.successes) / len(o.successes) if o.successes else 0.0


def _first_bad(good: Sequence[bool]) -> int:
    return next((i for i, g in enumerate(good) if not g), -1)


def _mc_table(outs: Mapping[int, Outcome]) -> list[list[int]]:
    return [[j, sum(o.successes), len(o.successes)] for j, o in sorted(outs.items())]


def _plan_mc(rec: Record, k: int, threshold: float | None) -> Plan:
    n = len(rec.steps)
    got = yield [(j, k) for j in range(1, n + 1)]
    outs = dict(zip(range(1, n + 1), got))
    soft = [_rate(outs[i + 1]) for i in range(n)]
    if threshold is None:  # hard: any success
        good = [any(outs[i + 1].successes) for i in range(n)]
    else:
        good = [s >= threshold for s in soft]
    return {"first_error": _first_bad(good), "raw_good": good, "soft_scores": soft,
            "mc": _mc_table(outs)}


def _plan_rpe(rec: Record, k: int, threshold: float) -> Plan:
    n = len(rec.steps)
    got = yield [(j, k) for j in range(n + 1)]
    outs = dict(zip(range(n + 1), got))
    ratios: list[float | None] = []
    good = []
    for i in range(n):
        before, after = _rate(outs[i]), _rate(outs[i + 1])
        ratios.append(after / before if before > 0 else None)
        good.append(after > 0 and (before == 0 or after >= threshold * before))
    return {"first_error": _first_bad(good), "raw_good": good, "ratios": ratios,
            "soft_scores": [_rate(outs[i + 1]) for i in range(n)], "mc": _mc_table(outs)}


def _plan_omega(rec: Record, k: int) -> Plan:
    n = len(rec.steps)
    lo, hi = 0, n + 1
    outs: dict[int, Outcome] = {}
    while hi - lo > 1:
        mid = (lo + hi) // 2
        (o,) = yield [(mid, k)]
        outs[mid] = o
        if any(o.successes):
            lo = mid
        else:
            hi = mid
    return {"first_error": -1 if hi == n + 1 else hi - 1, "probes": sorted(outs),
            "mc": _mc_table(outs)}


def _plan_tree(rec: Record, k: int, margin: float) -> Plan:
    n = len(rec.steps)
    spine = [_norm(s) for s in rec.steps]
    # samples[j]: (success, generated steps after node j or None) of every rollout through node j
    samples: dict[int, list[tuple[bool, list[str] | None]]] = {j: [] for j in range(n + 1)}
    drawn = [0] * (n + 1)
    for j in range(n + 1):
        need = k - len(samples[j])
        if need <= 0:
            continue
        (o,) = yield [(j, need)]
        drawn[j] = len(o.successes)
        comps = o.completions if o.completions is not None else [None] * len(o.successes)
        for ok, comp in zip(o.successes, comps):
            samples[j].append((ok, comp))
            if comp is None:
                continue
            t = 0  # pool into the deeper spine nodes this rollout passes through
            while j + t < n and t < len(comp) and _norm(comp[t]) == spine[j + t]:
                samples[j + t + 1].append((ok, comp[t + 1:]))
                t += 1
    counts = [len(samples[j]) for j in range(n + 1)]
    succ = [sum(ok for ok, _ in samples[j]) for j in range(n + 1)]
    values = [s / c if c else 0.0 for s, c in zip(succ, counts)]
    good = [not (values[i + 1] == 0 or values[i] - values[i + 1] > margin) for i in range(n)]
    prefs = []
    for j in range(n):
        groups: dict[str, list[int]] = {spine[j]: [succ[j + 1], counts[j + 1]]}
        for ok, comp in samples[j]:
            if not comp or _norm(comp[0]) == spine[j]:
                continue  # no next step, or the solution's own step (already node j + 1)
            g = groups.setdefault(_norm(comp[0]), [0, 0])
            g[0] += ok
            g[1] += 1
        items = [(text, s / c, s, c) for text, (s, c) in groups.items() if c > 0]
        for a in items:
            for b in items:
                if a[1] > b[1]:
                    prefs.append({"prefix": j, "chosen": a[0], "rejected": b[0],
                                  "chosen_rate": a[1], "rejected_rate": b[1],
                                  "chosen_n": a[3], "rejected_n": b[3],
                                  "solution_step": "chosen" if a[0] == spine[j] else (
                                      "rejected" if b[0] == spine[j] else None)})
    return {"first_error": _first_bad(good), "raw_good": good, "values": values,
            "n_samples": counts, "drawn": drawn, "preferences": prefs}


def _plan_stepwiser(rec: Record, k: int, method: str, params: StepwiserParams) -> Plan:
    n = len(rec.steps)
    first = 1 if method == "abs-q" else 0  # abs-q reads no Q_0: its prefix is not rolled out
    got = yield [(j, k) for j in range(first, n + 1)]
    outs = dict(zip(range(first, n + 1), got))
    q = [_rate(outs[j]) for j in range(1, n + 1)]
    lab = stepwiser_labels(method, _rate(outs[0]) if first == 0 else None, q, params)
    return {"first_error": _first_bad(lab.good), "raw_good": lab.good, "soft_scores": q,
            "stepwiser_scores": lab.scores, "mc": _mc_table(outs),
            **({"alpha": params.alpha, "prover_n": params.n} if method == "rel-effective" else {})}


def _check(method: str, k: int, threshold: float | None) -> float | None:
    if method not in METHODS:
        raise InputError(f"unknown labelling method {method!r} (known: {', '.join(METHODS)})")
    if k < 1:
        raise InputError(f"k must be at least 1, got {k}")
    if threshold is None:
        return DEFAULT_THRESHOLD[method]
    if method == "rel-effective":
        raise InputError("rel-effective takes no threshold (its options are alpha and the prover's n)")
    if DEFAULT_THRESHOLD[method] is None:
        raise InputError(f"{method} takes no threshold (a step is good iff any rollout succeeds)")
    if method == "mc-soft" and not 0.0 < threshold <= 1.0:
        raise InputError(f"mc-soft threshold must be in (0, 1], got {threshold}")
    if method == "rpe" and not threshold > 0.0:
        raise InputError(f"rpe threshold must be > 0, got {threshold}")
    if method == "tree" and not 0.0 <= threshold < 1.0:
        raise InputError(f"tree margin must be in [0, 1), got {threshold}")
    if method == "rel-ratio" and not threshold >= 0.0:
        raise InputError(f"rel-ratio threshold (gamma) must be >= 0, got {threshold}")
    return threshold


def _plan(method: str, rec: Record, k: int, threshold: float | None,
          params: StepwiserParams = StepwiserParams()) -> Plan:
    if method in STEPWISER_METHODS:
        gamma = params.gamma if threshold is None else threshold
        return _plan_stepwiser(rec, k, method, dataclasses.replace(params, gamma=gamma))
    if method in ("mc-hard", "mc-soft"):
        return _plan_mc(rec, k, threshold)
    if method == "rpe":
        return _plan_rpe(rec, k, threshold)  # type: ignore[arg-type]
    if method == "omega":
        return _plan_omega(rec, k)
    return _plan_tree(rec, k, threshold)  # type: ignore[arg-type]


# ---- the driver -------------------------------------------------------------------------------

BILL_KEYS = ("rollouts", "rollouts_used", "terminal_prefixes", "tokens_generated",
             "tokens_processed")


def derive_labels(records: Sequence[Record], method: str, complete: Complete, *, k: int,
                  threshold: float | None = None, task: Task | None = None,
                  stepwiser: StepwiserParams | None = None) -> tuple[list[Record], dict[str, Any]]:
    """Label every record with `method` from rollouts that `complete` draws.

    `stepwiser` holds rel-effective's alpha and n (rel-ratio's gamma is `threshold`); None:
    the defaults. Another method refuses a non-default one.

    `task` (default: arith) decides which prefixes are terminal and whether their answer is
    right; `complete` decides the outcomes of the rollouts it draws (a `RolloutSampler` should
    be built with the same task).

    All records advance in lock-step: each round gathers every record's pending requests into
    one `complete` call (one batched generation). Returns the relabelled records (meta
    `rollout_labels` holds the evidence and the bill) and a summary with the file totals.
    """
    threshold = _check(method, k, threshold)
    params = StepwiserParams() if stepwiser is None else stepwiser
    if method != "rel-effective" and (params.alpha, params.n) != (StepwiserParams().alpha,
                                                                 StepwiserParams().n):
        raise InputError(f"{method} takes no alpha or prover n (rel-effective's options)")
    plans = [_plan(method, r, k, threshold, params) for r in records]
    bills = [dict.fromkeys(BILL_KEYS, 0) | {"rounds": 0} for _ in records]
    results: list[dict[str, Any] | None] = [None] * len(records)
    task = ARITH if task is None else task
    asks: dict[int, list[tuple[int, int]]] = {}

    def advance(i: int, send: list[Outcome] | None) -> None:
        try:
            asks[i] = plans[i].send(send) if send is not None else next(plans[i])
        except StopIteration as stop:
            results[i] = stop.value
            asks.pop(i, None)

    for i in range(len(records)):
        advance(i, None)
    calls = 0
    while asks:
        flat: list[tuple[int, int, Request]] = []  # (record index, position, request)
        answers: dict[int, list[Outcome | None]] = {}
        for i, wanted in asks.items():
            rec = records[i]
            bills[i]["rounds"] += 1
            answers[i] = [None] * len(wanted)
            for pos, (j, kk) in enumerate(wanted):
                answer = task.final_answer(rec.steps[:j])
                if answer is not None:  # terminal: the outcome is decided
                    ok = task.verify(rec.problem, answer)
                    answers[i][pos] = Outcome([ok] * kk, completions=[[] for _ in range(kk)])
                    bills[i]["terminal_prefixes"] += 1
                else:
                    flat.append((i, pos, Request(rec, j, kk)))
        if flat:
            got = complete([r for _, _, r in flat])
            calls += 1
            if len(got) != len(flat):
                raise ValueError(f"complete returned {len(got)} outcomes for {len(flat)} requests")
            for (i, pos, req), o in zip(flat, got):
                if len(o.successes) != req.k:
                    raise ValueError(f"complete returned {len(o.successes)} rollouts, asked {req.k}")
                answers[i][pos] = o
                b = bills[i]
                b["rollouts"] += req.k - o.shared
                b["rollouts_used"] += req.k
                b["tokens_generated"] += o.generated_tokens
                b["tokens_processed"] += o.prompt_tokens
        for i in list(asks):
            advance(i, answers[i])  # type: ignore[arg-type]

    out = []
    for rec, res, bill in zip(records, results, bills):
        assert res is not None
        fe = res.pop("first_error")
        # The input's other meta is kept; `oracle_reason` described the labels replaced here.
        meta = {key: v for key, v in rec.meta.items() if key != "oracle_reason"}
        meta["rollout_labels"] = {"method": method, "k": k, "threshold": threshold, **bill, **res}
        out.append(dataclasses.replace(rec, labels=labels_from_first_error(fe, len(rec.steps)),
                                       first_error=fe, meta=meta))
    totals = {key: sum(b[key] for b in bills) for key in BILL_KEYS}
    summary = {"method": method, "k": k, "threshold": threshold, "n": len(records), **totals,
               "rounds": max((b["rounds"] for b in bills), default=0), "complete_calls": calls,
               "with_error": sum(r.first_error != -1 for r in out),
               "first_error_histogram": _histogram(r.first_error for r in out)}
    return out, summary


def _histogram(values) -> dict[str, int]:
    h: dict[str, int] = {}
    for v in values:
        h[str(v)] = h.get(str(v), 0) + 1
    return dict(sorted(h.items(), key=lambda kv: int(kv[0]) if kv[0].lstrip("-").isdigit() else 99))


def bill(records: Sequence[Record]) -> dict[str, int]:
    """The summed compute bill in the records' meta `rollout_labels` (0 where absent)."""
    tot = dict.fromkeys(BILL_KEYS, 0)
    for r in records:
        m = r.meta.get("rollout_labels") or {}
        for key in BILL_KEYS:
            tot[key] += int(m.get(key, 0))
    return tot


# ---- quality against the oracle, and consensus filtering --------------------------------------

def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def label_quality(derived: Sequence[Record], oracle: Sequence[Record]) -> dict[str, Any]:
    """`prmlab.metrics.labels.label_agreement` of derived against oracle labels, plus the summed
    compute bill of the derived records."""
    return {**label_agreement(derived, oracle), **bill(derived)}


def consensus_filter(rollout_records: Sequence[Record],
                     judge_first_errors: Mapping[str, int | None]) -> tuple[list[Record], dict[str, Any]]:
    """Keep a solution only where the rollout labels' first error equals the judge's.

    A record the judge did not score (id absent) or could not parse (None) is dropped and
    counted. `kept_fraction` is over all records, `kept_fraction_of_judged` over judged ones.
    """
    kept = []
    missing = unparsed = agree_err = agree_cor = 0
    for r in rollout_records:
        if r.id not in judge_first_errors:
            missing += 1
            continue
        j = judge_first_errors[r.id]
        if j is None:
            unparsed += 1
            continue
        if r.first_error is not None and int(j) == r.first_error:
            kept.append(r)
            agree_err += r.first_error != -1
            agree_cor += r.first_error == -1
    n = len(rollout_records)
    judged = n - missing
    info = {"n": n, "judged": judged, "missing": missing, "judge_unparsed": unparsed,
            "kept": len(kept), "kept_with_error": agree_err, "kept_correct": agree_cor,
            "kept_fraction": _ratio(len(kept), n),
            "kept_fraction_of_judged": _ratio(len(kept), judged)}
    return kept, info

