"""Fitting a judge of any format from the base (or any HF checkpoint) on a label budget.

What each format learns from, its head, its examples and its step-label count are data in
`prmlab.judges.formats.JUDGE_FORMATS`; this module adds the one part that needs the training
layer, the losses (`LOSSES`, keyed by the name a format's spec gives), and the fitting itself.

Training length suits the budget: steps are capped by epochs over the budget, and the
learning rate and stopping step are chosen on a labelled dev split (F1 of the judge's own
scores on it: for generative judges, on checks it generates, since teacher-forced loss says
little). The choice is recorded in `prmlab.json` beside the weights.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Annotated, Any, Callable, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.metrics.decision import DEFAULT_THRESHOLD, f1_at_thresholds, threshold_sweep
from prmlab.judges.formats import (JUDGE_FORMATS, ExampleOptions, JudgeFormatName, judge_format,
                                   verdict_examples)  # noqa: F401  (verdict_examples: re-exported)
from prmlab.models.checkpoint import load_codec, load_model, read_info, save_checkpoint
from prmlab.models.text import Codec
from prmlab.supervision.budget import draw_budget
from prmlab.keys import DEFAULT_OFF, without_default_off
from prmlab.training.base import check_format
from prmlab.training.judge_rl import JudgeRLConfig
from prmlab.training.loop import FitConfig, causal_lm_loss, fit, token_cls_loss, weighted_lm_loss

FORMATS = tuple(JUDGE_FORMATS)  # the formats defined at import; validation reads the registry


def _verdict_weighted_lm(cfg: "JudgeConfig", codec: Codec):
    """The verdict token weighs `verdict_weight`, the other targets `rationale_weight`."""
    if (cfg.verdict_weight, cfg.rationale_weight) == (1.0, 1.0):
        return causal_lm_loss
    return weighted_lm_loss({codec.ok_id: cfg.verdict_weight, codec.bad_id: cfg.verdict_weight},
                            default=cfg.rationale_weight)


# A judge format's `loss` names one of these: (config, codec) -> loss function for `fit`.
LOSSES: dict[str, Callable[["JudgeConfig", Codec], Callable]] = {
    "token-classification": lambda cfg, codec: token_cls_loss,
    "lm": lambda cfg, codec: causal_lm_loss,
    "verdict-weighted-lm": _verdict_weighted_lm,
}

PositiveLr = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class JudgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: JudgeFormatName = Field(
        "generative", description="judge format: a name in prmlab.judges.formats.JUDGE_FORMATS")
    budget: int = Field(256, ge=1, description="labelled solutions drawn from the pool "
                                               "(a smaller budget's draw is a prefix of a larger one's)")
    seed: int = Field(0, description="seed of the budget draw, the teacher's chains and training")
    lrs: list[PositiveLr] = Field(default_factory=lambda: [3e-4, 1e-3], min_length=1,
                                  description="learning rates tried; the one with the best dev F1 is kept")
    teacher_error_rate: float = Field(0.1, ge=0, le=1, description="generative only: the fraction "
                                      "of the teacher's checks that reach a wrong verdict")
    verdict_weight: float = Field(20.0, ge=0, allow_inf_nan=False,
                                  description="generative only: the loss weight of the verdict token")
    rationale_weight: float = Field(1.0, ge=0, allow_inf_nan=False, description="generative only: "
                                    "the loss weight of the other target tokens (0: learn the verdict only)")
    filter_chains: bool = Field(True, description="generative only: keep the teacher chains whose "
                                "verdicts agree with the gold labels")
    max_length: int = Field(512, ge=1, description="longest training example in tokens; a longer "
                            "one is an error, never silently cut")
    dev_max: int = Field(160, ge=1, description="dev solutions scored at each evaluation (model selection)")
    tune_threshold: bool = Field(False, description="select lr and step by dev F1 at the dev-tuned threshold (true) or at 0.5")
    abandon_margin: float | None = Field(None, description="a later lr stops where its dev F1 trails an earlier one's by more (null: never)")
    abandon_after: int = Field(100, ge=0, description="the first step at which a trailing learning "
                               "rate may be abandoned")
    fit: FitConfig = Field(default_factory=lambda: FitConfig(
        batch_size=16, max_steps=300, max_epochs=15, min_steps=30, eval_every=50, patience=3,
        warmup_steps=10), description="the training loop's settings (batch, steps, epochs, "
                                      "evaluation schedule, precision)")
    rl: JudgeRLConfig = Field(default_factory=JudgeRLConfig, json_schema_extra=DEFAULT_OFF,
                              description="RL formats and rft only: GRPO, class balance, dev reads, "
                              "rejection sampling")

    @model_serializer(mode="wrap")
    def _dump(self, handler, info):
        # `rl` left out while at its default (pinned folders resume); an RL judge records its
        # settings in prmlab.json itself
        return without_default_off(self, handler(self), info)

    @field_validator("format")
    @classmethod
    def _format_has_a_loss(cls, v: str) -> str:
        loss = JUDGE_FORMATS[v].loss
        if JUDGE_FORMATS[v].trainer == "grpo":  # its loss is GRPO's (training/grpo.py)
            return v
        if loss not in LOSSES:
            raise ValueError(f"judge format {v!r} names loss {loss!r}, which is not one of "
                             f"prmlab.training.judges.LOSSES ({', '.join(LOSSES)})")
        return v


def _example_options(cfg: JudgeConfig) -> ExampleOptions:
    return ExampleOptions(max_length=cfg.max_length, seed=cfg.seed,
                          teacher_error_rate=cfg.teacher_error_rate, filter_chains=cfg.filter_chains)


def head_examples(codec: Codec, records: Sequence[Record], fmt: str, max_length: int) -> list[dict]:
    """Training examples of a token-head format (its spec's builder at `max_length`)."""
    spec = judge_format(fmt)
    if spec.head != "token":
        raise ValueError(f"{fmt} is not a token-head format (build it with verdict_examples)")
    return spec.examples(codec, records, ExampleOptions(max_length=max_length))[0]


def make_judge(model, codec: Codec, fmt: str, **kw):
    return judge_format(fmt).make(model, codec, **kw)


def dev_reads(model, codec: Codec, fmt: str, dev: Sequence[Record]) -> dict[bool, tuple[float, float] | None]:
    """ProcessBench F1 on the dev split with the threshold it was read at, from one scoring pass:
    [False] at 0.5, [True] at the threshold that maximises it (None when the dev split lacks
    correct or wrong solutions). Point estimates: model selection needs no CI."""
    scores = [s.step_scores for s in make_judge(model, codec, fmt).score(dev)]
    known = [(r, s) for r, s in zip(dev, scores) if r.first_error is not None]
    recs, lists = [r for r, _ in known], [s for _, s in known]
    f1 = float(f1_at_thresholds(recs, lists, [DEFAULT_THRESHOLD])["f1"][0])
    try:
        sweep = threshold_sweep(recs, lists)
        tuned: tuple[float, float] | None = (sweep["dev_f1"], sweep["threshold"])
    except ValueError:
        tuned = None
    return {False: ((0.0 if f1 != f1 else f1), DEFAULT_THRESHOLD), True: tuned}


def dev_f1(model, codec: Codec, fmt: str, dev: Sequence[Record], tune: bool) -> tuple[float, float]:
    """`dev_reads` at 0.5 or (`tune`) at the threshold that maximises F1, which must exist."""
    read = dev_reads(model, codec, fmt, dev)[tune]
    if read is None:
        raise _untunable()
    return read


def _untunable() -> InputError:
    return InputError("judge.tune_threshold: cannot tune a threshold: the dev split needs "
                      "solutions both with and without an error (known first_error)", field="dev")


def _abandon_rule(cfg: JudgeConfig, curves: list[dict[int, float]]) -> Callable[[int, float], bool] | None:
    """Stop a learning rate whose dev F1 trails an earlier one's at the same step by more than
    `abandon_margin` (from step `abandon_after`). Runs share the schedule's plan, so their curves
    compare step for step; the earlier run's remaining steps can still be the best ones."""
    if cfg.abandon_margin is None or not curves:
        return None

    def rule(step: int, score: float) -> bool:
        if step < cfg.abandon_after:
            return False
        best = max((c[step] for c in curves if step in c), default=None)
        return best is not None and score < best - cfg.abandon_margin

    return rule


def train_judge(cfg: JudgeConfig, init: str | Path, pool: Sequence[Record], dev: Sequence[Record],
                out_dir: str | Path, *, log: Callable[[str], None] = print,
                progress: Callable | None = None) -> dict[str, Any]:
    """Train one judge; returns (and saves) what was used and chosen."""
    spec = judge_format(cfg.format)
    if spec.trainer == "grpo":  # no supervised examples: its own loop (training/judge_rl_fit.py)
        from prmlab.training.judge_rl_fit import train_rl_judge

        return train_rl_judge(cfg, init, pool, dev, out_dir, log=log, progress=progress)
    model, codec, info = fit_judge(cfg, init, pool, dev, log=log, progress=progress)
    _save_once(out_dir, model, codec, info)
    return info


def fit_judge(cfg: JudgeConfig, init: str | Path, pool: Sequence[Record], dev: Sequence[Record], *,
              log: Callable[[str], None] = print, progress: Callable | None = None):
    """A supervised (sft or rft) judge fitted and selected on dev, not saved: (model, codec,
    info). `train_judge` saves it; an RL judge warm-started from it (`judge.rl.start=sft`)
    trains on from the model itself."""
    spec = judge_format(cfg.format)
    if spec.trainer == "grpo":
        raise ValueError(f"fit_judge: {cfg.format} is trained by GRPO (train_rl_judge)")
    t0 = time.time()
    codec = load_codec(init)
    chosen = draw_budget(pool, cfg.budget, cfg.seed)
    info: dict[str, Any] = {"kind": "judge", "format": cfg.format, "config": cfg.model_dump(),
                            "init": str(init), "budget_solutions": len(chosen)}
    if spec.needs_check_format:  # trained on checks as this code writes them
        check_format(read_info(init), str(init))
    if spec.trainer == "rft":  # its examples are the init's own checks: sampled, then filtered
        from prmlab.training.judge_rl_fit import rft_examples

        examples, extra = rft_examples(cfg, init, codec, chosen)
    else:
        examples, extra = spec.examples(codec, chosen, _example_options(cfg))
    info.update(extra)
    info["step_labels"] = spec.count_step_labels(chosen)
    head, loss_fn = spec.head, LOSSES[spec.loss](cfg, codec)
    if not examples:
        raise InputError("no training examples left (all chains filtered out?)")
    dev = list(dev)[: cfg.dev_max]
    best = None
    trials = []
    total_processed = 0
    for lr in cfg.lrs:
        torch.manual_seed(cfg.seed)
        kwargs = {"num_labels": 2} if head == "token" else {}
        model = load_model(init, head, **kwargs)
        fcfg = cfg.fit.model_copy(update={"lr": lr, "seed": cfg.seed})
        reads: list[dict] = []  # one per evaluation, in fit's order

        def evaluate(m):
            reads.append(dev_reads(m, codec, cfg.format, dev))
            if reads[-1][cfg.tune_threshold] is None:
                raise _untunable()
            return reads[-1][cfg.tune_threshold][0]

        res = fit(model, examples, fcfg, pad_id=codec.pad_id, loss_fn=loss_fn,
                  evaluate=evaluate, progress=progress,
                  abandon=_abandon_rule(cfg, [t["curve"] for t in trials]))
        evaluated = [r["step"] for r in res.history if "dev" in r]
        at_best = reads[evaluated.index(res.best_step)] if res.best_step in evaluated else None
        threshold = at_best[cfg.tune_threshold][1] if at_best else DEFAULT_THRESHOLD
        total_processed += res.tokens_processed
        trials.append({"lr": lr, "dev_f1": res.best_score, "best_step": res.best_step,
                       "curve": {r["step"]: r["dev"] for r in res.history if "dev" in r},
                       "steps": res.steps, "stopped_by": res.stopped_by, "seconds": round(res.seconds, 1),
                       "precision": res.precision, "threshold": threshold})
        log(f"  {cfg.format} N={cfg.budget} lr={lr:g}: dev F1 {res.best_score:.3f} at step "
            f"{res.best_step}/{res.steps} ({res.stopped_by}, {res.seconds:.0f}s)")
        if best is None or (res.best_score or 0) > (best[1].best_score or 0):
            best = (lr, res, copy.deepcopy(model), threshold, at_best)
    lr, res, model, threshold, at_best = best
    metric = ("dev F1 at the threshold that maximises it" if cfg.tune_threshold
              else "dev F1 at threshold 0.5")
    # The other reading of the chosen weights, from the same dev pass that selected them.
    other = at_best[not cfg.tune_threshold] if at_best else None
    other_info = None if other is None else {"value": other[1], "tuned": not cfg.tune_threshold,
                                             "dev_f1": other[0]}
    info.update(selection={"metric": metric + " (the judge's own scores)",
                           "dev_solutions": len(dev), "trials": trials, "chosen_lr": lr,
                           "chosen_step": res.best_step},
                threshold={"value": threshold, "tuned": cfg.tune_threshold,
                           "dev_f1": res.best_score,
                           "other": other_info},
                train_examples=len(examples), tokens_processed=total_processed,
                seconds=time.time() - t0)
    return model, codec, info


def _save_once(out_dir, model, codec: Codec, info: dict[str, Any],
               files: dict[str, str] | None = None) -> None:
    """Under `accelerate launch` with several processes every process holds the same weights:
    the main one writes them, the others wait until it has (two writers would race to install
    the same folder). One process: the plain save."""
    from accelerate import PartialState  # the state `fit`'s Accelerator set up

    state = PartialState()
    if state.is_main_process:
        save_checkpoint(out_dir, model, codec, info, files)
    state.wait_for_everyone()
