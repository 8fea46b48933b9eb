"""The policy: the base fine-tuned on gold solutions, and sampling from it.

Sampled solutions are labelled by the oracle, so their errors are the policy's own (natural),
not injected. The natural error rate and error-type mix are reported by `sample_policy`.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from prmlab import seeds
from prmlab.data.arith.generate import iter_records, label_record
from prmlab.data.arith.problems import Difficulty, parse_problem
from prmlab.data.arith.solutions import gold_steps
from prmlab.data.record import Record
from prmlab.keys import content_key, key_fields
from prmlab.models.checkpoint import load_codec, load_model, read_info, save_checkpoint
from prmlab.judges.progress import Progress, generation_progress
from prmlab.models.generator import Generator, generator_for, n_tokens
from prmlab.models.text import Codec
from prmlab.seeds import check_config_seed
from prmlab.training.loop import FitConfig, fit


# Bump when the policy code changes what a config trains (a content-address part of
# `PolicyConfig.key`). 2: the policy trains on the base's own difficulty (1: the default one).
POLICY_VERSION = 2


class PolicyConfig(BaseModel):
    """The policy: the base (or its snapshot) fine-tuned on gold solutions."""

    model_config = ConfigDict(extra="forbid", strict=True)
    n_problems: int = Field(4000, ge=1, description="gold training problems")
    # "snapshot": start from the base's early snapshot (base.snapshot_step), a weaker model of
    # the same family, so the judges grade another model's solutions, as in ProcessBench;
    # "base": fine-tune the judges' own base.
    init: Literal["base", "snapshot"] = Field("snapshot", description="start from the base's snapshot (a weaker model) or the base")
    seed: int = Field(1, description="seeds the training problems and the fine-tuning")
    fit: FitConfig = Field(default_factory=lambda: FitConfig(
        lr=5e-4, batch_size=32, max_steps=150, warmup_steps=10), description="the fine-tuning schedule")

    @field_validator("seed")
    @classmethod
    def _seed_in_span(cls, v: int) -> int:
        return check_config_seed(v, "seed")

    def key(self, base: str, init: str) -> str:
        """Content address of the policy trained by this config from checkpoint `init` (the base
        `base` or its snapshot; folder names). Fields enter it by `prmlab.keys`."""
        return content_key({"base": base, "init": init, "policy": key_fields(self), "v": POLICY_VERSION})


def policy_examples(codec: Codec, records: Sequence[Record]) -> list[dict]:
    out = []
    for r in records:
        prompt = codec.policy_prompt(r.problem)
        ids, _ = codec.solution(r.problem, r.steps)
        ids = ids + [codec.eos_id]
        out.append({"input_ids": ids, "labels": [-100] * len(prompt) + ids[len(prompt):]})
    return out


def base_difficulty(base: str | Path) -> Difficulty:
    """The difficulty the base was pretrained on: the policy learns to solve the same problems."""
    d = read_info(base).get("config", {}).get("difficulty")
    return Difficulty(**d) if d else Difficulty()


def train_policy(cfg: PolicyConfig, base: str | Path, out_dir: str | Path, *,
                 progress: Callable | None = None) -> dict[str, Any]:
    t0 = time.time()
    codec = load_codec(base)
    problems = [r.problem for r in iter_records(cfg.n_problems, seeds.seed("policy.train", cfg.seed),
                                                 base_difficulty(base), error_rate=0.0,
                                                 id_prefix="policy-train")]
    gold = []
    for i, text in enumerate(problems):
        p = parse_problem(text)
        gold.append(Record(id=str(i), problem=text, steps=gold_steps(p), labels=[], first_error=-1))
    torch.manual_seed(cfg.seed)
    model = load_model(base, "causal")
    res = fit(model, policy_examples(codec, gold), cfg.fit, pad_id=codec.pad_id, progress=progress)
    info = {"kind": "policy", "config": cfg.model_dump(), "base": str(base), "fit": res.to_dict(),
            "seconds": time.time() - t0}
    save_checkpoint(out_dir, model, codec, info)
    return info


def sample_policy(model, codec: Codec, problems: Sequence[str], *, n_per_problem: int,
                  temperature: float, seed: int, max_new_tokens: int = 80, id_prefix: str = "sample",
                  progress: Progress = False,
                  generator: Generator | None = None) -> tuple[list[Record], dict[str, Any]]:
    """`n_per_problem` sampled solutions per problem, labelled by the oracle, and a summary:
    natural error rate, error-type mix, tokens generated. The solutions come from `generator`
    when given, else from a `KVCacheGenerator` over `model` (256 prompts per batch)."""
    generator = generator_for(model, generator, pad_id=codec.pad_id)
    prompts, owners = [], []
    for pi, text in enumerate(problems):
        for j in range(n_per_problem):
            prompts.append(codec.policy_prompt(text))
            owners.append((pi, j))
    with generation_progress(progress, "sample") as on_progress:
        samples = generator.generate(prompts, max_new_tokens=max_new_tokens,
                                     temperature=temperature, stop_ids=[codec.eos_id], seed=seed,
                                     progress=on_progress)
    records = []
    for (pi, j), seq in zip(owners, (s.ids for s in samples)):
        # The canonical record has no empty steps: an empty generated step is kept, visibly, as
        # "(empty)", which the oracle calls unparseable.
        steps = [s if s.strip() else "(empty)" for s in codec.split_steps(seq)] or ["(empty)"]
        p = parse_problem(problems[pi])
        pid = f"{id_prefix}-{pi}"
        rec = label_record(f"{pid}-{j}", p, steps, source="policy",
                           meta={"problem_id": pid, "sample": j, "temperature": temperature,
                                 "generated_tokens": len(seq)})
        records.append(rec)
    reasons = collections.Counter(r.meta["oracle_reason"] or "correct" for r in records)
    n = len(records)
    summary = {"n": n, "natural_error_rate": sum(r.first_error != -1 for r in records) / max(1, n),
               "answer_accuracy": sum(bool(r.answer_correct) for r in records) / max(1, n),
               "right_answer_wrong_process": sum(bool(r.answer_correct) and r.first_error != -1 for r in records) / max(1, n),
               "error_types": dict(reasons.most_common()),
               "generated_tokens": n_tokens(samples), "prompt_tokens": sum(len(p) for p in prompts)}
    return records, summary
