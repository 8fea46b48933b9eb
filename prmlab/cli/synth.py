"""`prmlab synth`: ThinkPRM-style teacher chains and the judges fine-tuned on them.

* `synth chains --teacher MODEL --data FILE --out OUT`: a teacher LLM writes a verification
  chain for each labelled solution; chains are filtered against the gold labels
  (`prmlab.supervision.chain_synth`); resumable: run the same command again after a kill;
* `synth import --model MODEL --out DIR`: a causal LM (a folder, or a GGUF file dequantized by
  transformers) saved as a safetensors folder that `synth judge --init` reads;
* `synth judge --init DIR --chains OUT/chains.jsonl --judge-format F --out CKPT`: fine-tune a
  generative (on kept chains), direct or discriminative judge (`prmlab.training.hf_judges`);
  `prmlab eval --judge CKPT` scores with it.

The teacher is any `Generator` plus its tokenizer (`build_teacher`): today the in-process
KV-cache engine over a local Hugging Face causal LM; an OpenAI-compatible server client plugs
in at the same place.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from prmlab.cli import backend as backend_opts
from prmlab.errors import InputError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Teacher verification chains (ThinkPRM) and judges fine-tuned on them.")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="synth", help="Teacher verification chains (ThinkPRM) and the judges "
                                           "fine-tuned on them.")


class Bar:
    """A rich bar on a terminal; a plain line every 10% otherwise. Call it with (done, total)."""

    def __init__(self, label: str, plain: bool = False):
        self.label, self.plain = label, plain  # plain: lines only (several bars in one run)

    def __enter__(self):
        from rich.console import Console

        self.console = Console(stderr=True)
        self.bar, self.last = None, -1
        if self.console.is_terminal and not self.plain:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.bar = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=self.console)
            self.task = self.bar.add_task(self.label, total=None)
            self.bar.start()
        return self

    def __call__(self, done: int, total: int, *_rest) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)
        elif total and (10 * done // total) != self.last:
            self.last = 10 * done // total
            print(f"{self.label}: {done}/{total}", file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


def build_teacher(model: Path, gguf_file: Optional[str], *, batch_size: int, dtype: str,
                  trust_remote_code: bool, backend: str = "local", base_url: Optional[str] = None,
                  served_model: Optional[str] = None, concurrency: int = 8):
    """(generator, tokenizer, stop ids, description) of a teacher: a local causal LM, or, with
    `backend="openai"`, a server that holds the weights (`model` then gives the tokenizer, which
    writes the prompts). The one place a teacher is built from options."""
    from prmlab.models.chat import end_ids

    if backend != "local":
        from prmlab.models.backends import load_tokenizer

        tok = load_tokenizer(model, trust_remote_code=trust_remote_code)
        gen = backend_opts.generator_from_options(backend, base_url, served_model, concurrency,
                                                  tokenizer=tok)
        return gen, tok, end_ids(tok), f"{base_url} (tokenizer {model})"
    from prmlab.judges.critic import load_causal_lm
    from prmlab.models.generator import KVCacheGenerator

    lm, tok = load_causal_lm(model, gguf_file=gguf_file, trust_remote_code=trust_remote_code,
                             dtype=dtype)
    stops = end_ids(tok, lm)
    pad = tok.pad_token_id if tok.pad_token_id is not None else (stops[0] if stops else 0)
    desc = str(model) + (f" ({gguf_file})" if gguf_file else "")
    return KVCacheGenerator(lm, batch_size=batch_size, pad_id=pad), tok, stops, desc


@app.command("chains", help="Verification chains from a teacher LLM for each labelled solution, "
                            "filtered against gold labels; resumable.")
def chains_command(
    teacher: Path = typer.Option(..., "--teacher", help="Teacher: a Hugging Face causal LM folder "
                                 "(safetensors) or a .gguf file; with --backend openai, the "
                                 "served model's folder for its tokenizer."),
    gguf_file: Optional[str] = typer.Option(None, "--gguf-file", help="GGUF file inside --teacher."),
    data: Path = typer.Option(..., "--data", help="Labelled solutions (any format read_any reads)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Data format (default: sniffed)."),
    out: Path = typer.Option(..., "--out", help="Output folder: chains.jsonl, summary.json, ..."),
    style: str = typer.Option("plain", "--style", help="Prompt template and parser: plain | thinkprm."),
    max_new_tokens: int = typer.Option(384, "--max-new-tokens", help="Tokens per chain."),
    temperature: float = typer.Option(0.0, "--temperature", help="Teacher temperature (0: greedy)."),
    seed: int = typer.Option(0, "--seed", help="Teacher sampling seed."),
    chunk_size: int = typer.Option(8, "--chunk-size", help="Records per teacher call and per commit."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N labelled solutions."),
    dtype: str = typer.Option("auto", "--dtype", help="auto|float32|bfloat16|float16."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Run the model "
                                           "folder's own code (off unless given)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Write into a non-empty --out prmlab "
                                   "did not create."),
    backend: str = backend_opts.BACKEND,
    base_url: Optional[str] = backend_opts.BASE_URL,
    served_model: Optional[str] = backend_opts.SERVED_MODEL,
    concurrency: int = backend_opts.CONCURRENCY,
) -> None:
    from prmlab.data.formats import read_any
    from prmlab.models.chat import ChatCompleter
    from prmlab.outdir import prepare_out
    from prmlab.supervision.chain_synth import SynthConfig, synthesize

    if limit is not None and limit < 1:
        raise InputError("--limit must be at least 1")
    try:
        cfg = SynthConfig(style=style, max_new_tokens=max_new_tokens, temperature=temperature,
                          seed=seed, chunk_size=chunk_size, teacher=str(teacher) + (
                              f" ({gguf_file})" if gguf_file else ""), data=str(data))
    except ValueError as e:  # pydantic's ValidationError: name the option's field
        raise InputError(_validation_line(e)) from None
    _threads(threads)
    prepare_out(out, inputs=[data], input_folders=[teacher], overwrite=overwrite,
                will_write=("chains.jsonl", "summary.json", "synth.json", "progress.json"))
    records = read_any(data, fmt)  # unlabelled ones get a chain too, rejected as "unlabelled"
    if limit is not None:
        records = records[:limit]
    gen, tok, stops, _ = build_teacher(teacher, gguf_file, batch_size=chunk_size, dtype=dtype,
                                       trust_remote_code=trust_remote_code, backend=backend,
                                       base_url=base_url, served_model=served_model,
                                       concurrency=concurrency)
    complete = ChatCompleter(gen, tok, max_new_tokens=max_new_tokens, temperature=temperature,
                             seed=seed, stop_ids=stops)
    with Bar("chains") as bar:
        summary = synthesize(records, complete, out, cfg, progress=bar)
    rej = summary["rejected"]
    print(f"kept {summary['kept']}/{summary['chains']} chains "
          f"({100 * (summary['kept_fraction'] or 0):.1f}%); rejected: "
          + ", ".join(f"{k} {v}" for k, v in rej.items()))
    print(f"wrote {out / 'chains.jsonl'} and {out / 'summary.json'}")


@app.command("import", help="Save a causal LM (folder or GGUF) as a safetensors folder for "
                            "`synth judge --init`.")
def import_command(
    model: Path = typer.Option(..., "--model", help="A model folder or a .gguf file."),
    gguf_file: Optional[str] = typer.Option(None, "--gguf-file", help="GGUF file inside --model."),
    out: Path = typer.Option(..., "--out", help="The new model folder."),
    dtype: str = typer.Option("auto", "--dtype", help="auto|float32|bfloat16|float16."),
) -> None:
    from prmlab.judges.critic import load_causal_lm
    from prmlab.outdir import prepare_out
    from prmlab.training.hf_judges import import_causal_lm

    prepare_out(out, input_folders=[model])
    lm, tok = load_causal_lm(model, gguf_file=gguf_file, dtype=dtype)
    import_causal_lm(lm, tok, out, str(model) + (f" ({gguf_file})" if gguf_file else ""))
    print(f"wrote {out}")


@app.command("judge", help="Fine-tune a generative (kept chains), direct or discriminative judge "
                           "from a causal LM folder.")
def judge_command(
    init: Path = typer.Option(..., "--init", help="A causal LM folder (safetensors)."),
    chains: Path = typer.Option(..., "--chains", help="chains.jsonl from `synth chains`."),
    judge_format: str = typer.Option("generative", "--judge-format", help="generative | direct | discriminative."),
    dev: Optional[Path] = typer.Option(None, "--dev", help="Labelled dev solutions (model selection)."),
    out: Path = typer.Option(..., "--out", help="The judge checkpoint folder."),
    lr: list[float] = typer.Option([1e-4], "--lr", help="Learning rate(s); best dev F1 kept."),
    lora: bool = typer.Option(False, "--lora", help="LoRA adapters via peft (prmlab[peft])."),
    max_steps: int = typer.Option(60, "--max-steps", help="Optimizer steps at most."),
    batch_size: int = typer.Option(4, "--batch-size", help="Examples per step."),
    eval_every: int = typer.Option(20, "--eval-every", help="Steps between dev evaluations."),
    dev_max: int = typer.Option(32, "--dev-max", help="Dev solutions scored per evaluation."),
    seed: int = typer.Option(0, "--seed", help="Head init and example order."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace files prmlab wrote there."),
) -> None:
    from prmlab.data.formats import read_any
    from prmlab.outdir import prepare_out
    from prmlab.supervision.chain_synth import read_chains
    from prmlab.training.hf_judges import HFJudgeConfig, train_hf_judge
    from prmlab.training.loop import FitConfig

    try:
        cfg = HFJudgeConfig(format=judge_format, lrs=lr, lora=lora, seed=seed, dev_max=dev_max,
                            fit=FitConfig(batch_size=batch_size, max_steps=max_steps,
                                          eval_every=eval_every, warmup_steps=min(5, max_steps)))
    except ValueError as e:
        raise InputError(_validation_line(e)) from None
    prepare_out(out, inputs=[chains, dev], input_folders=[init], overwrite=overwrite)
    rows = read_chains(chains)
    dev_records = read_any(dev) if dev is not None else []
    with Bar(f"train {judge_format}") as bar:
        info = train_hf_judge(cfg, init, rows, dev_records, out, progress=bar)
    print(f"{judge_format}: {info['train_examples']} examples; wrote {out}")


@app.command("thinkprm", help="The whole recipe on real data: split, teacher chains, three judges "
                              "from one base, held-out evaluation with CIs, the critic beside it.")
def thinkprm_command(
    base: str = typer.Option(..., "--base", help="The judges' base: a causal LM folder or .gguf file."),
    out: Path = typer.Option(..., "--out", help="The run folder (resumable: rerun the same command)."),
    teacher: Optional[str] = typer.Option(None, "--teacher", help="Chain teacher (default: the base)."),
    data: str = typer.Option("../shared/data/processbench/gsm8k.json", "--data", help="Labelled solutions."),
    budget: list[int] = typer.Option([64], "--budget", help="Labelled solutions per judge (repeatable)."),
    eval_size: int = typer.Option(100, "--eval-size", help="Held-out evaluation solutions."),
    dev_size: int = typer.Option(16, "--dev-size", help="Dev solutions (model selection)."),
    max_steps: int = typer.Option(60, "--max-steps", help="Judges' optimizer steps at most."),
    batch_size: int = typer.Option(4, "--batch-size", help="Judges' examples per step."),
    eval_every: int = typer.Option(20, "--eval-every", help="Steps between dev evaluations."),
    lr: float = typer.Option(1e-4, "--lr", help="Judges' learning rate."),
    lora: bool = typer.Option(False, "--lora", help="LoRA adapters via peft."),
    style: str = typer.Option("plain", "--style", help="Teacher prompt style."),
    teacher_max_new_tokens: int = typer.Option(256, "--teacher-max-new-tokens", help="Tokens per chain."),
    judge_max_new_tokens: int = typer.Option(120, "--judge-max-new-tokens", help="Critique tokens per step."),
    critic_max_new_tokens: int = typer.Option(256, "--critic-max-new-tokens", help="Critic tokens per solution."),
    no_critic: bool = typer.Option(False, "--no-critic", help="Skip the critic protocol."),
    chunk_size: int = typer.Option(8, "--chunk-size", help="Teacher chains per call."),
    resamples: int = typer.Option(1000, "--resamples", help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Split, budgets, teacher, training."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads."),
) -> None:
    from prmlab.atomic import write_text
    from prmlab.experiments.thinkprm import ThinkPRMConfig, report, run
    from prmlab.outdir import prepare_out

    try:
        cfg = ThinkPRMConfig(base=base, teacher=teacher, data=data, budgets=budget,
                             eval_size=eval_size, dev_size=dev_size, max_steps=max_steps,
                             batch_size=batch_size, eval_every=eval_every, lr=lr, lora=lora,
                             style=style, teacher_max_new_tokens=teacher_max_new_tokens,
                             judge_max_new_tokens=judge_max_new_tokens,
                             critic_max_new_tokens=critic_max_new_tokens, critic=not no_critic,
                             chunk_size=chunk_size, resamples=resamples, seed=seed)
    except ValueError as e:
        raise InputError(_validation_line(e)) from None
    _threads(threads)
    prepare_out(out, inputs=[data], input_folders=[p for p in (base, teacher) if p])
    results = run(cfg, out, log=lambda s: print(s, flush=True),
                  progress=lambda label: Bar(label, plain=True).__enter__())
    table = report(results)
    write_text(out / "report.md", "# ThinkPRM run\n\n" + table)
    print(table)
    print(f"wrote {out / 'results.json'} and {out / 'report.md'}")


def _threads(n: Optional[int]) -> None:
    if n is None:
        return
    if n < 1:
        raise InputError("--threads must be at least 1")
    import torch

    torch.set_num_threads(n)


def _validation_line(e: ValueError) -> str:
    """One line from a pydantic ValidationError (field: message)."""
    errs = getattr(e, "errors", None)
    if callable(errs):
        first = errs()[0]
        return f"{'.'.join(map(str, first.get('loc', ())))}: {first.get('msg')}"
    return str(e).splitlines()[0]
