"""Rollout throughput: batched rollouts vs a naive one-at-a-time loop, and the rollout sampler.

A ~0.8M random-init Llama (preset "small", arith codec; no download, no training) continues
every step prefix of a set of arith solutions (each problem's gold solution plus two
error-injected variants, so solutions of one problem share their first steps), K copies per
prefix, greedy so that the outputs of the loops can be compared token for token:

* naive:      one `generate` call per rollout (batch 1), the loop one would write first;
* per-prefix: one call per prefix with its K copies;
* batched:    one call with every prefix x K (sorted by length, KV-cached batches);
* sampler:    `RolloutSampler` through `derive_labels(method="mc-hard")`: batched, and
              identical prefixes of different solutions drawn once (shared).

Rates are generated tokens per wall second (prefill included), one thread. The last line
printed is one JSON object (`tokens_per_s` = batched, `ratio_vs_naive` = naive wall / batched
wall on the same prompts).

    .venv/bin/python bench/rollout_throughput.py           # ~30-60 s on one thread
    .venv/bin/python bench/rollout_throughput.py --quick   # a few seconds
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from transformers import LlamaForCausalLM  # noqa: E402

from prmlab.data.arith.generate import iter_records, label_record  # noqa: E402
from prmlab.data.arith.problems import parse_problem  # noqa: E402
from prmlab.data.arith.solutions import ERROR_TYPES, inject  # noqa: E402
from prmlab.models.generate import generate  # noqa: E402
from prmlab.models.presets import llama_config, n_params  # noqa: E402
from prmlab.data.tasks.arith import first_answer as final_answer  # noqa: E402
from prmlab.supervision.rollouts import Request, derive_labels  # noqa: E402
from prmlab.training.base import arith_codec  # noqa: E402
from prmlab.training.rollout_sampler import RolloutSampler  # noqa: E402


def build(seed: int = 0):
    codec = arith_codec()
    cfg = llama_config("small", codec.vocab_size, pad_id=codec.pad_id,
                       bos_id=codec.bos[0] if codec.bos else codec.eos_id, eos_id=codec.eos_id)
    # a larger init than 0.02 gives peaked logits: greedy ties at float noise level are rare
    cfg.initializer_range = 0.1
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg).eval(), codec


def solutions(n_problems: int, seed: int = 7):
    """Each problem's gold solution and two error-injected variants (shared first steps)."""
    out = []
    for g in iter_records(n_problems, seed, error_rate=0.0, id_prefix="bench"):
        p = parse_problem(g.problem)
        out.append(g)
        rng = random.Random(f"bench:{g.id}")
        for v in range(2):
            steps, _ = inject(p, rng.choice(ERROR_TYPES), rng)
            out.append(label_record(f"{g.id}-v{v}", p, steps))
    return out


def timed(fn):
    t0 = time.perf_counter()
    r = fn()
    return r, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=6)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--quick", action="store_true", help="3 problems, K=2, 16 tokens")
    args = ap.parse_args()
    if args.quick:
        args.problems, args.k, args.max_new_tokens = 3, 2, 16
    torch.set_num_threads(1)
    model, codec = build()
    records = solutions(args.problems)
    reqs = [Request(r, j, args.k) for r in records for j in range(1, len(r.steps) + 1)
            if final_answer(r.steps[:j]) is None]  # answered prefixes need no rollout
    prefixes = [codec.solution(q.record.problem, q.prefix_steps)[0] for q in reqs]
    prompts = [p for p in prefixes for _ in range(args.k)]
    kw = dict(max_new_tokens=args.max_new_tokens, temperature=0.0, stop_ids=[codec.eos_id],
              pad_id=codec.pad_id)
    generate(model, prompts[:8], **kw)  # warm-up

    naive, t_naive = timed(lambda: [generate(model, [p], **kw).sequences[0] for p in prompts])
    per_prefix, t_pp = timed(lambda: [s for p in prefixes
                                      for s in generate(model, [p] * args.k, **kw).sequences])
    batched, t_b = timed(lambda: generate(model, prompts, batch_size=256, **kw))
    sampler = RolloutSampler(model, codec, temperature=0.0, max_new_tokens=args.max_new_tokens)
    sampler.begin_run()
    (_, summary), t_s = timed(lambda: derive_labels(records, "mc-hard", sampler, k=args.k))

    n_tok = sum(len(s) for s in naive)
    match_b = sum(a == b for a, b in zip(naive, batched.sequences)) / len(naive)
    match_pp = sum(a == b for a, b in zip(naive, per_prefix)) / len(naive)
    assert batched.n_generated_tokens == sum(len(s) for s in batched.sequences)
    unique = len(set(map(tuple, prefixes)))
    rows = [
        ("naive (1 rollout / call)", len(prompts), sum(len(s) for s in naive), t_naive, 1.0),
        ("per-prefix (K / call)", len(prompts), sum(len(s) for s in per_prefix), t_pp, match_pp),
        ("batched (1 call)", len(prompts), batched.n_generated_tokens, t_b, match_b),
        ("sampler (batched + shared)", sampler.stats["rollouts_drawn"],
         sampler.stats["tokens_generated"], t_s, float("nan")),
    ]
    print(f"model: Llama preset small, {n_params(model) / 1e6:.2f}M params, random init, 1 thread")
    print(f"{len(records)} solutions of {args.problems} problems, {len(reqs)} prefixes "
          f"({unique} distinct), K={args.k}, {args.max_new_tokens} new tokens max, greedy")
    print(f"{'loop':28s} {'rollouts':>9s} {'tokens':>8s} {'wall s':>8s} {'tok/s':>8s} "
          f"{'speed-up':>8s} {'same as naive':>13s}")
    for name, n, tok, t, match in rows:
        print(f"{name:28s} {n:9d} {tok:8d} {t:8.2f} {tok / t:8.0f} {t_naive / t:7.1f}x "
              f"{'' if math.isnan(match) else f'{match:.1%}':>13s}")
    print(f"sampler bill: {summary['rollouts']} rollouts, {summary['tokens_generated']} tokens "
          f"generated, {summary['tokens_processed']} prompt tokens (naive pays {len(prompts)} "
          f"rollouts, {n_tok} tokens)")
    print(json.dumps({
        "tokens_per_s": round(batched.n_generated_tokens / t_b, 1),
        "ratio_vs_naive": round(t_naive / t_b, 2),
        "naive_tokens_per_s": round(n_tok / t_naive, 1),
        "per_prefix_tokens_per_s": round(sum(len(s) for s in per_prefix) / t_pp, 1),
        "sampler_tokens_per_s": round(sampler.stats["tokens_generated"] / t_s, 1),
        "sampler_ratio_vs_naive": round(t_naive / t_s, 2),
        "sampler_rollouts": sampler.stats["rollouts_drawn"], "naive_rollouts": len(prompts),
        "greedy_match_batched": round(match_b, 4), "greedy_match_per_prefix": round(match_pp, 4),
        "prefixes": len(reqs), "distinct_prefixes": unique, "k": args.k,
        "max_new_tokens": args.max_new_tokens, "params": n_params(model), "threads": 1,
    }))


if __name__ == "__main__":
    main()
