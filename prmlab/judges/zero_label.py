"""The zero-label judge: the base model checks each step itself; a fixed rule gives the verdict.

It uses no step labels at all. The base learnt, from check documents in its corpus, to recompute
a step, copy the claim and compare them digit by digit; the verdict is then read off its own
comparison marks by a fixed rule (`verdict_from_text`; the same rule wrote the verdict tokens
of the corpus's checks, when `verdicts` is on). Unreadable checks score 0.5 and are counted.
"""

from __future__ import annotations

from typing import Sequence

from prmlab.data.arith.teacher import verdict_from_text
from prmlab.data.record import Record
from prmlab.judges.protocol import StepScores
from prmlab.models.generate import generate
from prmlab.models.text import Codec


class ZeroLabelJudge:
    def __init__(self, model, codec: Codec, *, name: str = "zero-label", max_new_tokens: int = 120,
                 batch_size: int = 512, progress: bool = False):
        self.model, self.codec, self.name = model, codec, name
        self.max_new_tokens, self.batch_size, self.progress = max_new_tokens, batch_size, progress
        self.model.eval()
        self.stats: dict = {}

    def score(self, records: Sequence[Record]) -> list[StepScores]:
        c = self.codec
        prompts, where = [], []
        for ri, r in enumerate(records):
            for si in range(len(r.steps)):
                prompts.append(c.check_prompt(r.problem, r.steps[: si + 1]))
                where.append((ri, si))
        g = generate(self.model, prompts, max_new_tokens=self.max_new_tokens,
                     stop_ids=[c.eos_id, c.ok_id, c.bad_id], pad_id=c.pad_id,
                     batch_size=self.batch_size, progress=self.progress)
        scores = [[0.5] * len(r.steps) for r in records]
        texts = [[""] * len(r.steps) for r in records]
        failures = 0
        for (ri, si), seq in zip(where, g.sequences):
            text = c.decode(seq).strip()
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
                      "generated_tokens": g.n_generated_tokens, "prompt_tokens": g.n_prompt_tokens}
        return out
