"""Discriminative judges: a classification head read at each step's end token.

The same reader serves the ORM, whose head was trained on the final step end only (the outcome):
read at every step end, it gives its running estimate that the solution ends right.
"""

from __future__ import annotations

from typing import Sequence

import torch

from prmlab.data.record import Record
from prmlab.judges.protocol import StepScores
from prmlab.models.text import Codec


class HeadJudge:
    def __init__(self, model, codec: Codec, name: str = "discriminative", batch_size: int = 64):
        self.model, self.codec, self.name, self.batch_size = model, codec, name, batch_size
        self.model.eval()

    @torch.inference_mode()
    def score(self, records: Sequence[Record]) -> list[StepScores]:
        encoded = [self.codec.solution(r.problem, r.steps) for r in records]
        out: list[StepScores | None] = [None] * len(records)
        order = sorted(range(len(records)), key=lambda i: len(encoded[i][0]))
        device = next(self.model.parameters()).device
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            n = max(len(encoded[i][0]) for i in idx)
            ids = torch.full((len(idx), n), self.codec.pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), n), dtype=torch.long)
            for row, i in enumerate(idx):
                seq = encoded[i][0]
                ids[row, :len(seq)] = torch.tensor(seq)
                mask[row, :len(seq)] = 1
            logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            probs = torch.softmax(logits.float(), dim=-1)[..., 1].cpu()
            for row, i in enumerate(idx):
                ends = encoded[i][1]
                out[i] = StepScores(records[i].id, [float(probs[row, e]) for e in ends],
                                    meta={"tokens_processed": len(encoded[i][0])})
        return out  # type: ignore[return-value]
