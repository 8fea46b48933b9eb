"""K sampled checks of every step, kept one by one (judge compute at test time).

`GenerativeJudge` averages its K rationales inside `score`; the judge-compute study needs each
check (its verdict probability, whether it parsed, its tokens) to aggregate them in several
ways (`prmlab.metrics.voting`). Pass k samples one check of every step in one generate call,
seeded by stream `judge.compute.check` (config seed, index k), so the first K passes of a
K=32 run are exactly a K-pass run: every K is measured on the same samples. The verdict is
read as `GenerativeJudge` reads it (P(ok) / (P(ok) + P(bad)) at the last generated position;
a rationale that runs out of tokens is unparsed, at 0.5).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from prmlab import seeds
from prmlab.data.record import Record
from prmlab.judges.progress import Progress, generation_progress
from prmlab.metrics.voting import Check
from prmlab.models.generator import Generator, Sample
from prmlab.models.text import Codec


def read_check(sample: Sample, codec: Codec, rationale: bool = True) -> Check:
    """The check one sample holds."""
    seq, probs = sample.ids, sample.watch_probs
    ends = (codec.ok_id, codec.bad_id, codec.eos_id)
    if not seq or (rationale and seq[-1] not in ends) or not probs:
        return Check(0.5, parsed=False, tokens=len(seq))
    p_ok, p_bad = (float(x) for x in probs[-1])
    p = p_ok / (p_ok + p_bad) if p_ok + p_bad > 0 else 0.5
    return Check(p, parsed=True, tokens=len(seq))


@dataclasses.dataclass
class CheckSet:
    """`checks[r][s][k]`: the k-th check of step s of record r; token counts per pass."""

    ids: list[str]
    checks: list[list[list[Check]]]
    generated_tokens: list[int]  # per pass
    prompt_tokens: list[int]  # per pass (each pass re-reads every prompt)

    def first(self, k: int) -> list[list[list[Check]]]:
        """The checks of the first k passes."""
        return [[cs[:k] for cs in rec] for rec in self.checks]

    def tokens(self, k: int) -> dict[str, int]:
        """What the first k passes cost the judge."""
        return {"generated": sum(self.generated_tokens[:k]), "prompt": sum(self.prompt_tokens[:k])}


def sample_checks(records: Sequence[Record], codec: Codec, generator: Generator, *, k: int,
                  temperature: float, top_k: int | None = None, max_new_tokens: int = 120,
                  seed: int = 0, rationale: bool = True, progress: Progress = False,
                  label: str = "checks") -> CheckSet:
    """`k` sampled checks of every step of `records` (pass j seeded `judge.compute.check`)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    if k > 1 and temperature <= 0:
        raise ValueError("k > 1 checks need a sampling temperature above 0")
    prompts, where = [], []
    for ri, r in enumerate(records):
        for si in range(len(r.steps)):
            prompts.append(codec.check_prompt(r.problem, r.steps[: si + 1]))
            where.append((ri, si))
    checks: list[list[list[Check]]] = [[[] for _ in r.steps] for r in records]
    gen_tokens, prompt_tokens = [], []
    for j in range(k):
        with generation_progress(progress, f"{label} {j + 1}/{k}") as on_progress:
            samples = generator.generate(
                prompts, max_new_tokens=max_new_tokens if rationale else 1, temperature=temperature,
                top_k=top_k, stop_ids=[codec.ok_id, codec.bad_id, codec.eos_id],
                watch_ids=[codec.ok_id, codec.bad_id],
                seed=seeds.seed("judge.compute.check", seed, index=j), progress=on_progress)
        if len(samples) != len(prompts):
            raise ValueError(f"the generator returned {len(samples)} samples for {len(prompts)} prompts")
        gen_tokens.append(sum(len(s.ids) for s in samples))
        prompt_tokens.append(sum(len(p) for p in prompts))
        for (ri, si), s in zip(where, samples):
            checks[ri][si].append(read_check(s, codec, rationale))
    return CheckSet([r.id for r in records], checks, gen_tokens, prompt_tokens)


__all__ = ["CheckSet", "read_check", "sample_checks"]
