"""Training the judges that learn from their own samples: GRPO (generative-rl, direct-rl) and
rejection-sampling fine-tuning (rft), from the same starting point, label budget and dev split
as the supervised formats (`training/judges.py` calls in here for them).

Why prmlab's own loop and not TRL's `GRPOTrainer`: the flagship runs without TRL (it is an
optional extra), the direct-rl policy's action is a two-way verdict that `GRPOTrainer` (which
samples every completion token from the full vocabulary with `model.generate`) cannot express,
and the loop samples through the batched KV-cache engine that every judge scores with.
`bench/judge_rl_throughput.py` measures generative-rl's steps/s against `GRPOTrainer` on the
same model, prompts and batch.

GRPO judges (`train_rl_judge`): start from the init (the base, which writes checks in this
code's format but, pretrained without verdicts, no verdict token) or, with `judge.rl.start=sft`,
from the format's supervised judge fitted first on the same budget, seed and dev split
(StepWiser starts RL from a judge fine-tuned on chains; `rl.start` in the info says which), draw the budget's solutions, take every (prefix, step) through each first error
as a prompt with its label, run `steps` GRPO steps (`training/judge_rl.py`), and read the dev F1
before training (the curve's step 0, the starting judge) and every `eval_every` steps; the RL
step with the best dev F1 is kept (never step 0: the judge saved is an RL-trained one). The
reward curve (one JSONL row per step: reward overall and by class, verdicts written, the class
balance sampled, entropy, loss, KL when beta > 0, clip fraction, dev F1 where read) is written
beside the weights as `rl_curve.jsonl`; the totals sampled per class go into `prmlab.json`.

RFT (`rft_examples`): sample `rft_samples` checks of every labelled step from the init at
`rft_temperature`, each with its verdict drawn where it stops as generative-rl draws it
(`judge_rl.verdict_at_stop`), keep each whose verdict agrees with the step's label, and return them as
the supervised generative judge's examples (prompt masked; check, verdict and end token as
targets), which `train_judge` then fits exactly as it fits the teacher's chains.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from prmlab import seeds
from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.judges.formats import judge_format
from prmlab.models.checkpoint import load_codec, load_model, read_info
from prmlab.models.generator import KVCacheGenerator
from prmlab.models.text import Codec
from prmlab.supervision.budget import draw_budget
from prmlab.training.base import check_format
from prmlab.training.judge_rl import JudgeGRPO, step_prompts, verdict_at_stop, verdict_of
from prmlab.training.judges import JudgeConfig, _save_once, _untunable, dev_reads, fit_judge

CURVE_FILE = "rl_curve.jsonl"


def _class_counts(rows: Sequence[dict]) -> dict[str, int]:
    return {"sampled_good": sum(r["sampled_good"] for r in rows),
            "sampled_bad": sum(r["sampled_bad"] for r in rows)}


def train_rl_judge(cfg: JudgeConfig, init: str | Path, pool: Sequence[Record], dev: Sequence[Record],
                   out_dir: str | Path, *, log: Callable[[str], None] = print,
                   progress: Callable | None = None) -> dict[str, Any]:
    """Train one GRPO judge (see the module doc); returns (and saves) what was used and chosen."""
    t0 = time.time()
    spec = judge_format(cfg.format)
    codec = load_codec(init)
    chosen = draw_budget(pool, cfg.budget, cfg.seed)
    if spec.needs_check_format:
        check_format(read_info(init), str(init))
    prompts, unlabelled = step_prompts(codec, chosen)
    if not prompts:
        raise InputError("no labelled step through a first error among the budget's solutions",
                         field="judge.budget")
    g = cfg.rl.grpo
    model, start = _start(cfg, init, pool, dev, log=log, progress=progress)
    loop = JudgeGRPO(model, codec, g, rationale=spec.rationale, seed=cfg.seed, balance=cfg.rl.balance)
    dev = list(dev)[: cfg.dev_max]
    dev_curve: dict[int, float] = {}
    best: dict[str, Any] = {}

    def read_dev(step: int) -> float:
        read = dev_reads(model, codec, cfg.format, dev)
        if read[cfg.tune_threshold] is None:
            raise _untunable()
        score = read[cfg.tune_threshold][0]
        dev_curve[step] = score
        if step > 0 and (not best or score > best["score"]):
            best.update(score=score, step=step, read=read,
                        state={k: v.detach().clone() for k, v in model.state_dict().items()})
        return score

    start_f1 = read_dev(0)
    rows: list[dict] = []
    tokens = 0
    for step in range(g.steps):
        row = loop.step(prompts, step)
        tokens += row["completion_tokens"] * (1 + g.iterations + (g.beta > 0))
        if (step + 1) % cfg.rl.eval_every == 0 or step + 1 == g.steps:
            row["dev"] = read_dev(step + 1)
        rows.append(row)
        if progress is not None:
            progress(step + 1, g.steps, row)
    model.load_state_dict(best["state"])
    at_best = best["read"]
    threshold = at_best[cfg.tune_threshold][1]
    other = at_best[not cfg.tune_threshold]
    seconds = time.time() - t0
    n_good = sum(p.good for p in prompts)
    balance = {"balance": cfg.rl.balance, "pool_good": n_good, "pool_bad": len(prompts) - n_good,
               "pool_unlabelled": unlabelled, **_class_counts(rows)}
    log(f"  {cfg.format} N={cfg.budget}: reward {rows[0]['reward_mean']:.3f} -> "
        f"{rows[-1]['reward_mean']:.3f}, dev F1 {start_f1:.3f} at the start ({start['from']}), {best['score']:.3f} "
        f"at step {best['step']}/{g.steps} (sampled {balance['sampled_good']} correct / "
        f"{balance['sampled_bad']} incorrect steps, {seconds:.0f}s)")
    metric = ("dev F1 at the threshold that maximises it" if cfg.tune_threshold
              else "dev F1 at threshold 0.5")
    info: dict[str, Any] = {
        "kind": "judge", "format": cfg.format, "config": cfg.model_dump(), "init": str(init),
        "budget_solutions": len(chosen), "step_labels": spec.count_step_labels(chosen),
        "rl": {"algorithm": "grpo", "settings": cfg.rl.model_dump(), "curve_file": CURVE_FILE, "class_balance": balance,
               "steps": g.steps, "start_dev_f1": start_f1,
               "first_reward": rows[0]["reward_mean"], "last_reward": rows[-1]["reward_mean"]},
        "selection": {"metric": metric + " (the judge's own scores), read every "
                      f"{cfg.rl.eval_every} RL steps", "dev_solutions": len(dev),
                      "trials": [{"lr": g.lr, "dev_f1": best["score"], "best_step": best["step"],
                                  "curve": dev_curve, "steps": g.steps, "stopped_by": "max_steps",
                                  "seconds": round(seconds, 1), "precision": "fp32",
                                  "threshold": threshold}],
                      "chosen_lr": g.lr, "chosen_step": best["step"]},
        "threshold": {"value": threshold, "tuned": cfg.tune_threshold, "dev_f1": best["score"],
                      "other": None if other is None else {"value": other[1], "tuned": not cfg.tune_threshold,
                                                           "dev_f1": other[0]}},
        "train_examples": len(prompts), "tokens_processed": tokens + start.get("tokens_processed", 0),
        "seconds": seconds}
    info["rl"]["start"] = start
    curve = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    _save_once(out_dir, model, codec, info, files={CURVE_FILE: curve})
    return info


def _start(cfg: JudgeConfig, init: str | Path, pool: Sequence[Record], dev: Sequence[Record], *,
           log: Callable[[str], None], progress: Callable | None) -> tuple[Any, dict[str, Any]]:
    """The model GRPO starts from and what it is (`rl.start` in the judge's info): the init, or
    with `judge.rl.start=sft` the format's supervised judge fitted on the same budget, seed and
    dev split, kept in memory (a user who wants it saved trains that format: same seed, same
    judge). Its fitting tokens count in the RL judge's `tokens_processed`."""
    spec = judge_format(cfg.format)
    if cfg.rl.start == "base":
        torch.manual_seed(cfg.seed)
        return load_model(init, "causal"), {"from": "base"}
    model, _, info = fit_judge(cfg.model_copy(update={"format": spec.sft_start}), init, pool, dev,
                               log=log, progress=progress)
    sel = info["selection"]
    torch.manual_seed(cfg.seed)  # RL from here is seeded as from the base
    return model, {"from": "sft", "format": spec.sft_start, "chosen_lr": sel["chosen_lr"],
                   "chosen_step": sel["chosen_step"], "dev_f1": info["threshold"]["dev_f1"],
                   "filter": info.get("filter"), "train_examples": info["train_examples"],
                   "tokens_processed": info["tokens_processed"], "seconds": round(info["seconds"], 1)}


def rft_examples(cfg: JudgeConfig, init: str | Path, codec: Codec,
                 records: Sequence[Record]) -> tuple[list[dict], dict[str, Any]]:
    """The rejection-sampled examples of `records` (see the module doc) and what sampling kept,
    by class (`rft` in the judge's info)."""
    prompts, unlabelled = step_prompts(codec, records)
    if not prompts:
        raise InputError("no labelled step through a first error among the budget's solutions",
                         field="judge.budget")
    model = load_model(init, "causal")
    model.eval()
    gen = KVCacheGenerator(model, batch_size=256, pad_id=codec.pad_id)
    out: list[dict] = []
    kept = {True: 0, False: 0}
    steps_kept: set[tuple[str, int]] = set()
    generated = 0
    with torch.no_grad():
        for k in range(cfg.rl.rft_samples):
            samples = gen.generate([list(p.prompt) for p in prompts], max_new_tokens=cfg.rl.grpo.max_new_tokens,
                                   temperature=cfg.rl.rft_temperature,
                                   stop_ids=[codec.ok_id, codec.bad_id, codec.eos_id],
                                   seed=seeds.seed("judge_rl.rft", cfg.seed, index=k),
                                   watch_ids=[codec.ok_id, codec.bad_id])
            comps, _ = verdict_at_stop(samples, codec, temperature=cfg.rl.rft_temperature,
                                       rng=seeds.rng("judge_rl.rft_verdict", cfg.seed, k))
            for p, ids in zip(prompts, comps):
                generated += len(ids)
                v = verdict_of(ids, codec)
                if v is None or v != p.good:
                    continue
                target = list(ids) + [codec.eos_id]
                ids = list(p.prompt) + target
                if len(ids) > cfg.max_length:
                    raise InputError(f"{len(ids)} tokens exceed max_length={cfg.max_length}; raise "
                                     "max_length (no sampled check is dropped silently)",
                                     field=f"id {p.record_id}")
                out.append({"input_ids": ids, "labels": [-100] * len(p.prompt) + target})
                kept[p.good] += 1
                steps_kept.add((p.record_id, p.step))
    n_good = sum(p.good for p in prompts)
    total = len(prompts) * cfg.rl.rft_samples
    info = {"samples_per_step": cfg.rl.rft_samples, "temperature": cfg.rl.rft_temperature,
            "max_new_tokens": cfg.rl.grpo.max_new_tokens, "steps": len(prompts), "steps_good": n_good,
            "steps_bad": len(prompts) - n_good, "steps_unlabelled": unlabelled, "sampled": total,
            "kept": len(out), "kept_fraction": len(out) / total, "kept_good": kept[True],
            "kept_bad": kept[False], "steps_with_a_kept_check": len(steps_kept),
            "tokens_generated": generated}
    if not out:
        raise InputError(f"rft: none of the {total} sampled checks reached its step's verdict; "
                         "nothing to fine-tune on (more rft_samples, or another init)",
                         field="judge.rl.rft_samples")
    return out, {"rft": info}
