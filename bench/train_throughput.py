"""Training throughput, side by side in one process: today's loop vs the new one vs a plain
`transformers.Trainer`, and MFU against this CPU's matmul rate measured in the same run.

Variants, on the base's own shapes by default (batch 32 x 256-token packed arith blocks, the
`small` ~0.83M preset, the base's optimizer settings), each timed over `--steps` optimizer
steps after `--warmup` untimed ones, interleaved round by round (ABCD ABCD ...):
  - `before`: the training loop as it was at commit BASELINE_REV (read with `git show`, so a
    clone measures the same code), with the base's schedule as it was then (bf16 autocast on);
  - `before_fp32`: the same old loop in fp32 (separates the loop's change from the precision's);
  - `after`: today's `fit` with the base's schedule as it is now (`BaseConfig().fit`);
  - `trainer`: `transformers.Trainer` on the same init, blocks, batch, optimizer (AdamW, betas
    0.9 / 0.95, clip 1.0) and the precision `after` resolved to: no eval, no saving, no
    logging, `report_to=[]`, `use_cpu=True`, `dataloader_num_workers=0`.
Tokens/s counts input tokens (batch x seq per step). The machine these run on is shared: read
the per-round ratios (each round's variants ran minutes apart at most), not absolute rates.

Model FLOP/s = 6 x params x tokens/s. `mfu` divides it by the matmul rate measured here, in
each round, with `torch.matmul` at the model's own GEMM shapes (M = batch x seq; hidden x
hidden, hidden x ffn and ffn x hidden) in the variant's dtype, so it says how close training
comes to what this CPU's GEMMs do at those shapes, not to a datasheet peak. Where the CPU has no
native bf16 the bf16 rows have no MFU (null): an emulated GEMM is no ceiling.

    .venv/bin/python bench/train_throughput.py                # ~11 min on 2 busy cores
    .venv/bin/python bench/train_throughput.py --quick        # batch 8 x 128, a smoke test
    .venv/bin/python bench/train_throughput.py --variants after,trainer --models small,medium

The last line printed is one JSON object (per-round rates, ratios, medians, MFU).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from transformers import LlamaForCausalLM, Trainer, TrainerCallback, TrainingArguments  # noqa: E402
from transformers.trainer_callback import PrinterCallback  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

from prmlab.data.arith.corpus import iter_corpus  # noqa: E402
from prmlab.models.presets import PRESETS, llama_config, n_params  # noqa: E402
from prmlab.training.base import BaseConfig, arith_codec, packed_blocks  # noqa: E402
from prmlab.training.loop import FitConfig, bf16_pays, fit, native_bf16  # noqa: E402

# The last commit with the loop (and the base's bf16 schedule) from before the speed work.
BASELINE_REV = "37f8a55"
VARIANTS = ("before", "before_fp32", "after", "trainer")


def old_loop(rev: str):
    """prmlab/training/loop.py as it was at `rev`, imported as its own module (None: no git)."""
    try:
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:prmlab/training/loop.py"],
                             check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "loop_before.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("loop_before", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["loop_before"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


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


def schedule(args, bf16: bool | None) -> dict:
    """The base's optimizer settings at this bench's length (no eval, a short warmup)."""
    base = BaseConfig().fit
    return dict(lr=base.lr, warmup_steps=2, batch_size=args.batch, grad_accum=1,
                max_steps=args.warmup + args.steps, bf16=bf16, grad_clip=base.grad_clip,
                weight_decay=base.weight_decay, min_lr_ratio=base.min_lr_ratio, seed=0,
                eval_every=10**9)


def time_fit(loop, codec, preset, blocks, args, bf16: bool | None) -> tuple[float, float]:
    """(tokens/s over the timed steps, the last step's loss)."""
    model = build_model(codec, preset, args.seq)
    stamps: dict[int, float] = {}
    rows: list[dict] = []

    def on_step(step, total, row):
        stamps[step] = time.perf_counter()
        rows.append(row)

    t0 = time.perf_counter()
    stamps[0] = t0
    loop.fit(model, blocks, loop.FitConfig(**schedule(args, bf16)), pad_id=codec.pad_id, progress=on_step)
    dt = stamps[args.warmup + args.steps] - stamps[args.warmup]
    return args.steps * args.batch * args.seq / dt, rows[-1]["loss"]


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


def time_trainer(codec, preset, blocks, args, bf16: bool) -> tuple[float, float]:
    model = build_model(codec, preset, args.seq)
    stamps = _Stamps()
    sch = schedule(args, bf16)
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=args.batch, gradient_accumulation_steps=1,
            max_steps=sch["max_steps"], learning_rate=sch["lr"], warmup_steps=sch["warmup_steps"],
            lr_scheduler_type="cosine", weight_decay=sch["weight_decay"], adam_beta1=0.9,
            adam_beta2=0.95, max_grad_norm=sch["grad_clip"], optim="adamw_torch", bf16=bf16,
            use_cpu=True, dataloader_num_workers=0, report_to=[], save_strategy="no",
            eval_strategy="no", logging_strategy="no", disable_tqdm=True, seed=0,
            remove_unused_columns=False)
        trainer = Trainer(model=model, args=targs, train_dataset=_Blocks(blocks), callbacks=[stamps])
        trainer.remove_callback(PrinterCallback)  # no metrics dict on stdout
        out = trainer.train()
    dt = stamps.t[args.warmup + args.steps] - stamps.t[args.warmup]
    return args.steps * args.batch * args.seq / dt, float(out.training_loss)


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


def bench_preset(preset, codec, blocks, args, before) -> dict:
    model = build_model(codec, preset, args.seq)
    mcfg, params = model.config, n_params(model)
    del model
    fpt = 6.0 * params
    m = args.batch * args.seq
    new_bf16 = bf16_pays(BaseConfig().fit.bf16, "cpu", params)
    prec = {"before": True, "before_fp32": False, "after": new_bf16, "trainer": new_bf16}
    wanted = [v for v in args.variants.split(",") if v in VARIANTS]
    if before is None:
        print("  no git history here: the 'before' variants are left out")
        wanted = [v for v in wanted if not v.startswith("before")]
    runs: dict[str, list[float]] = {v: [] for v in wanted}
    losses: dict[str, float] = {}
    mm: dict[str, list[float]] = {"bf16": [], "fp32": []}
    for r in range(args.rounds):
        for dt_name, dt in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
            mm[dt_name].append(matmul_rate(m, mcfg.hidden_size, mcfg.intermediate_size, dt, 0.3))
        for v in wanted:
            if v == "trainer":
                rate, loss = time_trainer(codec, preset, blocks, args, prec[v])
            else:
                loop = before if v.startswith("before") else sys.modules["prmlab.training.loop"]
                rate, loss = time_fit(loop, codec, preset, blocks, args, prec[v])
            runs[v].append(rate)
            losses[v] = loss
            print(f"  {preset} round {r + 1}: {v:<12} {'bf16' if prec[v] else 'fp32'} {rate:8,.0f} tok/s  "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    out: dict = {"params": params, "precision": {v: "bf16" if prec[v] else "fp32" for v in wanted},
                 "tokens_per_s": {v: [round(x, 1) for x in xs] for v, xs in runs.items()},
                 "matmul_gflops": {k: [round(x / 1e9, 1) for x in xs] for k, xs in mm.items()},
                 "last_loss": {v: round(x, 4) for v, x in losses.items()},  # trainer: its run mean
                 "ratios": {}, "mfu": {}}
    for v in wanted:
        key = "bf16" if prec[v] else "fp32"
        # an emulated bf16 matmul is no ceiling: an autocast step can beat it (dev/LOG.md)
        out["mfu"][v] = (None if key == "bf16" and not native_bf16("cpu") else
                         round(statistics.median(fpt * x / y for x, y in zip(runs[v], mm[key])), 4))
    if "after" in runs:
        for v in wanted:
            if v != "after":
                per_round = [a / b for a, b in zip(runs["after"], runs[v])]
                out["ratios"][f"after/{v}"] = {"per_round": [round(x, 2) for x in per_round],
                                               "median": round(statistics.median(per_round), 2)}
    return out


def _pct(mfu: float | None) -> str:
    return "— (bf16 emulated)" if mfu is None else f"{mfu:.1%}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3, help="timed optimizer steps per run")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps before timing")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds of every variant")
    ap.add_argument("--models", default="small", help=f"presets, of {','.join(PRESETS)}")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"of {','.join(VARIANTS)}")
    ap.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision of the 'before' loop")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--quick", action="store_true", help="2 steps, batch 8 x 128 tokens, 1 round")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.batch, args.seq, args.rounds = 2, 1, 8, 128, 1
    if args.steps < 1 or args.warmup < 1 or args.rounds < 1:
        raise SystemExit("--steps, --warmup and --rounds must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    hf_logging.set_verbosity_error()

    codec = arith_codec()
    blocks = make_blocks(codec, args.batch, args.seq)
    before = old_loop(args.baseline_rev)
    t_start = time.time()
    load = os.getloadavg()[0]
    print(f"batch {args.batch} x seq {args.seq} = {args.batch * args.seq} tokens/step, {args.steps} "
          f"timed steps after {args.warmup} warm-up, {args.rounds} interleaved rounds; "
          f"{torch.get_num_threads()} threads; native bf16: {native_bf16('cpu')}; load average "
          f"{load:.1f} on {os.cpu_count()} CPUs (a shared machine: read the ratios)")
    models = {preset: bench_preset(preset, codec, blocks, args, before) for preset in args.models.split(",")}

    print()
    print("| preset | variant | prec | tok/s per round | MFU (6N, median) | after / variant per round (median) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for preset, row in models.items():
        for v, xs in row["tokens_per_s"].items():
            ratio = row["ratios"].get(f"after/{v}")
            rtxt = f"{', '.join(f'{x:.2f}' for x in ratio['per_round'])} ({ratio['median']:.2f})" if ratio else "-"
            print(f"| {preset} | {v} | {row['precision'][v]} | {', '.join(f'{x:,.0f}' for x in xs)} "
                  f"| {_pct(row['mfu'][v])} | {rtxt} |")
    print(f"matmul GFLOP/s at the model's shapes per round: "
          + "; ".join(f"{p}: " + ", ".join(f"{k} {v}" for k, v in r["matmul_gflops"].items()) for p, r in models.items()))
    summary = {"baseline_rev": args.baseline_rev, "batch": args.batch, "seq": args.seq,
               "steps": args.steps, "warmup": args.warmup, "rounds": args.rounds,
               "threads": torch.get_num_threads(), "native_bf16": native_bf16("cpu"),
               "load_average_at_start": round(load, 2), "seconds": round(time.time() - t_start, 1),
               "flops": "6 x params x tokens/s", "mfu_denominator": "torch.matmul FLOP/s at the "
               "model's GEMM shapes, same dtype, same round", "models": models}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
