"""The Tree-GRPO figure: greedy test accuracy against training tokens generated, tree vs chain
GRPO at a matched budget, from a `prmlab tree-grpo` run's `metrics.json`."""

from __future__ import annotations

import os
from typing import Any, Mapping

from prmlab.reports.figures import HLine, Panel, Series, plot_panels

ARM_STYLE = {"tree": ("Tree-GRPO", "#2ca02c"), "chain": ("chain GRPO", "#1f77b4")}


def plot_tree_vs_chain(metrics: Mapping[str, Any], path: str | os.PathLike) -> bytes:
    """Accuracy (95% CI bands) at each evaluated step, x = cumulated generated tokens; the
    starting policy's accuracy dashed (the step-0 point, at 0 tokens, has no place on a log axis)."""
    series = []
    for arm, rows in metrics["accuracy_vs_tokens"].items():
        label, color = ARM_STYLE.get(arm, (arm, None))
        acc = [r["accuracy"] for r in rows]
        series.append(Series(f"{label} ({metrics['advantage']})" if arm == "tree" else label,
                             [float(r["tokens"]) for r in rows], [a["value"] for a in acc],
                             [a["ci"][0] if a.get("ci") else None for a in acc],
                             [a["ci"][1] if a.get("ci") else None for a in acc], color=color))
    init = metrics["initial_accuracy"]["value"]
    hl = [HLine("starting policy", init)] if init is not None else []
    panel = Panel("greedy test accuracy vs training tokens", series, hl,
                  ylabel="answer accuracy", xlabel="training tokens generated (log)")
    # two arms evaluated at different token counts: labelling every point would overlap
    return plot_panels([panel], path, log_base=2, max_ticks=0)
