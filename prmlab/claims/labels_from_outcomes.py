"""Labels from outcomes: judges trained on step labels derived from policy rollouts (Math-
Shepherd's hard Monte-Carlo estimate, `mc-hard`) fall short of judges trained on gold step
labels for the same solutions.

Effect, per replicate, on policy-sampled solutions: F1(generative, gold labels, N) −
F1(generative, mc-hard labels of the same N solutions), N = `label_free.n_solutions` (equal
solutions). The compute bill rides beside it: the rollout tokens generated to label them, and
each judge's training tokens (the gold labels' cost is annotation, not compute), so a reader
can weigh the comparison at equal compute.

Rule (written before any run): a shortfall of at least half the anchor's 25 F1 points, +0.125.
Supported if the 95% CI over replicates lies above 0 and the mean reaches +0.125; refuted if the
whole CI lies below +0.125 (rollout labels are then nearly as good as gold ones).
"""

from __future__ import annotations

from prmlab.claims.claim import FLAGSHIP, Claim, Measured, undefined
from prmlab.claims.rules import AtLeast
from prmlab.claims.schema import Anchor
from prmlab.claims.view import ReplicateView

METHOD = "mc-hard"
FORMAT = "generative"
SIZE = 0.125
EVAL_SET = "policy"


def measure(rep: ReplicateView) -> Measured:
    auto = rep.judges(FLAGSHIP.name, FORMAT, source=METHOD)
    if not auto:
        return undefined(f"no {FORMAT} judge on {METHOD} labels (label_free.methods, formats?)")
    a = auto[-1]
    n = a.record.budget
    gold = rep.judge(FLAGSHIP.name, FORMAT, n)
    if gold is None:
        return undefined(f"no gold {FORMAT} judge at N={n} (is label_free.n_solutions a budget?)")
    (gv, gi), (av, ai) = gold.f1(EVAL_SET), a.f1(EVAL_SET)
    bill = a.record.compute.get("rollout_tokens_generated")
    ta, tg = a.record.compute.get("train_tokens_processed"), gold.record.compute.get("train_tokens_processed")
    inputs = [gi, ai, a.input("compute.rollout_tokens_generated", bill),
              a.input("compute.train_tokens_processed", ta),
              gold.input("compute.train_tokens_processed", tg)]
    if gv is None or av is None:
        return undefined("an F1 is undefined", inputs)
    return Measured(gv - av, f"gold {gv:.3f} vs {METHOD} {av:.3f} on the same {n} solutions; "
                    f"bill: {bill} rollout tokens generated, training tokens {ta} ({METHOD}) vs "
                    f"{tg} (gold)", inputs)


CLAIM = Claim(
    id="labels-from-outcomes",
    title="Labels from outcomes",
    statement=(f"Judges trained on rollout-derived step labels ({METHOD}) fall short of judges "
               "trained on gold step labels for the same solutions."),
    anchor=Anchor(figure="Math-Shepherd PRM (445K automatic labels) 31.5 vs a PRM on PRM800K "
                  "(264K human labels) 56.5 average F1 on ProcessBench (as quoted in issue 18)",
                  citation="Wang et al., 2024, 'Math-Shepherd'; Zheng et al., 2024, 'ProcessBench'"),
    effect=(f"F1(gold {FORMAT}, N) − F1({METHOD} {FORMAT}, same N solutions), on policy samples; "
            "compute bill in the detail"),
    unit="F1", level="seed", experiments=(FLAGSHIP,), rule=AtLeast(SIZE), measure=measure,
    notes=("Equal compute is not a separate verdict yet: the bill (rollout tokens, training "
           "tokens) is listed per replicate for that comparison.",
           "Other methods (mc-soft, omega, tree) become rows by a module each, like this one."),
)
