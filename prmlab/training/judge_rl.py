"""Judges trained by reinforcement (StepWiser, arXiv:2508.19229): the parts of one GRPO step.

A judge's prompt is one (solution prefix, step): the check prompt of the problem and the steps
through step i (`codec.check_prompt`), for every step through a solution's first error (the
steps a verifier that stops there reads, as the supervised judges do). Its label is the step's
label in the records it trains on: gold labels, or labels derived from rollouts (the flagship's
label-free cells pass those records in unchanged). Nothing else decides what a label is.

* Sampling (`balanced_draw`): StepWiser reports that a judge trained on prompts as they come
  (most steps are correct) collapses to "always correct". With `balance` each step's batch holds
  ceil(n/2) prompts of incorrect steps and floor(n/2) of correct ones (the extra slot goes to
  the rarer class in practice: a bad step), each class drawn without replacement and cycled
  when it holds fewer prompts than slots; a class absent from the pool gives its slots to the
  other, and the counts actually sampled are recorded per step.
* Reward (`verdict_reward`): 1 when the completion's verdict token agrees with the label, 0
  when it disagrees or when the completion has no verdict (it ran out of tokens before its
  stop): the verdict is read from the completion's token ids, never from decoded text.
* The two policies. `generative-rl` samples a worked check from the full vocabulary through the
  batched KV-cache engine (`models.generator.KVCacheGenerator`, with log-probabilities) until
  it stops (a verdict or the end token), and its verdict is then drawn at that stop position
  from the two-way distribution P(ok) / (P(ok) + P(bad)) (`verdict_at_stop`), which is exactly
  the score `GenerativeJudge` reads there. A base pretrained on checks without verdicts ends
  its check with the end token and never samples a verdict token (measured on the quick base:
  every sample, reward 0 on every step, nothing learned), so a verdict sampled from the full
  vocabulary would give GRPO no signal; the two-way draw is the judge's own score as its
  action. The stop decision itself is not trained (its token's log-probability is the verdict's
  two-way one). `direct-rl` has no check: its action is the verdict itself, drawn from the two-way
  distribution P(ok) / (P(ok) + P(bad)) right after the check marker, which is the score the
  direct judge reports; one batched forward pass is its whole "generation". Sampling the first
  token from the full vocabulary instead would give a base that writes checks there a reward of
  0 on nearly every sample, so every group would tie and GRPO would learn nothing.

The update is GRPO's arithmetic from `training/grpo.py` (group advantages, clip-higher, the loss
types, k3 KL): one group of `num_generations` completions per prompt. Training, dev selection
and saving are in `training/judge_rl_fit.py`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Literal, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

from prmlab import seeds
from prmlab.data.record import Record
from prmlab.keys import DEFAULT_OFF, without_default_off
from prmlab.models.generator import KVCacheGenerator, Sample
from prmlab.models.text import Codec
from prmlab.supervision.budget import step_labels_through_first_error
from prmlab.training.grpo import RLConfig, group_advantages, grpo_loss
from prmlab.training.grpo_loop import (completion_logprobs, frozen_reference, optimizer_step,
                                       rl_optimizer)


def _default_grpo() -> RLConfig:
    return RLConfig(steps=30, prompts_per_step=8, num_generations=4, max_new_tokens=120,
                    lr=1e-4, temperature=1.0, loss_type="dapo", epsilon=0.2, epsilon_high=0.28,
                    beta=0.0)


class JudgeRLConfig(BaseModel):
    """How an RL-trained judge (generative-rl, direct-rl) or a rejection-sampling fine-tuned one
    (rft) learns; read only by those formats."""

    model_config = ConfigDict(extra="forbid", strict=True)
    # its own seed is unused: the judge seed seeds the prompts' order and the samples
    grpo: RLConfig = Field(default_factory=_default_grpo, description="GRPO's algorithm and "
                           "schedule (rft: max_new_tokens of a sampled check)")
    balance: bool = Field(True, description="class-balanced prompts: half correct, half incorrect "
                          "steps per batch (false: as the labels come)")
    eval_every: int = Field(10, ge=1, description="dev F1 read before training and every this many "
                            "steps; the best step's weights are kept")
    rft_samples: int = Field(4, ge=1, description="rft only: checks sampled per step from the start; "
                             "kept when the verdict matches the label")
    rft_temperature: float = Field(1.0, gt=0, allow_inf_nan=False,
                                   description="rft only: sampling temperature of those checks")
    start: Literal["base", "sft"] = Field(
        "base", json_schema_extra=DEFAULT_OFF,
        # sft = StepWiser's warm start: the format's supervised judge (JudgeFormat.sft_start),
        # fitted on the same budget, seed and dev split; rft ignores it
        description="GRPO formats: RL from the base, or from its supervised judge fitted first (sft)")

    @model_serializer(mode="wrap")
    def _dump(self, handler, info):
        # `start` left out while at its default: folders pinned before it existed resume
        return without_default_off(self, handler(self), info)

    @field_validator("grpo", mode="before")
    @classmethod
    def _over_judge_defaults(cls, v):
        # A partial section (`judge.rl.grpo.steps=40`, a preset's few keys) keeps the judge's
        # defaults for the rest, not RLConfig's (which are a policy's).
        return {**_default_grpo().model_dump(), **v} if isinstance(v, dict) else v


@dataclasses.dataclass(frozen=True)
class StepPrompt:
    """One (solution prefix, step) prompt of a judge and its step's label."""

    record_id: str
    step: int
    prompt: tuple[int, ...]
    good: bool


def step_prompts(codec: Codec, records: Sequence[Record]) -> tuple[list[StepPrompt], int]:
    """Every labelled step through each solution's first error, and the number of steps there
    whose label is unknown (None: no reward can be computed; counted, never guessed)."""
    out, unlabelled = [], 0
    for r in records:
        for i in range(step_labels_through_first_error(r)):
            lab = r.labels[i]
            if lab is None:
                unlabelled += 1
                continue
            out.append(StepPrompt(r.id, i, tuple(codec.check_prompt(r.problem, r.steps[: i + 1])),
                                  bool(lab)))
    return out, unlabelled


def _cycled(rng, members: list[int], n: int) -> list[int]:
    """`n` of `members`: without replacement, then again from a fresh shuffle when n exceeds them."""
    out: list[int] = []
    while len(out) < n:
        order = list(members)
        rng.shuffle(order)
        out += order[: n - len(out)]
    return out


def balanced_draw(good: Sequence[bool], n: int, seed: int, step: int, *, balance: bool = True) -> list[int]:
    """Indices of the `n` prompts of step `step` (stream `judge_rl.order`); see the module doc.

    >>> labels = [True, True, True, True, True, False]
    >>> sorted(labels[i] for i in balanced_draw(labels, 4, 0, 0))  # two of each class
    [False, False, True, True]
    >>> sorted(labels[i] for i in balanced_draw([True] * 3, 4, 0, 0))  # no bad step to draw
    [True, True, True, True]
    """
    if not good:
        raise ValueError("no labelled steps to draw prompts from")
    rng = seeds.rng("judge_rl.order", seed, step)
    pos = [i for i, g in enumerate(good) if g]
    neg = [i for i, g in enumerate(good) if not g]
    if not balance or not pos or not neg:
        return _cycled(rng, list(range(len(good))), n)
    n_bad = n - n // 2
    picked = _cycled(rng, neg, n_bad) + _cycled(rng, pos, n // 2)
    rng.shuffle(picked)
    return picked


def verdict_of(ids: Sequence[int], codec: Codec) -> bool | None:
    """The completion's verdict: True at the ok token, False at the bad token, None when it has
    neither (it ended or ran out of tokens first). The first verdict token counts (the engine
    stops there)."""
    for t in ids:
        if t == codec.ok_id:
            return True
        if t == codec.bad_id:
            return False
    return None


def two_way(p_ok: float, p_bad: float, temperature: float = 1.0) -> float:
    """P(ok) / (P(ok) + P(bad)) of the verdict at `temperature` (0.5 when both underflow).

    >>> two_way(1.0, 3.0), two_way(0.0, 0.0), round(two_way(3.0, 1.0, 0.5), 4)
    (0.25, 0.5, 0.9)
    """
    if p_ok <= 0 and p_bad <= 0:
        return 0.5
    if temperature == 1.0:
        return p_ok / (p_ok + p_bad)  # the generative judge's score, to the bit
    if p_bad <= 0 or p_ok <= 0:
        return 1.0 if p_ok > 0 else 0.0
    d = (math.log(p_bad) - math.log(p_ok)) / temperature
    return 1.0 / (1.0 + math.exp(d)) if d < 700 else 0.0


def verdict_at_stop(samples: Sequence[Sample], codec: Codec, *, temperature: float,
                    rng) -> tuple[list[list[int]], list[list[float]]]:
    """Each sampled check with its verdict drawn where it stopped (see the module doc): the stop
    token (ok, bad or end) is replaced by ok with probability `two_way` of the watched (ok, bad)
    probabilities at that position, else bad; its log-probability becomes the temperature-1
    two-way one. A check that ran out of tokens is kept as it is (no verdict). `samples` need
    `watch_probs` of (ok, bad); `rng` is a `random.Random` (one draw per stopped sample, in order)."""
    stops = (codec.ok_id, codec.bad_id, codec.eos_id)
    ids_out, lps_out = [], []
    for s in samples:
        ids, lps = list(s.ids), list(s.logprobs or [])
        if ids and ids[-1] in stops:
            if s.watch_probs is None or len(s.watch_probs) == 0:
                raise ValueError("verdict_at_stop needs the samples' watch_probs of (ok, bad)")
            p_ok, p_bad = (float(x) for x in s.watch_probs[-1])
            ok = rng.random() < two_way(p_ok, p_bad, temperature)
            ids[-1] = codec.ok_id if ok else codec.bad_id
            if lps:
                q = two_way(p_ok, p_bad)
                lps[-1] = math.log(max(q if ok else 1.0 - q, 1e-30))
        ids_out.append(ids)
        lps_out.append(lps)
    return ids_out, lps_out


def verdict_reward(verdict: bool | None, good: bool) -> float:
    """1 when the verdict agrees with the step's label, else 0 (no verdict is a wrong one).

    >>> [verdict_reward(v, g) for v, g in ((True, True), (False, False), (True, False), (None, True))]
    [1.0, 1.0, 0.0, 0.0]
    """
    return 1.0 if verdict is not None and verdict == good else 0.0


@dataclasses.dataclass
class JudgeBatch:
    """One step's samples: prompt per completion, completion ids, the sampling policy's
    log-probabilities, verdicts, rewards, advantages."""

    items: list[StepPrompt]  # one per completion (each prompt num_generations times)
    completion_ids: list[list[int]]
    logprobs: list[list[float]]
    verdicts: list[bool | None]
    rewards: list[float]
    advantages: torch.Tensor
    entropy: float  # per-token entropy of the sampling policy (see `JudgeGRPO.sample`)


def _verdict_logits(model, prompts: Sequence[Sequence[int]], codec: Codec) -> torch.Tensor:
    """(B, 2) logits of (ok, bad) after each prompt (right-padded batch, read at its last token)."""
    device = next(model.parameters()).device
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), codec.pad_id, dtype=torch.long)
    attn = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, : len(p)] = torch.tensor(list(p))
        attn[i, : len(p)] = 1
    logits = model(input_ids=ids.to(device), attention_mask=attn.to(device)).logits.float()
    last = torch.tensor([len(p) - 1 for p in prompts], device=device)
    rows = logits[torch.arange(len(prompts), device=device), last]
    return rows[:, [codec.ok_id, codec.bad_id]]


class JudgeGRPO:
    """GRPO on a judge. `rationale`: the generative-rl policy (check, then verdict); otherwise
    the direct-rl policy (the two-way verdict). `seed` is the judge seed."""

    def __init__(self, model, codec: Codec, cfg: RLConfig, *, rationale: bool, seed: int,
                 balance: bool = True, batch_size: int = 256):
        self.model, self.codec, self.cfg = model, codec, cfg
        self.rationale, self.seed, self.balance = rationale, seed, balance
        self.generator = KVCacheGenerator(model, batch_size=batch_size, pad_id=codec.pad_id)
        self.ref = frozen_reference(model, cfg)  # the starting judge, frozen
        self.opt = rl_optimizer(model, cfg)

    def sample(self, pool: Sequence[StepPrompt], step: int) -> JudgeBatch:
        """Step `step`'s prompts (balanced when asked), `num_generations` completions each.

        Entropy: generative-rl's is the mean of -log p over the sampled tokens (an unbiased
        estimate of the per-token entropy at temperature 1; at another temperature a cross-
        entropy); direct-rl's is the exact entropy of its two-way verdict, averaged over prompts."""
        cfg, codec, g = self.cfg, self.codec, self.cfg.num_generations
        idx = balanced_draw([p.good for p in pool], cfg.prompts_per_step, self.seed, step,
                            balance=self.balance)
        items = [pool[i] for i in idx for _ in range(g)]
        sample_seed = seeds.seed("judge_rl.sample", self.seed, index=step)
        self.model.eval()
        with torch.no_grad():
            if self.rationale:
                samples = self.generator.generate(
                    [list(it.prompt) for it in items], max_new_tokens=cfg.max_new_tokens,
                    temperature=cfg.temperature, stop_ids=[codec.ok_id, codec.bad_id, codec.eos_id],
                    seed=sample_seed, logprobs=True, watch_ids=[codec.ok_id, codec.bad_id])
                comps, lps = verdict_at_stop(samples, codec, temperature=cfg.temperature,
                                             rng=seeds.rng("judge_rl.verdict", self.seed, step))
                n_tok = sum(len(x) for x in lps)
                entropy = -sum(sum(x) for x in lps) / n_tok if n_tok else 0.0
            else:
                logp2 = torch.log_softmax(_verdict_logits(self.model, [pool[i].prompt for i in idx], codec), -1)
                probs = torch.softmax(logp2 / cfg.temperature, -1).repeat_interleave(g, 0)
                gen = torch.Generator().manual_seed(sample_seed)
                pick = torch.multinomial(probs.cpu(), 1, generator=gen).squeeze(1).tolist()
                comps = [[codec.ok_id if k == 0 else codec.bad_id] for k in pick]
                lp = logp2.repeat_interleave(g, 0).cpu()
                lps = [[float(lp[j, k])] for j, k in enumerate(pick)]
                entropy = float(-(logp2.exp() * logp2).sum(-1).mean())
        verdicts = [verdict_of(c, codec) for c in comps]
        rewards = [verdict_reward(v, it.good) for v, it in zip(verdicts, items)]
        adv = group_advantages(rewards, g, scale=cfg.scale_rewards)
        return JudgeBatch(items, comps, lps, verdicts, rewards, adv, entropy)

    def _logp(self, model, batch: JudgeBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) log-probabilities of the completions under `model` (with grad), and the mask."""
        if self.rationale:
            c = self.codec
            return completion_logprobs(model, [list(it.prompt) for it in batch.items],
                                       batch.completion_ids, c.pad_id, two_way_last=(c.ok_id, c.bad_id))
        logp2 = torch.log_softmax(_verdict_logits(model, [it.prompt for it in batch.items], self.codec), -1)
        col = torch.tensor([0 if c[0] == self.codec.ok_id else 1 for c in batch.completion_ids],
                           device=logp2.device)
        lp = logp2.gather(1, col.unsqueeze(1))
        return lp, torch.ones_like(lp)

    def update(self, batch: JudgeBatch) -> dict[str, float]:
        """`iterations` optimizer steps on a sampled batch; the last one's statistics."""
        cfg = self.cfg
        self.model.train()
        ref_logp = None
        if self.ref is not None:
            with torch.no_grad():
                ref_logp, _ = self._logp(self.ref, batch)
        t = max(1, max(len(c) for c in batch.completion_ids))
        engine = torch.zeros((len(batch.logprobs), t))
        for i, r in enumerate(batch.logprobs):
            engine[i, : len(r)] = torch.tensor(r, dtype=torch.float32)
        stats: dict[str, float] = {}
        for it in range(cfg.iterations):
            logp, mask = self._logp(self.model, batch)
            old = logp.detach() if cfg.iterations == 1 else engine.to(logp.device)[:, : logp.shape[1]]
            loss, st = grpo_loss(logp, old, batch.advantages.to(logp.device), mask, cfg, ref_logp)
            stats.update(st, **optimizer_step(self.model, self.opt, loss, cfg))
        return stats

    def step(self, pool: Sequence[StepPrompt], step: int) -> dict:
        """Sample, update; the curve's row for this step (1-based `step` + 1)."""
        t0 = time.perf_counter()
        batch = self.sample(pool, step)
        t1 = time.perf_counter()
        stats = self.update(batch)
        return curve_row(step + 1, batch, self.cfg.num_generations,
                         {**stats, "sample_s": t1 - t0, "update_s": time.perf_counter() - t1})


def curve_row(step: int, batch: JudgeBatch, num_generations: int, stats: dict) -> dict:
    """What the reward curve holds for one step: reward (overall and by the step's class), the
    verdicts written, the class balance sampled, entropy, and the update's statistics."""
    n = len(batch.rewards)
    good = [r for r, it in zip(batch.rewards, batch.items) if it.good]
    bad = [r for r, it in zip(batch.rewards, batch.items) if not it.good]
    groups = [batch.rewards[i: i + num_generations] for i in range(0, n, num_generations)]
    mean = sum(batch.rewards) / n

    def frac(v) -> float:
        return sum(1 for x in batch.verdicts if x is v) / n

    return {"step": step, "reward_mean": mean,
            "reward_std": math.sqrt(sum((r - mean) ** 2 for r in batch.rewards) / (n - 1)) if n > 1 else 0.0,
            "reward_good": sum(good) / len(good) if good else None,
            "reward_bad": sum(bad) / len(bad) if bad else None,
            "verdict_ok": frac(True), "verdict_bad": frac(False), "verdict_none": frac(None),
            "sampled_good": len(good) // num_generations, "sampled_bad": len(bad) // num_generations,
            "groups_all_equal": sum(1 for gr in groups if max(gr) == min(gr)),
            "entropy": batch.entropy,
            "completion_tokens": sum(len(c) for c in batch.completion_ids), **stats}
