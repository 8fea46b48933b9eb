"""RL throughput: prmlab's GRPO loop vs TRL's `GRPOTrainer`, same model, batch and reward.

    python bench/rl_throughput.py [--policy CKPT] [--steps 4] [--prompts 8] [--generations 8]

Both start from the same weights (a random `--preset` Llama, or `--policy`), train `--steps`
optimizer steps on batches of `--prompts` x `--generations` completions of at most
`--max-new-tokens` tokens, with the outcome reward (the arith verifier), loss `dapo`, std-scaled
advantages, clip-higher 0.2 / 0.28, no KL. TRL generates with `model.generate`; prmlab with its
KV-cache engine (`logprobs=True`). Prints steps/s and samples/s of each and their ratio, side
by side from one run. Needs `trl` (`pip install -e .[rl]`); timings on a shared machine are
noisy: run it twice and read the ratio, not the absolute numbers.

Both backends are `prmlab rl`'s (`rl.backend: prmlab|trl`): TRL's run goes through
`prmlab.training.trl_backend.TRLLoop` (prmlab's problem schedule, reward and `Completion`s), so
the two rows differ only in who samples and updates. The mean reward of each is printed beside
its timing: a ratio between runs that learn nothing is no comparison.

The problems are drawn at the policy's own difficulty (its base's, `training.policy.
base_difficulty`). An earlier version drew them at the default difficulty (3 steps, 2 digits,
+-*) whatever the policy: a policy fine-tuned on 1-step problems then scores ~0 on every
completion under either backend, which is what the "TRL rewards 0 on all 192 samples" run saw.
"""

from __future__ import annotations

import argparse
import copy
import os
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


    from prmlab.data.arith.generate import iter_records
    from prmlab.data.tasks import ARITH
    from prmlab.models.checkpoint import load_codec, load_model, read_info
    from prmlab.models.presets import random_llama
    from prmlab.training.base import DifficultyConfig, arith_codec
    from prmlab.training.grpo import RLConfig
    from prmlab.training.grpo_loop import GRPOLoop
    from prmlab.training.policy import base_difficulty
    from prmlab.training.rewards import RewardConfig, build_reward
    from prmlab.training.trl_backend import TRLLoop

    if args.policy:
        model0, codec = load_model(args.policy, "causal"), load_codec(args.policy)
        diff = base_difficulty(read_info(args.policy).get("base") or args.policy)
    else:
        codec = arith_codec()
        model0 = random_llama(args.preset, codec)
        diff = DifficultyConfig()
    problems = [r.problem for r in iter_records(args.prompts * args.steps, 123, diff, error_rate=0.0)]
    n_params = sum(p.numel() for p in model0.parameters())
    batch = args.prompts * args.generations
    results = {}
    for backend, loop_cls in (("prmlab", GRPOLoop), ("trl", TRLLoop)):
        cfg = RLConfig(steps=args.steps, prompts_per_step=args.prompts, num_generations=args.generations,
                       max_new_tokens=args.max_new_tokens, lr=1e-4, loss_type="dapo", scale_rewards=True,
                       epsilon=0.2, epsilon_high=0.28, beta=0.0, backend=backend)
        loop = loop_cls(copy.deepcopy(model0), codec, cfg, build_reward(RewardConfig(), ARITH, seed=0))
        t0 = time.perf_counter()
        rows = loop.run(problems)
        results[backend] = (time.perf_counter() - t0, rows)

    print(f"model {n_params / 1e6:.2f}M params, {args.steps} steps x {args.prompts} prompts x "
          f"{args.generations} generations, <= {args.max_new_tokens} new tokens, "
          f"{torch.get_num_threads()} threads, one run, backends one after the other")
    print(f"problems: {problems[0]!r} ...")
    print(f"{'':10s} {'steps/s':>9s} {'samples/s':>10s} {'tokens/s':>9s} {'seconds':>8s} {'reward':>7s}")
    for name, (t, rows) in results.items():
        tok = sum(r["completion_tokens"] for r in rows)
        reward = sum(r["reward_mean"] for r in rows) / max(1, len(rows))
        print(f"{name:10s} {len(rows) / t:9.3f} {len(rows) * batch / t:10.1f} {tok / t:9.0f} {t:8.1f} {reward:7.3f}")
    print(f"ratio prmlab/trl (steps/s): {results['trl'][0] / results['prmlab'][0]:.2f}x")

if __name__ == "__main__":
    main()
