"""The other control rewards of arXiv:2506.10947 work only on some bases: an incorrect-answer,
a format-only and a majority-vote reward each raise test accuracy on a base whose pretraining
holds the skill, and not on one whose pretraining does not (the random reward is
`spurious_rewards.py`).

Effect, per replicate (base seed x RL seed): gain(worked base, reward) − gain(no-worked base,
reward), gain = test greedy accuracy after RL − before, RL on all training problems, in the
`rl-controls` experiment (the RL suite's controls size, the same RL settings as `rl`).

Rule (written before any run), as for the random reward: at least half the anchor's gain on
Qwen2.5-Math-7B (Llama/OLMo gained about 0), the paper's v2 figures: incorrect label +24.6
points, format +16.4, majority vote +26.5. Supported if the 95% CI over replicates lies above 0
and the mean reaches half of it; refuted if the whole CI lies below half of it.
"""

from __future__ import annotations

from prmlab.claims.claim import Claim
from prmlab.claims.rl_common import RL_CONTROLS, base_contrast
from prmlab.claims.rules import AtLeast
from prmlab.claims.schema import Anchor

CITATION = ("Shao et al., 2025, 'Spurious Rewards: Rethinking Training Signals in RLVR', "
            "arXiv:2506.10947 (v2 abstract)")
# reward -> (the title's reward, the statement's, Qwen2.5-Math-7B's MATH500 gain in points)
ANCHORS = {
    "incorrect": ("Incorrect rewards", "A reward for one fixed wrong answer per problem", 24.6),
    "format": ("Format-only rewards", "A reward for stating any final answer", 16.4),
    "majority": ("Majority-vote rewards", "A reward for the group's most frequent answer (no gold answer)", 26.5),
}


def _claim(reward: str) -> Claim:
    title, subject, points = ANCHORS[reward]
    return Claim(
        id=f"{reward}-reward",
        title=f"{title} work only on some bases",
        statement=(f"{subject} raises test accuracy on a base pretrained with the skill (worked "
                   "arithmetic) and not on one pretrained without it."),
        anchor=Anchor(figure=f"Qwen2.5-Math-7B MATH500: +{points} points ({reward}) vs +28.8 ground "
                             "truth; little or negative on Llama/OLMo", citation=CITATION),
        effect=f"test accuracy gain under the {reward} reward: worked base − no-worked base",
        unit="accuracy", level="seed", experiments=(RL_CONTROLS,),
        rule=AtLeast(round(points / 200, 3)), measure=lambda rep: base_contrast(rep, RL_CONTROLS, reward),
    )


INCORRECT, FORMAT, MAJORITY = (_claim(r) for r in ANCHORS)
