"""An RL-trained reasoning judge beats the SFT judges at equal labels (StepWiser).

Effect, per replicate (base, judge seed), on policy-sampled solutions: F1(generative-rl) minus
the best F1 of the supervised judges (discriminative, generative, direct) trained on the same
gold-labelled solutions (same budget, seed and base), at the largest budget where the RL judge
and at least one supervised judge ran. The RL judge runs in its own experiment (`rl-judges`:
the flagship with `formats=[generative-rl]` and every other cell off), so the flagship's folders
and its time bar stay as they are; the supervised judges are read from the flagship folders,
which build the same base, policy and data sets (the artifacts are keyed by their configs).

Rule (written before any run, 2026-12-03): a gain of at least +0.05 F1. The anchor's +22.2
points are over a discriminative classifier at 7B; this claim compares with the best of three
supervised judges, one of which already writes a worked check, and a gain over the best is
what "beats the SFT judges" means. No published figure measures that comparison, so the
threshold is the +0.05 margin the other claims use where no anchor fixes one. Supported if the
95% CI over replicates lies above 0 and the mean reaches +0.05; refuted if the whole CI lies
below +0.05.
"""

from __future__ import annotations

from typing import Callable

from prmlab.claims.claim import FLAGSHIP, Claim, Experiment, Measured, undefined
from prmlab.claims.rules import AtLeast
from prmlab.claims.schema import Anchor
from prmlab.claims.view import ReplicateView

SIZE = 0.05
EVAL_SET = "policy"
RL_FORMAT = "generative-rl"
SFT_FORMATS = ("discriminative", "generative", "direct")

RL_JUDGES = Experiment(
    "rl-judges", "seed",
    (f"formats=[{RL_FORMAT}]", "baselines=[]", "zero_label=false", "tts.enabled=false",
     "bon.enabled=false", "label_free.methods=[]"),
    "the generative judge trained by GRPO at the size's budgets; the supervised judges it is "
    "compared with are the flagship's")


def over_the_best_sft(experiment: str) -> Callable[[ReplicateView], Measured]:
    """The effect read from the RL judges of `experiment` (this claim's, or the SFT-started
    ones of `rl_judge_sft`)."""
    return lambda rep: _over_the_best_sft(rep, experiment)


def _over_the_best_sft(rep: ReplicateView, experiment: str) -> Measured:
    rl = {r.record.budget: r for r in rep.judges(experiment, RL_FORMAT)}
    sft = {f: {r.record.budget: r for r in rep.judges(FLAGSHIP.name, f)} for f in SFT_FORMATS}
    both = sorted(b for b in rl if any(b in by_budget for by_budget in sft.values()))
    if not both:
        return undefined(f"no budget with both a {RL_FORMAT} judge and a supervised judge")
    b = both[-1]
    v, vi = rl[b].f1(EVAL_SET)
    reads = {f: by_budget[b].f1(EVAL_SET) for f, by_budget in sft.items() if b in by_budget}
    inputs = [vi, *(i for _, i in reads.values())]
    if v is None or any(x is None for x, _ in reads.values()):
        return undefined(f"an F1 at N={b} is undefined", inputs)
    best = max(reads, key=lambda f: reads[f][0])
    others = ", ".join(f"{f} {x:.3f}" for f, (x, _) in reads.items())
    return Measured(v - reads[best][0], f"{RL_FORMAT} {v:.3f} vs best supervised {best} "
                    f"{reads[best][0]:.3f} at N={b} ({others})", inputs)


CLAIM = Claim(
    id="rl-judge",
    title="RL-trained reasoning judge",
    statement=("A judge that reasons about each step, trained by RL on step labels, beats the "
               "supervised judges trained on the same labels."),
    anchor=Anchor(figure="StepWiser: ProcessBench 61.9 vs 39.7 for a discriminative judge at 7B "
                         "(as quoted in issue 22)",
                  citation="Xiong et al., 2025, 'StepWiser: Stepwise Generative Judges for "
                           "Wiser Reasoning', arXiv:2508.19229"),
    effect=f"F1({RL_FORMAT}) − the best supervised judge's F1 at the same budget, on policy samples",
    unit="F1", level="seed", experiments=(FLAGSHIP, RL_JUDGES), rule=AtLeast(SIZE),
    measure=over_the_best_sft(RL_JUDGES.name),
    notes=("The RL judge starts from the base (which writes checks in this code's format), as "
           "the supervised judges do; StepWiser starts RL from a judge fine-tuned on its own "
           "chains.",),
)
