"""Reasoning, not format: the generative judge's gain comes from its rationale — generative
(rationale, then verdict) against direct (the verdict alone), at equal labels.

Effect, per replicate, on policy-sampled solutions: F1(generative) − F1(direct) at the largest
budget both were trained at (the pre-registered point: where each format has had its full pool).

Rule (written before any run): a gain of at least half the anchor's, +0.075 F1 (GenPRM's 75 vs
60; a small arith model need not reproduce the size, but half of it is still the effect the
anchor names). Supported if the 95% CI over replicates lies above 0 and the mean reaches +0.075;
refuted if the whole CI lies below +0.075.
"""

from __future__ import annotations

from prmlab.claims.claim import FLAGSHIP, Claim, Measured, undefined
from prmlab.claims.rules import AtLeast
from prmlab.claims.schema import Anchor
from prmlab.claims.view import ReplicateView

SIZE = 0.075
EVAL_SET = "policy"


def measure(rep: ReplicateView) -> Measured:
    gen = {r.record.budget: r for r in rep.judges(FLAGSHIP.name, "generative")}
    direct = {r.record.budget: r for r in rep.judges(FLAGSHIP.name, "direct")}
    both = sorted(set(gen) & set(direct))
    if not both:
        return undefined("no budget with both a generative and a direct judge")
    b = both[-1]
    (g, gi), (d, di) = gen[b].f1(EVAL_SET), direct[b].f1(EVAL_SET)
    if g is None or d is None:
        return undefined(f"an F1 at N={b} is undefined", [gi, di])
    return Measured(g - d, f"generative {g:.3f} vs direct {d:.3f} at N={b}", [gi, di])


CLAIM = Claim(
    id="reasoning-not-format",
    title="Reasoning, not format",
    statement=("The generative judge's gain comes from the rationale: it beats the direct "
               "(verdict-only) judge trained on the same labels."),
    anchor=Anchor(figure="GenPRM 75 vs 60 F1, generative vs direct (as quoted in issue 18)",
                  citation="Zhao et al., 2025, 'GenPRM: Scaling Test-Time Compute of Process "
                           "Reward Models via Generative Reasoning'"),
    effect="F1(generative) − F1(direct) at the largest budget both ran, on policy samples",
    unit="F1", level="seed", experiments=(FLAGSHIP,), rule=AtLeast(SIZE), measure=measure,
)
