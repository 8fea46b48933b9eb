"""Metrics from per-step scores (never calls a model, never imports torch): ProcessBench's
decision rule and F1, step AUROC/ECE, best-of-N, step-score aggregation.

Every reported number is a dict {"value", "ci", "direction", "n", "aggregation"} with a
cluster-bootstrap CI over problems (`bootstrap`).
"""

from prmlab.metrics.aggregate import AGGREGATIONS, aggregate
from prmlab.metrics.bon import (BonProblem, bon_metrics, default_ks, load_bon_samples,
                                maj_at_k, majority_answer, pass_at_k, rm_at_k,
                                rm_by_aggregation)
from prmlab.metrics.bootstrap import cluster_bootstrap, metric, problem_key, with_ci
from prmlab.metrics.processbench import (f1_by_k, f1_from_accuracies, predict_first_error,
                                         processbench_metrics, tune_threshold)
from prmlab.metrics.stepwise import auroc, ece, step_metrics

__all__ = ["AGGREGATIONS", "aggregate", "BonProblem", "bon_metrics", "default_ks",
           "load_bon_samples", "maj_at_k", "majority_answer", "pass_at_k", "rm_at_k",
           "rm_by_aggregation", "cluster_bootstrap", "metric", "problem_key", "with_ci",
           "f1_by_k", "f1_from_accuracies", "predict_first_error", "processbench_metrics",
           "tune_threshold", "auroc", "ece", "step_metrics"]
