"""One function per cell kind: (spec, artifacts, cell folder, env) -> the cell's typed record.

A cell function writes only inside its folder (and, for rollout labels shared between formats,
`env.out/label_free/`); the executor writes the record last. `CELL_FUNCTIONS` maps a spec's
kind to its function.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from prmlab import seeds
from prmlab.atomic import write_json, write_jsonl
from prmlab.data.jsonl import read_records
from prmlab.data.record import Record
from prmlab.evaluation.run import evaluate_scores
from prmlab.experiments.artifacts import Artifacts
from prmlab.experiments.plan import (BaselineSpec, BonSpec, JudgeSpec, LabelFreeSpec, TTSSpec,
                                     ZeroLabelSpec)
from prmlab.experiments.records import (EVAL_SETS, BaselineCell, BonCell, EvalMetrics, JudgeCell,
                                        TTSCell, ZeroLabelCell)
from prmlab.judges.baselines import BaselineJudge
from prmlab.judges.load import load_judge
from prmlab.judges.protocol import StepScores
from prmlab.metrics.bon import BonProblem, bon_metrics, rm_by_aggregation
from prmlab.metrics.decision import DEFAULT_THRESHOLD
from prmlab.metrics.processbench import f1_by_k, processbench_metrics
from prmlab.models.checkpoint import load_codec, load_model, read_info
from prmlab.strict import read_json
from prmlab.supervision.budget import draw_budget
from prmlab.supervision.rollouts import derive_labels, label_quality
from prmlab.training.judges import JudgeConfig, train_judge
from prmlab.training.rollout_sampler import RolloutSampler


@dataclass(frozen=True)
class Env:
    """What every cell shares besides the artifacts: the run folder, the progress UI and the
    bootstrap resamples of every CI."""

    out: Path
    ui: Any
    bootstrap_resamples: int

    def cell_dir(self, cell_id: str) -> Path:
        return self.out / "cells" / cell_id


def evaluate(folder: Path, scores: Sequence[StepScores], art: Artifacts, env: Env,
             config: dict, threshold: dict | None = None) -> EvalMetrics:
    """Metrics on each evaluation set at the judge's threshold (`threshold["value"]`, default
    0.5) and, where the judge saved another one (0.5 or its dev-tuned one), F1 and accuracies at
    that too. Per-step scores and metrics.json go under `folder/<eval set>/`; each set's
    composition (generators, counts, first-error histogram) goes into both."""
    used = threshold["value"] if threshold else DEFAULT_THRESHOLD
    other = (threshold or {}).get("other")
    by_id = {s.id: s for s in scores}
    out: dict[str, Any] = {}
    for name in EVAL_SETS:
        recs = art.data.eval_set(name)
        mine = [by_id[r.id] for r in recs]
        comp = art.data.composition[name].model_dump(mode="json")
        m = evaluate_scores(recs, mine, folder / name,
                            {**config, "eval_set": name, "threshold": used,
                             "bootstrap_resamples": env.bootstrap_resamples, "composition": comp})
        out[name] = {k: m[k] for k in ("f1", "acc_err", "acc_cor", "auroc", "ece")}
        out[name]["threshold"] = used
        out[name]["composition"] = comp
        if other:
            o = processbench_metrics(recs, [s.step_scores for s in mine], other["value"],
                                     n_resamples=env.bootstrap_resamples)
            out[name]["other_threshold"] = {"threshold": other["value"], "tuned": other["tuned"],
                                            **{k: o[k] for k in ("f1", "acc_err", "acc_cor")}}
    return EvalMetrics.model_validate(_plain(out))


def _plain(x: Any) -> Any:
    """JSON's view of `x` (int keys become strings, tuples lists), as cell.json will hold it."""
    return json.loads(json.dumps(x))


def _eval_records(art: Artifacts) -> list[Record]:
    return art.data.eval_set("all")


def run_baseline(spec: BaselineSpec, art: Artifacts, folder: Path, env: Env) -> BaselineCell:
    scores = BaselineJudge(spec.baseline, seed=0).score(_eval_records(art))
    metrics = evaluate(folder, scores, art, env, {"judge": f"baseline:{spec.baseline}"})
    return BaselineCell(format=f"baseline:{spec.baseline}", metrics=metrics, base_seed=spec.base)


def run_zero_label(spec: ZeroLabelSpec, art: Artifacts, folder: Path, env: Env) -> ZeroLabelCell:
    judge = load_judge(str(art.base), zero_label=True)
    t0 = time.time()
    with env.ui.phase("zero-label judge: the base checks every step"):
        scores = judge.score(_eval_records(art))
    metrics = evaluate(folder, scores, art, env, {"judge": "zero-label", "init": str(art.base)})
    return ZeroLabelCell(metrics=metrics, compute=_plain(judge.stats), seconds=time.time() - t0,
                         base_seed=spec.base)


def _train_and_score(jcfg: JudgeConfig, pool: Sequence[Record], art: Artifacts, folder: Path,
                     env: Env, desc: str):
    """Train one judge into `folder/judge`, score every evaluation solution with it."""
    t0 = time.time()
    with env.ui.steps(desc) as update:
        info = train_judge(jcfg, art.base, pool, art.data.dev, folder / "judge",
                           log=env.ui.log, progress=update)
    judge = load_judge(str(folder / "judge"))
    t1 = time.time()
    scores = judge.score(_eval_records(art))
    timing = {"train_seconds": round(t1 - t0, 1), "score_seconds": round(time.time() - t1, 1)}
    compute = {"train_tokens_processed": info["tokens_processed"], **getattr(judge, "stats", {}),
               **self_sampled_compute(info)}
    return info, scores, timing, compute


def self_sampled_compute(info: dict) -> dict[str, float | int | None]:
    """What a judge trained on its own samples records in its cell: an RL judge's class balance
    sampled and reward at the first and last step (its curve is `judge/rl_curve.jsonl`), an rft
    judge's sampled and kept checks. Empty for the supervised formats."""
    out: dict[str, float | int | None] = {}
    rl = info.get("rl")
    if rl:
        b = rl["class_balance"]
        out.update({f"rl_{k}": b[k] for k in ("pool_good", "pool_bad", "sampled_good", "sampled_bad")},
                   rl_steps=rl["steps"], rl_first_reward=rl["first_reward"],
                   rl_last_reward=rl["last_reward"], rl_start_dev_f1=rl["start_dev_f1"])
    rft = info.get("rft")
    if rft:
        out.update({f"rft_{k}": rft[k] for k in ("sampled", "kept", "kept_good", "kept_bad",
                                                 "kept_fraction", "tokens_generated")})
    return out


def run_judge(spec: JudgeSpec, art: Artifacts, folder: Path, env: Env) -> JudgeCell:
    j = spec.judge
    info, scores, timing, compute = _train_and_score(
        j, art.data.pool, art, folder, env, f"{j.format} N={j.budget} seed={j.seed}")
    metrics = evaluate(folder, scores, art, env,
                       {"judge": j.format, "budget": j.budget, "seed": j.seed}, info["threshold"])
    f1 = metrics.policy.f1.value
    env.ui.log(f"{spec.id}: F1 on policy samples {f1 if f1 is not None else float('nan'):.3f}")
    return JudgeCell.model_validate({**_plain({
        "format": j.format, "budget": j.budget, "seed": j.seed, "threshold": info["threshold"],
        "budget_solutions": info["budget_solutions"], "step_labels": info["step_labels"],
        "selection": info["selection"], "filter": info.get("filter"), **timing,
        "compute": compute, "base_seed": spec.base}), "metrics": metrics})


def rollout_labels(spec: LabelFreeSpec, chosen: Sequence[Record], art: Artifacts,
                   env: Env) -> tuple[list[Record], dict]:
    """The rollout-derived labels of `chosen` (the solutions a gold budget `spec.n` labels),
    derived once per (method, n, k, seed) and kept in `OUT/label_free/` for every format
    trained on them."""
    labels_path = env.out / "label_free" / f"{spec.labels_name}.jsonl"
    summary_path = labels_path.with_suffix(".summary.json")
    if labels_path.exists() and summary_path.exists():
        return read_records(labels_path), read_json(summary_path)
    sampler = RolloutSampler(load_model(art.policy, "causal"), load_codec(art.policy),
                             temperature=1.0, seed=spec.judge.seed, progress=False)
    sampler.begin_run()
    with env.ui.phase(f"{spec.method} rollouts (K={spec.k}) for {spec.n} solutions"):
        derived, summary = derive_labels(chosen, spec.method, sampler, k=spec.k)
    write_jsonl(labels_path, (r.to_dict() for r in derived))
    write_json(summary_path, summary)
    return derived, summary


def run_label_free(spec: LabelFreeSpec, art: Artifacts, folder: Path, env: Env) -> JudgeCell:
    chosen = draw_budget(art.data.pool, spec.n, spec.judge.seed)
    derived, summary = rollout_labels(spec, chosen, art, env)
    quality = label_quality(derived, chosen)
    j = spec.judge.model_copy(update={"budget": len(derived)})
    info, scores, timing, compute = _train_and_score(j, derived, art, folder, env,
                                                     f"{j.format} on {spec.method} labels")
    metrics = evaluate(folder, scores, art, env, {"judge": j.format, "label_source": spec.method},
                       info["threshold"])
    compute = {**compute, "rollout_tokens_generated": summary.get("tokens_generated"),
               "rollout_tokens_processed": summary.get("tokens_processed"),
               "rollouts": summary.get("rollouts")}
    return JudgeCell.model_validate({**_plain({
        "format": j.format, "budget": spec.n, "seed": j.seed, "label_source": spec.method,
        "budget_solutions": 0, "step_labels": 0, "rollout_labelled_solutions": spec.n,
        "selection": info["selection"], "filter": info.get("filter"), "label_quality": quality,
        "threshold": info["threshold"], **timing, "compute": compute, "base_seed": spec.base}),
        "metrics": metrics})


def _running_min(xs: list[float]) -> list[float]:
    out, low = [], 1.0
    for x in xs:
        low = min(low, x)
        out.append(low)
    return out


def run_tts(spec: TTSSpec, art: Artifacts, folder: Path, env: Env) -> TTSCell:
    src = env.cell_dir(spec.judge_cell) / "judge"
    recs = art.data.eval_policy[: spec.max_solutions]
    stats: dict[str, Any] = {}
    kmax = max(spec.ks)
    with env.ui.phase(f"verifier test-time scaling: K up to {kmax}"):
        samples = []
        # One sampled rationale per pass; the K-sample score averages the first K passes,
        # so every K is measured on the same samples.
        for k in range(kmax):
            judge = load_judge(str(src), k=1, temperature=spec.temperature, seed=seeds.seed("tts.pass", index=k))
            samples.append(judge.score(recs))
            stats[f"pass{k}"] = judge.stats
    per_k = {k: [StepScores(r.id, _running_min([sum(samples[j][i].step_scores[s] for j in range(k)) / k
                                                for s in range(len(r.steps))]))
                 for i, r in enumerate(recs)]
             for k in spec.ks}
    # Every K is read at the threshold the judge chose on dev (with K=1).
    threshold = (read_info(src).get("threshold") or {}).get("value", DEFAULT_THRESHOLD)
    res = f1_by_k(recs, {k: [s.step_scores for s in v] for k, v in per_k.items()}, threshold,
                  n_resamples=env.bootstrap_resamples)
    for k, v in per_k.items():
        write_jsonl(folder / f"k{k}" / "samples.jsonl", (s.to_dict() for s in v))
    return TTSCell.model_validate(_plain({
        "format": "generative", "budget": spec.budget, "seed": spec.seed, "ks": spec.ks,
        "temperature": spec.temperature, "threshold": threshold, "f1_by_k": res, "compute": stats,
        "base_seed": spec.base}))


def bon_problems(recs: Sequence[Record], scores: Sequence[StepScores] | None) -> list[BonProblem]:
    by_problem: dict[str, list[int]] = {}
    for i, r in enumerate(recs):
        by_problem.setdefault(r.meta["problem_id"], []).append(i)
    out = []
    for pid, idx in by_problem.items():
        answers = [recs[i].answer for i in idx]
        correct = [bool(recs[i].answer_correct) for i in idx]
        steps = None if scores is None else [scores[i].step_scores for i in idx]
        out.append(BonProblem(pid, answers, correct, scores=None, step_scores=steps))
    return out


def run_bon(spec: BonSpec, art: Artifacts, folder: Path, env: Env) -> BonCell:
    recs = art.data.bon
    judges = {f: str(env.cell_dir(d) / "judge") for f, d in zip(spec.formats, spec.deps)}
    if spec.zero_label:
        judges["zero-label"] = str(art.base)
    results = {}
    for name, path in judges.items():
        with env.ui.phase(f"best-of-{spec.n}: scoring with {name}"):
            judge = load_judge(path, zero_label=name == "zero-label")
            scores = judge.score(recs)
        write_jsonl(folder / name / "samples.jsonl", (s.to_dict() for s in scores))
        results[name] = rm_by_aggregation(bon_problems(recs, scores), n_resamples=env.bootstrap_resamples)
    base = bon_metrics(bon_problems(recs, None), n_resamples=env.bootstrap_resamples)
    return BonCell.model_validate(_plain({"budget": spec.budget, "seed": spec.seed, "n": spec.n,
                                   "n_problems": spec.n_problems, "pass@k": base["pass@k"],
                                   "maj@k": base["maj@k"], "oracle": base["oracle"], "rm@k": results,
                                   "base_seed": spec.base}))


CELL_FUNCTIONS: dict[str, Callable] = {
    "baseline": run_baseline, "zero-label": run_zero_label, "judge": run_judge,
    "label-free": run_label_free, "tts": run_tts, "bon": run_bon,
}
