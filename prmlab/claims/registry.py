"""The claims a suite runs, in the order claims.md lists them. Adding a claim: a module holding
its `CLAIM` (or several), and one line here."""

from __future__ import annotations

from prmlab.claims import (control_rewards, judge_compute, label_efficiency, labels_from_outcomes,
                           latent_skill, one_example, passk_not_wider, reasoning_not_format,
                           rl_judge, rl_judge_sft, self_evaluation, spurious_rewards,
                           tree_structure, worked_checks)
from prmlab.claims.claim import Claim

CLAIMS: tuple[Claim, ...] = (
    label_efficiency.CLAIM,
    reasoning_not_format.CLAIM,
    judge_compute.CLAIM,
    latent_skill.CLAIM,
    worked_checks.CLAIM,
    labels_from_outcomes.CLAIM,
    rl_judge.CLAIM,
    rl_judge_sft.CLAIM,
    one_example.CLAIM,
    spurious_rewards.CLAIM,
    control_rewards.INCORRECT,
    control_rewards.FORMAT,
    control_rewards.MAJORITY,
    passk_not_wider.CLAIM,
    tree_structure.CLAIM,
    self_evaluation.CLAIM,
)
