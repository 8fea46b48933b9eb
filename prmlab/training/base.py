"""The base model: a small Llama pretrained from scratch on the unlabelled `arith` corpus.

No label of any kind enters pretraining: solutions are unmarked (half have an injected error),
checks stop before the verdict. The base must *compute* and *copy*, or no judge built on it
can learn (FINDINGS.md); `probe_base` measures both on held-out problems, and the pretraining
report states them beside the 95% bar.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from transformers import LlamaForCausalLM

from prmlab import seeds
from prmlab.atomic import write_json
from prmlab.data.arith.corpus import HARD_TYPES, Doc, check_hard_types, iter_corpus, worked_line
from prmlab.data.arith.generate import iter_records
from prmlab.data.arith.problems import Difficulty, parse_problem
from prmlab.data.arith.solutions import inject
from prmlab.data.arith.teacher import check as teacher_check, verdict_from_text
from prmlab.errors import InputError
from prmlab.keys import NOT_IN_KEY, content_key, drop_removed, key_fields
from prmlab.models.checkpoint import load_codec, load_model, read_info, save_checkpoint
from prmlab.models.generate import generate
from prmlab.models.presets import PRESETS as MODEL_PRESETS, llama_config, n_params
from prmlab.models.text import Codec, TextFormat
from prmlab.models.tokenizer import build_arith_tokenizer
from prmlab.seeds import check_config_seed
from prmlab.training.loop import FitConfig, fit


# Bump when the corpus, the text format or the model presets change what a config produces,
# so that a cached base built by older code is never reused. 4: each claimed digit carries its
# mark; 5: given operands are looked up in the problem's words (dev/LOG.md, 2026-11-27).
FORMAT_VERSION = 5

# Bump when the health probes (`probe_sets`) change: a cached base whose report holds older
# probes is probed again when loaded (`base_report`); its weights stay. 2: the hard-type and
# slip probes draw their own problems (prmlab/seeds.py), no longer the policy's and the pool's.
PROBE_VERSION = 2


class DifficultyConfig(BaseModel):
    """The problems the base (and the policy, and every data set) is drawn from."""

    model_config = ConfigDict(extra="forbid", strict=True)
    min_steps: int = Field(2, description="fewest steps a problem's solution takes (1..8)")
    max_steps: int = Field(3, description="most steps a problem's solution takes (min_steps..8)")
    digits: int = Field(2, description="digits of given numbers and constants (1..4)")
    max_value: int = Field(999, description="every quantity stays in [0, max_value]")
    ops: str = Field("+-*", description="operations the steps use (a subset of +-*/)")
    distractors: int = Field(1, description="up to this many facts a problem's answer does not need (0..4)")

    @model_validator(mode="after")
    def _a_domain(self) -> "DifficultyConfig":
        try:  # the domain's own rules, checked before any work starts
            self.build()
        except InputError as e:
            raise ValueError(str(e)) from None
        return self

    def build(self) -> Difficulty:
        return Difficulty(**self.model_dump())


# Options measured and left off, with the value saved configs hold for them (= today's corpus).
REMOVED = {"verdicts": False, "drills": 0}


class BaseConfig(BaseModel):
    """Pretraining of the base: its corpus, size and schedule."""

    # strict: a bool is not a number here (`n_problems: true` is an error, not 1).
    model_config = ConfigDict(extra="forbid", strict=True)
    preset: str = Field("small", description="model size preset (models/presets.py: tiny, small, medium)")
    difficulty: DifficultyConfig = Field(default_factory=DifficultyConfig,
                                         description="the problems of the corpus and of everything after it")
    n_problems: int = Field(50000, ge=1, description="corpus problems (each gives a solution, checks and worked lines)")
    worked: bool = Field(True, description="include lines of worked arithmetic in the corpus")
    checks: int = Field(2, ge=0, description="check documents per problem (0 leaves them out)")
    hard_checks: int = Field(2, ge=0, description="extra checks per problem of a step with a hard_types error")
    hard_types: list[str] = Field(default_factory=lambda: list(HARD_TYPES),
                                  description="error types of the hard checks (see data/arith/corpus.py)")
    block: int = Field(256, ge=8, description="tokens per packed pretraining block")
    seed: int = Field(0, description="seeds the corpus, the probes and the weights' initialisation")
    # The flagship's policy starts from this weaker model of the same family (saved beside the
    # base as `<out>-step<N>`, before the base itself). It does not change the base's weights.
    snapshot_step: int | None = Field(600, ge=1, json_schema_extra=NOT_IN_KEY,
                                      description="also keep the weights at this step (null: no snapshot)")
    # bf16 left to `bf16_pays` (fp32 below 5M parameters): on an AMX CPU the 0.83M base trains
    # as fast in fp32, on an AVX2-only CPU bf16 is emulated and several times slower
    # (dev/LOG.md, 2026-12-03); on an AVX512-BF16 CPU without AMX bf16 is faster (2026-12-04),
    # kept off so that a base is the same base on every machine (opt in: base.fit.bf16=true).
    # Bases cached while it was on (bf16: true) have another key.
    fit: FitConfig = Field(default_factory=lambda: FitConfig(
        lr=2e-3, warmup_steps=100, batch_size=32, max_steps=2000, min_lr_ratio=0.05,
        weight_decay=0.01), description="the pretraining schedule")

    @model_validator(mode="before")
    @classmethod
    def _removed_options(cls, data: Any) -> Any:
        # `verdicts` and `drills` were measured and left off (dev/LOG.md); configs saved while
        # they existed (every cached base's prmlab.json) hold their off values, today's corpus.
        return drop_removed(data, REMOVED, "base")

    @field_validator("hard_types")
    @classmethod
    def _known_types(cls, v: list[str]) -> list[str]:
        check_hard_types(v)
        return v

    @field_validator("seed")
    @classmethod
    def _seed_in_span(cls, v: int) -> int:
        return check_config_seed(v, "seed")

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, v: str) -> str:
        if v not in MODEL_PRESETS:
            raise ValueError(f"unknown model preset {v!r}; known: {', '.join(MODEL_PRESETS)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "BaseConfig":
        check_hard_types(self.hard_types, self.hard_checks)
        if self.snapshot_step is not None and self.snapshot_step > self.fit.max_steps:
            raise ValueError(f"snapshot_step {self.snapshot_step} is beyond fit.max_steps "
                             f"{self.fit.max_steps}")
        return self

    def key(self) -> str:
        """Content address: the same config (and corpus/model format) names the same base.
        Fields enter it by `prmlab.keys` (the snapshot step never)."""
        return content_key({"config": key_fields(self), "format": FORMAT_VERSION})


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


def doc_ids(codec: Codec, doc: Doc) -> list[int]:
    if doc.kind == "solution":
        return codec.solution(doc.problem, doc.steps)[0] + [codec.eos_id]
    if doc.kind == "check":
        return codec.check_prompt(doc.problem, doc.steps) + codec.encode(doc.check) + [codec.eos_id]
    return codec.bos + codec.encode(" ; ".join(doc.lines) + " ;") + [codec.eos_id]


def packed_blocks(codec: Codec, docs, block: int) -> list[dict[str, list[int]]]:
    """Documents concatenated and cut into full blocks (packed: no padding to train on)."""
    stream: list[int] = []
    for d in docs:
        stream += doc_ids(codec, d)
    n = len(stream) // block
    return [{"input_ids": stream[i * block:(i + 1) * block],
             "labels": stream[i * block:(i + 1) * block]} for i in range(n)]


# ---- probing what the base can do ------------------------------------------------------------

def probe_sets(difficulty: Difficulty, seed: int, n: int = 300) -> dict[str, list]:
    """Held-out probes, each set from its own seed stream (prmlab/seeds.py): worked lines, check
    prompts, checks of hard-type errors and of arithmetic slips, on problems that neither the
    corpus nor any data set of a run draws."""
    rng = seeds.rng("base.probe.rng", seed)
    lines = [worked_line(rng, difficulty) for _ in range(n)]
    checks = []
    for rec in iter_records(n, seeds.seed("base.probe.checks", seed), difficulty, id_prefix="probe"):
        p = parse_problem(rec.problem)
        i = rng.randrange(len(rec.steps))
        checks.append((rec.problem, rec.steps[: i + 1], teacher_check(p, rec.steps, i).text))
    hard = []  # the erroneous step of solutions whose error defeats copying from the step
    for rec in iter_records(n, seeds.seed("base.probe.hard", seed), difficulty, id_prefix="probe-hard"):
        p = parse_problem(rec.problem)
        steps, at = inject(p, rng.choice(HARD_TYPES), rng)
        hard.append((rec.problem, steps[: at + 1], teacher_check(p, steps, at).text))
    # Arithmetic slips: the check recomputes one number and must mark it unequal to the claimed
    # one. Drawn last, so the sets above stay what they were.
    slips = []
    for rec in iter_records(n, seeds.seed("base.probe.slip", seed), difficulty, id_prefix="probe-slip"):
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
            # numbers equal never does; see dev/LOG.md)
            **({"slip_flagged": slip_flagged / len(slips)} if slips else {})}


BAR = 0.95
PROBE_N, SNAPSHOT_PROBE_N = 500, 200  # probes per set for a base, for its snapshots


def _probe(model, codec: Codec, d: Difficulty, seed: int, n: int) -> dict[str, Any]:
    """The health probes' part of a report (what `base_report` recomputes)."""
    rep = probe_base(model, codec, probe_sets(d, seed, n=n))
    rep.update(meets_bar=rep["worked_exact"] >= BAR and rep["copy_exact"] >= BAR, bar=BAR,
               probe_version=PROBE_VERSION)
    return rep


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
    docs = iter_corpus(cfg.n_problems, seeds.seed("base.corpus", cfg.seed), d, worked=cfg.worked,
                       checks=cfg.checks, hard_checks=cfg.hard_checks, hard_types=cfg.hard_types)
    blocks = packed_blocks(codec, docs, cfg.block)
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
    report = _probe(model, codec, d, cfg.seed, PROBE_N)
    report.update(params=n_params(model), tokens=result.tokens, steps=result.steps,
                  seconds=time.time() - t0, final_loss=result.history[-1]["loss"])
    for step in sorted(wanted):
        if step not in snapshots:
            raise InputError(f"snapshot step {step} is beyond the {result.steps} training steps")
        weak = LlamaForCausalLM(config)
        weak.load_state_dict(snapshots[step][0])
        weak_report = _probe(weak, codec, d, cfg.seed, SNAPSHOT_PROBE_N)
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


def base_report(path: str | Path, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """The report of the prmlab base at `path`, its health probes recomputed first if they are
    older than `PROBE_VERSION` (so are its snapshots' `<path>-step<N>`).

    The probes evaluate the base; they never trained it, so a cached base keeps its weights and
    its content address, and only the report's probe fields (and `probe_version`) change. Each
    `prmlab.json` is rewritten atomically, the snapshots' before the base's: interrupted, the
    next load finds the base still stale and finishes the job."""
    path = Path(path)
    info = read_info(path)
    report = dict(info.get("report") or {})
    if info.get("kind") != "base" or report.get("probe_version", 1) >= PROBE_VERSION:
        return report
    try:
        cfg = BaseConfig.model_validate(info.get("config") or {})
    except ValidationError as e:
        err = e.errors()[0]
        raise InputError(f"cannot probe this base again: its saved config does not parse "
                         f"({'.'.join(map(str, err['loc']))}: {err['msg'].removeprefix('Value error, ')})",
                         path=str(path)) from None
    d = cfg.difficulty.build()
    log(f"base: its health probes predate probe version {PROBE_VERSION}; probing it again "
        "(the weights stay)")
    for snap in sorted(path.parent.glob(f"{path.name}-step*")):
        sinfo = read_info(snap)
        srep = sinfo.get("report") or {}
        if sinfo.get("kind") != "base-snapshot" or srep.get("probe_version", 1) >= PROBE_VERSION:
            continue
        srep = {**srep, **_probe(load_model(snap, "causal"), load_codec(snap), d, cfg.seed,
                                 SNAPSHOT_PROBE_N)}
        write_json(snap / "prmlab.json", {**sinfo, "report": srep})
    if report.get("snapshot"):  # the copy the base's report keeps of its snapshot's
        srep = read_info(snapshot_path(path, cfg, report["snapshot"].get("steps"))).get("report") or {}
        if srep.get("probe_version", 1) >= PROBE_VERSION:
            report["snapshot"] = srep
    report.update(_probe(load_model(path, "causal"), load_codec(path), d, cfg.seed, PROBE_N))
    write_json(path / "prmlab.json", {**info, "report": report})
    return report
