"""Spurious rewards work only on some bases (arXiv:2506.10947): a random reward raises test
accuracy on a base whose pretraining holds the skill, and not on one whose pretraining does not.

Effect, per replicate (base seed x RL seed): gain(worked base, random reward) − gain(no-worked
base, random reward), gain = test greedy accuracy after RL − before, RL on all training
problems. The worked base plays the anchor's Qwen2.5-Math (pretrained with the skill), the
`base.worked=false` base its Llama/OLMo.

Rule (written before any run): a difference of at least half the anchor's: Qwen2.5-Math-7B
gained +21.4 points from random rewards where Llama/OLMo gained about 0, so at least +0.107.
Supported if the 95% CI over replicates lies above 0 and the mean reaches +0.107; refuted if
the whole CI lies below +0.107.
"""

from __future__ import annotations

from prmlab.claims.claim import Claim, Measured
from prmlab.claims.rl_common import RL, base_contrast
from prmlab.claims.rules import AtLeast
from prmlab.claims.schema import Anchor
from prmlab.claims.view import ReplicateView

SIZE = 0.107


def measure(rep: ReplicateView) -> Measured:
    return base_contrast(rep, RL, "random")


CLAIM = Claim(
    id="spurious-rewards",
    title="Spurious rewards work only on some bases",
    statement=("A random reward raises test accuracy on a base pretrained with the skill (worked "
               "arithmetic) and not on one pretrained without it."),
    anchor=Anchor(figure="Qwen2.5-Math-7B MATH500: +21.4 random, +24.6 incorrect vs +28.8 ground "
                         "truth; little or negative on Llama/OLMo (as quoted in issue 23)",
                  citation="Shao et al., 2025, 'Spurious Rewards: Rethinking Training Signals in "
                           "RLVR', arXiv:2506.10947"),
    effect="test accuracy gain under a random reward: worked base − no-worked base",
    unit="accuracy", level="seed", experiments=(RL,), rule=AtLeast(SIZE), measure=measure,
)
