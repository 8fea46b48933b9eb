"""`prmlab pcl`: Post-Completion Learning against plain GRPO, same policy, problems and seeds,
and the PCL policy's self-evaluation as an outcome judge (`prmlab.training.pcl`).

The folder (`OUT/`), every file written atomically, rerun the same command to resume:

* `config.json` — the resolved `PCLRunConfig` and provenance (a resumed run must match it);
* `eval-before.json`, `eval-before-samples.jsonl` — the starting policy, evaluated as below;
* `<arm>/` for each arm (`grpo`: plain GRPO with the outcome reward; `pcl`: the same plus the
  segment and its reward): `curve.jsonl` (one row per step), `samples/step-NNNN.jsonl` (every
  completion: steps, answer, correctness, segment text, prediction, reward), `checkpoint/` and
  `state.json` (the step a rerun resumes after; Adam's moments restart), `eval.json`,
  `eval-samples.jsonl`;
* `metrics.json` — per arm test accuracy with CIs, the paired difference pcl - grpo with its
  CI, and the self-evaluation judge beside the trivial judges (and the ORM when given); the
  CLI renders `report.md` and `pcl.png` from it (`prmlab.reports.pcl`).

Evaluation (on held-out test problems, stream `rl.test`, the same as `prmlab rl`'s): greedy
accuracy (generation stops at the end of the answer: no segment is written), sampled accuracy
over `eval_samples` answers per problem (stream `pcl.test`, pass 0), and on those sampled
answers the policy's greedy self-evaluation (`training.pcl.self_evaluate`): its AUROC, F1s
(`metrics.outcome`), the share with no verdict. Every CI is a bootstrap over test problems.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from prmlab import seeds
from prmlab.atomic import write_json, write_jsonl
from prmlab.data.arith.generate import iter_records
from prmlab.data.record import Record
from prmlab.data.tasks import ARITH, is_solved
from prmlab.experiments.pinned import pin_config
from prmlab.metrics.bootstrap import HIGHER, weighted_mean, with_ci
from prmlab.metrics.outcome import outcome_judge_metrics, trivial_judges
from prmlab.models.checkpoint import load_codec, load_model, read_info, save_checkpoint
from prmlab.models.generator import KVCacheGenerator
from prmlab.strict import loads, read_json
from prmlab.training.grpo import RLConfig
from prmlab.training.grpo_loop import GRPOLoop
from prmlab.training.pcl import PCLConfig, PCLLoop, self_evaluate
from prmlab.training.policy import base_difficulty
from prmlab.training.rewards import RewardConfig, build_reward

ARMS = ("grpo", "pcl")


class PCLRunConfig(BaseModel):
    """A `prmlab pcl` run: the policy, the shared GRPO schedule, the segment, the test set."""

    model_config = ConfigDict(extra="forbid", strict=True)
    policy: str = Field(..., description="the policy checkpoint both arms start from")
    rl: RLConfig = Field(default_factory=RLConfig, description="the GRPO algorithm and schedule, the same for both arms")
    pcl: PCLConfig = Field(default_factory=PCLConfig, description="the self-evaluation segment and its reward weight")
    arms: list[Literal["grpo", "pcl"]] = Field(default_factory=lambda: list(ARMS),
                                               description="which arms to train: grpo (plain, outcome reward) and/or pcl")
    n_train: int = Field(256, ge=1, description="training problems (stream rl.train; fewer than a batch are repeated)")
    n_test: int = Field(200, ge=1, description="held-out test problems (stream rl.test)")
    eval_samples: int = Field(4, ge=1, description="sampled answers per test problem the self-evaluation judges")
    save_every: int = Field(5, ge=1, description="steps between checkpoints a rerun resumes from")
    bootstrap_resamples: int = Field(1000, ge=0, description="bootstrap resamples of every CI")
    orm: str | None = Field(None, description="an ORM judge checkpoint scoring the same test answers (optional)")

    @field_validator("arms")
    @classmethod
    def _arms(cls, v: list[str]) -> list[str]:
        if not v or len(set(v)) != len(v):
            raise ValueError("arms must be a non-empty list without repeats")
        return v


def _problems(cfg: PCLRunConfig, stream: str, n: int) -> list[str]:
    diff = base_difficulty(read_info(cfg.policy).get("base") or cfg.policy)
    return [r.problem for r in iter_records(n, seeds.seed(stream, cfg.rl.seed), diff, error_rate=0.0)]


def evaluate(model, codec, test: list[str], cfg: PCLRunConfig, orm=None) -> tuple[dict[str, Any], list[dict]]:
    """Greedy and sampled test accuracy, and the self-evaluation of the sampled answers."""
    gen = KVCacheGenerator(model, pad_id=codec.pad_id)
    kw = dict(max_new_tokens=cfg.rl.max_new_tokens, stop_ids=[codec.eos_id])
    model.eval()
    ids = [str(i) for i in range(len(test))]
    greedy = gen.generate([codec.policy_prompt(p) for p in test], temperature=0.0, **kw)
    g_ok = [int(is_solved(ARITH, p, codec.split_steps(s.ids))) for p, s in zip(test, greedy)]
    k = cfg.eval_samples
    probs = [p for p in test for _ in range(k)]
    prompts = [codec.policy_prompt(p) for p in probs]
    answers = gen.generate(prompts, temperature=cfg.rl.temperature,
                           seed=seeds.seed("pcl.test", cfg.rl.seed, index=0), **kw)
    evals, _ = self_evaluate(gen, codec, prompts, [a.ids for a in answers],
                             max_tokens=cfg.pcl.eval_max_tokens, temperature=0.0)
    steps = [codec.split_steps(a.ids) for a in answers]
    ok = [int(is_solved(ARITH, p, s)) for p, s in zip(probs, steps)]
    clusters = [str(i // k) for i in range(len(probs))]
    scores = [e.score if e.score is not None else 0.5 for e in evals]
    verdicts = [int(e.predicted == 1) for e in evals]
    n_res = cfg.bootstrap_resamples
    out: dict[str, Any] = {
        "test_greedy_accuracy": with_ci(weighted_mean(np.array(g_ok, float)), ids, direction=HIGHER,
                                        n=len(test), n_resamples=n_res,
                                        aggregation="share of problems whose greedy answer is the gold one"),
        "test_greedy_correct": g_ok,
        "test_sampled_accuracy": with_ci(weighted_mean(np.array(ok, float)), clusters, direction=HIGHER,
                                         n=len(probs), n_resamples=n_res,
                                         aggregation=f"share of sampled answers (T={cfg.rl.temperature}, "
                                                     f"{k} per problem) that are right"),
        "judges": {"self-eval": {**outcome_judge_metrics(scores, verdicts, ok, clusters, n_resamples=n_res),
                                 "no_verdict": sum(e.predicted is None for e in evals)},
                   **trivial_judges(ok, clusters, n_resamples=n_res)}}
    orm_scores = None
    if orm is not None:
        recs = [Record(id=str(i), problem=p, steps=s or ["(empty)"], labels=[None] * max(1, len(s)),
                       first_error=None) for i, (p, s) in enumerate(zip(probs, steps))]
        orm_scores = [sc.step_scores[-1] for sc in orm.score(recs)]
        out["judges"]["orm"] = outcome_judge_metrics(
            orm_scores, [int(x >= 0.5) for x in orm_scores], ok, clusters, n_resamples=n_res)
    rows = [{"problem": p, "sample": i % k, "steps": s, "answer": ARITH.final_answer(s),
             "correct": bool(c), "segment": codec.decode(e.ids), "predicted": e.predicted,
             "self_eval_score": e.score, **({"orm_score": orm_scores[i]} if orm_scores else {})}
            for i, (p, s, c, e) in enumerate(zip(probs, steps, ok, evals))]
    return out, rows


def _sample_rows(batch, evals, codec) -> list[dict[str, Any]]:
    rows = []
    for i, (c, r, ids) in enumerate(zip(batch.completions, batch.rewards, batch.completion_ids)):
        row = {"step": c.step + 1, "group": c.group, "sample": c.sample, "problem": c.problem,
               "steps": c.steps, "answer": ARITH.final_answer(c.steps), "reward": r,
               "correct": is_solved(ARITH, c.problem, c.steps), "tokens": len(ids)}
        if evals is not None:
            row.update(segment=codec.decode(evals[i].ids), predicted=evals[i].predicted)
        rows.append(row)
    return rows


def _train_arm(arm: str, cfg: PCLRunConfig, out: Path, train: list[str], log, progress) -> Any:
    """Train one arm (or resume it); its model after the last step."""
    import torch

    d = out / arm
    state = read_json(d / "state.json", note=False) if (d / "state.json").exists() else None
    start = int(state["step"]) if state else 0
    src = d / "checkpoint" if state else Path(cfg.policy)
    torch.manual_seed(cfg.rl.seed)
    model, codec = load_model(src, "causal"), load_codec(src)
    rows: list[dict] = []
    if state and (d / "curve.jsonl").exists():
        text = (d / "curve.jsonl").read_text(encoding="utf-8")
        rows = [r for r in (loads(x, path=d / "curve.jsonl") for x in text.splitlines() if x)
                if r["step"] <= start]
        log(f"{arm}: resuming after step {start} of {cfg.rl.steps}")
    if start >= cfg.rl.steps:
        return model, codec

    def on_step(step: int, row: dict, batch, evals=None) -> None:
        samples = _sample_rows(batch, evals, codec)
        row.setdefault("correct_mean", sum(r["correct"] for r in samples) / len(samples))
        rows.append(row)
        write_jsonl(d / "samples" / f"step-{step:04d}.jsonl", samples)
        write_jsonl(d / "curve.jsonl", rows)
        if step % cfg.save_every == 0 or step == cfg.rl.steps:
            save_checkpoint(d / "checkpoint", model, codec,
                            {"kind": "policy", "pcl": cfg.model_dump(mode="json"), "arm": arm,
                             "step": step, "base": read_info(cfg.policy).get("base")})
            write_json(d / "state.json", {"step": step})
        if progress is not None:
            progress(arm, step, cfg.rl.steps, row)

    if arm == "pcl":
        PCLLoop(model, codec, cfg.rl, cfg.pcl, ARITH).run(train, start_step=start, on_step=on_step)
    else:
        reward = build_reward(RewardConfig(), ARITH, seed=cfg.rl.seed)
        GRPOLoop(model, codec, cfg.rl, reward).run(train, start_step=start, on_step=on_step)
    return model, codec


def _paired_difference(a: list[int], b: list[int], n_resamples: int) -> dict[str, Any]:
    x = np.array(a, float) - np.array(b, float)
    return with_ci(weighted_mean(x), [str(i) for i in range(len(x))], direction=HIGHER, n=len(x),
                   n_resamples=n_resamples,
                   aggregation="mean over test problems of greedy correct (pcl) - correct (grpo), paired")


def run_pcl(cfg: PCLRunConfig, out: Path, *, log: Callable[[str], None] = print,
            progress: Callable[[str, int, int, dict], None] | None = None) -> dict[str, Any]:
    """Train (or resume) every arm and evaluate; returns what `metrics.json` holds."""
    out = Path(out)
    saved = out / "config.json"
    pin_config(cfg, saved)
    orm = None
    if cfg.orm:
        from prmlab.judges.load import load_judge

        orm = load_judge(cfg.orm)
    train = _problems(cfg, "rl.train", cfg.n_train)
    test = _problems(cfg, "rl.test", cfg.n_test)
    evals: dict[str, dict] = {}
    if not (out / "eval-before.json").exists():
        log(f"evaluating the starting policy on {cfg.n_test} test problems")
        ev, rows = evaluate(load_model(cfg.policy, "causal"), load_codec(cfg.policy), test, cfg, orm)
        write_jsonl(out / "eval-before-samples.jsonl", rows)
        write_json(out / "eval-before.json", ev)
    evals["before"] = read_json(out / "eval-before.json", note=False)
    for arm in cfg.arms:
        model, codec = _train_arm(arm, cfg, out, train, log, progress)
        if not (out / arm / "eval.json").exists():
            log(f"{arm}: evaluating after {cfg.rl.steps} steps")
            ev, rows = evaluate(model, codec, test, cfg, orm)
            write_jsonl(out / arm / "eval-samples.jsonl", rows)
            write_json(out / arm / "eval.json", ev)
        evals[arm] = read_json(out / arm / "eval.json", note=False)
    metrics: dict[str, Any] = {
        "steps": cfg.rl.steps, "lam": cfg.pcl.lam, "n_test": cfg.n_test,
        "eval_samples": cfg.eval_samples,
        "arms": {name: {k: ev[k] for k in ("test_greedy_accuracy", "test_sampled_accuracy", "judges")}
                 for name, ev in evals.items()}}
    if "grpo" in evals and "pcl" in evals:
        metrics["pcl_minus_grpo_greedy"] = _paired_difference(
            evals["pcl"]["test_greedy_correct"], evals["grpo"]["test_greedy_correct"],
            cfg.bootstrap_resamples)
    write_json(out / "metrics.json", metrics)
    return metrics
