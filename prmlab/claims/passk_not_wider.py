"""RL does not widen pass@k (arXiv:2504.13837): RL with a verifiable reward sharpens pass@1 but
does not raise pass@k at large k above the policy it started from.

Effect, per replicate (base seed x RL seed), on the worked base with the outcome reward and all
training problems: pass@k_max(before RL) − pass@k_max(after RL) on held-out test problems,
k_max = the suite's `eval_samples` (n = k_max samples per problem, unbiased estimator), read
from the run's paired pass@k gap (`pass_at_k_gap.gap`, after − before, negated). Where the
curves cross is in the detail.

Rule (written before any run): a match within 0.05 (the margin the other match claims use):
supported if the 95% CI over replicates lies at or above −0.05 (RL adds at most 0.05 at
k_max); refuted if the whole CI lies below −0.05 (RL widens pass@k).
"""

from __future__ import annotations

from prmlab.claims.claim import Claim, Measured, undefined
from prmlab.claims.rl_common import RL, WORKED
from prmlab.claims.rules import NoWorseThan
from prmlab.claims.schema import Anchor
from prmlab.claims.view import ReplicateView

MARGIN = 0.05


def measure(rep: ReplicateView) -> Measured:
    r = rep.rl_run(RL.name, WORKED, "outcome", None)
    if r is None:
        return undefined("the RL suite has no worked-base outcome run on all problems")
    g = r.record.pass_at_k_gap
    k = str(g.ks[-1])
    v = g.gap[k].value
    inputs = [r.input(f"pass_at_k_gap.gap.{k}.value", v)]
    if v is None:
        return undefined(f"the pass@{k} gap is undefined", inputs)
    one = g.gap["1"].value
    cross = g.crossing.k
    return Measured(-v, f"pass@{k} gap {v:+.3f}, pass@1 gap {one:+.3f}; curves cross at "
                    f"{'k = ' + str(cross) if cross is not None else 'no k of the grid'}", inputs)


CLAIM = Claim(
    id="passk-not-wider",
    title="RL does not widen pass@k",
    statement=("RL with a verifiable reward does not raise pass@k at large k above the policy it "
               "started from."),
    anchor=Anchor(figure="base models overtake their RLVR-trained versions in pass@k at large k "
                         "(as quoted in issue 23)",
                  citation="Yue et al., 2025, 'Does Reinforcement Learning Really Incentivize "
                           "Reasoning Capacity in LLMs Beyond the Base Model?', arXiv:2504.13837"),
    effect="pass@k_max before RL − after RL (worked base, outcome reward, test problems)",
    unit="pass@k", level="seed", experiments=(RL,), rule=NoWorseThan(MARGIN), measure=measure,
)
