"""Judge RL throughput: prmlab's generative-rl loop vs TRL's `GRPOTrainer`, same model, prompts,
batch and reward.

    OMP_NUM_THREADS=1 python bench/judge_rl_throughput.py [--init CKPT] [--steps 3] [--prompts 4] [--generations 4]

Both start from the same weights (a random `--preset` Llama, or `--init`, e.g. a cached base)
and train `--steps` optimizer steps on batches of `--prompts` (solution prefix, step) check
prompts x `--generations` sampled checks of at most `--max-new-tokens` tokens, each ending at
its verdict: the reward is 1 when the verdict agrees with the step label (arith oracle labels
of injected-error solutions), loss `dapo`, std-scaled advantages, clip-higher 0.2 / 0.28, no
KL. The prompts of every step are the class-balanced draw of `training/judge_rl.py`, handed
to TRL in the same order (`shuffle_dataset=False`). TRL generates with `model.generate`,
stopping at the verdict tokens (they are added to the model's `eos_token_id` list, which TRL
reads) and reads the verdict from `completion_ids` (its decoded completions drop the special
verdict tokens); prmlab samples through its KV-cache engine (`logprobs=True`). Prints steps/s
and samples/s of each and their ratio, side by side from one run. Needs `trl`
(`pip install -e .[rl]`); on a shared machine run it twice and read the ratio.
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", default=None, help="starting checkpoint (default: a random Llama)")
    ap.add_argument("--preset", default="small", help="model preset of the random Llama")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--generations", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from prmlab.data.arith.generate import iter_records
    from prmlab.models.checkpoint import load_codec, load_model
    from prmlab.models.presets import random_llama
    from prmlab.training.base import arith_codec
    from prmlab.training.grpo import RLConfig, trl_kwargs
    from prmlab.training.judge_rl import JudgeGRPO, balanced_draw, step_prompts, verdict_of, verdict_reward

    if args.init:
        model0, codec = load_model(args.init, "causal"), load_codec(args.init)
    else:
        codec = arith_codec()
        model0 = random_llama(args.preset, codec)
    pool, _ = step_prompts(codec, list(iter_records(64, 321)))
    n_params = sum(p.numel() for p in model0.parameters())
    cfg = RLConfig(steps=args.steps, prompts_per_step=args.prompts, num_generations=args.generations,
                   max_new_tokens=args.max_new_tokens, lr=1e-4, loss_type="dapo", scale_rewards=True,
                   epsilon=0.2, epsilon_high=0.28, beta=0.0)
    batch = args.prompts * args.generations
    seed = 0

    # ---- prmlab -----------------------------------------------------------------------------
    ours = JudgeGRPO(copy.deepcopy(model0), codec, cfg, rationale=True, seed=seed)
    t0 = time.perf_counter()
    rows = [ours.step(pool, s) for s in range(args.steps)]
    t_ours = time.perf_counter() - t0
    tok_ours = sum(r["completion_tokens"] for r in rows)

    # ---- TRL: the same prompts, step after step --------------------------------------------------
    order = [pool[i] for s in range(args.steps)
             for i in balanced_draw([p.good for p in pool], args.prompts, seed, s)]
    texts = [codec.tok.decode(list(p.prompt), skip_special_tokens=False) for p in order]
    assert codec.tok.encode(texts[0], add_special_tokens=False) == list(order[0].prompt), \
        "the arith tokenizer does not round-trip the check prompt"
    seen = {"tokens": 0, "rewards": []}

    def verdict_agrees(prompts, completions, completion_ids, good, **kw):
        seen["tokens"] += sum(len(c) for c in completion_ids)
        r = [verdict_reward(verdict_of(ids, codec), g) for ids, g in zip(completion_ids, good)]
        seen["rewards"] += r
        return r

    trl_model = copy.deepcopy(model0)
    trl_model.generation_config.eos_token_id = [codec.eos_id, codec.ok_id, codec.bad_id]
    with tempfile.TemporaryDirectory() as tmp:
        targs = GRPOConfig(output_dir=tmp, **trl_kwargs(cfg), use_cpu=True, bf16=False,
                           report_to="none", logging_steps=1, save_strategy="no",
                           disable_dropout=True, shuffle_dataset=False)
        trainer = GRPOTrainer(model=trl_model, reward_funcs=[verdict_agrees], args=targs,
                              train_dataset=Dataset.from_dict({"prompt": texts, "good": [p.good for p in order]}),
                              processing_class=codec.tok)
        t0 = time.perf_counter()
        trainer.train()
        t_trl = time.perf_counter() - t0

    print(f"model {n_params / 1e6:.2f}M params, {args.steps} steps x {args.prompts} check prompts x "
          f"{args.generations} generations, <= {args.max_new_tokens} new tokens, "
          f"{torch.get_num_threads()} threads")
    print(f"{'':10s} {'steps/s':>9s} {'samples/s':>10s} {'tokens/s':>9s} {'seconds':>8s} {'reward':>7s}")
    r_trl = sum(seen["rewards"]) / max(1, len(seen["rewards"]))
    r_ours = sum(r["reward_mean"] for r in rows) / len(rows)
    for name, t, tok, rew in (("prmlab", t_ours, tok_ours, r_ours), ("trl", t_trl, seen["tokens"], r_trl)):
        print(f"{name:10s} {args.steps / t:9.3f} {args.steps * batch / t:10.1f} {tok / t:9.0f} {t:8.1f} {rew:7.3f}")
    print(f"ratio prmlab/trl (steps/s): {t_trl / t_ours:.2f}x")


if __name__ == "__main__":
    main()
