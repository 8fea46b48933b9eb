"""Training throughput: prmlab's `fit` vs a plain `transformers.Trainer`, and MFU on this CPU.

For the `small` (~0.8M) and `medium` (~4.8M) presets, on packed arith blocks (no padding), times
a fixed number of optimizer steps after warm-up steps (not timed) with:
  - prmlab `fit`, bf16 autocast and fp32;
  - `transformers.Trainer` on the same model init, blocks, batch, optimizer (AdamW, betas 0.9 /
    0.95, clip 1.0) and precision: no eval, no saving, no logging, `report_to=[]`,
    `use_cpu=True`, `dataloader_num_workers=0`.
Tokens/s counts input tokens (batch x seq per step).

Model FLOP/s = 6 x params x tokens/s (params with the tied embedding counted once: it is the
output projection's GEMM). `mfu` divides that by the matmul rate measured here with
`torch.matmul` at the model's own GEMM shapes (M = batch x seq; hidden x hidden, hidden x ffn
and ffn x hidden, in the same dtype), so it says how close training comes to what this CPU's
GEMMs do at those shapes, not to a datasheet peak. `mfu_with_attn` adds the attention term
12 x layers x hidden x seq per token (PaLM's formula, causal masking not discounted).

The last line printed is one JSON object: `tokens_per_s`, `mfu` and `ratio_vs_trainer` are for
the small model with bf16 autocast (fit's default); per-model detail is under `models`.

    .venv/bin/python bench/train_throughput.py            # default, ~2-3 min on 2 idle cores
    .venv/bin/python bench/train_throughput.py --quick    # ~20 s, a smoke test

On a shared 2-core machine rates move ±30-50% between runs (FINDINGS.md), and far more when
another job keeps the cores busy: then use `--threads 1` (multi-threaded torch collapses when
its threads are descheduled) and `--rounds 2` or more (best of interleaved runs).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from transformers import LlamaForCausalLM, Trainer, TrainerCallback, TrainingArguments  # noqa: E402
from transformers.trainer_callback import PrinterCallback  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from prmlab.data.arith.corpus import iter_corpus  # noqa: E402
from prmlab.models.presets import PRESETS, llama_config, n_params  # noqa: E402
from prmlab.training.base import arith_codec, packed_blocks  # noqa: E402
from prmlab.training.loop import FitConfig, fit  # noqa: E402

LR, WARMUP_LR_STEPS = 1e-3, 2


def make_blocks(codec, batch: int, seq: int) -> list[dict[str, list[int]]]:
    """At least 4 batches of packed blocks (~270 tokens per problem's documents)."""
    n_problems = max(50, 4 * batch * seq // 200)
    blocks = packed_blocks(codec, iter_corpus(n_problems, 0), seq)
    if len(blocks) < batch:
        raise SystemExit(f"only {len(blocks)} blocks of {seq} tokens for batch {batch}")
    return blocks


def build_model(codec, preset: str, seq: int):
    torch.manual_seed(0)
    cfg = llama_config(preset, codec.vocab_size, pad_id=codec.pad_id, bos_id=codec.bos[0],
                       eos_id=codec.eos_id, max_positions=max(512, seq))
    return LlamaForCausalLM(cfg)


def time_fit(codec, preset, blocks, args, bf16: bool) -> float:
    model = build_model(codec, preset, args.seq)
    stamps: dict[int, float] = {}
    cfg = FitConfig(lr=LR, warmup_steps=WARMUP_LR_STEPS, batch_size=args.batch, grad_accum=1,
                    max_steps=args.warmup + args.steps, bf16=bf16, grad_clip=1.0, seed=0,
                    eval_every=10**9)
    fit(model, blocks, cfg, pad_id=codec.pad_id,
        progress=lambda step, total, row: stamps.__setitem__(step, time.perf_counter()))
    dt = stamps[args.warmup + args.steps] - stamps[args.warmup]
    return args.steps * args.batch * args.seq / dt


class _Blocks(torch.utils.data.Dataset):
    def __init__(self, blocks):
        self.blocks = blocks

    def __len__(self):
        return len(self.blocks)

    def __getitem__(self, i):
        ids = torch.tensor(self.blocks[i]["input_ids"])
        return {"input_ids": ids, "labels": ids.clone(), "attention_mask": torch.ones_like(ids)}


class _Stamps(TrainerCallback):
    def __init__(self):
        self.t: dict[int, float] = {}

    def on_step_end(self, args, state, control, **kw):
        self.t[state.global_step] = time.perf_counter()


def time_trainer(codec, preset, blocks, args, bf16: bool) -> float:
    model = build_model(codec, preset, args.seq)
    stamps = _Stamps()
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=args.batch, gradient_accumulation_steps=1,
            max_steps=args.warmup + args.steps, learning_rate=LR, warmup_steps=WARMUP_LR_STEPS,
            lr_scheduler_type="cosine", weight_decay=0.0, adam_beta1=0.9, adam_beta2=0.95,
            max_grad_norm=1.0, optim="adamw_torch", bf16=bf16, use_cpu=True,
            dataloader_num_workers=0, report_to=[], save_strategy="no", eval_strategy="no",
            logging_strategy="no", disable_tqdm=True, seed=0, remove_unused_columns=False)
        trainer = Trainer(model=model, args=targs, train_dataset=_Blocks(blocks), callbacks=[stamps])
        trainer.remove_callback(PrinterCallback)  # no metrics dict on stdout
        trainer.train()
    dt = stamps.t[args.warmup + args.steps] - stamps.t[args.warmup]
    return args.steps * args.batch * args.seq / dt


def matmul_rate(m: int, hidden: int, ffn: int, dtype: torch.dtype, min_time: float) -> float:
    """FLOP/s of torch.matmul over the model's GEMM shapes (M x hidden @ hidden x hidden,
    M x hidden @ hidden x ffn, M x ffn @ ffn x hidden), best time of repeated runs each."""
    g = torch.Generator().manual_seed(0)
    flops = secs = 0.0
    for k, n in ((hidden, hidden), (hidden, ffn), (ffn, hidden)):
        a = torch.randn(m, k, generator=g).to(dtype)
        b = torch.randn(k, n, generator=g).to(dtype)
        torch.matmul(a, b)  # warm-up
        best, spent, reps = float("inf"), 0.0, 0
        while spent < min_time or reps < 3:
            t0 = time.perf_counter()
            torch.matmul(a, b)
            dt = time.perf_counter() - t0
            best, spent, reps = min(best, dt), spent + dt, reps + 1
        flops += 2.0 * m * k * n
        secs += best
    return flops / secs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="timed optimizer steps per run")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=1,
                    help="interleaved fit/Trainer repeats per setting, best kept (busy machines)")
    ap.add_argument("--models", default="small,medium", help=f"presets, of {','.join(PRESETS)}")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--quick", action="store_true", help="4 steps, batch 8 x 128 tokens")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.batch, args.seq = 4, 1, 8, 128
    if args.steps < 1 or args.warmup < 1 or args.rounds < 1:
        raise SystemExit("--steps, --warmup and --rounds must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    hf_logging.set_verbosity_error()

    codec = arith_codec()
    blocks = make_blocks(codec, args.batch, args.seq)
    m = args.batch * args.seq
    t_start = time.time()
    models: dict[str, dict] = {}
    load = os.getloadavg()[0]
    print(f"batch {args.batch} x seq {args.seq} = {m} tokens/step, {args.steps} timed steps after "
          f"{args.warmup} warm-up; {torch.get_num_threads()} threads; {len(blocks)} packed blocks; "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")
    if load > (os.cpu_count() or 1) - 0.5 and torch.get_num_threads() > 1:
        print("warning: the CPUs are busy; multi-threaded torch slows down badly when they are "
              "oversubscribed (try --threads 1)")
    for preset in args.models.split(","):
        model = build_model(codec, preset, args.seq)
        cfg = model.config
        params = n_params(model)
        del model
        fpt = 6.0 * params
        fpt_attn = fpt + 12.0 * cfg.num_hidden_layers * cfg.hidden_size * args.seq
        mm = {"bf16": matmul_rate(m, cfg.hidden_size, cfg.intermediate_size, torch.bfloat16, 0.3),
              "fp32": matmul_rate(m, cfg.hidden_size, cfg.intermediate_size, torch.float32, 0.3)}
        row: dict = {"params": params, "flops_per_token_6N": fpt, "flops_per_token_with_attn": fpt_attn,
                     "matmul_gflops": {k: round(v / 1e9, 1) for k, v in mm.items()}}
        for prec in ("bf16", "fp32"):
            bf16 = prec == "bf16"
            ours = hf = 0.0
            for _ in range(args.rounds):  # interleaved, best kept: contention only slows down
                ours = max(ours, time_fit(codec, preset, blocks, args, bf16))
                hf = max(hf, time_trainer(codec, preset, blocks, args, bf16))
            row[prec] = {"fit_tokens_per_s": round(ours, 1), "trainer_tokens_per_s": round(hf, 1),
                         "ratio_vs_trainer": round(ours / hf, 3),
                         "model_gflops": round(fpt * ours / 1e9, 2),
                         "mfu": round(fpt * ours / mm[prec], 4),
                         "mfu_with_attn": round(fpt_attn * ours / mm[prec], 4),
                         "trainer_mfu": round(fpt * hf / mm[prec], 4)}
        models[preset] = row

    print()
    print("| preset | params | prec | fit tok/s | Trainer tok/s | fit/Trainer | model GFLOP/s (6N) "
          "| matmul GFLOP/s | MFU (6N) | MFU (+attn) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for preset, row in models.items():
        for prec in ("bf16", "fp32"):
            r = row[prec]
            print(f"| {preset} | {row['params'] / 1e6:.2f}M | {prec} | {r['fit_tokens_per_s']:,.0f} "
                  f"| {r['trainer_tokens_per_s']:,.0f} | {r['ratio_vs_trainer']:.2f} "
                  f"| {r['model_gflops']:.1f} | {row['matmul_gflops'][prec]:.0f} "
                  f"| {r['mfu']:.1%} | {r['mfu_with_attn']:.1%} |")
    head = models.get("small") or next(iter(models.values()))
    summary = {
        "model": "small" if "small" in models else next(iter(models)),
        "precision": "bf16",
        "tokens_per_s": head["bf16"]["fit_tokens_per_s"],
        "mfu": head["bf16"]["mfu"],
        "ratio_vs_trainer": head["bf16"]["ratio_vs_trainer"],
        "flops": "6 x params x tokens/s; mfu_with_attn adds 12 x layers x hidden x seq per token",
        "mfu_denominator": "torch.matmul FLOP/s at the model's GEMM shapes, same dtype",
        "batch": args.batch, "seq": args.seq, "steps": args.steps, "warmup": args.warmup,
        "rounds": args.rounds,
        "threads": torch.get_num_threads(), "load_average_at_start": round(load, 2),
        "seconds": round(time.time() - t_start, 1),
        "models": models,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
