"""Generative judges: check a step in words, then give a verdict token.

For each step the judge is prompted with the problem, the solution up to that step and the
check marker; it writes a rationale and a verdict. The step score is
P(ok) / (P(ok) + P(bad)) at the verdict position, given its own rationale, averaged over K
sampled rationales (test-time scaling; temperature 0 = one greedy rationale). With `rationale=False` (the direct-generative judge)
the verdict is read right after the check marker. Parse-failure policy: when a rationale runs
out of tokens before reaching the verdict position, that sample scores 0.5 and is counted in
`judge.stats["parse_failures"]` (with the tokens generated and processed: the compute bill). Step scores are made non-increasing along the solution (running min):
under prefix semantics a step cannot be more likely correct than the steps before it; this
never changes the first flagged step, so it leaves ProcessBench metrics unchanged.

Rationales come from a `Generator` (`prmlab.models.generator`): `generator=` when given (an
HTTP backend, a stub), else a `KVCacheGenerator` over `model` with `batch_size` prompts per
batch. `progress`: True draws a bar, a callback `progress(done, total, tokens)` is called.
"""

from __future__ import annotations

from typing import Sequence

from prmlab import seeds
from prmlab.data.record import Record
from prmlab.judges.progress import Progress, generation_progress
from prmlab.judges.protocol import StepScores
from prmlab.models.generator import Generator, generator_for, n_tokens
from prmlab.models.text import Codec


class GenerativeJudge:
    def __init__(self, model, codec: Codec, *, name: str = "generative", k: int = 1,
                 temperature: float = 0.0, rationale: bool = True, max_new_tokens: int = 120,
                 seed: int = 0, batch_size: int = 512, progress: Progress = False,
                 generator: Generator | None = None):
        self.model, self.codec, self.name = model, codec, name
        self.k, self.temperature, self.rationale = k, temperature, rationale
        self.max_new_tokens, self.seed, self.batch_size, self.progress = max_new_tokens, seed, batch_size, progress
        self.generator = generator_for(model, generator, batch_size=batch_size, pad_id=codec.pad_id)
        if self.model is not None:
            self.model.eval()

    def _prompts(self, records: Sequence[Record]) -> tuple[list[list[int]], list[tuple[int, int]]]:
        prompts, where = [], []
        for ri, r in enumerate(records):
            for si in range(len(r.steps)):
                prompts.append(self.codec.check_prompt(r.problem, r.steps[: si + 1]))
                where.append((ri, si))
        return prompts, where

    def score(self, records: Sequence[Record]) -> list[StepScores]:
        prompts, where = self._prompts(records)
        c = self.codec
        sums = [[0.0] * len(r.steps) for r in records]
        texts: list[list[str]] = [[""] * len(r.steps) for r in records]
        failures = gen_tokens = 0
        prompt_tokens = 0
        if self.k > 1 and self.temperature == 0:
            raise ValueError("k > 1 rationales need a sampling temperature above 0")
        for k in range(self.k):
            with generation_progress(self.progress, self.name) as on_progress:
                samples = self.generator.generate(
                    prompts, max_new_tokens=self.max_new_tokens if self.rationale else 1,
                    temperature=self.temperature, stop_ids=[c.ok_id, c.bad_id, c.eos_id],
                    watch_ids=[c.ok_id, c.bad_id], seed=seeds.seed("judge.generative.sample", self.seed, index=k),
                    progress=on_progress)
            gen_tokens += n_tokens(samples)
            prompt_tokens += sum(len(p) for p in prompts)
            for (ri, si), sample in zip(where, samples):
                seq, probs = sample.ids, sample.watch_probs
                if not seq:
                    failures += 1
                    s = 0.5
                elif self.rationale and seq[-1] not in (c.ok_id, c.bad_id, c.eos_id):
                    failures += 1  # ran out of tokens before the verdict
                    s = 0.5
                else:
                    p_ok, p_bad = (float(x) for x in probs[-1])
                    s = p_ok / (p_ok + p_bad) if p_ok + p_bad > 0 else 0.5
                sums[ri][si] += s
                if k == 0 and self.rationale:
                    texts[ri][si] = c.decode([t for t in seq if t not in (c.ok_id, c.bad_id, c.eos_id)]).strip()
        out = []
        for ri, r in enumerate(records):
            scores, low = [], 1.0
            for s in sums[ri]:
                low = min(low, s / self.k)
                scores.append(low)
            out.append(StepScores(r.id, scores, rationales=texts[ri] if self.rationale else None))
        self.stats = {"parse_failures": failures, "prompts": len(prompts) * self.k, "k": self.k,
                      "generated_tokens": gen_tokens, "prompt_tokens": prompt_tokens}
        return out
