"""One example suffices (1-shot RLVR, arXiv:2504.20571): RL with the outcome reward on a single
training problem, duplicated to fill every batch, raises test accuracy about as much as RL on
the whole training set.

Effect, per replicate (base seed x RL seed), on the worked base: gain(1 problem) − gain(all
n_train problems), gain = test greedy accuracy after RL − before, both runs from the same
policy with the same seed, steps and batch. The one problem is chosen before training by the
suite's rule (`train_pick`, the first of stream rl.train unless the size says otherwise).

Rule (written before any run): a match within 0.05 (the margin the other match claims use):
supported if the 95% CI over replicates lies at or above −0.05; refuted if it lies wholly below.
A replicate whose full-set gain is not above 0 is undefined: a match of two null gains says
nothing about one example.
"""

from __future__ import annotations

from prmlab.claims.claim import Claim, Measured, undefined
from prmlab.claims.rl_common import RL, WORKED, gain
from prmlab.claims.rules import NoWorseThan
from prmlab.claims.schema import Anchor
from prmlab.claims.view import ReplicateView

MARGIN = 0.05


def measure(rep: ReplicateView) -> Measured:
    one = rep.rl_run(RL.name, WORKED, "outcome", 1)
    full = rep.rl_run(RL.name, WORKED, "outcome", None)
    if one is None or full is None:
        return undefined("the RL suite has no worked-base outcome run on " +
                         ("one problem" if one is None else "all problems"))
    (g1, i1), (gf, i_f) = gain(one), gain(full)
    if g1 is None or gf is None:
        return undefined("a test accuracy is undefined", i1 + i_f)
    if gf <= 0:
        return undefined(f"RL on all problems gained {gf:+.3f}: no gain for one example to match", i1 + i_f)
    return Measured(g1 - gf, f"gain {g1:+.3f} from one problem vs {gf:+.3f} from all", i1 + i_f)


CLAIM = Claim(
    id="one-example",
    title="One example suffices (RLVR)",
    statement=("RL with a verifiable reward on one training problem raises test accuracy about as "
               "much as RL on the whole training set."),
    anchor=Anchor(figure="Qwen2.5-Math-1.5B: MATH500 36.0 → 73.6 from a single training problem "
                         "(as quoted in issue 23)",
                  citation="Wang et al., 2025, 'Reinforcement Learning for Reasoning in Large "
                           "Language Models with One Training Example', arXiv:2504.20571"),
    effect="test accuracy gain from 1 problem − gain from all problems (worked base, outcome reward)",
    unit="accuracy", level="seed", experiments=(RL,), rule=NoWorseThan(MARGIN), measure=measure,
    notes=("Gains are greedy test accuracy after − before, on held-out problems of the base's own "
           "difficulty.",),
)
