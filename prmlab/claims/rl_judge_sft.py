"""An RL-trained reasoning judge started from its SFT judge beats the SFT judges at equal labels
(StepWiser's own recipe: RL from a judge fine-tuned on chains).

Effect, per replicate (base, judge seed), on policy-sampled solutions: F1(generative-rl started
from the generative SFT judge, `judge.rl.start=sft`) minus the best F1 of the supervised judges
(discriminative, generative, direct) trained on the same gold-labelled solutions, at the largest
budget both have; read exactly as `rl_judge` reads its RL judge. Its start is the flagship's
generative judge of the same budget and seed refitted inside the cell, so the effect is at equal
labels: RL adds compute, no labels.

Rule (written before any run of this start, 2026-12-04, after rl-judge's RL-from-the-base runs
came out negative at the quick size): the same +0.05 as rl-judge. Supported if the 95% CI over
replicates lies above 0 and the mean reaches +0.05; refuted if the whole CI lies below +0.05.
"""

from __future__ import annotations

from prmlab.claims.claim import FLAGSHIP, Claim, Experiment
from prmlab.claims.rl_judge import RL_FORMAT, RL_JUDGES, SIZE, over_the_best_sft
from prmlab.claims.rules import AtLeast
from prmlab.claims.schema import Anchor

RL_JUDGES_SFT = Experiment(
    "rl-judges-sft", "seed", (*RL_JUDGES.sets, "judge.rl.start=sft"),
    "the generative judge trained by GRPO from the generative SFT judge of the same budget and "
    "seed; the supervised judges it is compared with are the flagship's")

CLAIM = Claim(
    id="rl-judge-sft",
    title="RL-trained reasoning judge, started from SFT",
    statement=("A judge that reasons about each step, fine-tuned on chains and then trained by RL "
               "on the same step labels, beats the supervised judges trained on those labels."),
    anchor=Anchor(figure="StepWiser: ProcessBench 61.9 vs 39.7 for a discriminative judge at 7B "
                         "(as quoted in issue 22)",
                  citation="Xiong et al., 2025, 'StepWiser: Stepwise Generative Judges for "
                           "Wiser Reasoning', arXiv:2508.19229"),
    effect=(f"F1({RL_FORMAT} from the generative SFT judge) − the best supervised judge's F1 at "
            "the same budget, on policy samples"),
    unit="F1", level="seed", experiments=(FLAGSHIP, RL_JUDGES_SFT), rule=AtLeast(SIZE),
    measure=over_the_best_sft(RL_JUDGES_SFT.name),
    notes=("The SFT start is refitted in the RL cell with the flagship's generative recipe "
           "(same budget, seed, dev split and learning-rate grid) and kept in memory; its "
           "selection and tokens are in the RL judge's prmlab.json under rl.start.",),
)
