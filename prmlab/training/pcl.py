"""Post-Completion Learning (PCL, arXiv:2507.20252): after its answer the policy writes a
self-evaluation ending in a predicted reward, a segment that exists only in training.

The segment in the arith text format reuses the markers the base is pretrained on for checks
(`prmlab/models/text.py`), so it needs no new token:

    <bos> problem <sep> step <step> ... answer = 9 <step> <eos> | <check> text ... <ok>
    \\_____ prompt ____/ \\_________ answer (stops at <eos>) ___/   \\__ self-evaluation __/

* The answer ends at `<eos>`, as at inference: generation stops there, so test accuracy is
  measured without the segment, by the same greedy decoding as plain GRPO.
* The segment starts with a forced `<check>` (prmlab writes it; it is no sampled action, so
  the loss masks it out: `StepBatch.train_mask`), then the policy writes up to
  `eval_max_tokens` tokens until it stops (a verdict or the end token), and its verdict is
  drawn there from P(<ok>) / (P(<ok>) + P(<bad>)) (`training/judge_rl.verdict_at_stop`, as the
  RL judge draws it): `<ok>` predicts reward 1, `<bad>` 0. A base pretrained on checks without
  verdicts ends its checks with the end token and never samples a verdict token itself
  (measured on the quick policy: 0 to 24 of 1,280 training segments held one), so without the
  draw the agreement term would never pay. A segment that runs out of tokens predicts nothing.
* Reward = correctness + `lam` x agreement: correctness is the verifier's 0/1 (the outcome
  reward), agreement is 1 iff the prediction equals it (no prediction: 0). One group-relative
  advantage per completion covers the answer and the segment tokens alike (the reward as the
  issue states it, one sum); with `lam = 0` the segment is still written but carries no reward
  of its own.

As a judge (`self_eval`), the segment is decoded greedily after a solution with the
probabilities of `<ok>` and `<bad>` watched; the score of the solution is
P(<ok>) / (P(<ok>) + P(<bad>)) where the segment stopped (at its verdict or its end token), and
its verdict is the greedy form of the training draw: the written one, or, where the segment
ended without one, `<ok>` iff the score is at least 0.5 (the generative judge's reading). Only
a segment that ran out of tokens has no verdict (`no_verdict`). No extra model is run: the
policy judges itself.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field

from prmlab import seeds
from prmlab.data.tasks import Task, is_solved
from prmlab.models.generator import Generator
from prmlab.models.text import Codec
from prmlab.training.grpo import RLConfig, group_advantages
from prmlab.training.grpo_loop import GRPOLoop, StepBatch, reward_stats
from prmlab.training.judge_rl import verdict_at_stop
from prmlab.training.rewards import Completion


class PCLConfig(BaseModel):
    """The self-evaluation segment and its reward."""

    model_config = ConfigDict(extra="forbid", strict=True)
    lam: float = Field(1.0, ge=0, allow_inf_nan=False,
                       description="weight of the agreement term: reward = correct + lam x agreement")
    eval_max_tokens: int = Field(24, ge=1, description="longest self-evaluation segment (after the forced <check>)")


@dataclasses.dataclass(frozen=True)
class SelfEval:
    """One segment: its ids (after the forced `<check>`), the prediction, the judge score."""

    ids: list[int]
    predicted: int | None  # 1: <ok>, 0: <bad>, None: ran out of tokens (or not watched, no verdict)
    score: float | None  # P(<ok>) / (P(<ok>) + P(<bad>)) where it stopped (None: not watched)


def prediction(codec: Codec, segment: Sequence[int]) -> int | None:
    """The predicted reward of a segment: its first verdict token (1 for `<ok>`, 0 for `<bad>`).

    >>> from prmlab.training.base import arith_codec
    >>> c = arith_codec()
    >>> prediction(c, c.encode("answer") + [c.ok_id]), prediction(c, [c.bad_id, c.ok_id]), prediction(c, [c.eos_id])
    (1, 0, None)
    """
    for i in segment:
        if i == codec.ok_id:
            return 1
        if i == codec.bad_id:
            return 0
    return None


def pcl_reward(correct: float, predicted: int | None, lam: float) -> float:
    """correct + lam x [predicted == correct]; no prediction agrees with nothing.

    >>> pcl_reward(1.0, 1, 0.5), pcl_reward(0.0, 0, 0.5), pcl_reward(1.0, 0, 0.5), pcl_reward(0.0, None, 0.5)
    (1.5, 0.5, 1.0, 0.0)
    """
    agree = predicted is not None and int(predicted) == int(correct)
    return float(correct) + lam * float(agree)


def segment_prompt(codec: Codec, prompt: Sequence[int], answer: Sequence[int]) -> list[int]:
    """The context the segment is written in: prompt + answer (ending at `<eos>`) + `<check>`."""
    return list(prompt) + list(answer) + list(codec.check)


def self_evaluate(generator: Generator, codec: Codec, prompts: Sequence[Sequence[int]],
                  answers: Sequence[Sequence[int]], *, max_tokens: int, temperature: float = 0.0,
                  seed: int | None = None, logprobs: bool = False,
                  watch: bool = True) -> tuple[list[SelfEval], list]:
    """Write the segment after each answer; the segments and the raw samples (log-probs)."""
    ctx = [segment_prompt(codec, p, a) for p, a in zip(prompts, answers)]
    samples = generator.generate(ctx, max_new_tokens=max_tokens, temperature=temperature,
                                 stop_ids=[codec.ok_id, codec.bad_id, codec.eos_id], seed=seed,
                                 logprobs=logprobs,
                                 watch_ids=[codec.ok_id, codec.bad_id] if watch else None)
    out = []
    for s in samples:
        score, predicted = None, prediction(codec, s.ids)
        if watch and s.watch_probs is not None and len(s.watch_probs):
            ok, bad = (float(x) for x in s.watch_probs[len(s.ids) - 1])
            score = ok / (ok + bad) if ok + bad > 0 else 0.5
            if predicted is None and s.ids and s.ids[-1] == codec.eos_id:
                predicted = int(score >= 0.5)  # stopped without a verdict: read it there
        out.append(SelfEval(list(s.ids), predicted, score))
    return out, samples


def _rewarded_in_sample(batch):
    raise RuntimeError("PCLLoop rewards its batches in PCLLoop.sample, not through GRPOLoop.sample")


class PCLLoop:
    """GRPO with the PCL segment: samples answers and segments, rewards them, and updates
    through `GRPOLoop.update` (composition: the loop's optimizer, reference and loss)."""

    def __init__(self, model, codec: Codec, cfg: RLConfig, pcl: PCLConfig, task: Task, *,
                 generator: Generator | None = None):
        self.grpo = GRPOLoop(model, codec, cfg, reward=_rewarded_in_sample, generator=generator)
        self.model, self.codec, self.cfg, self.pcl, self.task = model, codec, cfg, pcl, task
        self.generator = self.grpo.generator
        self.last_self_evals: list[SelfEval] = []

    def sample(self, problems: Sequence[str], step: int) -> StepBatch:
        cfg, codec = self.cfg, self.codec
        self.model.eval()
        with torch.no_grad():
            # plain GRPO's own sampler: equal seeds sample equal answers
            prompts, slots, answers = self.grpo.sample_answers(problems, step)
            _, segs = self_evaluate(self.generator, codec, prompts, [a.ids for a in answers],
                                    max_tokens=self.pcl.eval_max_tokens,
                                    temperature=cfg.temperature,
                                    seed=seeds.seed("pcl.segment", cfg.seed, index=step),
                                    logprobs=True, watch=True)
            seg_ids, seg_lps = verdict_at_stop(segs, codec, temperature=cfg.temperature,
                                               rng=seeds.rng("pcl.verdict", cfg.seed, step))
            evals = [SelfEval(ids, prediction(codec, ids), None) for ids in seg_ids]
        completions, comp_ids, lps, masks, rewards = [], [], [], [], []
        n_check = len(codec.check)
        for (g, j, text), a, e, s_lps in zip(slots, answers, evals, seg_lps):
            steps = codec.split_steps(a.ids)
            completions.append(Completion(text, steps, step, g, j))
            comp_ids.append(list(a.ids) + list(codec.check) + list(e.ids))
            lps.append(list(a.logprobs or []) + [0.0] * n_check + s_lps)
            masks.append([1.0] * len(a.ids) + [0.0] * n_check + [1.0] * len(e.ids))
            rewards.append(pcl_reward(float(is_solved(self.task, text, steps)), e.predicted,
                                      self.pcl.lam))
        t = max(1, max(len(m) for m in masks))
        mask = torch.zeros((len(masks), t))
        for i, m in enumerate(masks):
            mask[i, :len(m)] = torch.tensor(m)
        batch = StepBatch(completions, prompts, comp_ids, lps, rewards,
                          group_advantages(rewards, cfg.num_generations, scale=cfg.scale_rewards),
                          train_mask=mask, two_way_last=(codec.ok_id, codec.bad_id))
        self.last_self_evals = evals
        return batch

    def run(self, problems: Sequence[str], *, start_step: int = 0,
            on_step: Callable[[int, dict, StepBatch, list[SelfEval]], None] | None = None) -> list[dict]:
        """Steps `start_step`..`cfg.steps - 1`; one row per step (GRPO's statistics plus the
        segment's: correctness, prediction and agreement rates)."""
        if not problems:
            raise ValueError("no training problems")
        rows = []
        for step in range(start_step, self.cfg.steps):
            t0 = time.perf_counter()
            batch = self.sample(problems, step)
            evals = self.last_self_evals
            t1 = time.perf_counter()
            stats = self.grpo.update(batch)
            t2 = time.perf_counter()
            correct = [float(is_solved(self.task, c.problem, c.steps)) for c in batch.completions]
            n = len(correct)
            row = {"step": step + 1, **reward_stats(batch.rewards, self.cfg.num_generations),
                   "correct_mean": sum(correct) / n,
                   "predicted_share": sum(e.predicted is not None for e in evals) / n,
                   "predicted_ok_share": sum(e.predicted == 1 for e in evals) / n,
                   "agreement_mean": sum(e.predicted is not None and e.predicted == int(c)
                                         for e, c in zip(evals, correct)) / n,
                   "completion_tokens": int(batch.train_mask.sum()),
                   "sample_s": t1 - t0, "update_s": t2 - t1, **stats}
            rows.append(row)
            if on_step is not None:
                on_step(step + 1, row, batch, evals)
        return rows
