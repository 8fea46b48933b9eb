"""`rl.backend: trl`: the same GRPO run through TRL's `GRPOTrainer` (needs the `[rl]` extra).

`TRLLoop` has `GRPOLoop.run`'s interface (`run(problems, start_step=, on_step=)`, rows with
the same keys where TRL reports the same thing), so `prmlab rl` switches backend with one
dispatch. What is shared, and what is TRL's own:

* the algorithm: `trl_kwargs(cfg)` (batch = `prompts_per_step` x `num_generations`, loss type,
  std scaling, clip-higher, beta, temperature, constant learning rate);
* the problems: the dataset TRL reads is prmlab's schedule itself, step after step
  (`grpo_loop.batch_problems`, stream `rl.order`), read in order (`shuffle_dataset=False`;
  TRL's sampler repeats each row `num_generations` times), so both backends train on the
  same problems at the same steps;
* the reward: the same `RewardFn` (`training/rewards.py`) on the same `Completion`s. The
  solution is split from TRL's `completion_ids` by the codec (`Codec.split_steps`), never
  from its decoded `completions`: TRL decodes with special tokens skipped, which drops the
  arith codec's `<step>` markers, and the digits would still be in the model's
  least-significant-first order;
* TRL's own: sampling (`model.generate`, its own torch generator: the same seed does not
  draw the same completions as prmlab's engine), AdamW's weight decay (applied by HF's rule,
  prmlab exempts embeddings as well) and its loss code.

`iterations > 1` is refused in `RLConfig` for this backend: TRL counts each reuse of a batch
as an optimizer step of its own, so the step rows would not line up with prmlab's.

Why the bench once saw reward 0 on every TRL completion: its problems were drawn at the
default difficulty while the policy was fine-tuned on easy ones (dev/LOG.md); both backends
score such problems near 0, and the bench printed no reward beside the timing.
"""

from __future__ import annotations

import tempfile
import time
from typing import Callable, Sequence

import torch

from prmlab.errors import InputError
from prmlab.models.text import Codec
from prmlab.training.grpo import RLConfig, trl_kwargs
from prmlab.training.grpo_loop import StepBatch, batch_problems
from prmlab.training.rewards import Completion, RewardFn


def prompt_text(codec: Codec, problem: str) -> str:
    """The text TRL tokenises into exactly `codec.policy_prompt(problem)` (checked)."""
    ids = codec.policy_prompt(problem)
    text = codec.tok.decode(ids, skip_special_tokens=False)
    if codec.tok(text=text)["input_ids"] != ids:
        raise InputError("rl.backend trl: the tokenizer does not give the policy prompt back from "
                         "its text, so TRL would sample from another prompt than prmlab's")
    return text


def schedule(problems: Sequence[str], cfg: RLConfig, start_step: int) -> dict[str, list]:
    """The dataset TRL reads: each step's problems in slot order, steps `start_step`.. on."""
    rows: dict[str, list] = {"problem": [], "step": [], "slot": []}
    for step in range(start_step, cfg.steps):
        for g, p in enumerate(batch_problems(problems, cfg, step)):
            rows["problem"].append(p)
            rows["step"].append(step)
            rows["slot"].append(g)
    return rows


class TRLLoop:
    """GRPO through `trl.GRPOTrainer` on the same model object (trained in place)."""

    def __init__(self, model, codec: Codec, cfg: RLConfig, reward: RewardFn):
        if cfg.iterations != 1:
            raise ValueError("rl.backend trl runs iterations = 1 only")
        self.model, self.codec, self.cfg, self.reward = model, codec, cfg, reward

    def reward_fn(self, pending: list) -> Callable:
        """TRL's reward function: prmlab's reward over `Completion`s; each batch is kept in
        `pending` for the step row."""
        codec, g_size = self.codec, self.cfg.num_generations

        def prmlab_reward(prompts, completions, completion_ids, problem, step, slot, **kw):
            seen: dict[tuple[int, int], int] = {}
            comps = []
            for p, ids, s, g in zip(problem, completion_ids, step, slot):
                j = seen.get((s, g), 0)
                seen[(s, g)] = j + 1
                comps.append(Completion(p, codec.split_steps(ids), int(s), int(g), j))
            if any(n != g_size for n in seen.values()):
                raise RuntimeError(f"TRL's batch is not made of whole groups of {g_size}: {seen}")
            rewards = [float(r) for r in self.reward(comps)]
            prompt_ids = [codec.policy_prompt(c.problem) for c in comps]
            pending.append(StepBatch(comps, prompt_ids, [list(x) for x in completion_ids],
                                     [[] for _ in comps], rewards, torch.zeros(0)))
            return rewards

        return prmlab_reward

    def run(self, problems: Sequence[str], *, start_step: int = 0,
            on_step: Callable[[int, dict, StepBatch], None] | None = None) -> list[dict]:
        try:
            from datasets import Dataset
            from transformers import TrainerCallback
            from transformers.trainer_callback import PrinterCallback, ProgressCallback
            from trl import GRPOConfig, GRPOTrainer
        except ImportError as e:
            raise InputError(f"rl.backend trl needs TRL ({e.name} is not installed): "
                             "pip install 'prmlab[rl]'") from None
        if not problems:
            raise ValueError("no training problems")
        cfg, codec = self.cfg, self.codec
        if start_step >= cfg.steps:
            return []
        data = schedule(problems, cfg, start_step)
        data["prompt"] = [prompt_text(codec, p) for p in data["problem"]]
        pending: list[StepBatch] = []
        rows: list[dict] = []
        clock = [time.perf_counter()]

        class Rows(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kw):
                if not logs or "loss" not in logs or not pending:
                    return
                batch = pending.pop(0)
                r = torch.tensor(batch.rewards)
                groups = r.view(-1, cfg.num_generations)
                now = time.perf_counter()
                row = {"step": start_step + state.global_step, "reward_mean": float(r.mean()),
                       "reward_std": float(r.std()) if r.numel() > 1 else 0.0,
                       "groups_all_equal": int((groups.max(1).values == groups.min(1).values).sum()),
                       "completion_tokens": sum(len(c) for c in batch.completion_ids),
                       "step_s": now - clock[0], "loss": float(logs["loss"]),
                       "trl_reward_mean": float(logs.get("reward", float("nan")))}
                clock[0] = now
                for ours, theirs in (("grad_norm", "grad_norm"), ("clip_fraction", "clip_ratio/region_mean"),
                                     ("kl", "kl")):
                    if theirs in logs:
                        row[ours] = float(logs[theirs])
                rows.append(row)
                if on_step is not None:
                    on_step(row["step"], row, batch)

        kwargs = trl_kwargs(cfg)
        kwargs["max_steps"] = cfg.steps - start_step
        with tempfile.TemporaryDirectory(prefix="prmlab-trl-") as tmp:
            args = GRPOConfig(output_dir=tmp, **kwargs, use_cpu=not torch.cuda.is_available(),
                              bf16=False, report_to="none", logging_steps=1, save_strategy="no",
                              disable_dropout=True, shuffle_dataset=False, log_completions=False)
            trainer = GRPOTrainer(model=self.model, reward_funcs=[self.reward_fn(pending)], args=args,
                                  train_dataset=Dataset.from_dict(data), processing_class=codec.tok,
                                  callbacks=[Rows()])
            for cb in (PrinterCallback, ProgressCallback):  # the CLI draws its own bar
                trainer.remove_callback(cb)
            trainer.train()
        return rows
