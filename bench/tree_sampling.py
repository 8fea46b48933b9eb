"""Tree-GRPO's sampling against chain GRPO's at a matched token budget: what a kept token costs.

    python bench/tree_sampling.py [--policy CKPT] [--steps 3] [--prompts 8] [--trees 4] [--expand 2] [--rounds 1]

From the same weights (a random `--preset` Llama, or `--policy`) and the same problems, it samples
`--steps` batches of Tree-GRPO trees (`TreeGRPO.sample`: M chains, then one generate call per
round of expansions, each cut to its own budget) and `--steps` batches of chain GRPO groups
(`GRPOLoop.sample`) whose size is matched to the trees' kept tokens by the run's rule
(`experiments.tree_rl.matched_generations`). Prints, side by side from one run: kept tokens,
engine tokens (cut-off ones included), seconds, kept tokens/s, and the ratios. No update is
timed (both arms share `GRPOLoop.update`). Timings on a shared machine are noisy: read the ratio.
"""

from __future__ import annotations

import argparse
import os
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", default=None, help="policy checkpoint (default: a random Llama)")
    ap.add_argument("--preset", default="tiny", help="model preset of the random Llama")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--trees", type=int, default=4)
    ap.add_argument("--expand", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--max-new-tokens", type=int, default=20)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from prmlab import seeds
    from prmlab.data.arith.generate import iter_records
    from prmlab.data.arith.problems import Difficulty
    from prmlab.data.tasks import ARITH
    from prmlab.experiments.tree_rl import matched_generations
    from prmlab.models.checkpoint import load_codec, load_model, read_info
    from prmlab.training.base import arith_codec
    from prmlab.training.grpo import RLConfig
    from prmlab.training.grpo_loop import GRPOLoop
    from prmlab.training.policy import base_difficulty
    from prmlab.training.rewards import RewardConfig, build_reward
    from prmlab.training.tree_grpo import TreeConfig
    from prmlab.training.tree_loop import TreeGRPO

    if args.policy:
        model, codec = load_model(args.policy, "causal"), load_codec(args.policy)
        diff = base_difficulty(read_info(args.policy).get("base") or args.policy)
    else:
        from prmlab.models.presets import random_llama

        codec = arith_codec()
        model = random_llama(args.preset, codec)
        diff = Difficulty()
    problems = [r.problem for r in iter_records(64, seeds.seed("rl.train", 0), diff, error_rate=0.0)]
    reward = build_reward(RewardConfig(), ARITH, seed=0)
    cfg = RLConfig(steps=args.steps, prompts_per_step=args.prompts, max_new_tokens=args.max_new_tokens)
    tree = TreeGRPO(model, codec, cfg, TreeConfig(m_trees=args.trees, n_expand=args.expand,
                                                  l_rounds=args.rounds), reward, ARITH)
    rows, t0 = [], time.perf_counter()
    for step in range(args.steps):
        tb = tree.sample(problems, step)
        rows.append({"generated_tokens": tb.generated_tokens, "root_chain_tokens": tb.root_chain_tokens,
                     "engine_tokens": tb.engine_tokens})
    tree_s = time.perf_counter() - t0
    g = matched_generations(rows, args.trees)
    chain = GRPOLoop(model, codec, cfg.model_copy(update={"num_generations": g}), reward)
    chain_tokens, t0 = 0, time.perf_counter()
    for step in range(args.steps):
        chain_tokens += sum(len(c) for c in chain.sample(problems, step).completion_ids)
    chain_s = time.perf_counter() - t0
    kept = sum(r["generated_tokens"] for r in rows)
    engine = sum(r["engine_tokens"] for r in rows)
    print(f"{'':14}{'kept tok':>10}{'engine tok':>12}{'seconds':>9}{'kept tok/s':>12}")
    print(f"{'tree':14}{kept:>10}{engine:>12}{tree_s:>9.2f}{kept / tree_s:>12.1f}")
    print(f"{'chain (G=' + str(g) + ')':14}{chain_tokens:>10}{chain_tokens:>12}{chain_s:>9.2f}"
          f"{chain_tokens / chain_s:>12.1f}")
    print(f"ratio tree/chain: kept tokens/s {(kept / tree_s) / (chain_tokens / chain_s):.2f}x, "
          f"engine/kept (tree) {engine / max(kept, 1):.2f}, kept tokens chain/tree "
          f"{chain_tokens / max(kept, 1):.2f}")


if __name__ == "__main__":
    main()
