"""Chunk-reset decoding against best-of-N on the arith task, at the tokens each spends.

For each resample budget R in `tries`, `chunk_reset_decode` writes one solution per problem
(R = 0: plain step-by-step sampling, no judge). Best-of-N samples max(ns) whole solutions per
problem (stream `chunk_reset.bon`), the same judge checks every step of each (one greedy check
per step), and for each N the solution with the highest min step score among the first N is
the answer (ties: the first). Final-answer accuracy (`is_solved` of the arith task) carries a
bootstrap CI over problems; tokens are policy + judge tokens generated (best-of-1 needs no
judge). The run folder holds config.json, provenance.json, the solutions
(`solutions/R<r>.jsonl`, `solutions/bon.jsonl`) and metrics.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from prmlab import seeds
from prmlab.atomic import write_json, write_jsonl
from prmlab.data.tasks.arith import ArithTask
from prmlab.data.tasks.protocol import is_solved
from prmlab.errors import InputError
from prmlab.judges.chunk_reset import VerdictScorer, chunk_reset_decode
from prmlab.judges.formats import JUDGE_FORMATS
from prmlab.metrics.bootstrap import HIGHER, weighted_mean, with_ci
from prmlab.provenance import provenance


class ChunkResetConfig(BaseModel):
    """One chunk-reset study (saved as config.json in its run folder)."""

    model_config = ConfigDict(extra="forbid")

    policy: str = Field(description="a trained policy checkpoint")
    judge: str = Field(description="a trained causal judge checkpoint (generative or direct)")
    problems: int = Field(50, ge=1, description="arith problems to solve")
    problem_seed: int = Field(0, description="seed of the arith task's problems")
    tries: list[int] = Field([0, 1, 2, 4], description="resample budgets R per step (0: plain sampling)")
    ns: list[int] = Field([1, 2, 4, 8], description="best-of-N sizes compared at their tokens")
    threshold: float = Field(0.5, gt=0, lt=1, description="a step scored below this is rejected")
    temperature: float = Field(1.0, gt=0, description="policy sampling temperature")
    max_steps: int = Field(8, ge=1, description="steps a solution may take")
    max_step_tokens: int = Field(40, ge=1, description="tokens one step may take")
    max_new_tokens: int = Field(120, ge=1, description="tokens a whole best-of-N solution may take")
    judge_max_new_tokens: int = Field(120, ge=1, description="tokens a check may write")
    seed: int = Field(0, description="seeds streams chunk_reset.step and chunk_reset.bon")
    bootstrap_resamples: int = Field(1000, ge=10, description="bootstrap resamples of every CI")
    batch_size: int = Field(256, ge=1, description="prompts per generate batch")

    @field_validator("tries", "ns")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if not v or len(set(v)) != len(v) or min(v) < 0:
            raise ValueError("distinct non-negative integers")
        return sorted(v)

    @field_validator("seed", "problem_seed")
    @classmethod
    def _seed(cls, v: int) -> int:
        return seeds.check_config_seed(v)


def _accuracy(solved: list[bool], ids: list[str], n_boot: int) -> dict[str, Any]:
    return with_ci(weighted_mean(np.array(solved, dtype=np.float64)), ids, direction=HIGHER,
                   n=len(ids), aggregation="mean over problems of [final answer correct]",
                   n_resamples=n_boot)


def run_chunk_reset(cfg: ChunkResetConfig, out: Path, *, policy_generator=None, judge_generator=None,
                    log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """The study into `out` (see the module docstring); returns metrics.json's content."""
    if min(cfg.ns) < 1:
        raise InputError("best-of-N sizes must be >= 1", field="ns")
    from prmlab.models.checkpoint import load_codec, load_model, read_info
    from prmlab.models.generator import generator_for

    info = read_info(cfg.judge)
    spec = JUDGE_FORMATS.get(info.get("format")) if info.get("kind") == "judge" else None
    if spec is None or spec.head != "causal":
        raise InputError(f"needs a causal (generative or direct) judge checkpoint; prmlab.json "
                         f"says kind={info.get('kind')!r} format={info.get('format')!r}", path=cfg.judge)
    task = ArithTask(seed=cfg.problem_seed)
    probs = task.problems(cfg.problems)
    pcodec, jcodec = load_codec(cfg.policy), load_codec(cfg.judge)
    pgen = generator_for(None if policy_generator else load_model(cfg.policy, "causal").eval(),
                         policy_generator, batch_size=cfg.batch_size, pad_id=pcodec.pad_id)
    jgen = generator_for(None if judge_generator else load_model(cfg.judge, "causal").eval(),
                         judge_generator, batch_size=cfg.batch_size, pad_id=jcodec.pad_id)
    judge = VerdictScorer(jcodec, jgen, rationale=spec.rationale, max_new_tokens=cfg.judge_max_new_tokens)
    write_json(out / "config.json", {**cfg.model_dump(), "judge_format": spec.name})
    write_json(out / "provenance.json", provenance())
    ids = [p.id for p in probs]
    texts = [p.problem for p in probs]
    n_boot = cfg.bootstrap_resamples

    rows = []
    for r in cfg.tries:
        log(f"chunk-reset R={r} on {len(probs)} problems")
        dec = chunk_reset_decode(texts, pcodec, pgen, judge, tries=r, threshold=cfg.threshold,
                                 temperature=cfg.temperature, max_steps=cfg.max_steps,
                                 max_step_tokens=cfg.max_step_tokens, seed=cfg.seed,
                                 is_final=lambda s: task.final_answer(s) is not None)
        solved = [is_solved(task, d.problem, d.steps) for d in dec]
        write_jsonl(out / "solutions" / f"R{r}.jsonl", (
            {"problem_id": pid, "steps": d.steps, "solved": ok, "resamples": d.resamples,
             "rejected_kept": d.rejected_kept, "policy_tokens": d.policy_tokens,
             "judge_tokens": d.judge_tokens, "ended": d.ended} for pid, d, ok in zip(ids, dec, solved)))
        pt, jt = sum(d.policy_tokens for d in dec), sum(d.judge_tokens for d in dec)
        rows.append({"tries": r, "accuracy": _accuracy(solved, ids, n_boot),
                     "tokens": {"policy": pt, "judge": jt, "total": pt + jt},
                     "resamples": sum(d.resamples for d in dec),
                     "rejected_kept": sum(d.rejected_kept for d in dec)})

    nmax = max(cfg.ns)
    log(f"best-of-{nmax}: sampling and checking {nmax * len(probs)} solutions")
    prompts = [pcodec.policy_prompt(t) for t in texts for _ in range(nmax)]
    samples = pgen.generate(prompts, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                            stop_ids=[pcodec.eos_id], seed=seeds.seed("chunk_reset.bon", cfg.seed))
    sols = []  # (problem index, steps, policy tokens, min score, judge tokens)
    items, owner = [], []
    for j, s in enumerate(samples):
        steps = [x if x.strip() else "(empty)" for x in pcodec.split_steps(s.ids)] or ["(empty)"]
        sols.append([j // nmax, steps, len(s.ids), 1.0, 0])
        for k in range(len(steps)):
            items.append((texts[j // nmax], steps[: k + 1]))
            owner.append(j)
    if nmax > 1:
        for j, (sc, t) in zip(owner, judge(items)):
            sols[j][3] = min(sols[j][3], sc)
            sols[j][4] += t
    write_jsonl(out / "solutions" / "bon.jsonl", (
        {"problem_id": ids[pi], "sample": j % nmax, "steps": st, "policy_tokens": pt,
         "min_score": sc, "judge_tokens": jt, "solved": is_solved(task, texts[pi], st)}
        for j, (pi, st, pt, sc, jt) in enumerate(sols)))
    bon_rows = []
    for n in cfg.ns:
        solved, pt, jt = [], 0, 0
        for pi in range(len(probs)):
            cand = sols[pi * nmax: pi * nmax + n]
            best = max(range(n), key=lambda c: (cand[c][3], -c))
            solved.append(is_solved(task, texts[pi], cand[best][1]))
            pt += sum(c[2] for c in cand)
            jt += sum(c[4] for c in cand) if n > 1 else 0
        bon_rows.append({"n": n, "accuracy": _accuracy(solved, ids, n_boot),
                         "tokens": {"policy": pt, "judge": jt, "total": pt + jt}})
    result = {"chunk_reset": rows, "best_of_n": bon_rows, "n_problems": len(probs),
              "task": "arith", "selection": "highest min step score (ties: first sample)"}
    write_json(out / "metrics.json", json.loads(json.dumps(result)))
    return result


__all__ = ["ChunkResetConfig", "run_chunk_reset"]
