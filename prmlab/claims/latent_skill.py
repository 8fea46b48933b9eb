"""Latent skill: the base already judges — the zero-label judge (the base's own checks, no step
labels at all) against the judges fine-tuned on gold labels.

Effect, per replicate, on policy-sampled solutions: F1(zero-label) minus the best F1 of the gold
judges (any format) at the largest budget of the sweep — the strongest fine-tuned judge the
replicate trained. The zero-label judge depends on the base only, so replicates of one base
share its F1 and differ by the fine-tuned side.

Rule (non-inferiority, written before any run): "already judges" means no worse than 0.05 F1 than
the best fine-tuned judge (the same margin as label efficiency). Supported if the 95% CI over
replicates lies at or above −0.05; refuted if it lies wholly below.
"""

from __future__ import annotations

from prmlab.claims.claim import FLAGSHIP, Claim, Measured, undefined
from prmlab.claims.rules import NoWorseThan
from prmlab.claims.schema import Anchor
from prmlab.claims.view import ReplicateView

MARGIN = 0.05
EVAL_SET = "policy"


def measure(rep: ReplicateView) -> Measured:
    z = rep.zero_label(FLAGSHIP.name)
    budgets = rep.gold_budgets(FLAGSHIP.name)
    if z is None or not budgets:
        return undefined("no zero-label cell (zero_label: true?) or no gold judge")
    zv, zi = z.f1(EVAL_SET)
    tuned = [(r.record.format, *r.f1(EVAL_SET)) for r in rep.gold_at(FLAGSHIP.name, budgets[-1])]
    inputs = [zi] + [i for _, _, i in tuned]
    defined = [(v, f) for f, v, _ in tuned if v is not None]
    if zv is None or not defined:
        return undefined("the zero-label F1 or every fine-tuned F1 is undefined", inputs)
    best, fmt = max(defined, key=lambda x: x[0])  # first format wins a tie (sorted by name)
    return Measured(zv - best, f"zero-label {zv:.3f} vs best fine-tuned {best:.3f} ({fmt}, "
                    f"N={budgets[-1]})", inputs)


CLAIM = Claim(
    id="latent-skill",
    title="Latent skill (zero labels)",
    statement=("The base already judges: with no step labels, its own checks are no worse than "
               "the best judge fine-tuned on gold labels."),
    anchor=Anchor(figure="existing PRMs underperform critic models (general LMs prompted to critique "
                  "each step, no step labels); the best open critic, QwQ-32B-Preview, rivals "
                  "GPT-4o (F1s in the paper's Table 3)",
                  citation="Zheng et al., 2024, 'ProcessBench: Identifying Process Errors in "
                           "Mathematical Reasoning'"),
    effect="F1(zero-label) − best gold-label judge's F1 at the largest budget, on policy samples",
    unit="F1", level="seed", experiments=(FLAGSHIP,), rule=NoWorseThan(MARGIN), measure=measure,
    notes=("One-shot RL (the reinforcement-learning issues) adds its own claim module here.",),
)
