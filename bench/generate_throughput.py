"""Generation throughput: prmlab.models.generate vs transformers' model.generate.

Builds a Llama of a `models/presets.py` shape from a config (no download; default `small`,
the quick preset's ~0.8M base; `--model medium` is the full preset's ~5M), a fixed batch of
prompts, and times greedy decoding with both on the same model, prompts and settings in the
same process (warm-up first, best of N), at `--batch` and at batch 1. Beside the engine as it
runs by default (the plain-tensor Llama step, `prmlab.models.llama_step`) it times the same
engine through the model's own forward (`fast=True`, the engine before the plain step), so the
step's own gain reads off one run. Also reports bf16-autocast, a run with stop ids where rows
finish at different steps, and the same batch through the `Generator` interface
(`KVCacheGenerator`, with and without log-probs). Rates are generated tokens per wall second
(prefill included). The last line printed is one JSON object.

    .venv/bin/python bench/generate_throughput.py            # default, < ~2 min on 2 cores
    .venv/bin/python bench/generate_throughput.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from prmlab.models.generate import generate  # noqa: E402
from prmlab.models.generator import KVCacheGenerator, n_tokens  # noqa: E402
from prmlab.models.presets import PRESETS  # noqa: E402

VOCAB = 64


def build_model(preset: str = "small", seed: int = 0):
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        **PRESETS[preset],
        tie_word_embeddings=False,
        max_position_embeddings=1024,
        # a larger init than the default 0.02 gives peaked, non-degenerate greedy outputs
        initializer_range=0.1,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return LlamaForCausalLM(cfg).eval()


def make_prompts(n: int, length: int, seed: int = 1) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    spread = max(1, length // 10)
    lens = torch.randint(length - spread, length + spread + 1, (n,), generator=g).tolist()
    return [torch.randint(3, VOCAB, (k,), generator=g).tolist() for k in lens]


def hf_generate(model, prompts, new_tokens, pad_id=0, stop_ids=None):
    """model.generate on one left-padded batch; returns the generated ids per prompt."""
    lmax = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), lmax), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, lmax - len(p) :] = torch.tensor(p)
        mask[i, lmax - len(p) :] = 1
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=new_tokens,
            min_new_tokens=0,
            do_sample=False,
            pad_token_id=pad_id,
            eos_token_id=list(stop_ids) if stop_ids else None,
        )
    seqs = []
    for row in out[:, lmax:].tolist():
        if stop_ids:
            for j, t in enumerate(row):
                if t in stop_ids:
                    row = row[: j + 1]
                    break
        seqs.append(row)
    return seqs


def best_time(fn, repeats: int):
    fn()  # warm-up
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def interleaved(fns: dict, repeats: int) -> dict:
    """{name: (best seconds, result)}, the variants run round-robin (ABC ABC ...) after one
    warm-up each, so a change in the machine's load hits them alike."""
    out = {}
    for name, fn in fns.items():
        fn()
        out[name] = (float("inf"), None)
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            result = fn()
            dt = time.perf_counter() - t0
            out[name] = (min(out[name][0], dt), result)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64, help="number of prompts (one batch)")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--prompt-len", type=int, default=100, help="mean prompt length (±10%%)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per setting (best kept)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--model", default="small", choices=sorted(PRESETS), help="model preset shape")
    ap.add_argument("--quick", action="store_true", help="small sizes, one timed run")
    args = ap.parse_args(argv)
    if args.quick:
        args.batch, args.new_tokens, args.prompt_len, args.repeats = 16, 16, 40, 1
    if args.threads:
        torch.set_num_threads(args.threads)

    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    model = build_model(args.model)
    n_params = sum(p.numel() for p in model.parameters())
    prompts = make_prompts(args.batch, args.prompt_len)
    n_new = args.new_tokens
    rows = []

    def ours(ps, **kw):
        return lambda: generate(model, ps, max_new_tokens=n_new, batch_size=len(ps), **kw)

    # 1. batch, fp32, greedy: prmlab (plain step, and through the model's forward) vs transformers
    timed = interleaved({"plain": ours(prompts), "model": ours(prompts, fast=True),
                         "hf": lambda: hf_generate(model, prompts, n_new)}, args.repeats)
    (t_ours, g), (t_mod, g_mod), (t_hf, hf_seqs) = timed["plain"], timed["model"], timed["hf"]
    n_tok = g.n_generated_tokens
    match_rows = sum(a == b for a, b in zip(g.sequences, hf_seqs))
    match = match_rows == len(prompts) and g_mod.sequences == g.sequences
    rate, rate_hf = n_tok / t_ours, sum(map(len, hf_seqs)) / t_hf
    rate_mod = g_mod.n_generated_tokens / t_mod
    rows.append(("prmlab fp32", args.batch, t_ours, rate))
    rows.append(("prmlab fp32 model forward", args.batch, t_mod, rate_mod))
    rows.append(("model.generate fp32", args.batch, t_hf, rate_hf))

    # 2. same under bf16 autocast (caller-enabled)
    def bf16():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return ours(prompts)()

    t_bf, g_bf = best_time(bf16, args.repeats)
    rate_bf = g_bf.n_generated_tokens / t_bf
    rows.append(("prmlab bf16 autocast", args.batch, t_bf, rate_bf))

    # 3. batch 1 (one prompt), fp32
    one = prompts[:1]
    timed = interleaved({"plain": ours(one), "model": ours(one, fast=True),
                         "hf": lambda: hf_generate(model, one, n_new)}, args.repeats)
    (t1, g1), (t1_mod, g1_mod), (t1_hf, hf1) = timed["plain"], timed["model"], timed["hf"]
    rate1, rate1_hf = g1.n_generated_tokens / t1, len(hf1[0]) / t1_hf
    rate1_mod = g1_mod.n_generated_tokens / t1_mod
    match1 = g1.sequences == hf1 == g1_mod.sequences
    rows.append(("prmlab fp32", 1, t1, rate1))
    rows.append(("prmlab fp32 model forward", 1, t1_mod, rate1_mod))
    rows.append(("model.generate fp32", 1, t1_hf, rate1_hf))

    # 4. rows stopping at different steps (stop id = a frequent token), fp32
    stop = [max(range(VOCAB), key=lambda t: sum(s.count(t) for s in g.sequences))]
    t_st, g_st = best_time(ours(prompts, stop_ids=stop), args.repeats)
    t_st_hf, hf_st = best_time(lambda: hf_generate(model, prompts, n_new, stop_ids=stop), args.repeats)
    match_stop = sum(a == b for a, b in zip(g_st.sequences, hf_st))
    rate_st, rate_st_hf = g_st.n_generated_tokens / t_st, sum(map(len, hf_st)) / t_st_hf
    rows.append((f"prmlab fp32 stop={stop[0]}", args.batch, t_st, rate_st))
    rows.append((f"model.generate fp32 stop={stop[0]}", args.batch, t_st_hf, rate_st_hf))

    # 5. the same batch through the Generator protocol (the engine behind it), with log-probs too
    kv = KVCacheGenerator(model, batch_size=len(prompts))
    t_kv, s_kv = best_time(lambda: kv.generate(prompts, max_new_tokens=n_new), args.repeats)
    t_lp, _ = best_time(lambda: kv.generate(prompts, max_new_tokens=n_new, logprobs=True), args.repeats)
    match_kv = [s.ids for s in s_kv] == g.sequences
    rows.append(("KVCacheGenerator fp32", args.batch, t_kv, n_tokens(s_kv) / t_kv))
    rows.append(("KVCacheGenerator fp32 logprobs", args.batch, t_lp, n_tokens(s_kv) / t_lp))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"Llama {args.model} {n_params / 1e6:.2f}M params, {args.batch} prompts of ~{args.prompt_len} tokens, "
        f"{n_new} new tokens, greedy, torch threads {torch.get_num_threads()}, "
        f"load average {load_start:.2f} -> {load:.2f} (other work on the CPU distorts timings)"
    )
    print(f"{'setting':<34}{'batch':>6}{'seconds':>9}{'tok/s':>9}")
    for name, b, t, r in rows:
        print(f"{name:<34}{b:>6}{t:>9.3f}{r:>9,.0f}")
    print(f"ratio vs model.generate: {rate / rate_hf:.2f}x at batch {args.batch}, "
          f"{rate1 / rate1_hf:.2f}x at batch 1; the plain step vs the model's forward: "
          f"{rate / rate_mod:.2f}x / {rate1 / rate1_mod:.2f}x")
    print(f"greedy match vs model.generate: {match_rows}/{len(prompts)} rows (no stop), "
          f"{match_stop}/{len(prompts)} rows (stop id {stop[0]}, mean length "
          f"{g_st.n_generated_tokens / len(prompts):.1f})")
    print(
        json.dumps(
            {
                "tokens_per_s": round(rate, 1),
                "hf_tokens_per_s": round(rate_hf, 1),
                "ratio_vs_generate": round(rate / rate_hf, 3),
                "model_forward_tokens_per_s": round(rate_mod, 1),
                "ratio_vs_model_forward": round(rate / rate_mod, 3),
                "batch1_ratio_vs_model_forward": round(rate1 / rate1_mod, 3),
                "match_batch1": match1,
                "model": args.model,
                "bf16_tokens_per_s": round(rate_bf, 1),
                "batch1_tokens_per_s": round(rate1, 1),
                "batch1_ratio_vs_generate": round(rate1 / rate1_hf, 3),
                "stop_tokens_per_s": round(rate_st, 1),
                "stop_ratio_vs_generate": round(rate_st / rate_st_hf, 3),
                "batch": args.batch,
                "new_tokens": n_new,
                "prompt_len": args.prompt_len,
                "match": match,
                "match_stop": match_stop == len(prompts),
                "generator_tokens_per_s": round(n_tokens(s_kv) / t_kv, 1),
                "generator_logprobs_tokens_per_s": round(n_tokens(s_kv) / t_lp, 1),
                "generator_match": match_kv,
                "threads": torch.get_num_threads(),
                "load_avg": round(load, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
