"""The ThinkPRM recipe on real data with a real model, end to end, as one resumable run folder.

Steps (each skipped when its output is already complete, so a killed run resumes):

1. split: the labelled file's solutions are grouped by problem text and the problems shuffled
   (seed stream `thinkprm.split`); whole problems go to the held-out evaluation split first
   (`eval_size` solutions), then to the dev split (`dev_size`), the rest is the pool. No problem
   is in two splits. `split.json` lists the ids;
2. base: the judges' base (a model folder or a GGUF file, dequantized) saved as a safetensors
   folder `base/` (`training.hf_judges.import_causal_lm`);
3. for each label budget N (`supervision.budget.draw_budget` from the pool, nested in N):
   teacher chains `chains/N{N}/` (`supervision.chain_synth`, resumable), then one judge per
   format `judges/N{N}/{format}/` fine-tuned from the base on the same N labelled solutions
   (the generative one on their kept chains), each evaluated on the held-out split
   `eval/N{N}/{format}/metrics.json` (ProcessBench F1, acc_err, acc_cor with bootstrap CIs and
   the trivial baselines, `evaluation.run.evaluate_judge`);
4. the ProcessBench critic protocol with the base model itself on the same held-out split,
   `critic/metrics.json` (`judges.critic.CriticJudge`, `evaluation.critic.critic_metrics`);
5. `results.json`: every metric above with its CI, read back from the metrics files (a report
   rebuilds from the folder alone: `prmlab.cli.synth` prints it), and the wall seconds of each
   stage, loads and metrics included (`timings.json`, written as each stage ends; a resumed run
   keeps the times of the stages it skips, and a stage killed midway records the attempt that
   finished it), so the folder says what to shrink to fit a time budget.

The teacher defaults to the base model itself (`teacher: null`); any other local causal LM
folder or GGUF file can be named.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from prmlab import seeds
from prmlab.atomic import write_json
from prmlab.data.formats import read_any
from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.provenance import provenance
from prmlab.strict import read_json

Log = Callable[[str], None]
TIMINGS = "timings.json"


class ThinkPRMConfig(BaseModel):
    """One ThinkPRM run: data, splits, budgets, teacher, judges and evaluation sizes."""

    model_config = ConfigDict(extra="forbid")
    base: str = Field(..., description="the judges' base: a causal LM folder (safetensors) or a .gguf file")
    teacher: Optional[str] = Field(None, description="the chain teacher (folder or .gguf); null: the base itself")
    data: str = Field("../shared/data/processbench/gsm8k.json", description="labelled solutions (any format read_any reads)")
    eval_size: int = Field(100, ge=2, description="held-out evaluation solutions (whole problems)")
    dev_size: int = Field(16, ge=0, description="dev solutions for the judges' model selection (whole problems)")
    budgets: list[int] = Field(default_factory=lambda: [64], min_length=1, description="labelled solutions per judge")
    seed: int = Field(0, ge=0, description="split, budget draw, teacher sampling, training order")
    style: str = Field("plain", description="teacher prompt template and parser (chain_styles.STYLES)")
    teacher_max_new_tokens: int = Field(256, ge=1, description="tokens per teacher chain")
    teacher_temperature: float = Field(0.0, ge=0, description="teacher sampling temperature (0: greedy)")
    chunk_size: int = Field(8, ge=1, description="teacher chains per call and per commit")
    formats: list[Literal["generative", "direct", "discriminative"]] = Field(
        default_factory=lambda: ["generative", "direct", "discriminative"], min_length=1,
        description="judge formats trained from the base")
    lr: float = Field(1e-4, gt=0, description="judges' learning rate")
    max_steps: int = Field(60, ge=1, description="judges' optimizer steps at most")
    batch_size: int = Field(4, ge=1, description="judges' examples per step")
    eval_every: int = Field(20, ge=1, description="steps between dev evaluations")
    lora: bool = Field(False, description="LoRA adapters (peft) instead of full fine-tuning")
    judge_max_new_tokens: int = Field(120, ge=1, description="critique tokens a generative judge may write per step")
    critic: bool = Field(True, description="run the ProcessBench critic protocol with the base")
    critic_max_new_tokens: int = Field(256, ge=1, description="critic tokens per solution")
    resamples: int = Field(1000, ge=0, description="bootstrap resamples of every CI")


def split(records: list[Record], cfg: ThinkPRMConfig) -> dict[str, list[Record]]:
    """eval / dev / pool by whole problems (see the module docstring)."""
    by_problem: dict[str, list[Record]] = {}
    for r in records:
        by_problem.setdefault(" ".join(r.problem.split()), []).append(r)
    problems = sorted(by_problem)
    seeds.rng("thinkprm.split", cfg.seed).shuffle(problems)
    out: dict[str, list[Record]] = {"eval": [], "dev": [], "pool": []}
    for p in problems:
        part = ("eval" if len(out["eval"]) < cfg.eval_size else
                "dev" if len(out["dev"]) < cfg.dev_size else "pool")
        out[part].extend(by_problem[p])
    if len(out["pool"]) < max(cfg.budgets):
        raise InputError(f"the pool has {len(out['pool'])} solutions, fewer than the largest "
                         f"budget {max(cfg.budgets)}", field="budgets")
    return out


def _done(folder: Path, name: str) -> bool:
    return (folder / name).is_file()


def _on_gpu(model):
    """The model on the GPU when there is one (generation follows the model's device)."""
    import torch

    return model.to("cuda") if torch.cuda.is_available() else model


def _load_lm(path: str, *, gpu: bool = True):
    from prmlab.judges.critic import load_causal_lm

    lm, tok = load_causal_lm(Path(path))
    return (_on_gpu(lm) if gpu else lm), tok


@contextmanager
def _timed(out: Path, stage: str):
    """Record the wall seconds of `stage` in OUT/timings.json once it ends without an error."""
    start = time.perf_counter()
    yield
    f = out / TIMINGS
    times = read_json(f, note=False) if f.is_file() else {}
    write_json(f, {**times, stage: round(time.perf_counter() - start, 3)})


def run(cfg: ThinkPRMConfig, out: Path, *, log: Log = print,
        progress: Callable[[str], Callable] | None = None) -> dict[str, Any]:
    """Run (or resume) the whole recipe into `out` (prepared by the caller); returns results.
    `progress(label)` gives a callback `(done, total, ...)` per long stage."""
    from prmlab.evaluation.run import evaluate_scores
    from prmlab.judges.load import load_judge
    from prmlab.models.chat import ChatCompleter, end_ids
    from prmlab.models.generator import KVCacheGenerator
    from prmlab.supervision.budget import draw_budget
    from prmlab.supervision.chain_synth import SynthConfig, read_chains, synthesize
    from prmlab.training.hf_judges import HFJudgeConfig, import_causal_lm, train_hf_judge
    from prmlab.training.loop import FitConfig

    bar = progress or (lambda label: None)
    cfg_file = out / "config.json"
    if cfg_file.exists():
        old = read_json(cfg_file, note=False)
        if old.get("config") != cfg.model_dump():
            raise InputError("holds a run of another config; use a new --out", path=str(cfg_file))
    write_json(cfg_file, {"config": cfg.model_dump(), "argv": sys.argv[1:], "provenance": provenance()})
    records = read_any(cfg.data)
    parts = split(records, cfg)
    write_json(out / "split.json", {k: [r.id for r in v] for k, v in parts.items()})
    log(f"split: eval {len(parts['eval'])}, dev {len(parts['dev'])}, pool {len(parts['pool'])}")

    base = out / "base"
    if not _done(base, "prmlab.json"):
        log(f"base: importing {cfg.base}")
        with _timed(out, "base import"):
            lm, tok = _load_lm(cfg.base, gpu=False)
            import_causal_lm(lm, tok, base, cfg.base)
    teacher_lm = teacher_tok = None
    results: dict[str, Any] = {"config": cfg.model_dump(), "budgets": {}}
    for n in cfg.budgets:
        chosen = draw_budget(parts["pool"], n, cfg.seed)
        cdir = out / "chains" / f"N{n}"
        if not _done(cdir, "summary.json"):
            log(f"N={n}: teacher chains")
            with _timed(out, f"chains N={n}"):  # the teacher loads once, in the first budget's stage
                if teacher_lm is None:
                    teacher_lm, teacher_tok = _load_lm(str(base) if cfg.teacher is None else cfg.teacher)
                stops = end_ids(teacher_tok, teacher_lm)
                pad = teacher_tok.pad_token_id if teacher_tok.pad_token_id is not None else stops[0]
                complete = ChatCompleter(KVCacheGenerator(teacher_lm, batch_size=cfg.chunk_size, pad_id=pad),
                                         teacher_tok, max_new_tokens=cfg.teacher_max_new_tokens,
                                         temperature=cfg.teacher_temperature, seed=cfg.seed, stop_ids=stops)
                scfg = SynthConfig(style=cfg.style, max_new_tokens=cfg.teacher_max_new_tokens,
                                   temperature=cfg.teacher_temperature, seed=cfg.seed,
                                   chunk_size=cfg.chunk_size,
                                   teacher=cfg.teacher or f"{cfg.base} (the base)", data=cfg.data)
                synthesize(chosen, complete, cdir, scfg, progress=bar(f"chains N={n}"))
        summary = read_json(cdir / "summary.json", note=False)
        log(f"N={n}: kept {summary['kept']}/{summary['chains']} chains; rejected {summary['rejected']}")
        rows = read_chains(cdir / "chains.jsonl")
        entry: dict[str, Any] = {"chains": summary, "judges": {}}
        for fmt in cfg.formats:
            jdir, edir = out / "judges" / f"N{n}" / fmt, out / "eval" / f"N{n}" / fmt
            if fmt == "generative" and not summary["kept"]:
                entry["judges"][fmt] = {"skipped": "no kept chains to train on"}
                log(f"N={n} {fmt}: skipped (no kept chains)")
                continue
            if not _done(jdir, "prmlab.json"):
                hcfg = HFJudgeConfig(format=fmt, lrs=[cfg.lr], seed=cfg.seed, lora=cfg.lora,
                                     max_new_tokens=cfg.judge_max_new_tokens, dev_max=cfg.dev_size,
                                     fit=FitConfig(batch_size=cfg.batch_size, max_steps=cfg.max_steps,
                                                   eval_every=cfg.eval_every,
                                                   warmup_steps=min(5, cfg.max_steps)))
                try:
                    with _timed(out, f"train {fmt} N={n}"):
                        train_hf_judge(hcfg, base, rows, parts["dev"], jdir, log=log,
                                       progress=bar(f"train {fmt} N={n}"))
                except InputError as e:
                    if "no training examples" not in str(e):
                        raise
                    entry["judges"][fmt] = {"skipped": str(e)}
                    log(f"N={n} {fmt}: skipped ({e})")
                    continue
            if not _done(edir, "metrics.json"):
                log(f"N={n} {fmt}: evaluating on {len(parts['eval'])} held-out solutions")
                with _timed(out, f"eval {fmt} N={n}"):
                    judge = load_judge(str(jdir))
                    _on_gpu(judge.model)
                    if hasattr(judge, "max_new_tokens"):
                        judge.max_new_tokens = cfg.judge_max_new_tokens
                    scores = _score_in_chunks(judge, parts["eval"], cfg.chunk_size,
                                              bar(f"eval {fmt} N={n}"))
                    evaluate_scores(parts["eval"], scores, edir,
                                    {"judge": fmt, "bootstrap_resamples": cfg.resamples,
                                     "bootstrap_seed": cfg.seed, "baseline_seed": cfg.seed,
                                     "data_path": cfg.data})
            entry["judges"][fmt] = _headline(read_json(edir / "metrics.json", note=False))
        results["budgets"][str(n)] = entry
    if cfg.critic:
        cdir = out / "critic"
        if not _done(cdir, "metrics.json"):
            from prmlab.evaluation.critic import critic_metrics
            from prmlab.judges.critic import CriticJudge
            from prmlab.atomic import write_jsonl

            log(f"critic: {len(parts['eval'])} held-out solutions")
            with _timed(out, "critic"):
                lm, tok = _load_lm(str(base))
                judge = CriticJudge(lm, tok, max_new_tokens=cfg.critic_max_new_tokens,
                                    batch_size=cfg.chunk_size, seed=cfg.seed)
                critic_bar = bar("critic")
                preds = judge.predict(parts["eval"], on_batch=None if critic_bar is None else
                                      lambda done, total, _tokens, _s: critic_bar(done, total))
                metrics, rows = critic_metrics(parts["eval"], preds, dict(judge.stats),
                                               {"judge": "critic", "bootstrap_resamples": cfg.resamples,
                                                "bootstrap_seed": cfg.seed, "baseline_seed": cfg.seed,
                                                "data_path": cfg.data})
                write_jsonl(cdir / "samples.jsonl", rows)
                write_json(cdir / "metrics.json", metrics)
        m = read_json(cdir / "metrics.json", note=False)
        results["critic"] = {**_headline(m), "parse_failures": m["critic"]["parse_failures"]}
    results["seconds"] = read_json(out / TIMINGS, note=False) if (out / TIMINGS).is_file() else {}
    write_json(out / "results.json", results)
    return results


def _score_in_chunks(judge: Any, records: list[Record], chunk: int,
                     progress: Optional[Callable[[int, int], None]]) -> list[Any]:
    """`judge.score` over `records`, `chunk` at a time so a long evaluation shows progress;
    a judge's scores of one record do not depend on the others in its call."""
    scores: list[Any] = []
    for start in range(0, len(records), chunk):  # chunk_size is validated >= 1
        scores.extend(judge.score(records[start:start + chunk]))
        if progress:
            progress(len(scores), len(records))
    return scores


def _headline(m: dict[str, Any]) -> dict[str, Any]:
    """F1, acc_err, acc_cor (value, CI) and the baselines' F1 of one metrics.json."""
    def vc(x: dict[str, Any]) -> dict[str, Any]:
        return {"value": x.get("value"), "ci": x.get("ci"), "reason": x.get("reason")}

    return {"f1": vc(m["f1"]), "acc_err": vc(m["acc_err"]), "acc_cor": vc(m["acc_cor"]),
            "n": m["n"], "baselines_f1": {k: vc(b["f1"]) for k, b in m["baselines"].items()}}


def report(results: dict[str, Any]) -> str:
    """A markdown table of results.json: F1 [95% CI], acc_err, acc_cor per judge and budget, and
    the wall time of each stage."""
    def f(x: dict[str, Any]) -> str:
        if x.get("value") is None:
            return f"— ({x.get('reason') or 'undefined'})"
        ci = x.get("ci")
        return f"{x['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")

    lines = ["| budget | judge | F1 (higher is better) | acc_err | acc_cor |", "| --- | --- | --- | --- | --- |"]
    base_line = None
    for n, e in results["budgets"].items():
        for fmt, j in e["judges"].items():
            if "skipped" in j:
                lines.append(f"| {n} | {fmt} | skipped: {j['skipped']} | | |")
                continue
            lines.append(f"| {n} | {fmt} | {f(j['f1'])} | {f(j['acc_err'])} | {f(j['acc_cor'])} |")
            base_line = base_line or j["baselines_f1"]
        ch = e["chains"]
        lines.append(f"| {n} | (chains kept) | {ch['kept']}/{ch['chains']} | rejected: "
                     + ", ".join(f"{k} {v}" for k, v in ch["rejected"].items()) + " | |")
    if "critic" in results:
        c = results["critic"]
        lines.append(f"| — | critic (base, ProcessBench protocol; {c['parse_failures']} parse failures) "
                     f"| {f(c['f1'])} | {f(c['acc_err'])} | {f(c['acc_cor'])} |")
        base_line = base_line or c["baselines_f1"]
    for name, b in (base_line or {}).items():
        lines.append(f"| — | baseline {name} | {f(b)} | | |")
    secs = results.get("seconds") or {}
    if secs:
        lines += ["", f"Wall time per stage (s; {sum(secs.values()):.0f} in all): "
                  + ", ".join(f"{k} {v:.0f}" for k, v in secs.items())]
    return "\n".join(lines) + "\n"


__all__ = ["ThinkPRMConfig", "report", "run", "split"]
