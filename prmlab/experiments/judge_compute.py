"""Judge compute at test time: ProcessBench F1 and best-of-N against the judge tokens spent.

A trained causal judge (generative: check then verdict; or direct) samples K checks of every
step (`prmlab.judges.sampled_checks`, K up to max(ks), every K a prefix of the same draws);
the checks are aggregated by majority verdict, by mean P(good) and by meta-verifier guided
voting (`prmlab.metrics.voting`: a logistic head fitted on the labelled budget's (step, check,
was-the-verdict-right) pairs keeps the top `meta_keep` fraction of checks before voting).

The run folder holds `config.json`, each pass's checks (`checks/<set>/pass<j>.json`, reused
when the command is run again with the same config: an interrupted run resumes by pass), `provenance.json`, the checks of every set
(`checks/<set>.jsonl`: one row per step with each check's p_good, parsed flag and tokens),
`meta_verifier.json`, and `metrics.json`: per aggregator and K the F1 (with CI, direction and
acc_err / acc_cor), the judge tokens of the first K passes, and best-of-N rm@N beside the
trivial baselines (never/last/first/random judges; maj@N, pass@1 and oracle for best-of-N).
Thresholds: `mean_p` is read at the judge's own threshold (chosen on dev with K=1, as the TTS
cell does); the vote fractions of `majority` and `meta_top` at 0.5 (a majority).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from prmlab import seeds
from prmlab.atomic import write_json, write_jsonl
from prmlab.data.jsonl import read_records
from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.judges.baselines import BASELINES, BaselineJudge
from prmlab.judges.formats import JUDGE_FORMATS
from prmlab.judges.sampled_checks import CheckSet, Pass, assemble, check_k, check_prompts, sample_pass
from prmlab.metrics.bon import BonProblem, bon_metrics
from prmlab.metrics.decision import DEFAULT_THRESHOLD
from prmlab.metrics.processbench import processbench_metrics
from prmlab.metrics.voting import (MetaVerifier, aggregators, check_features, check_was_right,
                                   fit_meta_verifier, running_min)
from prmlab.provenance import provenance
from prmlab.strict import read_json

VOTE_AGGREGATORS = ("majority", "meta_top")  # scores are vote fractions: read at 0.5


class JudgeComputeConfig(BaseModel):
    """One judge-compute study (saved as config.json in its run folder)."""

    model_config = ConfigDict(extra="forbid")

    judge: str = Field(description="a trained causal judge checkpoint (generative or direct)")
    eval: str = Field(description="evaluation records (JSONL) with first_error: ProcessBench F1")
    train: str | None = Field(None, description="the labelled budget (JSONL, step labels) the meta-verifier is fitted on; none: no meta_top")
    bon: str | None = Field(None, description="best-of-N records (JSONL, meta.problem_id, answer_correct); none: no best-of-N")
    ks: list[int] = Field([1, 2, 4, 8, 16, 32], description="numbers of sampled checks per step")
    temperature: float = Field(0.7, gt=0, description="sampling temperature of the checks")
    top_k: int | None = Field(None, ge=1, description="sample among the top_k ids only (none: all)")
    max_new_tokens: int = Field(120, ge=1, description="tokens a check may write before its verdict")
    seed: int = Field(0, description="seeds stream judge.compute.check")
    meta_keep: float = Field(0.5, gt=0, le=1, description="fraction of the K checks the meta-verifier keeps before voting")
    bootstrap_resamples: int = Field(1000, ge=10, description="bootstrap resamples of every CI")
    batch_size: int = Field(256, ge=1, description="prompts per generate batch (KV-cache engine)")

    @field_validator("ks")
    @classmethod
    def _ks(cls, v: list[int]) -> list[int]:
        if not v or any(k < 1 or k > 64 for k in v) or len(set(v)) != len(v):
            raise ValueError("ks: distinct integers in 1..64")
        return sorted(v)

    @field_validator("seed")
    @classmethod
    def _seed(cls, v: int) -> int:
        return seeds.check_config_seed(v)


def _read(path: str, what: str, need: Callable[[Record], str | None] | None = None) -> list[Record]:
    recs = read_records(path)
    if not recs:
        raise InputError(f"no records in the {what} set", path=path)
    if need is not None:
        for r in recs:
            msg = need(r)
            if msg:
                raise InputError(f"record {r.id!r}: {msg}", path=path)
    return recs


def _needs_problem_id(r: Record) -> str | None:
    if "problem_id" not in r.meta:
        return "best-of-N records need meta.problem_id"
    if r.answer_correct is None:
        return "best-of-N records need answer_correct"
    return None


def meta_pairs(records: Sequence[Record], checks: CheckSet) -> tuple[list[list[float]], list[int]]:
    """(features, was-the-check-right) of every check of every gold-labelled step."""
    x, y = [], []
    for r, rec_checks in zip(records, checks.checks):
        for s, (lab, cs) in enumerate(zip(r.labels, rec_checks)):
            if lab is None:
                continue
            for i, c in enumerate(cs):
                x.append(check_features(cs, i, s, len(r.steps)))
                y.append(check_was_right(c, lab))
    return x, y


def step_scores(checks: CheckSet, k: int, agg) -> list[list[float]]:
    """Every record's step scores from its first k checks per step (running min)."""
    return [running_min([agg(cs, s, len(rec)) for s, cs in enumerate(rec)]) for rec in checks.first(k)]


def _checks_rows(checks: CheckSet):
    for rid, rec in zip(checks.ids, checks.checks):
        for s, cs in enumerate(rec):
            yield {"id": rid, "step": s, "p_good": [c.p_good for c in cs],
                   "parsed": [c.parsed for c in cs], "tokens": [c.tokens for c in cs]}


def bon_problems(recs: Sequence[Record], scores: Sequence[Sequence[float]] | None) -> list[BonProblem]:
    """Solutions grouped by meta.problem_id, in file order; solution score = min step score."""
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(recs):
        groups.setdefault(str(r.meta["problem_id"]), []).append(i)
    return [BonProblem(pid, [recs[i].answer for i in idx], [bool(recs[i].answer_correct) for i in idx],
                       None if scores is None else [min(scores[i]) for i in idx]) for pid, idx in groups.items()]


def run_judge_compute(cfg: JudgeComputeConfig, out: Path, *, generator=None,
                      progress=False, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """The whole study into `out` (see the module docstring); returns metrics.json's content."""
    from prmlab.models.checkpoint import load_codec, load_model, read_info
    from prmlab.models.generator import generator_for

    eval_recs = _read(cfg.eval, "eval")
    train_recs = _read(cfg.train, "train") if cfg.train else None
    bon_recs = _read(cfg.bon, "best-of-N", _needs_problem_id) if cfg.bon else None
    info = read_info(cfg.judge)
    spec = JUDGE_FORMATS.get(info.get("format")) if info.get("kind") == "judge" else None
    if spec is None or spec.head != "causal":
        raise InputError(f"needs a causal (generative or direct) judge checkpoint; prmlab.json "
                         f"says kind={info.get('kind')!r} format={info.get('format')!r}", path=cfg.judge)
    threshold = float((info.get("threshold") or {}).get("value", DEFAULT_THRESHOLD))
    codec = load_codec(cfg.judge)
    model = None if generator is not None else load_model(cfg.judge, "causal").eval()
    gen = generator_for(model, generator, batch_size=cfg.batch_size, pad_id=codec.pad_id)
    config = {**cfg.model_dump(), "judge_format": spec.name, "judge_threshold": threshold}
    # Passes already sampled under this very config are reused: a rerun resumes.
    resume = (out / "config.json").is_file() and read_json(out / "config.json", note=False) == json.loads(json.dumps(config))
    write_json(out / "config.json", config)
    write_json(out / "provenance.json", provenance())
    kmax = max(cfg.ks)
    check_k(kmax, cfg.temperature)
    kw = dict(temperature=cfg.temperature, top_k=cfg.top_k, max_new_tokens=cfg.max_new_tokens,
              seed=cfg.seed, rationale=spec.rationale, progress=progress)
    sets: dict[str, tuple[list[Record], CheckSet]] = {}
    for name, recs in (("eval", eval_recs), ("train", train_recs), ("bon", bon_recs)):
        if recs is None:
            continue
        log(f"sampling {kmax} checks of every step of the {name} set ({sum(len(r.steps) for r in recs)} steps)")
        prompts = check_prompts(recs, codec)
        passes = []
        for j in range(kmax):
            path = out / "checks" / name / f"pass{j}.json"
            if resume and path.is_file():
                passes.append(Pass.from_dict(read_json(path, note=False)))
                continue
            passes.append(sample_pass(prompts, codec, gen, j, label=f"{name} checks", **kw))
            write_json(path, passes[-1].to_dict())
        cs = assemble(recs, passes)
        write_jsonl(out / "checks" / f"{name}.jsonl", _checks_rows(cs))
        sets[name] = (recs, cs)

    meta: MetaVerifier | None = None
    if "train" in sets:
        x, y = meta_pairs(*sets["train"])
        if x:
            meta = fit_meta_verifier(x, y)
            write_json(out / "meta_verifier.json", meta.to_dict())
        else:
            log("no gold-labelled steps in the train set: no meta-verifier")
    aggs = aggregators(meta, cfg.meta_keep)
    n_boot = cfg.bootstrap_resamples

    def thr(name: str) -> float:
        return 0.5 if name in VOTE_AGGREGATORS else threshold

    recs, checks = sets["eval"]
    f1: dict[str, dict[str, Any]] = {}
    for name, agg in aggs.items():
        f1[name] = {}
        for k in cfg.ks:
            m = processbench_metrics(recs, step_scores(checks, k, agg), thr(name), n_resamples=n_boot)
            f1[name][str(k)] = {**m["f1"], "acc_err": m["acc_err"]["value"],
                                "acc_cor": m["acc_cor"]["value"], "threshold": thr(name),
                                "judge_tokens": checks.tokens(k)}
    baselines = {}
    for b in BASELINES:
        m = processbench_metrics(recs, [s.step_scores for s in BaselineJudge(b, seed=0).score(recs)],
                                 n_resamples=n_boot)
        baselines[f"baseline:{b}"] = m["f1"]
    result: dict[str, Any] = {"f1": f1, "f1_baselines": baselines, "ks": cfg.ks,
                              "n_eval": m["n"], "meta_verifier": meta.to_dict() if meta else None}
    if "bon" in sets:
        brecs, bchecks = sets["bon"]
        base = bon_metrics(bon_problems(brecs, None), n_resamples=n_boot)
        n = base["N"]
        bon: dict[str, dict[str, Any]] = {}
        for name, agg in aggs.items():
            bon[name] = {}
            for k in cfg.ks:
                m_b = bon_metrics(bon_problems(brecs, step_scores(bchecks, k, agg)), [n], n_resamples=n_boot)
                bon[name][str(k)] = {**m_b["rm@k"][str(n)], "judge_tokens": bchecks.tokens(k)}
        result["bon"] = {"N": n, "rm@N": bon, "maj@N": base["maj@k"][str(n)],
                         "pass@1": base["pass@k"]["1"], "oracle": base["oracle"],
                         "solution_score": "min of step scores"}
    write_json(out / "metrics.json", json.loads(json.dumps(result)))
    return result


__all__ = ["JudgeComputeConfig", "run_judge_compute", "meta_pairs", "step_scores", "bon_problems"]
