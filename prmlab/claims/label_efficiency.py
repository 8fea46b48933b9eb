"""Label efficiency: a generative judge matches the discriminative judge's best F1 with at most
a tenth of its labels.

Effect, per replicate (base × judge seed), on policy-sampled solutions: take the discriminative
judge's best F1 over the sweep's budgets, at B* (the smallest budget reaching it); take the
generative judge's best F1 over the budgets N ≤ B*/10; the effect is generative − discriminative.
Undefined when no budget is that small (the discriminative judge peaks at the smallest budgets),
or when an F1 is undefined.

Rule (non-inferiority, written before any run): "matches" means no worse than 0.05 F1 — the
width below which the flagship's own bootstrap CIs over problems cannot separate two judges.
Supported if the 95% CI over replicates lies at or above −0.05; refuted if it lies wholly below.
"""

from __future__ import annotations

from prmlab.claims.claim import FLAGSHIP, Claim, Measured, undefined
from prmlab.claims.rules import NoWorseThan
from prmlab.claims.schema import Anchor
from prmlab.claims.view import ReplicateView

RATIO = 10
MARGIN = 0.05
EVAL_SET = "policy"


def _f1s(refs):
    out = []
    for r in refs:
        v, i = r.f1(EVAL_SET)
        out.append((r.record.budget, v, i))
    return out


def measure(rep: ReplicateView) -> Measured:
    disc = _f1s(rep.judges(FLAGSHIP.name, "discriminative"))
    gen = _f1s(rep.judges(FLAGSHIP.name, "generative"))
    if not disc or not gen:
        return undefined("no discriminative or no generative judge cell")
    inputs = [i for _, _, i in disc]
    if any(v is None for _, v, _ in disc):
        return undefined("a discriminative judge's F1 is undefined", inputs)
    best = max(v for _, v, _ in disc)
    b_star = min(b for b, v, _ in disc if v == best)
    small = [(b, v, i) for b, v, i in gen if b * RATIO <= b_star]
    inputs += [i for _, _, i in small]
    if not small:
        return undefined(f"the discriminative judge's best F1 is at N={b_star}; no generative "
                         f"budget ≤ {b_star}/{RATIO} was run", inputs)
    if any(v is None for _, v, _ in small):
        return undefined("a generative judge's F1 is undefined", inputs)
    g = max(v for _, v, _ in small)
    b_g = min(b for b, v, _ in small if v == g)
    return Measured(g - best, f"generative {g:.3f} at N={b_g} (≤ {b_star}/{RATIO}) vs "
                    f"discriminative best {best:.3f} at N={b_star}", inputs)


CLAIM = Claim(
    id="label-efficiency",
    title="Label efficiency",
    statement=("A generative judge matches the discriminative judge's best F1 with at most "
               f"1/{RATIO} of its labels."),
    anchor=Anchor(figure="ThinkPRM matches or beats discriminative PRMs with ~1/100 of their "
                  "process labels (as quoted in issue 18)",
                  citation="Khalifa et al., 2025, 'Process Reward Models That Think' (ThinkPRM)"),
    effect=(f"F1 of the generative judge at N ≤ B*/{RATIO} minus the discriminative judge's best "
            "F1 (at B*), on policy samples"),
    unit="F1", level="seed", experiments=(FLAGSHIP,), rule=NoWorseThan(MARGIN), measure=measure,
)
