"""RL throughput: prmlab's GRPO loop vs TRL's `GRPOTrainer`, same model, batch and reward.

    python bench/rl_throughput.py [--policy CKPT] [--steps 4] [--prompts 8] [--generations 8]

Both start from the same weights (a random `--preset` Llama, or `--policy`), train `--steps`
optimizer steps on batches of `--prompts` x `--generations` completions of at most
`--max-new-tokens` tokens, with the outcome reward (the arith verifier), loss `dapo`, std-scaled
advantages, clip-higher 0.2 / 0.28, no KL. TRL generates with `model.generate`; prmlab with its
KV-cache engine (`logprobs=True`). Prints steps/s and samples/s of each and their ratio, side
by side from one run. Needs `trl` (`pip install -e .[rl]`); timings on a shared machine are
noisy: run it twice and read the ratio, not the absolute numbers.

TRL receives the prompt as the tokenizer's text of prmlab's prompt ids (the arith tokenizer
round-trips it), and its reward function reads `completion_ids` (its decoded completions drop
the special step-end markers).
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
    ap.add_argument("--policy", default=None, help="policy checkpoint (default: a random Llama)")
    ap.add_argument("--preset", default="small", help="model preset of the random Llama")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from datasets import Dataset
    from transformers import LlamaForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    from prmlab.data.arith.generate import iter_records
    from prmlab.data.tasks import ARITH, is_solved
    from prmlab.models.checkpoint import load_codec, load_model
    from prmlab.models.presets import llama_config
    from prmlab.training.base import arith_codec
    from prmlab.training.grpo import RLConfig, trl_kwargs
    from prmlab.training.grpo_loop import GRPOLoop
    from prmlab.training.rewards import RewardConfig, build_reward

    if args.policy:
        model0, codec = load_model(args.policy, "causal"), load_codec(args.policy)
    else:
        codec = arith_codec()
        torch.manual_seed(0)
        model0 = LlamaForCausalLM(llama_config(args.preset, codec.vocab_size, pad_id=codec.pad_id,
                                               bos_id=codec.bos[0] if codec.bos else codec.eos_id,
                                               eos_id=codec.eos_id))
    problems = [r.problem for r in iter_records(args.prompts * args.steps, 123, error_rate=0.0)]
    n_params = sum(p.numel() for p in model0.parameters())
    cfg = RLConfig(steps=args.steps, prompts_per_step=args.prompts, num_generations=args.generations,
                   max_new_tokens=args.max_new_tokens, lr=1e-4, loss_type="dapo", scale_rewards=True,
                   epsilon=0.2, epsilon_high=0.28, beta=0.0)
    batch = args.prompts * args.generations

    # ---- prmlab -----------------------------------------------------------------------------
    ours = GRPOLoop(copy.deepcopy(model0), codec, cfg, build_reward(RewardConfig(), ARITH, seed=0))
    t0 = time.perf_counter()
    rows = ours.run(problems)
    t_ours = time.perf_counter() - t0
    tok_ours = sum(r["completion_tokens"] for r in rows)

    # ---- TRL ----------------------------------------------------------------------------------
    texts = [codec.tok.decode(codec.policy_prompt(p), skip_special_tokens=False) for p in problems]
    assert codec.tok.encode(texts[0], add_special_tokens=False) == codec.policy_prompt(problems[0]), \
        "the arith tokenizer does not round-trip the prompt"
    seen_tokens = [0]

    def outcome(prompts, completions, completion_ids, problem, **kw):
        seen_tokens[0] += sum(len(c) for c in completion_ids)
        return [float(is_solved(ARITH, p, codec.split_steps(ids))) for p, ids in zip(problem, completion_ids)]

    with tempfile.TemporaryDirectory() as tmp:
        targs = GRPOConfig(output_dir=tmp, **trl_kwargs(cfg), use_cpu=True, bf16=False,
                           report_to="none", logging_steps=1, save_strategy="no",
                           disable_dropout=True, shuffle_dataset=False)
        trainer = GRPOTrainer(model=copy.deepcopy(model0), reward_funcs=[outcome], args=targs,
                              train_dataset=Dataset.from_dict({"prompt": texts, "problem": problems}),
                              processing_class=codec.tok)
        t0 = time.perf_counter()
        trainer.train()
        t_trl = time.perf_counter() - t0

    print(f"model {n_params / 1e6:.2f}M params, {args.steps} steps x {args.prompts} prompts x "
          f"{args.generations} generations, <= {args.max_new_tokens} new tokens, "
          f"{torch.get_num_threads()} threads")
    print(f"{'':10s} {'steps/s':>9s} {'samples/s':>10s} {'tokens/s':>9s} {'seconds':>8s}")
    for name, t, tok in (("prmlab", t_ours, tok_ours), ("trl", t_trl, seen_tokens[0])):
        print(f"{name:10s} {args.steps / t:9.3f} {args.steps * batch / t:10.1f} {tok / t:9.0f} {t:8.1f}")
    print(f"ratio prmlab/trl (steps/s): {t_trl / t_ours:.2f}x")


if __name__ == "__main__":
    main()
