"""Figures of policy RL: curves over optimizer steps (linear x: reward, train and test
accuracy) and pass@k curves (log2 x, via `figures.plot_panels`). Drawn from plain `Series`, so
one run and a suite's mean over seeds use the same code."""

from __future__ import annotations

import math
import os
from typing import Sequence

from prmlab.reports.figures import _figure, _nan, _write, Panel, Series, plot_panels

RL_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
             "#17becf")


def plot_steps(panels: Sequence[Panel], path: str | os.PathLike, *, suptitle: str = "") -> bytes:
    """Lines over optimizer steps (linear x) with CI bands where the series have them."""
    fig, axes = _figure(len(panels))
    for ax, p in zip(axes, panels):
        drawn = False
        for s in p.series:
            if not s.x or all(y is None for y in s.y):
                continue
            y = [_nan(v) for v in s.y]
            line = ":" if s.marker == "." else "-"  # "." marks a per-step series (rollouts): dotted
            ax.plot(s.x, y, s.marker + line, color=s.color, label=s.label, markersize=3)
            lo, hi = [_nan(v) for v in s.lo], [_nan(v) for v in s.hi]
            if lo and any(not math.isnan(v) for v in lo):
                ax.fill_between(s.x, lo, hi, color=s.color, alpha=0.15, linewidth=0)
            drawn = True
        for h in p.hlines:
            ax.axhline(h.y, color=h.color, linestyle=h.style, linewidth=1.1, label=h.label)
        if p.unit_y:
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(p.title, fontsize=10)
        ax.set_xlabel(p.xlabel or "optimizer step", fontsize=9)
        ax.set_ylabel(p.ylabel, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if not drawn:
            ax.text(0.5, 0.5, "no defined values", transform=ax.transAxes, ha="center",
                    va="center", color="#777777", fontsize=9)
        elif ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best", framealpha=0.85)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return _write(fig, path)


def plot_passk(panels: Sequence[Panel], path: str | os.PathLike) -> bytes:
    """pass@k against k (log2 x), one panel per base, CI bands."""
    return plot_panels(panels, path, log_base=2, max_ticks=12)


__all__ = ["RL_COLORS", "Panel", "Series", "plot_passk", "plot_steps"]
