r"""`prmlab critic`: the ProcessBench critic protocol with any Hugging Face causal LM.

The model reads each solution as tagged paragraphs and writes the index of the first wrong one
(or -1) in `\boxed{}` (see `prmlab.judges.critic` for the prompt, the parser, the K-sample vote
and the parse-failure policy: a failure is a wrong prediction, counted and reported).
Writes OUT/metrics.json — F1, acc_err, acc_cor with bootstrap CIs and the trivial baselines via
`evaluate_scores`, plus a "critic" section (parse failures, the predicted-index histogram,
tokens, tokens/s, wall time) — and OUT/samples.jsonl (id, prediction, sample predictions, raw
outputs, step_scores). samples.jsonl is a valid `prmlab eval --scores` file. Step AUROC and
ECE are reported as null with a reason (`prmlab.evaluation.critic`, where the metrics are
computed); their computed values stay under "critic" for the record.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer

from prmlab.cli import backend as backend_opts
from prmlab.errors import InputError


def register(app: typer.Typer) -> None:
    """Add the `critic` command to the top-level app."""
    app.command("critic", help="ProcessBench critic protocol: ask a causal LM (HF folder or "
                               "GGUF) for the first wrong paragraph; F1/acc_err/acc_cor with "
                               "CIs.")(critic_command)


def critic_command(
    model: Path = typer.Option(..., "--model", help="A Hugging Face causal LM folder "
                               "(safetensors), or a .gguf file / a folder with --gguf-file."),
    gguf_file: Optional[str] = typer.Option(None, "--gguf-file", help="GGUF file name inside "
                                            "--model (needs the gguf package)."),
    data: Path = typer.Option(..., "--data", help="Labelled solutions (ProcessBench JSON or any "
                                                  "format read_any reads)."),
    out: Path = typer.Option(..., "--out", help="Output folder: metrics.json, samples.jsonl."),
    k: int = typer.Option(1, "--k", help="Critiques sampled per solution; majority vote "
                          "(ties: smallest index)."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Sampling "
                                                "temperature (default: greedy for --k 1, 1.0 "
                                                "above, as ProcessBench)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N solutions."),
    max_new_tokens: int = typer.Option(512, "--max-new-tokens", help="Tokens per critique."),
    batch_size: int = typer.Option(8, "--batch-size", help="Critiques decoded together."),
    seed: int = typer.Option(0, "--seed", help="Sampling, bootstrap and random-baseline seed."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Data format (default: sniffed)."),
    resamples: int = typer.Option(1000, "--resamples", help="Bootstrap resamples."),
    dtype: str = typer.Option("auto", "--dtype", help="auto|float32|bfloat16|float16 (auto: as "
                              "loaded; a GGUF dequantizes to float32)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads "
                                          "(default: torch's choice)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code",
                                           help="Run the model folder's own code (off unless "
                                                "given)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty --out prmlab "
                                   "did not create, replacing only files prmlab wrote there."),
    backend: str = backend_opts.BACKEND,
    base_url: Optional[str] = backend_opts.BASE_URL,
    served_model: Optional[str] = backend_opts.SERVED_MODEL,
    concurrency: int = backend_opts.CONCURRENCY,
) -> None:
    from prmlab.atomic import write_json, write_jsonl
    from prmlab.data.formats import read_any
    from prmlab.evaluation.critic import critic_metrics
    from prmlab.judges.critic import CriticJudge, load_causal_lm
    from prmlab.models.backends import load_tokenizer

    if k < 1:
        raise InputError("--k must be at least 1")
    if temperature is not None and not (temperature >= 0 and temperature != float("inf")):
        raise InputError(f"--temperature must be a finite number >= 0, got {temperature}")
    if max_new_tokens < 1:
        raise InputError("--max-new-tokens must be at least 1")
    if limit is not None and limit < 1:
        raise InputError("--limit must be at least 1")
    if batch_size < 1:
        raise InputError("--batch-size must be at least 1")
    if resamples < 0:
        raise InputError("--resamples must be >= 0")
    if threads is not None:
        if threads < 1:
            raise InputError("--threads must be at least 1")
        import torch

        torch.set_num_threads(threads)
    from prmlab.outdir import prepare_out

    prepare_out(out, inputs=[data], input_folders=[model], overwrite=overwrite,
                will_write=("metrics.json", "samples.jsonl"))
    records = read_any(data, fmt)
    n_all = len(records)
    if limit is not None:
        records = records[:limit]

    t_start = time.perf_counter()
    if backend == "local":
        lm, tok = load_causal_lm(model, gguf_file=gguf_file, trust_remote_code=trust_remote_code,
                                  dtype=dtype)
        gen = None
    else:  # the server holds the weights; --model gives the tokenizer (the prompt's template)
        lm, tok = None, load_tokenizer(model, trust_remote_code=trust_remote_code)
        gen = backend_opts.generator_from_options(backend, base_url, served_model, concurrency,
                                                  tokenizer=tok)
    load_s = time.perf_counter() - t_start
    judge = CriticJudge(lm, tok, k=k, temperature=temperature, max_new_tokens=max_new_tokens,
                        batch_size=batch_size, seed=seed, generator=gen)
    with _progress() as on_batch:
        preds = judge.predict(records, on_batch=on_batch)
    stats = dict(judge.stats)
    too_long = stats["prompts_over_context"]
    if too_long:
        print(f"prmlab: warning: {too_long} prompt(s) plus --max-new-tokens exceed the model's "
              f"context of {stats['context_length']} tokens (not truncated): "
              f"{', '.join(stats['prompts_over_context_ids'][:5])}", file=sys.stderr)

    config: dict[str, Any] = {
        "command": "critic", "argv": list(sys.argv[1:]), "judge": "critic",
        "model": str(model), "gguf_file": gguf_file, "trust_remote_code": trust_remote_code,
        "data_path": str(data), "data_format": fmt, "limit": limit,
        "solutions_in_file": n_all, "k": judge.k, "temperature": judge.temperature,
        "max_new_tokens": max_new_tokens, "batch_size": batch_size, "seed": seed,
        "threads": threads, "dtype": dtype, "model_dtype": None if lm is None else str(lm.dtype).replace("torch.", ""),
        "backend": backend, "base_url": base_url,
        "served_model": None if gen is None else gen.config.model,
        "bootstrap_resamples": resamples, "bootstrap_seed": seed,
        "baseline_seed": seed, "prompt": "QwenLM/ProcessBench critique_template.txt",
        "parse_failure_policy": "wrong prediction (None never equals the label)",
        "vote": "majority over parsed samples; ties -> smallest index (-1 included)",
    }
    stats["wall_seconds_total"] = time.perf_counter() - t_start
    stats["load_seconds"] = load_s
    metrics, rows = critic_metrics(records, preds, stats, config)
    write_jsonl(out / "samples.jsonl", rows)
    write_json(out / "metrics.json", metrics)
    _print(metrics, out)


class _progress:
    """A rich bar on a terminal; one plain line per batch otherwise (logs of background runs)."""

    def __enter__(self):
        from rich.console import Console

        self.console = Console(stderr=True)
        self.bar = None
        if self.console.is_terminal:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.bar = Progress(TextColumn("critic"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("batches {task.fields[rate]} tok/s"),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=self.console)
            self.task = self.bar.add_task("critic", total=None, rate="-")
            self.bar.start()
        return self.update

    def update(self, done: int, total: int, n_gen: int, seconds: float) -> None:
        rate = n_gen / seconds if seconds > 0 else 0.0
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total, rate=f"{rate:,.1f}")
        else:
            eta = seconds / done * (total - done)
            print(f"critic: batch {done}/{total}, {n_gen} tokens, {rate:.1f} tok/s, "
                  f"{seconds:.0f}s elapsed, eta {eta:.0f}s", file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def _print(m: dict[str, Any], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    def fmt(x: dict[str, Any]) -> str:
        if x.get("value") is None:
            return "— (" + str(x.get("reason", "undefined")) + ")"
        ci = x.get("ci")
        return f"{x['value']:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")

    c = m["critic"]
    n = m["n"]
    t = Table(title=f"ProcessBench critic, K={c['k']}, T={c['temperature']:g}",
              caption=f"{n['evaluated']} solutions ({n['with_error']} with an error, "
                      f"{n['correct']} correct); parse failures {c['parse_failures']} "
                      f"({100 * (c['parse_failure_rate'] or 0):.1f}%)")
    t.add_column("judge")
    for key in ("f1", "acc_err", "acc_cor"):
        t.add_column(key, justify="right")
    t.add_row("critic", *(fmt(m[key]) for key in ("f1", "acc_err", "acc_cor")))
    for name, b in m["baselines"].items():
        t.add_row(name, *(fmt(b[key]) for key in ("f1", "acc_err", "acc_cor")))
    console = Console(width=max(100, Console().width))
    console.print(t)
    console.print(f"predicted index: {c['prediction_histogram']}")
    rate = c["generated_tokens_per_second"]
    console.print(f"{c['generated_tokens']} tokens generated in {c['generation_seconds']:.1f}s "
                  f"({rate or 0:.1f} tok/s); wall {c['wall_seconds_total']:.1f}s")
    console.print(f"wrote {out / 'metrics.json'} and {out / 'samples.jsonl'}")
