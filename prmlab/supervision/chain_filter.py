"""Filtering a teacher's verification chains against gold step labels, and the summary of why.

A chain is kept when its verdicts agree with the gold labels on every step through the first
error (`step_labels_through_first_error`: all steps of a correct solution; steps 1..e+1 of one
whose first error is step e, 0-based). Otherwise exactly one reason is recorded, checked in
this order:

1. `wrong_verdict` at step k (1-based): the first step, among those the teacher did judge,
   whose verdict differs from the gold label;
2. `truncated`: the teacher ran out of tokens before judging every needed step;
3. `parse_failure`: the text stopped parsing (or ended) before every needed step was judged
   (the parser's own reason is kept beside it).

A wrong verdict outranks the other two because what was judged was judged wrongly whatever
followed. A record whose labels are not known through its first error (a `None` label there)
cannot be checked: `unlabelled`. Steps the teacher judged past the first error are ignored.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Iterable, Literal

from prmlab.data.record import Record
from prmlab.supervision.budget import step_labels_through_first_error
from prmlab.supervision.chain_styles import ParsedChain

Reason = Literal["wrong_verdict", "truncated", "parse_failure", "unlabelled"]
REASONS: tuple[str, ...] = ("wrong_verdict", "truncated", "parse_failure", "unlabelled")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What the filter decided for one chain."""

    kept: bool
    reason: Reason | None = None
    step: int | None = None  # 1-based step of a wrong verdict
    detail: str | None = None  # the parser's reason, for a parse failure


def judge_chain(record: Record, parsed: ParsedChain, truncated: bool) -> Verdict:
    """Keep or reject one chain (see the module docstring for the order of the reasons).

    >>> r = Record(id="a", problem="p", steps=["x", "y", "z"], labels=[1, 0, 0], first_error=1)
    >>> judge_chain(r, ParsedChain(("ok", "bad"), (True, False)), truncated=False)
    Verdict(kept=True, reason=None, step=None, detail=None)
    >>> judge_chain(r, ParsedChain(("ok", "ok"), (True, True)), truncated=False).reason
    'wrong_verdict'
    >>> judge_chain(r, ParsedChain(("bad",), (False,)), truncated=True)
    Verdict(kept=False, reason='wrong_verdict', step=1, detail=None)
    >>> judge_chain(r, ParsedChain(("ok",), (True,)), truncated=True).reason
    'truncated'
    >>> judge_chain(r, ParsedChain(("ok",), (True,), "step 2 has no verdict"), truncated=False)
    Verdict(kept=False, reason='parse_failure', step=None, detail='step 2 has no verdict')
    """
    if record.first_error is None:
        return Verdict(False, "unlabelled")
    n = step_labels_through_first_error(record)
    gold = record.labels[:n]
    if any(g is None for g in gold):
        return Verdict(False, "unlabelled")
    for k, (v, g) in enumerate(zip(parsed.verdicts, gold)):
        if v != bool(g):
            return Verdict(False, "wrong_verdict", step=k + 1)
    if len(parsed.verdicts) >= n:
        return Verdict(True)
    if truncated:
        return Verdict(False, "truncated")
    return Verdict(False, "parse_failure", detail=parsed.problem or "the text ended before "
                   f"step {len(parsed.verdicts) + 1}")


def summarize(verdicts: Iterable[Verdict]) -> dict:
    """Counts of kept chains and of each reason, and the kept fraction (None for no chains).

    >>> summarize([Verdict(True), Verdict(False, "wrong_verdict", step=2),
    ...            Verdict(False, "wrong_verdict", step=1), Verdict(False, "truncated")])
    ... # doctest: +NORMALIZE_WHITESPACE
    {'chains': 4, 'kept': 1, 'kept_fraction': 0.25,
     'rejected': {'wrong_verdict': 2, 'truncated': 1, 'parse_failure': 0, 'unlabelled': 0},
     'wrong_verdict_at_step': {'1': 1, '2': 1}}
    """
    vs = list(verdicts)
    kept = sum(v.kept for v in vs)
    reasons = Counter(v.reason for v in vs if not v.kept)
    at = Counter(v.step for v in vs if v.reason == "wrong_verdict")
    return {"chains": len(vs), "kept": kept, "kept_fraction": kept / len(vs) if vs else None,
            "rejected": {r: reasons.get(r, 0) for r in REASONS},
            "wrong_verdict_at_step": {str(k): at[k] for k in sorted(at)}}


def kept_steps(record: Record, parsed: ParsedChain) -> tuple[tuple[str, ...], tuple[bool, ...]]:
    """The critiques and verdicts a kept chain contributes: its steps through the first error."""
    n = step_labels_through_first_error(record)
    return parsed.critiques[:n], parsed.verdicts[:n]


__all__ = ["REASONS", "Reason", "Verdict", "judge_chain", "kept_steps", "summarize"]
