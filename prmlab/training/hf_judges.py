"""Judges fine-tuned from any Hugging Face causal LM on teacher chains (ThinkPRM's second step).

Three formats from the same checkpoint and the same labelled solutions, for the comparison:

* `generative`: trained on the kept teacher chains (`prmlab synth chains`). Per checked step
  (as `prmlab.judges.formats.verdict_examples` builds them): prompt = problem + steps so far +
  the check marker; target = " <critique> The step is" + the verdict token (" correct" or
  " incorrect" with the plain-text markers) + end of sequence; the prompt is masked (-100).
  The judge scores a step by P(correct) / (P(correct) + P(incorrect)) at the verdict position,
  after its own critique (`prmlab.judges.generative.GenerativeJudge`, what `prmlab eval` loads).
* `direct`: the gold verdict of each step through the first error, right after the marker.
* `discriminative`: a token-classification head on every step's end token.

The generative judge stops its critique at the first verdict token it writes, so a chain whose
critique already contains one (say " correct" inside "is correct because") would teach it to
stop there: such chains are left out and counted (`dropped.verdict_token_in_critique`), and so
are critiques longer than the judge may write when scoring (`dropped.critique_too_long`).

Full fine-tuning by default; `lora=True` trains LoRA adapters through `peft` (the optional
extra `prmlab[peft]`) and merges them before saving, so the checkpoint is a plain model folder.
Training goes through `prmlab.training.loop.fit`, which prepares the model and optimizer with
`accelerate` (`accelerate launch -m prmlab.cli.main synth judge ...` runs it unchanged). The
learning rate and stopping step are chosen on a labelled dev split by the judge's own ProcessBench
F1, as `prmlab.training.judges.train_judge` does; the checkpoint (safetensors, config, text
format and `prmlab.json` with kind "judge" and the format) loads with `prmlab eval --judge`.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field

from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.judges.formats import ExampleOptions, step_label_examples, verdict_examples
from prmlab.models.checkpoint import load_codec, load_model, save_checkpoint
from prmlab.models.text import Codec, TextFormat
from prmlab.supervision.budget import step_labels_through_first_error
from prmlab.supervision.chain_synth import ChainRow
from prmlab.supervision.chains import Chain
from prmlab.training.judges import DEFAULT_THRESHOLD, PositiveLr, dev_reads
from prmlab.training.loop import FitConfig, causal_lm_loss, fit, token_cls_loss, weighted_lm_loss

HFFormat = Literal["generative", "direct", "discriminative"]
VERDICT_LEAD = " The step is"  # between a critique and its verdict token
# Markers of a real tokenizer's judge (what TextFormat.load gives a folder without prmlab_text.json).
PLAIN_TEXT = TextFormat(lsd_digits=False, space_join=False, sep="\n\n", step_end="\n\n",
                        check="\nVerification:", ok=" correct", bad=" incorrect")


class HFJudgeConfig(BaseModel):
    """One judge fine-tuned from a Hugging Face causal LM."""

    model_config = ConfigDict(extra="forbid")
    format: HFFormat = Field("generative", description="generative (kept chains), direct (verdicts) or discriminative (head)")
    lrs: list[PositiveLr] = Field(default_factory=lambda: [1e-4], min_length=1,
                             description="learning rates tried; the best dev F1 is kept")
    seed: int = Field(0, ge=0, description="model init of a new head and the order of the examples")
    lora: bool = Field(False, description="train LoRA adapters (peft) instead of every weight; merged before saving")
    lora_r: int = Field(16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (scale = alpha / r)")
    verdict_weight: float = Field(1.0, ge=0, allow_inf_nan=False,
                                  description="generative only: loss weight of the verdict token (others 1)")
    max_length: int = Field(1024, ge=1, description="longest example in tokens; a longer one is an error")
    max_new_tokens: int = Field(120, ge=1, description="generative only: tokens the judge may write "
                                "before its verdict when scoring (prmlab eval's default is 120)")
    dev_max: int = Field(32, ge=0, description="dev solutions scored per evaluation (0: no selection, last step kept)")
    fit: FitConfig = Field(default_factory=lambda: FitConfig(
        batch_size=4, max_steps=60, max_epochs=3.0, eval_every=20, warmup_steps=5),
        description="the training loop's settings")


def critique_text(critique: str) -> str:
    """The target text of one check, before its verdict token.

    >>> critique_text("2 + 3 = 5.")
    ' 2 + 3 = 5. The step is'
    """
    return f" {critique}{VERDICT_LEAD}" if critique else VERDICT_LEAD


def generative_chains(codec: Codec, rows: Sequence[ChainRow], max_new_tokens: int
                      ) -> tuple[list[Chain], dict[str, int]]:
    """Kept chains as training chains, less those the judge could not reproduce (see the
    module docstring); returns the chains and the counts left out."""
    dropped = {"verdict_token_in_critique": 0, "critique_too_long": 0}
    out = []
    verdict_ids = {codec.ok_id, codec.bad_id}
    for row in rows:
        if not row.kept:
            continue
        crit, ver = row.kept_steps()
        texts = tuple(critique_text(c) for c in crit)
        ids = [codec.encode(t) for t in texts]
        if any(verdict_ids & set(i) for i in ids):
            dropped["verdict_token_in_critique"] += 1
            continue
        if any(len(i) + 1 > max_new_tokens for i in ids):
            dropped["critique_too_long"] += 1
            continue
        out.append(Chain(row.record, texts, ver))
    return out, dropped


def gold_chains(records: Sequence[Record]) -> list[Chain]:
    """The gold verdict of each step through the first error, no critique (direct format)."""
    out = []
    for r in records:
        n = step_labels_through_first_error(r)
        out.append(Chain(r, ("",) * n, tuple(bool(x) for x in r.labels[:n])))
    return out


def build_examples(codec: Codec, cfg: HFJudgeConfig, rows: Sequence[ChainRow]
                   ) -> tuple[list[dict], dict[str, Any]]:
    """Training examples of `cfg.format` from chain rows (their records are the labelled
    solutions; the generative format reads their kept chains)."""
    records = [r.record for r in rows if r.record.first_error is not None]
    if cfg.format == "generative":
        chains, dropped = generative_chains(codec, rows, cfg.max_new_tokens)
        info = {"chains": len(rows), "kept_chains": sum(r.kept for r in rows),
                "dropped": dropped, "trained_chains": len(chains)}
        return verdict_examples(codec, chains, True, cfg.max_length), info
    if cfg.format == "direct":
        return verdict_examples(codec, gold_chains(records), False, cfg.max_length), {}
    return step_label_examples(codec, records, ExampleOptions(max_length=cfg.max_length))[0], {}


def _loss(cfg: HFJudgeConfig, codec: Codec) -> Callable:
    if cfg.format == "discriminative":
        return token_cls_loss
    if cfg.format == "generative" and cfg.verdict_weight != 1.0:
        return weighted_lm_loss({codec.ok_id: cfg.verdict_weight, codec.bad_id: cfg.verdict_weight})
    return causal_lm_loss


def _with_lora(model, cfg: HFJudgeConfig):
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise InputError("--lora needs peft (pip install 'prmlab[peft]')") from None
    task = "TOKEN_CLS" if cfg.format == "discriminative" else "CAUSAL_LM"
    lcfg = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, target_modules="all-linear",
                      task_type=task, lora_dropout=0.0)
    return get_peft_model(model, lcfg)


def _plain(model):
    """The model to score or save: a LoRA model with its adapters merged in."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def train_hf_judge(cfg: HFJudgeConfig, init: str | Path, rows: Sequence[ChainRow],
                   dev: Sequence[Record], out_dir: str | Path, *,
                   log: Callable[[str], None] = print, progress: Callable | None = None) -> dict[str, Any]:
    """Fine-tune one judge from the model folder `init` (safetensors); save it at `out_dir`."""
    t0 = time.time()
    codec = load_codec(init)
    examples, extra = build_examples(codec, cfg, rows)
    if not examples:
        raise InputError(f"no training examples for the {cfg.format} judge (no kept chains?)")
    fmt_name = cfg.format
    head = "token" if fmt_name == "discriminative" else "causal"
    dev = [r for r in dev if r.first_error is not None][: cfg.dev_max]
    info: dict[str, Any] = {"kind": "judge", "format": fmt_name, "config": cfg.model_dump(),
                            "init": str(init), "labelled_solutions": len(rows),
                            "train_examples": len(examples), **extra}
    best = None
    trials = []
    for lr in cfg.lrs:
        torch.manual_seed(cfg.seed)
        model = load_model(init, head, **({"num_labels": 2} if head == "token" else {}))
        if cfg.lora:
            model = _with_lora(model, cfg)
        reads: list[dict] = []

        def evaluate(m):
            if cfg.lora:
                m.merge_adapter()
            try:
                reads.append(dev_reads(m.get_base_model() if cfg.lora else m, codec, fmt_name, dev))
            finally:
                if cfg.lora:
                    m.unmerge_adapter()
            return reads[-1][False][0]

        fcfg = cfg.fit.model_copy(update={"lr": lr, "seed": cfg.seed})
        res = fit(model, examples, fcfg, pad_id=codec.pad_id, loss_fn=_loss(cfg, codec),
                  evaluate=evaluate if dev else None, progress=progress)
        trials.append({"lr": lr, "dev_f1": res.best_score, "best_step": res.best_step,
                       "steps": res.steps, "stopped_by": res.stopped_by,
                       "seconds": round(res.seconds, 1), "precision": res.precision,
                       "curve": {r["step"]: r["dev"] for r in res.history if "dev" in r},
                       "loss": [round(r["loss"], 4) for r in res.history]})
        log(f"  {fmt_name} lr={lr:g}: dev F1 {res.best_score} at step {res.best_step}/{res.steps} "
            f"({res.seconds:.0f}s)")
        if best is None or (res.best_score or 0) > (best[1].best_score or 0):
            best = (lr, res, copy.deepcopy(model))
    lr, res, model = best
    info.update(selection={"metric": "dev F1 at threshold 0.5 (the judge's own scores)",
                           "dev_solutions": len(dev), "trials": trials, "chosen_lr": lr,
                           "chosen_step": res.best_step},
                threshold={"value": DEFAULT_THRESHOLD, "tuned": False, "dev_f1": res.best_score},
                seconds=time.time() - t0)
    save_checkpoint(out_dir, _plain(model), codec, info)
    return info


def import_causal_lm(model, tokenizer, out_dir: str | Path, source: str) -> Path:
    """Save a loaded causal LM (e.g. dequantized from GGUF) as a safetensors model folder that
    the judges above start from; its prmlab.json says where it came from (kind "import")."""
    from prmlab.models.text import Codec

    if getattr(model, "hf_quantizer", None) is not None:
        # A GGUF file loads dequantized (float weights) but stays marked as quantized, which
        # save_pretrained refuses: the weights go into a plain model of the same config.
        from transformers import AutoModelForCausalLM

        cfg = copy.deepcopy(model.config)
        if hasattr(cfg, "quantization_config"):
            delattr(cfg, "quantization_config")
        plain = AutoModelForCausalLM.from_config(cfg, dtype=model.dtype)
        plain.load_state_dict(model.state_dict())
        model = plain
    return save_checkpoint(out_dir, model, Codec(tokenizer, PLAIN_TEXT),
                           {"kind": "import", "source": source})


__all__ = ["HFJudgeConfig", "VERDICT_LEAD", "build_examples", "critique_text",
           "generative_chains", "gold_chains", "import_causal_lm", "train_hf_judge"]
