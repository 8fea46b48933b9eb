"""`prmlab rl`: GRPO on the policy, in a run folder you can resume and recompute from.

The folder (`OUT/`):

* `config.json` — the resolved `RLRunConfig` (policy path, algorithm, reward, problem counts)
  and provenance; a resumed run must have the same config;
* `curve.jsonl` — one row per optimizer step: reward mean/std, groups whose rewards were all
  equal (no signal), loss, clip fraction, KL, tokens, seconds;
* `samples/step-NNNN.jsonl` — every completion of step N: problem, steps, answer, reward,
  correctness (the verifier's, recorded whatever the reward was);
* `train.json` — which problems were trained on and the rule that chose them, before any
  training (`train_problems`, `train_pick`; see `pick_train`);
* `eval-before.json`, `eval-after.json` — greedy accuracy on the training problems and on
  held-out test problems, sampled pass@k (unbiased, `eval_samples` per problem) and answer
  coverage on the test problems, each with a 95% bootstrap CI over problems;
  `eval-{before,after}-samples.jsonl` — every sampled test solution's answer and verdict, from
  which pass@k is recomputed (`rl_records.read_eval_samples`);
* `evals.jsonl` — greedy train/test accuracy every `eval_every` steps (one-example RLVR reads
  test accuracy after training accuracy saturates: the schedule never stops early);
* `result.json` — the typed `RLResult` (`experiments/rl_records.py`) reports and claims read;
* `checkpoint/` — the policy after the last saved step (safetensors); `state.json` says which
  step it is. A rerun of the same command resumes from there (Adam's moments restart: they are
  not saved); every file is written atomically.

Training and test problems are fresh draws of the policy's own difficulty from the named
streams `rl.train` and `rl.test`. With `train_problems: N` only N of the first `n_train` are
trained on (duplicated to fill every batch, `grpo_loop.batch_problems`), chosen before training
by a rule that never sees a test problem or a trained policy: `first` (the first N of the
stream) or `mid-pass-rate` (the N whose pass rate under the policy RL starts from, `pick_samples`
samples each from stream `rl.pick`, is nearest 1/2: a group of such a problem's samples has the
most reward variance, the quantity arXiv:2504.20571 ranks its examples by; ties: earlier first).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from prmlab import seeds
from prmlab.atomic import write_json, write_jsonl
from prmlab.data.arith.generate import iter_records
from prmlab.data.tasks import ARITH, is_solved
from prmlab.experiments.pinned import pin_config
from prmlab.metrics.bootstrap import HIGHER, weighted_mean, with_ci
from prmlab.experiments.rl_records import (RESULT_FILE, CurvePoint, FullEval, PassKCurve, PassKGap,
                                           PolicyEval, RLResult, TrainSet, problem_samples,
                                           read_eval_samples)
from prmlab.metrics.passk import pass_at_k_curve, pass_at_k_gap
from prmlab.models.checkpoint import load_codec, load_model, read_info, save_checkpoint
from prmlab.models.generator import KVCacheGenerator
from prmlab.strict import loads, read_json
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
    eval_samples: int = Field(8, ge=1, le=4096, description="sampled solutions per test problem for pass@k and coverage (n >= the largest k)")
    save_every: int = Field(5, ge=1, description="steps between checkpoints a rerun resumes from")
    bootstrap_resamples: int = Field(1000, ge=0, description="bootstrap resamples of every CI")
    train_problems: int | None = Field(None, ge=1, description="one-example RLVR: train on only this many of the n_train problems, chosen by train_pick and duplicated to fill each batch (null: all n_train)")
    train_pick: Literal["first", "mid-pass-rate"] = Field("first", description="how train_problems are chosen before training: the first of stream rl.train, or those whose pre-RL pass rate is nearest 1/2")
    pick_samples: int = Field(8, ge=2, description="mid-pass-rate: samples per candidate problem the pre-RL policy draws")
    eval_every: int | None = Field(None, ge=1, description="steps between greedy train/test evaluations during training (null: before and after only)")
    label: str | None = Field(None, description="a name for this run's arm in a suite report (e.g. its base)")

    @model_validator(mode="after")
    def _eval_within_train(self) -> "RLRunConfig":
        if self.n_eval_train > self.n_train:
            raise ValueError(f"n_eval_train ({self.n_eval_train}) is more than n_train ({self.n_train})")
        if self.train_problems is not None and self.train_problems > self.n_train:
            raise ValueError(f"train_problems ({self.train_problems}) is more than n_train ({self.n_train})")
        return self


def _problems(cfg: RLRunConfig, stream: str, n: int) -> list[str]:
    diff = base_difficulty(read_info(cfg.policy).get("base") or cfg.policy)
    return [r.problem for r in iter_records(n, seeds.seed(stream, cfg.rl.seed), diff, error_rate=0.0)]


def _kw(codec, cfg: RLRunConfig) -> dict:
    return dict(max_new_tokens=cfg.rl.max_new_tokens, stop_ids=[codec.eos_id])


def _sampled(gen, codec, problems: list[str], n: int, cfg: RLRunConfig, seed: int) -> list[list[list[str]]]:
    """`n` sampled solutions (as steps) of every problem, in one batched call."""
    prompts = [codec.policy_prompt(p) for p in problems for _ in range(n)]
    out = gen.generate(prompts, temperature=cfg.rl.temperature, seed=seed, **_kw(codec, cfg))
    return [[codec.split_steps(s.ids) for s in out[i * n:(i + 1) * n]] for i in range(len(problems))]


def pick_rule(cfg: RLRunConfig) -> str:
    if cfg.train_problems is None:
        return f"all {cfg.n_train} problems of stream rl.train"
    if cfg.train_pick == "first":
        return f"the first {cfg.train_problems} of stream rl.train"
    return (f"the {cfg.train_problems} of the first {cfg.n_train} of stream rl.train whose pass rate "
            f"under the pre-RL policy ({cfg.pick_samples} samples each, stream rl.pick) is nearest "
            "1/2; ties: earlier first")


def nearest_half(rates: list[float], n: int) -> list[int]:
    """Indices of the `n` rates nearest 1/2 (ties: earlier first), in index order.

    >>> nearest_half([0.0, 0.25, 0.75, 0.5, 1.0], 1), nearest_half([0.0, 0.25, 0.75, 0.5, 1.0], 3)
    ([3], [1, 2, 3])
    >>> nearest_half([0.0, 0.0], 1)
    [0]
    """
    order = sorted(range(len(rates)), key=lambda i: (abs(rates[i] - 0.5), i))
    return sorted(order[:n])


def pick_train(cfg: RLRunConfig, candidates: list[str], model, codec) -> TrainSet:
    """The problems RL trains on (see the module docstring), chosen before any training."""
    n = cfg.train_problems
    if n is None or cfg.train_pick == "first":
        return TrainSet(rule=pick_rule(cfg), problems=candidates[:n] if n else candidates,
                        candidates=len(candidates))
    model.eval()
    gen = KVCacheGenerator(model, pad_id=codec.pad_id)
    sols = _sampled(gen, codec, candidates, cfg.pick_samples, cfg, seeds.seed("rl.pick", cfg.rl.seed))
    rates = [float(np.mean([is_solved(ARITH, p, s) for s in ss])) for p, ss in zip(candidates, sols)]
    return TrainSet(rule=pick_rule(cfg), problems=[candidates[i] for i in nearest_half(rates, n)],
                    candidates=len(candidates), pass_rates=rates)


def greedy_accuracy(gen, codec, problems: list[str], cfg: RLRunConfig) -> dict[str, Any]:
    samples = gen.generate([codec.policy_prompt(p) for p in problems], temperature=0.0, **_kw(codec, cfg))
    ok = np.array([float(is_solved(ARITH, p, codec.split_steps(s.ids))) for p, s in zip(problems, samples)])
    return with_ci(weighted_mean(ok), [str(i) for i in range(len(problems))], direction=HIGHER,
                   n=len(problems), aggregation="share of problems whose greedy solution states the gold answer",
                   n_resamples=cfg.bootstrap_resamples)


def evaluate_greedy(model, codec, train: list[str], test: list[str], cfg: RLRunConfig, step: int) -> PolicyEval:
    gen = KVCacheGenerator(model, pad_id=codec.pad_id)
    model.eval()
    return PolicyEval(step=step, train_greedy_accuracy=greedy_accuracy(gen, codec, train, cfg),
                      test_greedy_accuracy=greedy_accuracy(gen, codec, test, cfg))


def evaluate_policy(model, codec, train: list[str], test: list[str], cfg: RLRunConfig,
                    step: int = 0) -> tuple[FullEval, list[dict[str, Any]]]:
    """Greedy accuracy on `train` and `test`, sampled pass@k and coverage on `test`; and the
    sampled solutions' rows (problem, answer, verdict) pass@k is recomputed from."""
    greedy = evaluate_greedy(model, codec, train, test, cfg, step)
    gen = KVCacheGenerator(model, pad_id=codec.pad_id)
    k = cfg.eval_samples
    sols = _sampled(gen, codec, test, k, cfg, seeds.seed("rl.eval", cfg.rl.seed))
    rows = [{"problem_id": str(i), "problem": p, "sample": j, "answer": ARITH.final_answer(s),
             "correct": is_solved(ARITH, p, s)} for i, (p, ss) in enumerate(zip(test, sols))
            for j, s in enumerate(ss)]
    curve = {"temperature": cfg.rl.temperature,
             **pass_at_k_curve(problem_samples(rows), n_resamples=cfg.bootstrap_resamples)}
    return FullEval(**greedy.model_dump(), test_sampled=PassKCurve.model_validate(curve)), rows


def _sample_rows(batch, task=ARITH) -> list[dict[str, Any]]:
    return [{"step": c.step + 1, "group": c.group, "sample": c.sample, "problem": c.problem,
             "steps": c.steps, "answer": task.final_answer(c.steps), "reward": r,
             "correct": is_solved(task, c.problem, c.steps), "tokens": len(ids)}
            for c, r, ids in zip(batch.completions, batch.rewards, batch.completion_ids)]


def _read_rows(path: Path, upto: int) -> list[dict]:
    """A run's own JSON lines (read back to resume, so not an input), those of steps <= upto."""
    if not path.exists():
        return []
    rows = [loads(x, path=path, line=i + 1) for i, x in enumerate(path.read_text(encoding="utf-8").splitlines()) if x]
    return [r for r in rows if r["step"] <= upto]


def run_rl(cfg: RLRunConfig, out: Path, *, log: Callable[[str], None] = print,
           progress: Callable[[int, int, dict], None] | None = None) -> RLResult:
    """Train (or resume) and evaluate; returns the `RLResult` written to `result.json`."""
    import torch

    out = Path(out)
    saved = out / "config.json"
    # the run's own files, read back to resume: not inputs (they are rewritten)
    state = read_json(out / "state.json", note=False) if (out / "state.json").exists() else None
    pin_config(cfg, saved)
    t0 = time.perf_counter()
    candidates = _problems(cfg, "rl.train", cfg.n_train)
    test = _problems(cfg, "rl.test", cfg.n_test)
    start = int(state["step"]) if state else 0
    src = out / "checkpoint" if state else Path(cfg.policy)
    torch.manual_seed(cfg.rl.seed)
    model, codec = load_model(src, "causal"), load_codec(src)
    initial = (lambda: model) if not state else (lambda: load_model(cfg.policy, "causal"))
    if (out / "train.json").exists():
        chosen = TrainSet.model_validate(read_json(out / "train.json", note=False))
    else:
        log(f"choosing the training problems: {pick_rule(cfg)}")
        chosen = pick_train(cfg, candidates, initial(), codec)
        write_json(out / "train.json", chosen.model_dump(mode="json"))
    train = chosen.problems
    train_eval = train if cfg.train_problems is not None else train[:cfg.n_eval_train]
    if not (out / "eval-before.json").exists():
        log(f"evaluating the policy before RL ({len(train_eval)} train, {cfg.n_test} test problems, "
            f"{cfg.eval_samples} samples each)")
        ev, rows = evaluate_policy(initial(), codec, train_eval, test, cfg, 0)
        write_jsonl(out / "eval-before-samples.jsonl", rows)
        write_json(out / "eval-before.json", ev.model_dump(mode="json", by_alias=True))
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
    rows = _read_rows(out / "curve.jsonl", start) if state else []
    evals = _read_rows(out / "evals.jsonl", start) if state else []
    if state:
        log(f"resuming after step {start} of {cfg.rl.steps}")

    def on_step(step: int, row: dict, batch) -> None:
        samples = _sample_rows(batch)
        row["train_accuracy"] = float(np.mean([r["correct"] for r in samples]))
        rows.append(row)
        write_jsonl(out / "samples" / f"step-{step:04d}.jsonl", samples)
        write_jsonl(out / "curve.jsonl", rows)
        if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.rl.steps:
            evals.append(evaluate_greedy(model, codec, train_eval, test, cfg, step).model_dump(mode="json"))
            write_jsonl(out / "evals.jsonl", evals)
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
    after, after_rows = evaluate_policy(model, codec, train_eval, test, cfg, cfg.rl.steps)
    write_jsonl(out / "eval-after-samples.jsonl", after_rows)
    write_json(out / "eval-after.json", after.model_dump(mode="json", by_alias=True))
    before = FullEval.model_validate(read_json(out / "eval-before.json", note=False))
    before_rows = read_eval_samples(out / "eval-before-samples.jsonl")
    gap = pass_at_k_gap(before_rows, problem_samples(after_rows), n_resamples=cfg.bootstrap_resamples)
    curve = [CurvePoint(**{k: r[k] for k in CurvePoint.model_fields}) for r in rows]
    done = len(rows) - start
    n_samples = done * cfg.rl.prompts_per_step * cfg.rl.num_generations
    result = RLResult(
        reward=cfg.reward.name, seed=cfg.rl.seed, policy=cfg.policy,
        base=read_info(cfg.policy).get("base"), label=cfg.label, steps=cfg.rl.steps,
        resumed_from=start, train=chosen, curve=curve,
        evals=[before.as_greedy(), *(PolicyEval.model_validate(e) for e in evals), after.as_greedy()],
        before=before, after=after, pass_at_k_gap=PassKGap.model_validate(gap),
        train_saturated_at=next((p.step for p in curve if p.train_accuracy >= 1.0), None),
        train_seconds_this_run=train_s, seconds=time.perf_counter() - t0,
        steps_per_s=done / max(train_s, 1e-9), samples_per_s=n_samples / max(train_s, 1e-9))
    write_json(out / RESULT_FILE, result.model_dump(mode="json", by_alias=True))
    return result
