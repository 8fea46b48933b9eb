"""The base model: a small Llama pretrained from scratch on the unlabelled `arith` corpus.

No label of any kind enters pretraining: solutions are unmarked (half have an injected error),
checks stop before the verdict. The base must *compute* and *copy*, or no judge built on it
can learn (FINDINGS.md); `probe_base` measures both on held-out problems, and the pretraining
report states them beside the 95% bar.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from transformers import LlamaForCausalLM

from prmlab.data.arith.corpus import HARD_TYPES, Doc, check_hard_types, iter_corpus, worked_line
from prmlab.data.arith.solutions import inject
from prmlab.data.arith.problems import Difficulty
from prmlab.data.arith.teacher import check as teacher_check, verdict_from_text
from prmlab.data.arith.generate import iter_records
from prmlab.data.arith.problems import parse_problem
from prmlab.errors import InputError
from prmlab.models.checkpoint import save_checkpoint
from prmlab.models.generate import generate
from prmlab.models.presets import llama_config, n_params
from prmlab.models.text import Codec, TextFormat
from prmlab.models.tokenizer import build_arith_tokenizer
from prmlab.training.loop import FitConfig, fit


# Bump when the corpus, the text format or the model presets change what a config produces,
# so that a cached base built by older code is never reused. 4: each claimed digit carries its
# mark; 5: given operands are looked up in the problem's words (dev/LOG.md, 2026-11-27).
FORMAT_VERSION = 5


class DifficultyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_steps: int = 2
    max_steps: int = 3
    digits: int = 2
    max_value: int = 999
    ops: str = "+-*"
    distractors: int = 1

    def build(self) -> Difficulty:
        return Difficulty(**self.model_dump())


class BaseConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preset: str = "small"
    difficulty: DifficultyConfig = Field(default_factory=DifficultyConfig)
    n_problems: int = 50000  # corpus problems (each gives a solution, a check and worked lines)
    worked: bool = True  # include worked arithmetic lines
    checks: int = 2  # check documents per problem (0 leaves them out)
    hard_checks: int = 2  # extra checks per problem of steps with a hard_types error (see corpus.py)
    hard_types: list[str] = Field(default_factory=lambda: list(HARD_TYPES))
    verdicts: bool = False  # checks end with the verdict their own marks imply (see corpus.py, LOG)
    drills: int = 0  # comparison drills per problem (see corpus.py)
    block: int = 256
    seed: int = 0
    # Also keep the weights at this step: a weaker model of the same family, which the flagship's
    # policy starts from (saved beside the base as `<out>-step<N>`, before the base itself).
    snapshot_step: int | None = 600
    # bf16 stays on explicitly: the cached bases were trained so (same speed either way here).
    fit: FitConfig = Field(default_factory=lambda: FitConfig(
        lr=2e-3, warmup_steps=100, batch_size=32, max_steps=2000, min_lr_ratio=0.05,
        weight_decay=0.01, bf16=True))

    @field_validator("hard_types")
    @classmethod
    def _known_types(cls, v: list[str]) -> list[str]:
        check_hard_types(v)
        return v

    def key(self) -> str:
        """Content address: the same config (and corpus/model format) names the same base."""
        # The snapshot step does not change the base's weights, so it is not part of its address.
        # Corpus options added later are left out while off (`verdicts` false, `drills` 0): that
        # is the corpus the format version always meant, so bases built before them keep their address.
        skip = {"snapshot_step"} | {k for k in ("verdicts", "drills") if not getattr(self, k)}
        blob = json.dumps({"config": self.model_dump(exclude=skip), "format": FORMAT_VERSION},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def check_format(info: dict[str, Any], where: str) -> None:
    """An arith base must have learnt the check format this code writes: a judge fine-tuned on
    teacher chains of another format would learn the format, not the checking."""
    if info.get("kind") not in ("base", "base-snapshot"):
        return  # not a prmlab arith base (a Hugging Face checkpoint, say): nothing to compare
    got = info.get("format", 3)  # bases saved before the format was recorded wrote format 3
    if got != FORMAT_VERSION:
        raise InputError(f"this base was pretrained on check format {got} and prmlab now writes "
                         f"format {FORMAT_VERSION} (dev/LOG.md); pretrain it again", path=where)


def arith_codec() -> Codec:
    return Codec(build_arith_tokenizer(), TextFormat())


def doc_ids(codec: Codec, doc: Doc, verdicts: bool = False) -> list[int]:
    if doc.kind == "solution":
        return codec.solution(doc.problem, doc.steps)[0] + [codec.eos_id]
    if doc.kind == "check":
        verdict = [codec.ok_id if doc.ok else codec.bad_id] if verdicts and doc.ok is not None else []
        return codec.check_prompt(doc.problem, doc.steps) + codec.encode(doc.check) + verdict + [codec.eos_id]
    if doc.kind == "drill":  # after the check marker, as the tail of a check would be
        return codec.bos + codec.check + codec.encode(doc.lines[0]) + [codec.eos_id]
    return codec.bos + codec.encode(" ; ".join(doc.lines) + " ;") + [codec.eos_id]


def packed_blocks(codec: Codec, docs, block: int, verdicts: bool = False) -> list[dict[str, list[int]]]:
    """Documents concatenated and cut into full blocks (packed: no padding to train on)."""
    stream: list[int] = []
    for d in docs:
        stream += doc_ids(codec, d, verdicts)
    n = len(stream) // block
    return [{"input_ids": stream[i * block:(i + 1) * block],
             "labels": stream[i * block:(i + 1) * block]} for i in range(n)]


# ---- probing what the base can do ------------------------------------------------------------

def probe_sets(difficulty: Difficulty, seed: int, n: int = 300) -> dict[str, list]:
    """Held-out probes: worked lines and check prompts from seeds the corpus never uses."""
    rng = random.Random(f"probe:{seed}")
    lines = [worked_line(rng, difficulty) for _ in range(n)]
    checks = []
    for rec in iter_records(n, 10_000_000 + seed, difficulty, id_prefix="probe"):
        p = parse_problem(rec.problem)
        i = rng.randrange(len(rec.steps))
        checks.append((rec.problem, rec.steps[: i + 1], teacher_check(p, rec.steps, i).text))
    hard = []  # the erroneous step of solutions whose error defeats copying from the step
    for rec in iter_records(n, 20_000_000 + seed, difficulty, id_prefix="probe-hard"):
        p = parse_problem(rec.problem)
        steps, at = inject(p, rng.choice(HARD_TYPES), rng)
        hard.append((rec.problem, steps[: at + 1], teacher_check(p, steps, at).text))
    # Arithmetic slips: the check recomputes one number and must mark it unequal to the claimed
    # one. Drawn last, so the sets above stay what they were.
    slips = []
    for rec in iter_records(n, 40_000_000 + seed, difficulty, id_prefix="probe-slip"):
        p = parse_problem(rec.problem)
        steps, at = inject(p, "arithmetic", rng)
        slips.append((rec.problem, steps[: at + 1], teacher_check(p, steps, at).text))
    return {"worked": lines, "checks": checks, "hard": hard, "slips": slips}


def _fields(check_text: str) -> dict[str, str]:
    """A check's parts: the name, the recomputation, the copied claim and its marks apart."""
    parts = [x.strip() for x in check_text.split(";")]
    out = {"head": parts[0] if parts else ""}
    for x in parts[1:]:
        if x.startswith("claimed"):
            out["copy"] = "".join(ch for ch in x if ch not in "=!")
            out["marks"] = "".join(ch for ch in x[len("claimed"):] if ch in "=!|")
        elif "=" in x and any(op in x.split("=")[0] for op in "+-*/"):
            out["recompute"] = x
    return out


@torch.inference_mode()
def probe_base(model, codec: Codec, probes: dict[str, list], batch_size: int = 256) -> dict[str, float]:
    """Exact accuracy of greedy worked arithmetic, and of the recompute / copy / compare fields
    of generated checks, on held-out problems."""
    semi = codec.encode(";")
    prompts = [codec.bos + codec.encode(line.split("=")[0] + "=") for line in probes["worked"]]
    g = generate(model, prompts, max_new_tokens=8, stop_ids=semi + [codec.eos_id],
                 pad_id=codec.pad_id, batch_size=batch_size)
    worked_ok = 0
    for line, seq in zip(probes["worked"], g.sequences):
        got = codec.decode([t for t in seq if t not in semi]).strip()
        worked_ok += got == line.split("=")[1].strip()
    hard, slips = probes.get("hard", []), probes.get("slips", [])
    checks = probes["checks"] + hard + slips
    prompts = [codec.check_prompt(p, steps) for p, steps, _ in checks]
    g = generate(model, prompts, max_new_tokens=100, stop_ids=[codec.eos_id, codec.ok_id, codec.bad_id],
                 pad_id=codec.pad_id, batch_size=batch_size)
    n_main = len(probes["checks"])
    hard_ok = sum(codec.decode(seq).strip() == want
                  for (_, _, want), seq in zip(hard, g.sequences[n_main:n_main + len(hard)]))
    # Caught = the zero-label rule reads "bad" from the check the base wrote.
    slip_flagged = sum(verdict_from_text(codec.decode(seq)) is False
                       for seq in g.sequences[n_main + len(hard):])
    exact = rec_ok = copy_ok = marks_ok = n_rec = n_copy = head_ok = 0
    for (_, _, want), seq in zip(probes["checks"], g.sequences):
        got = codec.decode(seq).strip()
        exact += got == want
        fw, fg = _fields(want), _fields(got)
        head_ok += fw["head"] == fg["head"]
        if "recompute" in fw:
            n_rec += 1
            rec_ok += fw["recompute"] == fg.get("recompute")
        if "copy" in fw:
            n_copy += 1
            copy_ok += fw["copy"] == fg.get("copy")
            marks_ok += fw["marks"] == fg.get("marks")
    return {"worked_exact": worked_ok / len(probes["worked"]),
            "check_exact": exact / len(probes["checks"]),
            "name_exact": head_ok / len(probes["checks"]),  # which quantity the step computes
            "recompute_exact": rec_ok / max(1, n_rec),
            "copy_exact": copy_ok / max(1, n_copy),
            "marks_exact": marks_ok / max(1, n_copy),
            # checks of steps whose error defeats copying from the step (corpus `hard_types`)
            "hard_check_exact": hard_ok / max(1, len(hard)),
            # share of arithmetic-slip checks that say "bad" (a checker that marks different
            # numbers equal never does: dev/LOG.md 2026-11-27, third session)
            **({"slip_flagged": slip_flagged / len(slips)} if slips else {})}


BAR = 0.95


def snapshot_path(out_dir: str | Path, cfg: BaseConfig, step: int | None = None) -> Path:
    out_dir = Path(out_dir)
    return out_dir.with_name(f"{out_dir.name}-step{step or cfg.snapshot_step}")


def train_base(cfg: BaseConfig, out_dir: str | Path, *, log: Callable[[str], None] = print,
               progress: Callable | None = None, extra_snapshots: Sequence[int] = ()) -> dict[str, Any]:
    """Pretrain, probe and save the base; returns the report (also saved in the checkpoint)."""
    t0 = time.time()
    torch.manual_seed(cfg.seed)
    codec = arith_codec()
    d = cfg.difficulty.build()
    docs = iter_corpus(cfg.n_problems, cfg.seed, d, worked=cfg.worked, checks=cfg.checks,
                       hard_checks=cfg.hard_checks, hard_types=cfg.hard_types, drills=cfg.drills)
    blocks = packed_blocks(codec, docs, cfg.block, cfg.verdicts)
    config = llama_config(cfg.preset, codec.vocab_size, pad_id=codec.pad_id,
                          bos_id=codec.bos[0], eos_id=codec.eos_id, max_positions=max(512, cfg.block))
    model = LlamaForCausalLM(config)
    log(f"base: {n_params(model) / 1e6:.2f}M parameters, {len(blocks)} blocks of {cfg.block} tokens "
        f"({len(blocks) * cfg.block / 1e6:.1f}M tokens)")
    wanted = set(extra_snapshots) | ({cfg.snapshot_step} if cfg.snapshot_step is not None else set())
    snapshots: dict[int, tuple[dict, float]] = {}

    def on_step(step: int, total: int, row: dict) -> None:
        if step in wanted:
            snapshots[step] = (copy.deepcopy(model.state_dict()), row["loss"])
        if progress is not None:
            progress(step, total, row)

    result = fit(model, blocks, cfg.fit, pad_id=codec.pad_id, progress=on_step)
    report = probe_base(model, codec, probe_sets(d, cfg.seed, n=500))
    report.update(params=n_params(model), tokens=result.tokens, steps=result.steps,
                  seconds=time.time() - t0, final_loss=result.history[-1]["loss"],
                  meets_bar=report["worked_exact"] >= BAR and report["copy_exact"] >= BAR,
                  bar=BAR)
    for step in sorted(wanted):
        if step not in snapshots:
            raise InputError(f"snapshot step {step} is beyond the {result.steps} training steps")
        weak = LlamaForCausalLM(config)
        weak.load_state_dict(snapshots[step][0])
        weak_report = probe_base(weak, codec, probe_sets(d, cfg.seed, n=200))
        weak_report.update(steps=step, loss=snapshots[step][1])
        if step == cfg.snapshot_step:
            report["snapshot"] = weak_report
        save_checkpoint(snapshot_path(out_dir, cfg, step), weak, codec,
                        {"kind": "base-snapshot", "config": cfg.model_dump(), "format": FORMAT_VERSION,
                         "report": weak_report})
    save_checkpoint(out_dir, model, codec, {"kind": "base", "config": cfg.model_dump(),
                                            "format": FORMAT_VERSION, "report": report,
                                            "fit": result.to_dict()})
    return report
