"""Latent skill from pretraining: a base pretrained with worked arithmetic judges better than the
same base pretrained without it (`prmlab train base --no-worked`, `base.worked: false`).

Effect, per base: F1(zero-label, worked base) − F1(zero-label, no-worked base) on the policy
samples each base's own pipeline draws. Caveat stated in the output: the policy is fine-tuned
from each base's snapshot, so the two judges grade different policy-sampled sets — as base
replicates do. The zero-label judge depends on the base alone, so the replicates are bases, not
judge seeds: until a size runs several bases this claim has one replicate and no verdict.

Rule (written before any run): a gain of at least +0.05 F1 (no published figure to halve: this
is prmlab's own ablation; 0.05 is the margin the other claims use). Supported if the 95% CI over
bases lies above 0 and the mean reaches +0.05; refuted if the whole CI lies below +0.05.
"""

from __future__ import annotations

from prmlab.claims.claim import FLAGSHIP, Claim, Experiment, Measured, undefined
from prmlab.claims.rules import AtLeast
from prmlab.claims.schema import Anchor
from prmlab.claims.view import ReplicateView

SIZE = 0.05
EVAL_SET = "policy"

# The plan needs one trained judge; the smallest budget is the cheapest (16 is within both
# presets' pools). Everything the claim does not read is off.
NO_WORKED = Experiment(
    "no-worked", "base",
    ("base.worked=false", "formats=[generative]", "budgets=[16]", "baselines=[]",
     "zero_label=true", "tts.enabled=false", "bon.enabled=false", "label_free.methods=[]"),
    "the same base pretrained without worked arithmetic; only its zero-label judge is read")


def measure(rep: ReplicateView) -> Measured:
    w, n = rep.zero_label(FLAGSHIP.name), rep.zero_label(NO_WORKED.name)
    if w is None or n is None:
        missing = " and ".join(e for e, r in ((FLAGSHIP.name, w), (NO_WORKED.name, n)) if r is None)
        return undefined(f"no zero-label cell in the {missing} run")
    (wv, wi), (nv, ni) = w.f1(EVAL_SET), n.f1(EVAL_SET)
    if wv is None or nv is None:
        return undefined("a zero-label F1 is undefined", [wi, ni])
    return Measured(wv - nv, f"worked {wv:.3f} vs no-worked {nv:.3f}", [wi, ni])


CLAIM = Claim(
    id="worked-checks",
    title="Latent skill (worked arithmetic in pretraining)",
    statement=("The zero-label judge's skill comes from pretraining: a base pretrained with worked "
               "arithmetic judges better than the same base without it."),
    anchor=Anchor(figure="no published figure: prmlab's own ablation (issue 18)",
                  citation="prmlab issue 18"),
    effect="F1(zero-label, worked base) − F1(zero-label, --no-worked base), on policy samples",
    unit="F1", level="base", experiments=(FLAGSHIP, NO_WORKED), rule=AtLeast(SIZE),
    measure=measure,
    notes=("Each base grades its own policy's samples (the policy starts from the base's "
           "snapshot), so the two F1s are on different evaluation sets.",),
)
