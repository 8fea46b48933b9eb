"""GRPO's arithmetic, shared by judge RL and policy RL: group-relative advantages, the clipped
surrogate with clip-higher, loss aggregation, and the KL to a reference; the typed `RLConfig`.

Names follow TRL's `GRPOConfig` where the concept is the same (`num_generations`,
`epsilon`/`epsilon_high`, `beta`, `loss_type`, `scale_rewards`), so a config maps onto TRL's
trainer one to one (`bench/rl_throughput.py` does).

* Advantages (`group_advantages`): rewards come in groups of `num_generations` completions of
  one prompt; A = r - mean(group), divided by std(group) + 1e-4 when `scale_rewards` (std with
  Bessel's correction, as `torch.std` and TRL compute it). Dr. GRPO (arXiv:2503.20783) drops
  the division (`scale_rewards=False`): it up-weights groups whose rewards barely differ.
* Per-token surrogate (`clipped_surrogate`): ratio = exp(logp - logp_old); loss_t =
  -min(ratio * A, clip(ratio, 1 - epsilon, 1 + epsilon_high) * A). `epsilon_high` > `epsilon`
  is DAPO's clip-higher (arXiv:2503.14476): a low-probability token may grow further before it
  is clipped, against entropy collapse. Advantages may be one per sequence (B,) or one per
  token (B, T): step-level credit passes the latter.
* KL (`k3_kl`): Schulman's k3 estimator exp(r - l) - (r - l) - 1 per token (l = logp under the
  policy, r = under the reference); added as beta * k3 before aggregation (beta = 0: no
  reference model is needed).
* Aggregation (`aggregate`, `loss_type`): `grpo` averages each sequence's tokens, then the
  sequences (the original: a long completion's tokens weigh less); `dapo` sums every token of
  the batch and divides by the number of tokens (token level); `dr_grpo` sums and divides by
  batch size x `max_new_tokens`, a constant (no length normalisation at all).
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from prmlab.keys import DEFAULT_OFF, without_default_off
from prmlab.seeds import check_config_seed

LOSS_TYPES = ("grpo", "dapo", "dr_grpo")
STD_EPS = 1e-4  # TRL's: a group of equal rewards gets advantage 0, not 0/0


class RLConfig(BaseModel):
    """One GRPO run's algorithm and schedule (the policy and the reward are chosen beside it)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    steps: int = Field(20, ge=1, description="optimizer steps (one batch of fresh samples each, times `iterations`)")
    prompts_per_step: int = Field(8, ge=1, description="problems per step: groups in a batch")
    num_generations: int = Field(8, ge=2, description="completions sampled per problem (the group)")
    temperature: float = Field(1.0, gt=0, allow_inf_nan=False, description="sampling temperature of the completions")
    max_new_tokens: int = Field(48, ge=1, description="longest completion (dr_grpo's constant normaliser)")
    lr: float = Field(1e-4, gt=0, allow_inf_nan=False, description="AdamW learning rate (constant)")
    weight_decay: float = Field(0.0, ge=0, allow_inf_nan=False, description="AdamW weight decay")
    grad_clip: float = Field(1.0, ge=0, allow_inf_nan=False, description="gradient-norm clip (0: none)")
    loss_type: Literal["grpo", "dapo", "dr_grpo"] = Field(
        "dapo", description="how token losses are averaged: grpo per sequence, dapo per token, dr_grpo by a constant")
    scale_rewards: bool = Field(True, description="divide advantages by the group's std (false: Dr. GRPO)")
    epsilon: float = Field(0.2, gt=0, lt=1, allow_inf_nan=False, description="lower clip range: ratio >= 1 - epsilon")
    epsilon_high: float = Field(0.28, gt=0, allow_inf_nan=False, description="upper clip range: ratio <= 1 + epsilon_high (clip-higher)")
    beta: float = Field(0.0, ge=0, allow_inf_nan=False, description="weight of the k3 KL to the initial policy (0: no reference)")
    iterations: int = Field(1, ge=1, description="optimizer steps on each batch of samples (>1: the ratio leaves 1 and clipping acts)")
    seed: int = Field(0, description="seeds the problems' order, the sampling and the random rewards")
    # Off by default and left out of dumps and keys while so: configs saved before it existed
    # compare equal, and resume, as before.
    backend: Literal["prmlab", "trl"] = Field(
        "prmlab", json_schema_extra=DEFAULT_OFF,
        description="who runs the loop: prmlab's own (grpo_loop.py) or TRL's GRPOTrainer (trl_backend.py)")

    @model_serializer(mode="wrap")
    def _dump(self, handler, info):
        return without_default_off(self, handler(self), info)

    @model_validator(mode="after")
    def _seed(self) -> "RLConfig":
        check_config_seed(self.seed, "seed")
        if self.backend == "trl" and self.iterations != 1:
            raise ValueError("backend trl runs iterations = 1 only (TRL counts each reuse of a "
                             "batch as a step of its own)")
        return self


def group_advantages(rewards: Sequence[float] | torch.Tensor, num_generations: int, *,
                     scale: bool = True) -> torch.Tensor:
    """Group-relative advantages of rewards laid out group after group.

    >>> group_advantages([1.0, 0.0, 0.0, 1.0], 4, scale=False).tolist()
    [0.5, -0.5, -0.5, 0.5]
    >>> [round(a, 4) for a in group_advantages([2.0, 2.0], 2).tolist()]  # equal rewards: 0
    [0.0, 0.0]
    """
    r = torch.as_tensor(rewards, dtype=torch.float32)
    if r.ndim != 1 or r.numel() % num_generations:
        raise ValueError(f"{r.numel()} rewards do not split into groups of {num_generations}")
    g = r.view(-1, num_generations)
    a = g - g.mean(dim=1, keepdim=True)
    if scale:
        a = a / (g.std(dim=1, keepdim=True) + STD_EPS)
    return a.reshape(-1)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(policy || reference): exp(r - l) - (r - l) - 1 >= 0.

    >>> round(k3_kl(torch.tensor([0.0]), torch.log(torch.tensor([0.5]))).item(), 6)  # 0.5 + ln 2 - 1
    0.193147
    """
    d = ref_logp - logp
    return torch.exp(d) - d - 1.0


def clipped_surrogate(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, *,
                      epsilon: float, epsilon_high: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token loss -min(ratio * A, clip(ratio) * A) and whether each token was clipped.

    `advantages` is (B,) (one per sequence) or (B, T) (one per token).
    """
    adv = advantages.unsqueeze(1) if advantages.ndim == 1 else advantages
    ratio = torch.exp(logp - old_logp)
    clipped_ratio = torch.clamp(ratio, 1.0 - epsilon, 1.0 + epsilon_high)
    a, b = ratio * adv, clipped_ratio * adv
    return -torch.minimum(a, b), b < a


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, loss_type: str,
              max_new_tokens: int | None = None) -> torch.Tensor:
    """One loss from per-token losses (B, T) under a 0/1 completion mask (see the module doc).

    >>> x, m = torch.tensor([[1.0, 3.0], [2.0, 0.0]]), torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    >>> [aggregate(x, m, t, 4).item() for t in LOSS_TYPES]  # (2 + 2) / 2, 6 / 3, 6 / (2 * 4)
    [2.0, 2.0, 0.75]
    """
    mask = mask.to(per_token.dtype)
    if loss_type == "grpo":
        per_seq = (per_token * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return per_seq.mean()
    if loss_type == "dapo":
        return (per_token * mask).sum() / mask.sum().clamp_min(1.0)
    if loss_type == "dr_grpo":
        if max_new_tokens is None:
            raise ValueError("dr_grpo divides by batch size x max_new_tokens: give max_new_tokens")
        return (per_token * mask).sum() / (per_token.shape[0] * max_new_tokens)
    raise ValueError(f"unknown loss_type {loss_type!r} (known: {', '.join(LOSS_TYPES)})")


def grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
              mask: torch.Tensor, cfg: RLConfig,
              ref_logp: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one batch, and its statistics (clip fraction, KL, the mean ratio).

    `logp`, `old_logp`, `ref_logp` and `mask` are (B, T) over completion tokens; `old_logp` is
    the sampling policy's (detached), `ref_logp` the reference's (needed when `cfg.beta` > 0).
    """
    per_token, clipped = clipped_surrogate(logp, old_logp.detach(), advantages,
                                           epsilon=cfg.epsilon, epsilon_high=cfg.epsilon_high)
    m = mask.to(logp.dtype)
    n = m.sum().clamp_min(1.0)
    stats = {"clip_fraction": float((clipped.to(m.dtype) * m).sum() / n),
             "ratio_mean": float((torch.exp(logp - old_logp).detach() * m).sum() / n)}
    if cfg.beta > 0:
        if ref_logp is None:
            raise ValueError("beta > 0 needs the reference policy's log-probabilities")
        kl = k3_kl(logp, ref_logp.detach())
        per_token = per_token + cfg.beta * kl
        stats["kl"] = float((kl.detach() * m).sum() / n)
    return aggregate(per_token, m, cfg.loss_type, cfg.max_new_tokens), stats


def trl_kwargs(cfg: RLConfig) -> dict:
    """The `trl.GRPOConfig` arguments of the same algorithm (batch: `prompts_per_step` x
    `num_generations` completions per optimizer step; constant learning rate).

    >>> trl_kwargs(RLConfig(scale_rewards=False))["scale_rewards"]
    'none'
    """
    return {"per_device_train_batch_size": cfg.prompts_per_step * cfg.num_generations,
            "num_generations": cfg.num_generations, "max_completion_length": cfg.max_new_tokens,
            "max_steps": cfg.steps, "learning_rate": cfg.lr, "lr_scheduler_type": "constant",
            "weight_decay": cfg.weight_decay, "max_grad_norm": cfg.grad_clip,
            "loss_type": cfg.loss_type, "scale_rewards": "group" if cfg.scale_rewards else "none",
            "epsilon": cfg.epsilon, "epsilon_high": cfg.epsilon_high, "beta": cfg.beta,
            "num_iterations": cfg.iterations, "temperature": cfg.temperature, "seed": cfg.seed}
