r"""Metrics of a ProcessBench critic run (`prmlab critic`): its predictions scored exactly as a
step judge's, cross-checked against the predictions themselves, with the critic's own statistics.

Step AUROC and ECE are reported as null with a reason (`AUROC_ECE_REASON`); their computed
values stay under "critic" for the record.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from prmlab.data.record import Record
from prmlab.evaluation.run import evaluate_scores
from prmlab.judges.protocol import StepScores
from prmlab.metrics.bootstrap import metric
from prmlab.metrics.processbench import processbench_point

AUROC_ECE_REASON = ("not meaningful for a critic: its step scores are 0/1 from the predicted "
                    "index, and a parse failure's are chosen from the label so as to be wrong "
                    "(the computed values are under critic.auroc_of_01_scores / ece_of_01_scores)")


def critic_metrics(records: Sequence[Record], preds: Sequence[Any], stats: dict[str, Any],
                   config: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(metrics.json content, samples.jsonl rows) of critic predictions `preds` (one per record,
    each with `.prediction`, None = parse failure) and the judge's `stats`."""
    # The critic module holds the model side too (torch): imported here, so that importing the
    # evaluation layer never loads torch.
    from prmlab.judges.critic import critic_step_scores, prediction_histogram

    predictions = [p.prediction for p in preds]
    scores = critic_step_scores(records, predictions)
    step_scores = [StepScores(r.id, s) for r, s in zip(records, scores)]
    metrics = evaluate_scores(records, step_scores, None, config)

    # The same numbers straight from the predictions (a failure can never match: -2).
    known = [(r.first_error, -2 if p is None else p) for r, p in zip(records, predictions)
             if r.first_error is not None]
    direct = processbench_point([a for a, _ in known], [b for _, b in known]) if known else {}
    for key, v in direct.items():
        got = metrics[key]["value"]
        if not ((math.isnan(v) and got is None) or (got is not None and abs(got - v) < 1e-12)):
            raise AssertionError(f"critic {key}: scores give {got}, predictions give {v}")

    stats = dict(stats)
    stats["prediction_histogram"] = prediction_histogram(predictions)
    stats["label_histogram"] = prediction_histogram([r.first_error for r in records])
    # Step AUROC/ECE of 0/1 scores mean little, and a failure's scores are chosen from its label
    # (to be wrong), which drags AUROC below 0.5 by construction.
    for key in ("auroc", "ece"):
        old = metrics[key]
        stats[f"{key}_of_01_scores"] = old
        metrics[key] = metric(None, direction=old["direction"], n=old["n"],
                              aggregation=old["aggregation"], reason=AUROC_ECE_REASON)
    metrics["critic"] = stats
    rows = [{"id": r.id, "first_error": r.first_error, "prediction": p.prediction,
             "parse_failed": p.failed, "sample_predictions": p.sample_predictions,
             "outputs": p.outputs, "prompt_tokens": p.prompt_tokens,
             "generated_tokens": p.generated_tokens, "finished": p.finished, "step_scores": s}
            for r, p, s in zip(records, preds, scores)]
    return metrics, rows
