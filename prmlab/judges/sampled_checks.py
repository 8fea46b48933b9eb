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


def check_prompts(records: Sequence[Record], codec: Codec) -> list[list[int]]:
    """The check prompt of every step of every record, record by record."""
    return [codec.check_prompt(r.problem, r.steps[: si + 1]) for r in records for si in range(len(r.steps))]


@dataclasses.dataclass
class Pass:
    """One check of every step (flat, record by record) and what it cost."""

    checks: list[Check]
    generated_tokens: int
    prompt_tokens: int

    def to_dict(self) -> dict:
        return {"p_good": [c.p_good for c in self.checks], "parsed": [c.parsed for c in self.checks],
                "tokens": [c.tokens for c in self.checks], "generated_tokens": self.generated_tokens,
                "prompt_tokens": self.prompt_tokens}

    @classmethod
    def from_dict(cls, d: dict) -> "Pass":
        return cls([Check(float(p), bool(ok), int(t)) for p, ok, t in zip(d["p_good"], d["parsed"], d["tokens"])],
                   int(d["generated_tokens"]), int(d["prompt_tokens"]))


def sample_pass(prompts: Sequence[Sequence[int]], codec: Codec, generator: Generator, j: int, *,
                temperature: float, top_k: int | None = None, max_new_tokens: int = 120,
                seed: int = 0, rationale: bool = True, progress: Progress = False,
                label: str = "checks") -> Pass:
    """Pass `j`: one check per prompt, seeded `judge.compute.check` (seed, index j)."""
    with generation_progress(progress, f"{label} pass {j + 1}") as on_progress:
        samples = generator.generate(
            prompts, max_new_tokens=max_new_tokens if rationale else 1, temperature=temperature,
            top_k=top_k, stop_ids=[codec.ok_id, codec.bad_id, codec.eos_id],
            watch_ids=[codec.ok_id, codec.bad_id],
            seed=seeds.seed("judge.compute.check", seed, index=j), progress=on_progress)
    if len(samples) != len(prompts):
        raise ValueError(f"the generator returned {len(samples)} samples for {len(prompts)} prompts")
    return Pass([read_check(s, codec, rationale) for s in samples], sum(len(s.ids) for s in samples),
                sum(len(p) for p in prompts))


def assemble(records: Sequence[Record], passes: Sequence[Pass]) -> CheckSet:
    """The passes' checks regrouped per record and step."""
    checks: list[list[list[Check]]] = []
    at = 0
    for r in records:
        checks.append([[ps.checks[at + si] for ps in passes] for si in range(len(r.steps))])
        at += len(r.steps)
    if any(len(ps.checks) != at for ps in passes):
        raise ValueError("a pass does not hold one check per step of these records")
    return CheckSet([r.id for r in records], checks, [ps.generated_tokens for ps in passes],
                    [ps.prompt_tokens for ps in passes])


def sample_checks(records: Sequence[Record], codec: Codec, generator: Generator, *, k: int,
                  temperature: float, top_k: int | None = None, max_new_tokens: int = 120,
                  seed: int = 0, rationale: bool = True, progress: Progress = False,
                  label: str = "checks") -> CheckSet:
    """`k` sampled checks of every step of `records` (pass j seeded `judge.compute.check`)."""
    check_k(k, temperature)
    prompts = check_prompts(records, codec)
    return assemble(records, [sample_pass(prompts, codec, generator, j, temperature=temperature,
                                          top_k=top_k, max_new_tokens=max_new_tokens, seed=seed,
                                          rationale=rationale, progress=progress, label=label)
                              for j in range(k)])


def check_k(k: int, temperature: float) -> None:
    if k < 1:
        raise ValueError("k must be at least 1")
    if k > 1 and temperature <= 0:
        raise ValueError("k > 1 checks need a sampling temperature above 0")


__all__ = ["CheckSet", "Pass", "read_check", "check_prompts", "sample_pass", "assemble",
           "sample_checks", "check_k"]
