"""Judge fine-tuning on CPU: bf16 autocast vs fp32, measured side by side.

A judge fit is short padded examples (a check prompt + rationale + verdict, ~100 tokens) at
batch 16 — smaller matrices than base pretraining's packed 256-token blocks. For the `small`
(~0.8M) and `medium` (~4.8M) presets, times `fit` for a fixed number of steps of the
generative format (verdict chains) and the discriminative one (token-classification head),
alternating bf16 and fp32 over `--rounds` rounds and keeping each one's best time. `fit` with
`bf16=None` picks the faster side by model size (`prmlab.training.loop.bf16_pays`); this script
is the evidence for that threshold on the machine it runs on.

    .venv/bin/python bench/judge_fit_precision.py            # ~2 min on 2 idle cores
    .venv/bin/python bench/judge_fit_precision.py --quick    # ~20 s

Last line: one JSON object with `bf16_over_fp32_seconds` per preset and format (>1: bf16 slower).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from transformers import LlamaForCausalLM, LlamaForTokenClassification  # noqa: E402

from prmlab.data.arith.generate import iter_records  # noqa: E402
from prmlab.models.presets import llama_config, n_params  # noqa: E402
from prmlab.supervision.chains import teacher_chains  # noqa: E402
from prmlab.training.base import arith_codec  # noqa: E402
from prmlab.training.judges import head_examples, verdict_examples  # noqa: E402
from prmlab.training.loop import FitConfig, causal_lm_loss, fit, token_cls_loss  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--presets", default="small,medium")
    ap.add_argument("--quick", action="store_true", help="small preset, 8 steps, 1 round")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.rounds, args.presets = 8, 1, "small"
    codec = arith_codec()
    records = list(iter_records(400, 0, error_rate=0.5))
    chains = teacher_chains(records, error_rate=0.0, seed=0)
    sets = {"generative": (verdict_examples(codec, chains, True, 512), causal_lm_loss, LlamaForCausalLM, {}),
            "discriminative": (head_examples(codec, records, "discriminative", 512), token_cls_loss,
                               LlamaForTokenClassification, {"num_labels": 2})}
    out: dict[str, dict] = {}
    for preset in args.presets.split(","):
        conf = llama_config(preset, codec.vocab_size, pad_id=codec.pad_id, bos_id=codec.bos[0],
                            eos_id=codec.eos_id)
        for fmt, (examples, loss_fn, cls, extra) in sets.items():
            best = {True: float("inf"), False: float("inf")}
            fmt_conf = conf.__class__(**{**conf.to_dict(), **extra})
            for _ in range(args.rounds):
                for bf16 in (True, False):
                    torch.manual_seed(0)
                    model = cls(fmt_conf)
                    cfg = FitConfig(lr=3e-4, batch_size=16, max_steps=args.steps, warmup_steps=2, bf16=bf16)
                    t0 = time.perf_counter()
                    fit(model, examples, cfg, pad_id=codec.pad_id, loss_fn=loss_fn)
                    best[bf16] = min(best[bf16], time.perf_counter() - t0)
            ratio = best[True] / best[False]
            out.setdefault(preset, {"params": n_params(model)})[fmt] = {
                "bf16_s": round(best[True], 2), "fp32_s": round(best[False], 2),
                "bf16_over_fp32_seconds": round(ratio, 2)}
            print(f"{preset:>7} ({n_params(model) / 1e6:.1f}M) {fmt:>14}: bf16 {best[True]:.1f} s, "
                  f"fp32 {best[False]:.1f} s for {args.steps} steps -> bf16/fp32 {ratio:.2f}")
    print(json.dumps({"steps": args.steps, "rounds": args.rounds, "presets": out}))


if __name__ == "__main__":
    main()
