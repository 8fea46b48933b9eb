"""Scoring evaluation sets with a judge and writing per-step scores and metrics beside them.

The metrics themselves are pure functions of per-step scores in `prmlab.metrics`.
"""

from prmlab.evaluation.run import align_scores, evaluate_judge, evaluate_scores, read_step_scores

__all__ = ["align_scores", "evaluate_judge", "evaluate_scores", "read_step_scores"]
