"""Judge fit throughput, side by side in one process: the training loop before the speed work
(commit `train_throughput.BASELINE_REV`, read with `git show`) vs today's `fit`.

A judge fit is short padded examples (a check prompt + rationale + verdict, ~100 tokens) at the
judges' batch 16. For the generative (verdict chains, the weighted LM loss' plain form) and the
discriminative (token-classification head) formats of the `small` preset, each variant trains
`--steps` optimizer steps from the same init, interleaved round by round (before, after,
before, after ...), in the precision `bf16_pays` picks for a judge (`JudgeConfig().fit.bf16`).
Dev evaluation is left out (it is generation, timed by bench/generate_throughput.py). Read the
per-round ratios: the machine is shared.

    .venv/bin/python bench/judge_fit_throughput.py            # ~3-6 min on 2 busy cores
    .venv/bin/python bench/judge_fit_throughput.py --quick    # 4 steps, 1 round

Last line: one JSON object (seconds per round, after/before ratios, final losses).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from transformers import LlamaForCausalLM, LlamaForTokenClassification  # noqa: E402

import prmlab.training.loop as after_loop  # noqa: E402
from prmlab.data.arith.generate import iter_records  # noqa: E402
from prmlab.models.presets import llama_config  # noqa: E402
from prmlab.supervision.chains import teacher_chains  # noqa: E402
from prmlab.training.base import arith_codec  # noqa: E402
from prmlab.training.judges import JudgeConfig, head_examples, verdict_examples  # noqa: E402
from train_throughput import BASELINE_REV, old_loop  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--baseline-rev", default=BASELINE_REV)
    ap.add_argument("--quick", action="store_true", help="4 steps, 1 round")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.rounds = 4, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    before_loop = old_loop(args.baseline_rev)
    if before_loop is None:
        raise SystemExit("no git history here: nothing to compare with")
    codec = arith_codec()
    records = list(iter_records(400, 0, error_rate=0.5))
    chains = teacher_chains(records, error_rate=0.0, seed=0)
    sets = {"generative": (verdict_examples(codec, chains, True, 512), "causal_lm_loss", LlamaForCausalLM, {}),
            "discriminative": (head_examples(codec, records, "discriminative", 512), "token_cls_loss",
                               LlamaForTokenClassification, {"num_labels": 2})}
    judge_fit = JudgeConfig().fit
    conf = llama_config(args.preset, codec.vocab_size, pad_id=codec.pad_id, bos_id=codec.bos[0],
                        eos_id=codec.eos_id)
    load = os.getloadavg()[0]
    print(f"{args.preset}, batch {judge_fit.batch_size}, {args.steps} steps, {args.rounds} rounds, "
          f"{torch.get_num_threads()} threads, load average {load:.1f} (a shared machine: read the ratios)")
    out: dict[str, dict] = {}
    for fmt, (examples, loss_name, cls, extra) in sets.items():
        fmt_conf = conf.__class__(**{**conf.to_dict(), **extra})
        secs: dict[str, list[float]] = {"before": [], "after": []}
        losses: dict[str, float] = {}
        for r in range(args.rounds):
            for name, loop in (("before", before_loop), ("after", after_loop)):
                torch.manual_seed(0)
                model = cls(fmt_conf)
                cfg = loop.FitConfig(lr=3e-4, batch_size=judge_fit.batch_size, max_steps=args.steps,
                                     warmup_steps=2, bf16=judge_fit.bf16, seed=0)
                t0 = time.perf_counter()
                res = loop.fit(model, examples, cfg, pad_id=codec.pad_id, loss_fn=getattr(loop, loss_name))
                secs[name].append(time.perf_counter() - t0)
                losses[name] = res.history[-1]["loss"]
                print(f"  {fmt} round {r + 1}: {name:<6} {secs[name][-1]:6.1f} s ({res.precision}, "
                      f"loss {losses[name]:.4f}, load {os.getloadavg()[0]:.1f})", flush=True)
        per_round = [b / a for b, a in zip(secs["before"], secs["after"])]
        out[fmt] = {"seconds": {k: [round(x, 2) for x in v] for k, v in secs.items()},
                    "speedup_per_round": [round(x, 2) for x in per_round],
                    "speedup_median": round(statistics.median(per_round), 2),
                    "last_loss": {k: round(v, 5) for k, v in losses.items()}}
        print(f"{fmt}: after is {', '.join(f'{x:.2f}' for x in per_round)}x before per round")
    print(json.dumps({"baseline_rev": args.baseline_rev, "preset": args.preset, "steps": args.steps,
                      "rounds": args.rounds, "threads": torch.get_num_threads(),
                      "load_average_at_start": round(load, 2), "formats": out}))


if __name__ == "__main__":
    main()
