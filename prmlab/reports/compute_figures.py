"""Figures of the test-time compute studies: judge compute (F1 and best-of-N against judge
tokens) and chunk-reset decoding (accuracy against policy + judge tokens, beside best-of-N)."""

from __future__ import annotations

import os
from typing import Any, Mapping

from prmlab.reports.figures import HLine, Panel, Series, color_for, plot_panels

AGG_COLORS = {"majority": "#1f77b4", "mean_p": "#d62728", "meta_top": "#2ca02c"}


def _ci(m: Mapping[str, Any], i: int) -> float | None:
    ci = m.get("ci")
    return ci[i] if ci else None


def _series(by_k: Mapping[str, Mapping[str, Any]], label: str, color: str | None) -> Series:
    ks = sorted(by_k, key=int)
    return Series(label, [float(by_k[k]["judge_tokens"]["generated"]) for k in ks],
                  [by_k[k]["value"] for k in ks], [_ci(by_k[k], 0) for k in ks],
                  [_ci(by_k[k], 1) for k in ks], color=color)


def plot_judge_compute(metrics: Mapping[str, Any], path: str | os.PathLike) -> bytes:
    """F1 vs judge tokens generated (one line per aggregator, 95% CI bands, trivial baselines
    dashed); a second panel for best-of-N rm@N when the study has one."""
    panels = [Panel("ProcessBench F1 vs judge compute",
                    [_series(v, k, AGG_COLORS.get(k)) for k, v in metrics["f1"].items()],
                    [HLine(n, b["value"]) for n, b in metrics["f1_baselines"].items()
                     if b.get("value") is not None and n in ("baseline:never", "baseline:random")],
                    xlabel="judge tokens generated (log)")]
    bon = metrics.get("bon")
    if bon:
        panels.append(Panel(f"best-of-{bon['N']} vs judge compute",
                            [_series(v, k, AGG_COLORS.get(k)) for k, v in bon["rm@N"].items()],
                            [HLine(f"maj@{bon['N']}", bon["maj@N"]["value"], color="#777777"),
                             HLine("pass@1", bon["pass@1"]["value"], color="#bbbbbb")],
                            ylabel="answer accuracy", xlabel="judge tokens generated (log)"))
    return plot_panels(panels, path, log_base=2)


def plot_chunk_reset(metrics: Mapping[str, Any], path: str | os.PathLike) -> bytes:
    """Final-answer accuracy vs total tokens (policy + judge generated): chunk-reset at each R
    against best-of-N at each N, 95% CI bands."""
    def series(rows: list, label: str) -> Series:
        return Series(label, [float(r["tokens"]["total"]) for r in rows],
                      [r["accuracy"]["value"] for r in rows], [_ci(r["accuracy"], 0) for r in rows],
                      [_ci(r["accuracy"], 1) for r in rows], color=color_for(label))

    panel = Panel("final-answer accuracy vs tokens",
                  [series(metrics["chunk_reset"], "chunk-reset (R tries)"),
                   series(metrics["best_of_n"], "best-of-N (judge picks)")],
                  ylabel="answer accuracy", xlabel="policy + judge tokens generated (log)")
    return plot_panels([panel], path, log_base=2)
