"""Teacher verification chains for labelled solutions, written resumably (ThinkPRM's first step).

For each record a teacher writes one chain ("Step k: <critique> The step is correct/incorrect",
in the layout of a `chain_styles` style); the chain is parsed and filtered against the gold
labels (`chain_filter`). Nothing here runs a model: the teacher is a `Complete` callable, a
batch of chat conversations in, one `Completion` each out (`prmlab.models.chat.ChatCompleter`
puts a `Generator` and its tokenizer behind it; tests use stubs).

The output folder:

* `synth.json`: the settings (style, tokens, temperature, seed, chunk size, teacher, data);
  a resumed run must give the same ones, or it is refused;
* `chains.jsonl`: one row per record, in input order (`ChainRow`), appended chunk by chunk;
* `progress.json`: records done and the byte length of `chains.jsonl` at that point, replaced
  atomically after each chunk's rows are flushed to disk. A resumed run first cuts
  `chains.jsonl` back to that length (a chunk written when the run was killed, in part or
  whole but not yet committed, is dropped) and continues with the next chunk;
* `summary.json`: kept fraction and rejection counts (`chain_filter.summarize`), at the end.

Chunks are fixed slices of the input (`chunk_size` records; chunk c is records
[c*chunk_size, (c+1)*chunk_size)) and the teacher's seed for chunk c is derived from the
config seed and c, so a resumed run sends the teacher exactly the calls an uninterrupted one
would, and writes the same file byte for byte.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from prmlab import outdir
from prmlab.atomic import write_json
from prmlab.data.record import Record, record_from_dict
from prmlab.errors import InputError
from prmlab.strict import dumps, loads, read_json
from prmlab.supervision.chain_filter import Verdict, judge_chain, kept_steps, summarize
from prmlab.supervision.chain_styles import STYLES, Message, ParsedChain


@dataclasses.dataclass(frozen=True)
class Completion:
    """What the teacher wrote for one conversation."""

    text: str
    truncated: bool  # stopped by the token limit, not by an end-of-turn id
    prompt_tokens: int = 0
    generated_tokens: int = 0


# (conversations, chunk index) -> one Completion per conversation, in order.
Complete = Callable[[Sequence[list[Message]], int], list[Completion]]
# progress(records_done, records_total)
Progress = Callable[[int, int], None]


class SynthConfig(BaseModel):
    """Settings of one chain synthesis, saved as synth.json."""

    model_config = ConfigDict(extra="forbid")
    style: str = Field("plain", description="prompt template and parser (prmlab.supervision.chain_styles.STYLES)")
    max_new_tokens: int = Field(384, ge=1, description="tokens the teacher may write per chain")
    temperature: float = Field(0.0, ge=0, allow_inf_nan=False, description="teacher sampling temperature (0: greedy)")
    seed: int = Field(0, ge=0, description="seeds the teacher's draws (chunk c: stream synth.chains, index c)")
    chunk_size: int = Field(8, ge=1, description="records per teacher call and per committed chunk")
    teacher: str = Field("", description="what the teacher is (path or URL and model name), for the record")
    data: str = Field("", description="the labelled file the records came from, for the record")

    @field_validator("style")
    @classmethod
    def _known_style(cls, v: str) -> str:
        if v not in STYLES:
            raise ValueError(f"unknown chain style {v!r} (known: {', '.join(STYLES)})")
        return v


@dataclasses.dataclass(frozen=True)
class ChainRow:
    """One row of chains.jsonl: the record, the teacher's text, the parse and the filter."""

    index: int
    record: Record
    text: str
    truncated: bool
    prompt_tokens: int
    generated_tokens: int
    parsed: ParsedChain
    verdict: Verdict

    @property
    def kept(self) -> bool:
        return self.verdict.kept

    def kept_steps(self) -> tuple[tuple[str, ...], tuple[bool, ...]]:
        return kept_steps(self.record, self.parsed)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.record.id, "record": self.record.to_dict(),
                "text": self.text, "truncated": self.truncated,
                "prompt_tokens": self.prompt_tokens, "generated_tokens": self.generated_tokens,
                "critiques": list(self.parsed.critiques), "verdicts": list(self.parsed.verdicts),
                "parse_problem": self.parsed.problem, "kept": self.verdict.kept,
                "reason": self.verdict.reason, "step": self.verdict.step,
                "detail": self.verdict.detail}

    @classmethod
    def from_dict(cls, d: Any, *, path: str, line: int) -> "ChainRow":
        def fail(field: str | None, msg: str) -> InputError:
            return InputError(msg, path=path, line=line, field=field)

        if not isinstance(d, dict):
            raise fail(None, "expected a JSON object")
        need = ("index", "record", "text", "truncated", "critiques", "verdicts", "kept")
        for k in need:
            if k not in d:
                raise fail(k, "missing required field")
        rec = record_from_dict(d["record"], path=path, line=line)
        crit, ver = d["critiques"], d["verdicts"]
        if (not isinstance(crit, list) or not isinstance(ver, list) or len(crit) != len(ver)
                or not all(isinstance(c, str) for c in crit) or not all(isinstance(v, bool) for v in ver)):
            raise fail("critiques", "expected equal-length lists of strings and booleans (verdicts)")
        verdict = Verdict(bool(d["kept"]), d.get("reason"), d.get("step"), d.get("detail"))
        return cls(int(d["index"]), rec, str(d["text"]), bool(d["truncated"]),
                   int(d.get("prompt_tokens", 0)), int(d.get("generated_tokens", 0)),
                   ParsedChain(tuple(crit), tuple(ver), d.get("parse_problem")), verdict)


def read_chains(path: str | os.PathLike) -> list[ChainRow]:
    """Every row of a chains.jsonl file (InputError naming the line of a bad one)."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file (expected a chains.jsonl from `prmlab synth chains`)", path=str(p))
    out = []
    with open(p, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if line.strip():
                out.append(ChainRow.from_dict(loads(line, path=p, line=i), path=str(p), line=i))
    return out


def _commit(out: Path, done: int, size: int) -> None:
    write_json(out / "progress.json", {"records_done": done, "bytes": size})


def _settings(cfg: SynthConfig, records: Sequence[Record]) -> dict[str, Any]:
    """synth.json: the config and a digest of the records (a resume must read the same ones)."""
    digest = hashlib.sha256()
    for r in records:
        digest.update((dumps(r.to_dict(), sort_keys=True) + "\n").encode("utf-8"))
    return {**cfg.model_dump(), "records": len(records), "records_sha256": digest.hexdigest()}


def _resume_point(out: Path, want: dict[str, Any], total: int) -> tuple[int, int]:
    """(records done, committed byte length) of an earlier run of the same settings; (0, 0) new."""
    settings = out / "synth.json"
    if not settings.exists():
        return 0, 0
    old = read_json(settings, note=False)  # prmlab's own record, rewritten by the resume
    if not isinstance(old, dict):
        raise InputError("expected a JSON object", path=str(settings))
    if old != want:
        diff = sorted(k for k in set(old) | set(want) if old.get(k) != want.get(k))
        raise InputError("was written with other settings; resume with the same ones or use a "
                         f"new --out (differs in: {', '.join(diff)})", path=str(settings))
    prog = out / "progress.json"
    if not prog.exists():
        return 0, 0
    p = read_json(prog, note=False)
    done, size = p.get("records_done"), p.get("bytes")
    if not (isinstance(done, int) and isinstance(size, int) and 0 <= done <= total and size >= 0):
        raise InputError("expected records_done (0..records) and bytes", path=str(prog))
    return done, size


def synthesize(records: Sequence[Record], complete: Complete, out_dir: str | os.PathLike,
               cfg: SynthConfig, *, progress: Progress | None = None) -> dict[str, Any]:
    """Write (or finish writing) the chains of `records` into `out_dir`; returns the summary.

    The caller has prepared `out_dir` (`prmlab.outdir.prepare_out`)."""
    out = Path(out_dir)
    style = STYLES[cfg.style]
    settings = _settings(cfg, records)
    done, size = _resume_point(out, settings, len(records))
    if done and done % cfg.chunk_size and done != len(records):
        raise InputError(f"records_done={done} is not at a chunk boundary of {cfg.chunk_size}",
                         path=str(out / "progress.json"))
    write_json(out / "synth.json", settings)
    chains = out / "chains.jsonl"
    outdir.check_target(chains)
    if chains.exists():
        if chains.stat().st_size < size:
            raise InputError(f"is shorter ({chains.stat().st_size} bytes) than its committed "
                             f"progress ({size} bytes); it was changed outside prmlab", path=str(chains))
        os.truncate(chains, size)  # drop rows written after the last commit
    elif done:
        raise InputError("is missing although progress.json says records were done", path=str(chains))
    with open(chains, "ab") as f:
        outdir.record_written(chains)
        if progress:
            progress(done, len(records))
        for start in range(done, len(records), cfg.chunk_size):
            chunk = records[start:start + cfg.chunk_size]
            got = complete([style.messages(r.problem, r.steps) for r in chunk], start // cfg.chunk_size)
            if len(got) != len(chunk):
                raise ValueError(f"the teacher returned {len(got)} completions for {len(chunk)} prompts")
            rows = []
            for j, (r, c) in enumerate(zip(chunk, got)):
                parsed = style.parse(c.text)
                rows.append(ChainRow(start + j, r, c.text, c.truncated, c.prompt_tokens,
                                     c.generated_tokens, parsed, judge_chain(r, parsed, c.truncated)))
            f.write("".join(dumps(row.to_dict()) + "\n" for row in rows).encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
            _commit(out, start + len(chunk), f.tell())
            if progress:
                progress(start + len(chunk), len(records))
    if not records:
        _commit(out, 0, 0)
    rows = read_chains(chains)
    summary = summarize(r.verdict for r in rows)
    summary.update(truncated=sum(r.truncated for r in rows),
                   prompt_tokens=sum(r.prompt_tokens for r in rows),
                   generated_tokens=sum(r.generated_tokens for r in rows),
                   style=cfg.style, teacher=cfg.teacher, data=cfg.data)
    write_json(out / "summary.json", summary)
    return summary


__all__ = ["ChainRow", "Complete", "Completion", "SynthConfig", "read_chains", "synthesize"]
