"""The zero-label judge: the base model checks each step itself; a fixed rule gives the verdict.

It uses no step labels at all. The base learnt, from check documents in its corpus, to recompute
a step, copy the claim and compare them digit by digit; the verdict is then read off its own
comparison marks by a fixed rule (`verdict_from_text`: any `!` mark means bad). Unreadable checks score 0.5 and are counted.
The checks come from `generator=` when given, else a `KVCacheGenerator` over `model`.
"""

from __future__ import annotations

from typing import Sequence

from prmlab.data.arith.teacher import verdict_from_text
from prmlab.data.record import Record
from prmlab.judges.progress import Progress, generation_progress
from prmlab.judges.protocol import StepScores
from prmlab.models.generator import Generator, generator_for, n_tokens
from prmlab.models.text import Codec


class ZeroLabelJudge:
    def __init__(self, model, codec: Codec, *, name: str = "zero-label", max_new_tokens: int = 120,
                 batch_size: int = 512, progress: Progress = False,
                 generator: Generator | None = None):
        self.model, self.codec, self.name = model, codec, name
        self.max_new_tokens, self.batch_size, self.progress = max_new_tokens, batch_size, progress
        self.generator = generator_for(model, generator, batch_size=batch_size, pad_id=codec.pad_id)
        if self.model is not None:
            self.model.eval()
        self.stats: dict = {}

    def score(self, records: Sequence[Record]) -> list[StepScores]:
        c = self.codec
        prompts, where = [], []
        for ri, r in enumerate(records):
            for si in range(len(r.steps)):
                prompts.append(c.check_prompt(r.problem, r.steps[: si + 1]))
                where.append((ri, si))
        with generation_progress(self.progress, self.name) as on_progress:
            samples = self.generator.generate(prompts, max_new_tokens=self.max_new_tokens,
                                              stop_ids=[c.eos_id, c.ok_id, c.bad_id],
                                              progress=on_progress)
        scores = [[0.5] * len(r.steps) for r in records]
        texts = [[""] * len(r.steps) for r in records]
        failures = 0
        for (ri, si), sample in zip(where, samples):
            text = c.decode(sample.ids).strip()
            v = verdict_from_text(text)
            failures += v is None
            scores[ri][si] = 0.5 if v is None else float(v)
            texts[ri][si] = text
        out = []
        for ri, r in enumerate(records):
            run, low = [], 1.0
            for s in scores[ri]:
                low = min(low, s)
                run.append(low)
            out.append(StepScores(r.id, run, rationales=texts[ri]))
        self.stats = {"parse_failures": failures, "prompts": len(prompts),
                      "generated_tokens": n_tokens(samples),
                      "prompt_tokens": sum(len(p) for p in prompts)}
        return out
