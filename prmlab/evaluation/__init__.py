"""Metrics from per-step scores (never calls a model): ProcessBench, step AUROC/ECE, best-of-N.

Every reported number is a dict {"value", "ci", "direction", "n", "aggregation"} with a
cluster-bootstrap CI over problems (`bootstrap`).
"""

from prmlab.evaluation.aggregate import AGGREGATIONS, aggregate
from prmlab.evaluation.bon import (BonProblem, bon_metrics, default_ks, load_bon_samples,
                                   maj_at_k, majority_answer, pass_at_k, rm_at_k,
                                   rm_by_aggregation)
from prmlab.evaluation.bootstrap import cluster_bootstrap, metric, problem_key, with_ci
from prmlab.evaluation.processbench import (f1_by_k, f1_from_accuracies, predict_first_error,
                                           processbench_metrics, tune_threshold)
from prmlab.evaluation.run import (align_scores, evaluate_judge, evaluate_scores,
                                   read_step_scores)
from prmlab.evaluation.stepwise import auroc, ece, step_metrics

__all__ = ["AGGREGATIONS", "aggregate", "BonProblem", "bon_metrics", "default_ks",
           "load_bon_samples", "maj_at_k", "majority_answer", "pass_at_k", "rm_at_k",
           "rm_by_aggregation", "cluster_bootstrap", "metric", "problem_key", "with_ci",
           "f1_by_k", "f1_from_accuracies", "predict_first_error", "processbench_metrics",
           "tune_threshold", "align_scores", "evaluate_judge", "evaluate_scores",
           "read_step_scores", "auroc", "ece", "step_metrics"]
