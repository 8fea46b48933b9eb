"""prmlab's own GRPO loop for a causal-LM policy: sample through the batched engine, reward,
group-relative advantages, clipped updates (`prmlab.training.grpo`).

Why not only TRL's `GRPOTrainer`: it generates with `model.generate` (or a vLLM server), one
batch at a time, and has no seam for advantages that differ per step of a solution or across
a tree of rollouts, which process rewards and Tree-GRPO need; this loop samples through any
`prmlab.models.generator.Generator` (the KV-cache engine by default, `logprobs=True`, so the
sampling policy's log-probabilities come with the tokens) and takes advantages of shape (B,)
or (B, T) (`advantages=` hook). `bench/rl_throughput.py` measures it against TRL's trainer on
the same model and batch.

One step: pick `prompts_per_step` training problems (named stream `rl.order`; fewer problems
than slots are repeated to fill the batch, as one-example RLVR does), sample
`num_generations` completions of each (stream `rl.sample`), score them with the reward, form
advantages, then `iterations` optimizer steps on that batch. The log-probabilities of the
update are the model's own (temperature 1), the distribution the engine reports; with
`iterations = 1` the ratio is exactly 1 (old = current, detached, as TRL does), and the gap
between the engine's and the training forward's log-probabilities is recorded as a check
(`engine_logprob_gap`), with `iterations > 1` the engine's log-probabilities are the old
policy's.

Nothing here writes files: `on_step(step, row, completions)` receives each finished step
(the experiment saves it; the CLI draws a bar from it).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Callable, Sequence

import torch

from prmlab import seeds
from prmlab.models.generator import Generator, KVCacheGenerator
from prmlab.models.text import Codec
from prmlab.training.grpo import RLConfig, group_advantages, grpo_loss
from prmlab.training.rewards import Completion, RewardFn


@dataclasses.dataclass
class StepBatch:
    """What one step sampled: completions (steps decoded), their ids, rewards, advantages."""

    completions: list[Completion]
    prompt_ids: list[list[int]]
    completion_ids: list[list[int]]
    engine_logprobs: list[list[float]]
    rewards: list[float]
    advantages: torch.Tensor
    train_mask: torch.Tensor | None = None
    """(B, T) 0/1: which completion tokens the loss reads (None: all). PCL puts a token it
    forced, not sampled, into the completion and masks it out here."""
    two_way_last: tuple[int, int] | None = None
    """(ok, bad): a completion ending in one of them drew it two ways (`completion_logprobs`);
    PCL's self-evaluation verdict. None: every token is a full-vocabulary draw."""


AdvantageFn = Callable[[StepBatch, RLConfig], torch.Tensor]
"""Per-sequence (B,) or per-token (B, T) advantages of a sampled batch (T: longest completion)."""


def chain_advantages(batch: StepBatch, cfg: RLConfig) -> torch.Tensor:
    """GRPO's: one group-relative advantage per completion."""
    return group_advantages(batch.rewards, cfg.num_generations, scale=cfg.scale_rewards)


def batch_problems(problems: Sequence[str], cfg: RLConfig, step: int) -> list[str]:
    """The problems of step `step`: a draw without replacement from stream `rl.order`, cycled
    to fill `prompts_per_step` slots when there are fewer problems than slots.

    >>> c = RLConfig(prompts_per_step=4)
    >>> batch_problems(["a"], c, 0), sorted(batch_problems(list("abcdef"), c, 0)) == sorted(set(batch_problems(list("abcdef"), c, 0)))
    (['a', 'a', 'a', 'a'], True)
    """
    rng = seeds.rng("rl.order", cfg.seed, step)
    order = rng.sample(range(len(problems)), min(len(problems), cfg.prompts_per_step))
    return [problems[order[i % len(order)]] for i in range(cfg.prompts_per_step)]


def completion_logprobs(model, prompt_ids: Sequence[Sequence[int]],
                        completion_ids: Sequence[Sequence[int]], pad_id: int,
                        device=None, two_way_last: tuple[int, int] | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Temperature-1 log-probabilities (B, T) of each completion's tokens given its prompt, and
    the 0/1 mask of real completion tokens (right padding). With `two_way_last` = (a, b), a
    completion whose last token is a or b has that token's log-probability taken over {a, b}
    only (an RL judge's verdict drawn two ways, `training/judge_rl.py`)."""
    device = device or next(model.parameters()).device
    lens = [len(p) + len(c) for p, c in zip(prompt_ids, completion_ids)]
    width = max(lens)
    t = max(1, max(len(c) for c in completion_ids))
    ids = torch.full((len(lens), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(lens), width), dtype=torch.long)
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        ids[i, :lens[i]] = torch.tensor(list(p) + list(c), dtype=torch.long)
        attn[i, :lens[i]] = 1
    ids, attn = ids.to(device), attn.to(device)
    logits = model(input_ids=ids, attention_mask=attn).logits.float()
    logp_all = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    out = torch.zeros((len(lens), t), device=device)
    mask = torch.zeros((len(lens), t), device=device)
    for i, (p, c) in enumerate(zip(prompt_ids, completion_ids)):
        if c:  # token j of the completion sits at position len(p) + j, predicted from the one before
            out[i, :len(c)] = logp_all[i, len(p) - 1:len(p) - 1 + len(c)]
            mask[i, :len(c)] = 1.0
            if two_way_last is not None and c[-1] in two_way_last:
                pair = torch.log_softmax(logits[i, lens[i] - 2, list(two_way_last)], dim=-1)
                out[i, len(c) - 1] = pair[two_way_last.index(c[-1])]
    return out, mask


def _pad(rows: Sequence[Sequence[float]], t: int) -> torch.Tensor:
    x = torch.zeros((len(rows), t))
    for i, r in enumerate(rows):
        x[i, :len(r)] = torch.tensor(list(r), dtype=torch.float32)
    return x


def frozen_reference(model, cfg: RLConfig):
    """The starting model, frozen, for the KL term; None when `beta` is 0."""
    if cfg.beta <= 0:
        return None
    ref = copy.deepcopy(model).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


def rl_optimizer(model, cfg: RLConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices other than embeddings only."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)


def optimizer_step(model, opt, loss, cfg: RLConfig) -> dict[str, float]:
    """One step on `loss` (gradients clipped to `grad_clip` when it is > 0): the loss and the
    gradient norm before clipping."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    out = {}
    if cfg.grad_clip > 0:
        out["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
    opt.step()
    return {**out, "loss": float(loss.detach())}


def reward_stats(rewards: Sequence[float], num_generations: int) -> dict[str, float | int]:
    """A step's reward mean and std, and how many groups got one reward for every sample (no
    signal for GRPO)."""
    r = torch.tensor(rewards)
    groups = r.view(-1, num_generations)
    return {"reward_mean": float(r.mean()), "reward_std": float(r.std()) if r.numel() > 1 else 0.0,
            "groups_all_equal": int((groups.max(1).values == groups.min(1).values).sum())}


class GRPOLoop:
    """GRPO on a causal-LM policy. `reward` scores completions; `advantages` (default: chain
    GRPO's) turns a scored batch into advantages."""

    def __init__(self, model, codec: Codec, cfg: RLConfig, reward: RewardFn, *,
                 generator: Generator | None = None, advantages: AdvantageFn = chain_advantages,
                 batch_size: int = 256):
        self.model, self.codec, self.cfg, self.reward = model, codec, cfg, reward
        self.generator = generator or KVCacheGenerator(model, batch_size=batch_size, pad_id=codec.pad_id)
        self.advantages = advantages
        self.ref = frozen_reference(model, cfg)
        self.opt = rl_optimizer(model, cfg)

    def sample_answers(self, problems: Sequence[str], step: int):
        """Step `step`'s prompts, their (group, index, problem) slots and sampled answers (with
        log-probs), from the `rl.sample` stream; the caller sets eval mode and no_grad."""
        cfg, codec = self.cfg, self.codec
        prompts, slots = [], []
        for g, text in enumerate(batch_problems(problems, cfg, step)):
            for j in range(cfg.num_generations):
                prompts.append(codec.policy_prompt(text))
                slots.append((g, j, text))
        samples = self.generator.generate(prompts, max_new_tokens=cfg.max_new_tokens,
                                          temperature=cfg.temperature, stop_ids=[codec.eos_id],
                                          seed=seeds.seed("rl.sample", cfg.seed, index=step),
                                          logprobs=True)
        return prompts, slots, samples

    def sample(self, problems: Sequence[str], step: int) -> StepBatch:
        """Sample and score step `step`'s batch (the model in eval mode, no gradients)."""
        cfg, codec = self.cfg, self.codec
        self.model.eval()
        with torch.no_grad():
            prompts, comps, samples = self.sample_answers(problems, step)
        completions = [Completion(text, codec.split_steps(s.ids), step, g, j)
                       for (g, j, text), s in zip(comps, samples)]
        rewards = [float(r) for r in self.reward(completions)]
        batch = StepBatch(completions, prompts, [s.ids for s in samples],
                          [list(s.logprobs or []) for s in samples], rewards, torch.zeros(0))
        batch.advantages = self.advantages(batch, cfg)
        return batch

    def update(self, batch: StepBatch) -> dict[str, float]:
        """`iterations` optimizer steps on a sampled batch; the last one's statistics."""
        cfg = self.cfg
        self.model.train()
        stats: dict[str, float] = {}
        t = max(1, max(len(c) for c in batch.completion_ids))
        engine = _pad(batch.engine_logprobs, t)
        ref_logp = None
        if self.ref is not None:
            with torch.no_grad():
                ref_logp, _ = completion_logprobs(self.ref, batch.prompt_ids, batch.completion_ids,
                                                  self.codec.pad_id, two_way_last=batch.two_way_last)
        adv = batch.advantages
        if adv.ndim == 2 and adv.shape[1] < t:  # per-token advantages of the longest completion
            adv = torch.nn.functional.pad(adv, (0, t - adv.shape[1]))
        for it in range(cfg.iterations):
            logp, mask = completion_logprobs(self.model, batch.prompt_ids, batch.completion_ids,
                                             self.codec.pad_id, two_way_last=batch.two_way_last)
            if batch.train_mask is not None:
                mask = mask * batch.train_mask[:, :mask.shape[1]].to(mask.device)
            if it == 0:
                n = mask.sum().clamp_min(1.0)
                stats["engine_logprob_gap"] = float(((logp.detach() - engine).abs() * mask).sum() / n)
            old = logp.detach() if cfg.iterations == 1 else engine.to(logp.device)
            loss, st = grpo_loss(logp, old, adv.to(logp.device), mask, cfg, ref_logp)
            stats.update(st, **optimizer_step(self.model, self.opt, loss, cfg))
        return stats

    def run(self, problems: Sequence[str], *, start_step: int = 0,
            on_step: Callable[[int, dict, StepBatch], None] | None = None) -> list[dict]:
        """Steps `start_step`..`cfg.steps - 1`; one row per step (reward mean, accuracy-free
        statistics, tokens, seconds)."""
        if not problems:
            raise ValueError("no training problems")
        rows = []
        for step in range(start_step, self.cfg.steps):
            t0 = time.perf_counter()
            batch = self.sample(problems, step)
            t1 = time.perf_counter()
            stats = self.update(batch)
            t2 = time.perf_counter()
            row = {"step": step + 1, **reward_stats(batch.rewards, self.cfg.num_generations),
                   "completion_tokens": sum(len(c) for c in batch.completion_ids),
                   "sample_s": t1 - t0, "update_s": t2 - t1, **stats}
            rows.append(row)
            if on_step is not None:
                on_step(step + 1, row, batch)
        return rows
