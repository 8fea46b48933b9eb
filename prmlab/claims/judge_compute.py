"""Judge compute: at a fixed label budget, the generative judge's F1 rises with the number K of
sampled rationales averaged (verifier test-time scaling).

Effect, per replicate: F1 at K=8 minus F1 at K=1 in the flagship's test-time-scaling cell (the
generative judge at the `tts.budget`, default the largest budget; the first `tts.max_solutions`
policy-sampled solutions; every K read at the judge's dev threshold). Undefined when the cell
has no K=8.

Rule (written before any run): a gain of at least half the anchor's +5 F1, i.e. +0.025.
Supported if the 95% CI over replicates lies above 0 and the mean reaches +0.025; refuted if the
whole CI lies below +0.025.
"""

from __future__ import annotations

from prmlab.claims.claim import FLAGSHIP, Claim, Measured, undefined
from prmlab.claims.rules import AtLeast
from prmlab.claims.schema import Anchor
from prmlab.claims.view import ReplicateView

K = 8
SIZE = 0.025


def measure(rep: ReplicateView) -> Measured:
    t = rep.tts(FLAGSHIP.name)
    if t is None:
        return undefined("no test-time-scaling cell (tts.enabled, and generative in formats?)")
    pts = t.record.f1_by_k
    if "1" not in pts or str(K) not in pts:
        return undefined(f"the TTS cell has K={', '.join(pts)}; the claim reads K=1 and K={K}")
    one, top = pts["1"].value, pts[str(K)].value
    inputs = [t.input("f1_by_k.1.value", one), t.input(f"f1_by_k.{K}.value", top)]
    if one is None or top is None:
        return undefined("an F1 of the TTS cell is undefined", inputs)
    return Measured(top - one, f"K={K} {top:.3f} vs K=1 {one:.3f} (generative, N={t.record.budget}, "
                    f"{pts['1'].n or '?'} solutions)", inputs)


CLAIM = Claim(
    id="judge-compute",
    title="Judge compute",
    statement=(f"At a fixed label budget, F1 rises with the number K of sampled rationales "
               f"averaged (K={K} vs K=1)."),
    anchor=Anchor(figure="GenPRM: +5 F1 at K=8 (as quoted in issue 18)",
                  citation="Zhao et al., 2025, 'GenPRM: Scaling Test-Time Compute of Process "
                           "Reward Models via Generative Reasoning'"),
    effect=f"F1 at K={K} minus F1 at K=1, generative judge, policy samples (TTS cell)",
    unit="F1", level="seed", experiments=(FLAGSHIP,), rule=AtLeast(SIZE), measure=measure,
)
