"""The flagship sweep: how many labels does each judge format need?

Stages (each cached or resumable):
1. base, policy and data sets, content-addressed in the cache (`$PRMLAB_CACHE`);
2. one run folder per cell (judge format x budget x seed, the zero-label judge, the trivial
   baselines, verifier test-time scaling, best-of-N), skipped when finished;
3. the report, rebuilt from the run folders alone.

A cell is finished when its `cell.json` exists; it is written last and atomically, so a sweep
killed at any moment resumes with nothing lost or doubled.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from prmlab.atomic import write_json, write_jsonl
from prmlab.data.arith.generate import iter_records
from prmlab.data.jsonl import read_records
from prmlab.data.record import Record
from prmlab.metrics.bon import BonProblem, bon_metrics, rm_by_aggregation
from prmlab.metrics.processbench import f1_by_k, processbench_metrics
from prmlab.errors import InputError
from prmlab.evaluation.run import evaluate_scores
from prmlab.experiments.config import RunConfig, config_key
from prmlab.judges.baselines import BaselineJudge
from prmlab.metrics.decision import DEFAULT_THRESHOLD
from prmlab.judges.load import load_judge
from prmlab.judges.protocol import StepScores
from prmlab.models.checkpoint import load_codec, load_model, read_info
from prmlab.provenance import provenance
from prmlab.supervision.budget import draw_budget
from prmlab.supervision.rollouts import derive_labels, label_quality
from prmlab.training.base import snapshot_path, train_base
from prmlab.training.base_health import base_warnings
from prmlab.training.rollout_sampler import RolloutSampler
from prmlab.training.judges import JudgeConfig, train_judge
from prmlab.training.policy import sample_policy, train_policy

EVAL_SETS = ("policy", "injected", "all")


def default_cache() -> Path:
    env = os.environ.get("PRMLAB_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "prmlab"


class Sweep:
    """Runs the flagship experiment into `out`, reporting through `ui` (see cli/run.py)."""

    def __init__(self, cfg: RunConfig, out: str | Path, cache: str | Path | None = None,
                 ui: Any = None):
        self.cfg, self.out = cfg, Path(out)
        self.cache = Path(cache) if cache else default_cache()
        self.ui = ui or _PlainUI()

    # ---- cached artifacts ------------------------------------------------------------------
    def base(self) -> Path:
        key = self.cfg.base.key()
        path = self.cache / "base" / key
        if (path / "prmlab.json").exists():
            if self.cfg.base.snapshot_step is not None and not (snapshot_path(path, self.cfg.base) / "prmlab.json").exists():
                raise InputError("the cached base has no snapshot (deleted?); remove the base folder to rebuild it",
                                 path=str(path))
            self.ui.log(f"base: cached at {path}")
            self._warn(read_info(path).get("report") or {})
            return path
        self.ui.log(f"base: pretraining (cache miss, key {key}); cached for next time")
        with self.ui.steps("pretraining base") as update:
            report = train_base(self.cfg.base, path, log=self.ui.log, progress=update)
        self.ui.log(f"base: worked arithmetic {report['worked_exact']:.3f}, copy {report['copy_exact']:.3f}, "
                    f"recompute {report['recompute_exact']:.3f} ({report['seconds']:.0f}s)")
        self._warn(report)
        return path

    def _warn(self, base_report: dict) -> None:
        for w in base_warnings(base_report):
            self.ui.log(f"base: WARNING: {w}")

    def policy_init(self, base: Path) -> Path:
        if self.cfg.policy.init == "base":
            return base
        if self.cfg.base.snapshot_step is None:
            raise InputError("policy.init=snapshot needs base.snapshot_step")
        return snapshot_path(base, self.cfg.base)

    def policy(self, base: Path) -> Path:
        init = self.policy_init(base)
        # v2: the policy trains on the base's own difficulty (v1 always used the default one).
        key = config_key({"base": base.name, "init": init.name, "policy": self.cfg.policy.model_dump(),
                          "v": 2})
        path = self.cache / "policy" / key
        if (path / "prmlab.json").exists():
            self.ui.log(f"policy: cached at {path}")
            return path
        with self.ui.steps(f"training policy from {init.name}") as update:
            train_policy(self.cfg.policy, init, path, progress=update)
        return path

    def data_folder(self, policy: Path) -> Path:
        key = config_key({"policy": policy.name, "data": self.cfg.data.model_dump(),
                          "bon": self.cfg.bon.model_dump(),
                          "difficulty": self.cfg.base.difficulty.model_dump()})
        return self.cache / "data" / key

    def datasets(self, policy: Path) -> dict[str, list[Record]]:
        d = self.cfg.data
        diff = self.cfg.base.difficulty.build()
        folder = self.data_folder(policy)
        names = ("pool", "dev", "eval_policy", "eval_injected", "bon")
        if all((folder / f"{n}.jsonl").exists() for n in names) and (folder / "summary.json").exists():
            self.ui.log(f"data: cached at {folder}")
            return {n: read_records(folder / f"{n}.jsonl") for n in names}
        model, codec = load_model(policy, "causal"), load_codec(policy)

        def problems(n: int, offset: int) -> list[str]:
            return [r.problem for r in iter_records(n, offset + d.seed, diff, error_rate=0.0)]

        def sampled(tag: str, n_problems: int, per: int, offset: int, temperature: float):
            with self.ui.phase(f"sampling {tag} ({n_problems}x{per})"):
                return sample_policy(model, codec, problems(n_problems, offset), n_per_problem=per,
                                     temperature=temperature, seed=offset + d.seed, id_prefix=tag)

        pool_p, s_pool = sampled("pool", d.pool_policy_problems, d.pool_samples_per_problem, 40_000_000, d.temperature)
        dev_p, _ = sampled("dev", d.dev_policy_problems, d.pool_samples_per_problem, 50_000_000, d.temperature)
        ev_p, s_eval = sampled("evalp", d.eval_policy_problems, d.eval_samples_per_problem, 60_000_000, d.temperature)
        bon, s_bon = sampled("bon", self.cfg.bon.n_problems, self.cfg.bon.n, 70_000_000, self.cfg.bon.temperature)
        inj = lambda n, off, tag: list(iter_records(n, off + d.seed, diff, id_prefix=tag))  # noqa: E731
        sets = {"pool": pool_p + inj(d.pool_injected, 41_000_000, "pooli"),
                "dev": dev_p + inj(d.dev_injected, 51_000_000, "devi"),
                "eval_policy": ev_p, "eval_injected": inj(d.eval_injected, 61_000_000, "evali"),
                "bon": bon}
        for n, recs in sets.items():
            write_jsonl(folder / f"{n}.jsonl", (r.to_dict() for r in recs))
        write_json(folder / "summary.json", {"pool_policy": s_pool, "eval_policy": s_eval, "bon": s_bon})
        self.ui.log(f"data: policy natural error rate {s_eval['natural_error_rate']:.2f} on the evaluation "
                    f"problems; error types {s_eval['error_types']}")
        return sets

    # ---- cells -----------------------------------------------------------------------------
    def _cell_dir(self, cell_id: str) -> Path:
        return self.out / "cells" / cell_id

    def _done(self, cell_id: str) -> bool:
        return (self._cell_dir(cell_id) / "cell.json").exists()

    def _evaluate(self, folder: Path, scores: Sequence[StepScores], sets: dict[str, list[Record]],
                  config: dict, threshold: dict | None = None) -> dict[str, Any]:
        """Metrics at the judge's threshold (`threshold["value"]`, default 0.5) and, where the
        judge saved another one (0.5 or its dev-tuned one), F1 and accuracies at that too."""
        used = threshold["value"] if threshold else DEFAULT_THRESHOLD
        other = (threshold or {}).get("other")
        by_id = {s.id: s for s in scores}
        out = {}
        for name, recs in (("policy", sets["eval_policy"]), ("injected", sets["eval_injected"]),
                           ("all", sets["eval_policy"] + sets["eval_injected"])):
            mine = [by_id[r.id] for r in recs]
            m = evaluate_scores(recs, mine, folder / name,
                                {**config, "eval_set": name, "threshold": used,
                                 "bootstrap_resamples": self.cfg.bootstrap_resamples})
            out[name] = {k: m[k] for k in ("f1", "acc_err", "acc_cor", "auroc", "ece")}
            out[name]["threshold"] = used
            if other:
                o = processbench_metrics(recs, [s.step_scores for s in mine], other["value"],
                                         n_resamples=self.cfg.bootstrap_resamples)
                out[name]["other_threshold"] = {"threshold": other["value"], "tuned": other["tuned"],
                                                **{k: o[k] for k in ("f1", "acc_err", "acc_cor")}}
        return out

    def _finish(self, cell_id: str, info: dict) -> None:
        write_json(self._cell_dir(cell_id) / "cell.json", {**info, "provenance": provenance()})

    def run_baselines(self, sets) -> None:
        eval_recs = sets["eval_policy"] + sets["eval_injected"]
        for kind in self.cfg.baselines:
            cid = f"baseline-{kind}"
            if self._done(cid):
                continue
            folder = self._cell_dir(cid)
            scores = BaselineJudge(kind, seed=0).score(eval_recs)
            summary = self._evaluate(folder, scores, sets, {"judge": f"baseline:{kind}"})
            self._finish(cid, {"kind": "baseline", "format": f"baseline:{kind}", "budget": 0, "seed": 0,
                               "step_labels": 0, "metrics": summary})

    def run_zero_label(self, base: Path, sets) -> None:
        cid = "zero-label"
        if not self.cfg.zero_label or self._done(cid):
            return
        folder = self._cell_dir(cid)
        judge = load_judge(str(base), zero_label=True)
        t0 = time.time()
        with self.ui.phase("zero-label judge: the base checks every step"):
            scores = judge.score(sets["eval_policy"] + sets["eval_injected"])
        summary = self._evaluate(folder, scores, sets, {"judge": "zero-label", "init": str(base)})
        self._finish(cid, {"kind": "zero-label", "format": "zero-label", "budget": 0, "seed": 0,
                           "step_labels": 0, "metrics": summary, "compute": judge.stats,
                           "seconds": time.time() - t0})

    def judge_cell_id(self, fmt: str, budget: int, seed: int) -> str:
        return f"{fmt}-N{budget}-s{seed}"

    def _train_and_score(self, cid: str, base: Path, pool, sets, fmt: str, budget: int,
                         seed: int, desc: str):
        """Train one judge into the cell folder, score both evaluation sets with it."""
        folder = self._cell_dir(cid)
        jcfg = JudgeConfig.model_validate({**self.cfg.judge.model_dump(), "format": fmt,
                                           "budget": budget, "seed": seed})
        t0 = time.time()
        with self.ui.steps(desc) as update:
            info = train_judge(jcfg, base, pool, sets["dev"], folder / "judge",
                               log=self.ui.log, progress=update)
        judge = load_judge(str(folder / "judge"))
        t1 = time.time()
        scores = judge.score(sets["eval_policy"] + sets["eval_injected"])
        timing = {"train_seconds": round(t1 - t0, 1), "score_seconds": round(time.time() - t1, 1)}
        compute = {"train_tokens_processed": info["tokens_processed"], **getattr(judge, "stats", {})}
        return folder, info, scores, timing, compute

    def run_judge(self, base: Path, sets, fmt: str, budget: int, seed: int) -> None:
        cid = self.judge_cell_id(fmt, budget, seed)
        if self._done(cid):
            return
        folder, info, scores, timing, compute = self._train_and_score(
            cid, base, sets["pool"], sets, fmt, budget, seed, f"{fmt} N={budget} seed={seed}")
        summary = self._evaluate(folder, scores, sets, {"judge": fmt, "budget": budget, "seed": seed},
                                 info["threshold"])
        self._finish(cid, {"kind": "judge", "format": fmt, "budget": budget, "seed": seed,
                           "threshold": info["threshold"],
                           "label_source": "gold", "budget_solutions": info["budget_solutions"],
                           "step_labels": info["step_labels"], "selection": info["selection"],
                           "filter": info.get("filter"), **timing, "compute": compute,
                           "metrics": summary})
        m = summary["policy"]["f1"]
        self.ui.log(f"{cid}: F1 on policy samples {m['value'] if m['value'] is not None else float('nan'):.3f}")

    def run_label_free(self, policy: Path, base: Path, sets) -> None:
        """Judges trained on rollout-derived labels: the same solutions a gold budget would
        label, relabelled from outcomes alone, beside the gold curves with their compute bill."""
        lf = self.cfg.label_free
        n = lf.n_solutions or max(self.cfg.budgets)
        seed = self.cfg.seeds[0]
        for method in lf.methods:
            todo = [f for f in lf.formats if not self._done(f"{f}-{method}-N{n}-s{seed}")]
            if not todo:
                continue
            labels_path = self.out / "label_free" / f"{method}-N{n}-k{lf.k}-s{seed}.jsonl"
            summary_path = labels_path.with_suffix(".summary.json")
            if labels_path.exists() and summary_path.exists():
                derived = read_records(labels_path)
                summary = json.loads(summary_path.read_text())
            else:
                chosen = draw_budget(sets["pool"], n, seed)  # the solutions a gold budget n labels
                sampler = RolloutSampler(load_model(policy, "causal"), load_codec(policy),
                                         temperature=1.0, seed=seed, progress=False)
                sampler.begin_run()
                with self.ui.phase(f"{method} rollouts (K={lf.k}) for {n} solutions"):
                    derived, summary = derive_labels(chosen, method, sampler, k=lf.k)
                write_jsonl(labels_path, (r.to_dict() for r in derived))
                write_json(summary_path, summary)
            quality = label_quality(derived, draw_budget(sets["pool"], n, seed))
            for fmt in todo:
                cid = f"{fmt}-{method}-N{n}-s{seed}"
                folder, info, scores, timing, compute = self._train_and_score(
                    cid, base, derived, sets, fmt, len(derived), seed, f"{fmt} on {method} labels")
                metrics = self._evaluate(folder, scores, sets, {"judge": fmt, "label_source": method},
                                         info["threshold"])
                self._finish(cid, {"kind": "judge", "format": fmt, "budget": n, "seed": seed,
                                   "label_source": method, "budget_solutions": 0,
                                   "step_labels": 0, "rollout_labelled_solutions": n,
                                   "selection": info["selection"], "filter": info.get("filter"),
                                   "label_quality": quality, "threshold": info["threshold"], **timing,
                                   "compute": {**compute,
                                               "rollout_tokens_generated": summary.get("tokens_generated"),
                                               "rollout_tokens_processed": summary.get("tokens_processed"),
                                               "rollouts": summary.get("rollouts")},
                                   "metrics": metrics})

    def run_tts(self, sets) -> None:
        t = self.cfg.tts
        if not t.enabled or "generative" not in self.cfg.formats:
            return
        budget = t.budget or max(self.cfg.budgets)
        seed = self.cfg.seeds[0]
        cid = f"tts-generative-N{budget}-s{seed}"
        if self._done(cid):
            return
        src = self._cell_dir(self.judge_cell_id("generative", budget, seed)) / "judge"
        recs = sets["eval_policy"][: t.max_solutions]
        per_k: dict[int, list[StepScores]] = {}
        stats = {}
        kmax = max(t.ks)
        with self.ui.phase(f"verifier test-time scaling: K up to {kmax}"):
            samples = []
            # One sampled rationale per pass; the K-sample score averages the first K passes,
            # so every K is measured on the same samples.
            for k in range(kmax):
                judge = load_judge(str(src), k=1, temperature=t.temperature, seed=1000 + k)
                samples.append(judge.score(recs))
                stats[f"pass{k}"] = judge.stats
        for k in t.ks:
            per_k[k] = [StepScores(r.id, _running_min([sum(samples[j][i].step_scores[s] for j in range(k)) / k
                                                       for s in range(len(r.steps))]))
                        for i, r in enumerate(recs)]
        folder = self._cell_dir(cid)
        # Every K is read at the threshold the judge chose on dev (with K=1).
        threshold = (read_info(src).get("threshold") or {}).get("value", DEFAULT_THRESHOLD)
        res = f1_by_k(recs, {k: [s.step_scores for s in v] for k, v in per_k.items()}, threshold,
                      n_resamples=self.cfg.bootstrap_resamples)
        for k, v in per_k.items():
            write_jsonl(folder / f"k{k}" / "samples.jsonl", (s.to_dict() for s in v))
        self._finish(cid, {"kind": "tts", "format": "generative", "budget": budget, "seed": seed,
                           "ks": t.ks, "temperature": t.temperature, "threshold": threshold, "f1_by_k": {str(k): v for k, v in res.items()},
                           "compute": stats})

    def run_bon(self, base: Path, sets) -> None:
        if not self.cfg.bon.enabled:
            return
        cid = "bon"
        if self._done(cid):
            return
        budget, seed = max(self.cfg.budgets), self.cfg.seeds[0]
        recs = sets["bon"]
        judges: dict[str, Any] = {f: str(self._cell_dir(self.judge_cell_id(f, budget, seed)) / "judge")
                                  for f in self.cfg.formats}
        if self.cfg.zero_label:
            judges["zero-label"] = str(base)
        results = {}
        folder = self._cell_dir(cid)
        for name, spec in judges.items():
            with self.ui.phase(f"best-of-{self.cfg.bon.n}: scoring with {name}"):
                judge = load_judge(spec, zero_label=name == "zero-label")
                scores = judge.score(recs)
            write_jsonl(folder / name / "samples.jsonl", (s.to_dict() for s in scores))
            problems = _bon_problems(recs, scores)
            results[name] = rm_by_aggregation(problems, n_resamples=self.cfg.bootstrap_resamples)
        base_metrics = bon_metrics(_bon_problems(recs, None), n_resamples=self.cfg.bootstrap_resamples)
        self._finish(cid, {"kind": "bon", "budget": budget, "seed": seed, "n": self.cfg.bon.n,
                           "n_problems": self.cfg.bon.n_problems,
                           "pass@k": base_metrics["pass@k"], "maj@k": base_metrics["maj@k"],
                           "oracle": base_metrics["oracle"],
                           "rm@k": results})

    # ---- the whole sweep -------------------------------------------------------------------
    def run(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        cfg_path = self.out / "config.json"
        resolved = self.cfg.model_dump()
        if cfg_path.exists():
            old = json.loads(cfg_path.read_text())
            if old.get("config") != resolved:
                raise InputError("this folder holds a sweep with another config; use a new --out "
                                 "or the same config to resume", path=str(cfg_path))
        else:
            write_json(cfg_path, {"config": resolved, **provenance()})
        base = self.base()
        policy = self.policy(base)
        sets = self.datasets(policy)
        write_json(self.out / "artifacts.json", {
            "base": str(base), "policy": str(policy), "policy_init": str(self.policy_init(base)), "base_report": read_info(base).get("report"),
            "data": {k: len(v) for k, v in sets.items()},
            "data_summary": json.loads((self.data_folder(policy) / "summary.json").read_text())})
        cells = [(f, b, s) for s in self.cfg.seeds for b in self.cfg.budgets for f in self.cfg.formats]
        total = len(cells) + 3
        self.ui.start_cells(total)
        self.run_baselines(sets)
        self.run_zero_label(base, sets)
        self.ui.advance()
        for f, b, s in cells:
            self.run_judge(base, sets, f, b, s)
            self.ui.advance()
        if self.cfg.label_free.methods:
            self.run_label_free(policy, base, sets)
        self.run_tts(sets)
        self.ui.advance()
        self.run_bon(base, sets)
        self.ui.advance()


def _running_min(xs: list[float]) -> list[float]:
    out, low = [], 1.0
    for x in xs:
        low = min(low, x)
        out.append(low)
    return out


def _bon_problems(recs: Sequence[Record], scores: Sequence[StepScores] | None) -> list[BonProblem]:
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


class _PlainUI:
    """Minimal UI for library use: prints lines, no bars."""

    def log(self, msg: str) -> None:
        print(msg, file=sys.stderr)

    def steps(self, desc: str):
        import contextlib

        @contextlib.contextmanager
        def cm():
            yield lambda step, total, row: None
        return cm()

    def phase(self, desc: str):
        import contextlib

        @contextlib.contextmanager
        def cm():
            self.log(desc)
            yield
        return cm()

    def start_cells(self, total: int) -> None:
        pass

    def advance(self) -> None:
        pass
