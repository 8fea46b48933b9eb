"""Chunk-reset decoding: the policy writes one step, the judge checks it, a rejected step is
resampled (up to R tries), then the policy goes on from the accepted prefix.

The control flow (`chunk_reset_decode`) is batched over problems: each round samples the next
step of every unfinished solution in one generate call (seeded by stream `chunk_reset.step`,
index = the call number), asks the judge about every new step, and resamples the rejected ones
(score below `threshold`) while they have tries left; a step still rejected after R resamples
is kept (the solution goes on: a reset never backtracks further than one step). A solution
ends when the policy writes end of sequence, when `is_final(steps)` holds (the task states an
answer), or after `max_steps`. R = 0 is plain sampling and never asks the judge.

The judge is any callable `judge(items) -> [(score, tokens), ...]` over (problem, steps) pairs,
scoring the last step of each and saying what that check generated (`VerdictScorer`: one greedy check by a causal judge through a `Generator`); the
bill counts every sampled step's policy tokens (rejected ones included) and the judge's
generated tokens.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from prmlab import seeds
from prmlab.judges.sampled_checks import read_check
from prmlab.models.generator import Generator
from prmlab.models.text import Codec

JudgeFn = Callable[[Sequence[tuple[str, list[str]]]], list[tuple[float, int]]]


class VerdictScorer:
    """P(last step good) from one greedy check of a causal judge (generative or direct)."""

    def __init__(self, codec: Codec, generator: Generator, *, rationale: bool = True,
                 max_new_tokens: int = 120):
        self.codec, self.generator = codec, generator
        self.rationale, self.max_new_tokens = rationale, max_new_tokens

    def __call__(self, items: Sequence[tuple[str, list[str]]]) -> list[tuple[float, int]]:
        if not items:
            return []
        c = self.codec
        samples = self.generator.generate(
            [c.check_prompt(p, steps) for p, steps in items],
            max_new_tokens=self.max_new_tokens if self.rationale else 1, temperature=0.0,
            stop_ids=[c.ok_id, c.bad_id, c.eos_id], watch_ids=[c.ok_id, c.bad_id])
        checks = [read_check(s, c, self.rationale) for s in samples]
        return [(ch.p_good, ch.tokens) for ch in checks]


@dataclasses.dataclass
class Decoded:
    """One solution written by chunk-reset decoding and what it cost."""

    problem: str
    steps: list[str]
    resamples: int = 0  # steps sampled again after a rejection
    rejected_kept: int = 0  # steps kept although rejected (tries exhausted)
    policy_tokens: int = 0
    judge_tokens: int = 0
    ended: str = ""  # "eos", "final" or "max_steps"


def chunk_reset_decode(problems: Sequence[str], codec: Codec, policy: Generator, judge: JudgeFn, *,
                       tries: int, threshold: float = 0.5, temperature: float = 1.0,
                       top_k: int | None = None, max_steps: int = 8, max_step_tokens: int = 40,
                       seed: int = 0, is_final: Callable[[list[str]], bool] = lambda s: False
                       ) -> list[Decoded]:
    """One solution per problem (see the module docstring)."""
    if tries < 0:
        raise ValueError("tries must be >= 0")
    if len(codec.step_end) != 1:
        raise ValueError("chunk-reset stops at the step-end marker: it must be one token")
    step_end = codec.step_end[0]
    out = [Decoded(p, []) for p in problems]
    prefix = [codec.policy_prompt(p) for p in problems]
    calls = 0
    active = list(range(len(problems)))
    for _ in range(max_steps):
        if not active:
            break
        pending, used = list(active), {i: 0 for i in active}
        accepted: dict[int, list[int]] = {}
        while pending:
            samples = policy.generate([prefix[i] for i in pending], max_new_tokens=max_step_tokens,
                                      temperature=temperature, top_k=top_k,
                                      stop_ids=[step_end, codec.eos_id],
                                      seed=seeds.seed("chunk_reset.step", seed, index=calls))
            calls += 1
            for i, s in zip(pending, samples):
                out[i].policy_tokens += len(s.ids)
            # a sample that is only end of sequence states no step: nothing to judge
            judged = [(i, s.ids) for i, s in zip(pending, samples) if _body(s.ids, step_end, codec.eos_id)]
            for i, s in zip(pending, samples):
                if not _body(s.ids, step_end, codec.eos_id):
                    accepted[i] = s.ids
            if tries == 0 or not judged:
                accepted.update(dict(judged))
                break
            items = [(problems[i], out[i].steps + [_text(ids, codec, step_end)]) for i, ids in judged]
            verdicts = judge(items)
            if len(verdicts) != len(items):
                raise ValueError(f"the judge scored {len(verdicts)} of {len(items)} steps")
            again = []
            for (i, ids), (sc, t) in zip(judged, verdicts):
                out[i].judge_tokens += t
                if sc < threshold and used[i] < tries:
                    used[i] += 1
                    out[i].resamples += 1
                    again.append(i)
                else:
                    out[i].rejected_kept += int(sc < threshold)
                    accepted[i] = ids
            pending = again
        still = []
        for i in active:
            ids = accepted[i]
            body = _body(ids, step_end, codec.eos_id)
            if body:
                out[i].steps.append(_text(ids, codec, step_end))
                prefix[i] = prefix[i] + ids
            if not body or ids[-1] == codec.eos_id:
                out[i].ended = "eos"
            elif is_final(out[i].steps):
                out[i].ended = "final"
            else:
                still.append(i)
        active = still
    for i in active:
        out[i].ended = "max_steps"
    return out


def _body(ids: Sequence[int], step_end: int, eos: int) -> list[int]:
    return [t for t in ids if t not in (step_end, eos)]


def _text(ids: Sequence[int], codec: Codec, step_end: int) -> str:
    text = codec.decode(_body(ids, step_end, codec.eos_id)).strip()
    return text or "(empty)"


__all__ = ["VerdictScorer", "Decoded", "chunk_reset_decode"]
