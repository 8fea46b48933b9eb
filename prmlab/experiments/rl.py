"""`prmlab rl`: GRPO on the policy, in a run folder you can resume and recompute from.

The folder (`OUT/`):

* `config.json` — the resolved `RLRunConfig` (policy path, algorithm, reward, problem counts)
  and provenance; a resumed run must have the same config;
* `curve.jsonl` — one row per optimizer step: reward mean/std, groups whose rewards were all
  equal (no signal), loss, clip fraction, KL, tokens, seconds;
* `samples/step-NNNN.jsonl` — every completion of step N: problem, steps, answer, reward,
  correctness (the verifier's, recorded whatever the reward was);
* `eval-before.json`, `eval-after.json` — greedy accuracy on the training problems and on
  held-out test problems, sampled pass@k (unbiased) and answer coverage on the test problems,
  each with a 95% bootstrap CI over problems;
* `checkpoint/` — the policy after the last saved step (safetensors); `state.json` says which
  step it is. A rerun of the same command resumes from there (Adam's moments restart: they are
  not saved); every file is written atomically.

Training and test problems are fresh draws of the policy's own difficulty from the named
streams `rl.train` and `rl.test`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from prmlab import seeds
from prmlab.atomic import write_json, write_jsonl
from prmlab.data.arith.generate import iter_records
from prmlab.data.tasks import ARITH, is_solved
from prmlab.errors import InputError
from prmlab.metrics.bootstrap import HIGHER, weighted_mean, with_ci
from prmlab.metrics.passk import ProblemSamples, pass_at_k_curve
from prmlab.models.checkpoint import load_codec, load_model, read_info, save_checkpoint
from prmlab.models.generator import KVCacheGenerator
from prmlab.provenance import provenance
from prmlab.strict import read_json
from prmlab.training.grpo import RLConfig
from prmlab.training.grpo_loop import GRPOLoop
from prmlab.training.policy import base_difficulty
from prmlab.training.rewards import RewardConfig, build_reward


class RLRunConfig(BaseModel):
    """A `prmlab rl` run: which policy, how it is trained and rewarded, what it is tested on."""

    model_config = ConfigDict(extra="forbid", strict=True)
    policy: str = Field(..., description="the policy checkpoint folder RL starts from")
    rl: RLConfig = Field(default_factory=RLConfig, description="the GRPO algorithm and schedule")
    reward: RewardConfig = Field(default_factory=RewardConfig, description="what the policy is rewarded for")
    n_train: int = Field(256, ge=1, description="training problems (stream rl.train; fewer than a batch are repeated)")
    n_test: int = Field(200, ge=1, description="held-out test problems (stream rl.test)")
    n_eval_train: int = Field(200, ge=1, description="training problems evaluated (the first of them)")
    eval_samples: int = Field(8, ge=1, description="sampled solutions per test problem for pass@k and coverage")
    save_every: int = Field(5, ge=1, description="steps between checkpoints a rerun resumes from")
    bootstrap_resamples: int = Field(1000, ge=0, description="bootstrap resamples of every CI")

    @model_validator(mode="after")
    def _eval_within_train(self) -> "RLRunConfig":
        if self.n_eval_train > self.n_train:
            raise ValueError(f"n_eval_train ({self.n_eval_train}) is more than n_train ({self.n_train})")
        return self


def _problems(cfg: RLRunConfig, stream: str, n: int) -> list[str]:
    diff = base_difficulty(read_info(cfg.policy).get("base") or cfg.policy)
    return [r.problem for r in iter_records(n, seeds.seed(stream, cfg.rl.seed), diff, error_rate=0.0)]


def evaluate_policy(model, codec, train: list[str], test: list[str], cfg: RLRunConfig) -> dict[str, Any]:
    """Greedy accuracy on `train` and `test`, sampled pass@k and coverage on `test`."""
    gen = KVCacheGenerator(model, pad_id=codec.pad_id)
    kw = dict(max_new_tokens=cfg.rl.max_new_tokens, stop_ids=[codec.eos_id])
    model.eval()
    out: dict[str, Any] = {}
    for name, probs in (("train", train), ("test", test)):
        samples = gen.generate([codec.policy_prompt(p) for p in probs], temperature=0.0, **kw)
        ok = np.array([float(is_solved(ARITH, p, codec.split_steps(s.ids))) for p, s in zip(probs, samples)])
        out[f"{name}_greedy_accuracy"] = with_ci(
            weighted_mean(ok), [str(i) for i in range(len(probs))], direction=HIGHER, n=len(probs),
            aggregation="share of problems whose greedy solution states the gold answer",
            n_resamples=cfg.bootstrap_resamples)
    k = cfg.eval_samples
    prompts = [codec.policy_prompt(p) for p in test for _ in range(k)]
    samples = gen.generate(prompts, temperature=cfg.rl.temperature,
                           seed=seeds.seed("rl.eval", cfg.rl.seed), **kw)
    per = []
    for i, p in enumerate(test):
        steps = [codec.split_steps(s.ids) for s in samples[i * k:(i + 1) * k]]
        per.append(ProblemSamples(str(i), [ARITH.final_answer(s) for s in steps],
                                  [is_solved(ARITH, p, s) for s in steps]))
    out["test_sampled"] = {"temperature": cfg.rl.temperature,
                           **pass_at_k_curve(per, n_resamples=cfg.bootstrap_resamples)}
    return out


def _sample_rows(batch, task=ARITH) -> list[dict[str, Any]]:
    return [{"step": c.step + 1, "group": c.group, "sample": c.sample, "problem": c.problem,
             "steps": c.steps, "answer": task.final_answer(c.steps), "reward": r,
             "correct": is_solved(task, c.problem, c.steps), "tokens": len(ids)}
            for c, r, ids in zip(batch.completions, batch.rewards, batch.completion_ids)]


def run_rl(cfg: RLRunConfig, out: Path, *, log: Callable[[str], None] = print,
           progress: Callable[[int, int, dict], None] | None = None) -> dict[str, Any]:
    """Train (or resume) and evaluate; returns the summary written to `summary.json`."""
    import torch

    out = Path(out)
    saved = out / "config.json"
    # the run's own files, read back to resume: not inputs (they are rewritten)
    state = read_json(out / "state.json", note=False) if (out / "state.json").exists() else None
    if saved.exists():
        old = read_json(saved, note=False).get("config")
        if old != cfg.model_dump(mode="json"):
            raise InputError("holds a run of another config: give another --out, or the same "
                             "options to resume it", path=str(saved))
    else:
        write_json(saved, {"config": cfg.model_dump(mode="json"), "provenance": provenance()})
    t0 = time.perf_counter()
    train = _problems(cfg, "rl.train", cfg.n_train)
    test = _problems(cfg, "rl.test", cfg.n_test)
    start = int(state["step"]) if state else 0
    src = out / "checkpoint" if state else Path(cfg.policy)
    torch.manual_seed(cfg.rl.seed)
    model, codec = load_model(src, "causal"), load_codec(src)
    if not (out / "eval-before.json").exists():
        log(f"evaluating the policy before RL ({cfg.n_eval_train} train, {cfg.n_test} test problems)")
        before = model if not state else load_model(cfg.policy, "causal")
        write_json(out / "eval-before.json", evaluate_policy(before, codec, train[:cfg.n_eval_train], test, cfg))
    judge = None
    if cfg.reward.judge:
        from prmlab.judges.load import load_judge

        judge = load_judge(cfg.reward.judge)
    reward = build_reward(cfg.reward, ARITH, seed=cfg.rl.seed, judge=judge)
    if cfg.rl.backend == "trl":  # TRL's GRPOTrainer behind the same run() (training/trl_backend.py)
        from prmlab.training.trl_backend import TRLLoop

        loop = TRLLoop(model, codec, cfg.rl, reward)
    else:
        loop = GRPOLoop(model, codec, cfg.rl, reward)
    rows: list[dict] = []
    if state and (out / "curve.jsonl").exists():
        from prmlab.strict import loads

        text = (out / "curve.jsonl").read_text(encoding="utf-8")
        rows = [r for r in (loads(x, path=out / "curve.jsonl") for x in text.splitlines() if x)
                if r["step"] <= start]
        log(f"resuming after step {start} of {cfg.rl.steps}")

    def on_step(step: int, row: dict, batch) -> None:
        rows.append(row)
        write_jsonl(out / "samples" / f"step-{step:04d}.jsonl", _sample_rows(batch))
        write_jsonl(out / "curve.jsonl", rows)
        if step % cfg.save_every == 0 or step == cfg.rl.steps:
            save_checkpoint(out / "checkpoint", model, codec,
                            {"kind": "policy", "rl": cfg.model_dump(mode="json"), "step": step,
                             "base": read_info(cfg.policy).get("base")})
            write_json(out / "state.json", {"step": step})
        if progress is not None:
            progress(step, cfg.rl.steps, {"loss": row["loss"], "reward": row["reward_mean"]})

    t_train = time.perf_counter()
    loop.run(train, start_step=start, on_step=on_step)
    train_s = time.perf_counter() - t_train
    log("evaluating the policy after RL")
    after = evaluate_policy(model, codec, train[:cfg.n_eval_train], test, cfg)
    write_json(out / "eval-after.json", after)
    before = read_json(out / "eval-before.json", note=False)
    done = rows[start:] if start else rows
    summary = {"steps": cfg.rl.steps, "resumed_from": start, "reward": cfg.reward.name,
               "train_seconds_this_run": train_s, "seconds": time.perf_counter() - t0,
               "steps_per_s": len(done) / max(train_s, 1e-9),
               "samples_per_s": len(done) * cfg.rl.prompts_per_step * cfg.rl.num_generations / max(train_s, 1e-9),
               "reward_first": rows[0]["reward_mean"] if rows else None,
               "reward_last": rows[-1]["reward_mean"] if rows else None,
               **{f"{k}_{when}": ev[k] for when, ev in (("before", before), ("after", after))
                  for k in ("train_greedy_accuracy", "test_greedy_accuracy")},
               "test_pass@1_before": before["test_sampled"]["pass@k"]["1"],
               "test_pass@1_after": after["test_sampled"]["pass@k"]["1"]}
    write_json(out / "summary.json", summary)
    return summary
