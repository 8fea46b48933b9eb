"""Report figures: matplotlib through its Agg canvas (no pyplot, no global backend switch).

Deterministic: the same data gives byte-identical PNGs (fixed size, dpi and colours, and no
"Software" text chunk). Every figure is drawn from plain data (`Series`, `HLine`, `Panel`), so
this module knows nothing about run folders.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field
from typing import Sequence

from prmlab.atomic import atomic_open
from prmlab.judges.formats import JUDGE_FORMATS

DPI = 100
# Series that are not judge formats; a judge format's colour is in its spec (JUDGE_FORMATS).
SERIES_COLORS = {"zero-label": "#000000", "pass@k": "#7f7f7f", "maj@k": "#bcbd22"}


def _fixed_colors() -> dict[str, str]:
    return {**{name: f.color for name, f in JUDGE_FORMATS.items()}, **SERIES_COLORS}


FORMAT_COLORS = _fixed_colors()  # the table at import; color_for reads the registry as it is now
EXTRA_COLORS = ("#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#393b79", "#637939")
HLINE_STYLES = ("--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))


def color_for(name: str, others: Sequence[str] = ()) -> str:
    """A fixed colour per format; names outside the table cycle EXTRA_COLORS in given order."""
    fixed = _fixed_colors()
    if name in fixed:
        return fixed[name]
    rest = [o for o in others if o not in fixed]
    i = rest.index(name) if name in rest else 0
    return EXTRA_COLORS[i % len(EXTRA_COLORS)]


@dataclass
class Series:
    label: str
    x: list[float]
    y: list[float | None]
    lo: list[float | None] = field(default_factory=list)  # CI bounds ([] = none)
    hi: list[float | None] = field(default_factory=list)
    color: str | None = None
    marker: str = "o"


@dataclass
class HLine:
    label: str
    y: float
    color: str = "#555555"
    style: object = "--"


@dataclass
class Panel:
    title: str
    series: list[Series]
    hlines: list[HLine] = field(default_factory=list)
    ylabel: str = "F1"
    xlabel: str = ""
    unit_y: bool = True  # y in [0, 1]


def _nan(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def _figure(n: int, ncols: int | None = None, w: float = 4.4, h: float = 3.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ncols = ncols or n
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(w * ncols, h * nrows), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    flat = [a for row in axes for a in row]
    for a in flat[n:]:
        a.set_visible(False)
    return fig, flat[:n]


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _write(fig, path: str | os.PathLike) -> bytes:
    data = png_bytes(fig)
    with atomic_open(path, "wb") as f:
        f.write(data)
    return data


def plot_panels(panels: Sequence[Panel], path: str | os.PathLike, *, log_base: int = 10,
                errorbars: bool = False, ncols: int | None = None, suptitle: str = "",
                legend_panel: int = 0, band_alpha: float = 0.15, max_ticks: int = 8,
                linear: bool = False) -> bytes:
    """Lines (with CI bands, or error bars) per panel on a log x axis (`linear`: a linear one),
    dashed horizontal reference lines; writes the PNG atomically and returns its bytes."""
    from matplotlib.ticker import FixedLocator, NullLocator

    fig, axes = _figure(len(panels), ncols)
    for ax, p in zip(axes, panels):
        xs_all: set[float] = set()
        for s in p.series:
            pts = [(x, y, (s.lo[j] if s.lo else None), (s.hi[j] if s.hi else None))
                   for j, (x, y) in enumerate(zip(s.x, s.y)) if x is not None and x > 0]
            if not pts or all(y is None for _, y, _, _ in pts):
                continue
            x = [q[0] for q in pts]
            y = [_nan(q[1]) for q in pts]
            lo = [_nan(q[2]) for q in pts]
            hi = [_nan(q[3]) for q in pts]
            xs_all.update(x)
            has_ci = any(not math.isnan(v) for v in lo)
            if errorbars:
                yerr = [[max(0.0, yv - lv) if not math.isnan(lv) else 0.0 for yv, lv in zip(y, lo)],
                        [max(0.0, hv - yv) if not math.isnan(hv) else 0.0 for yv, hv in zip(y, hi)]]
                ax.errorbar(x, y, yerr=yerr if has_ci else None, fmt=s.marker + "-", color=s.color,
                            capsize=3, label=s.label)
            else:
                ax.plot(x, y, s.marker + "-", color=s.color, label=s.label, markersize=4)
                if has_ci:
                    ax.fill_between(x, lo, hi, color=s.color, alpha=band_alpha, linewidth=0)
        for h in p.hlines:
            ax.axhline(h.y, color=h.color, linestyle=h.style, linewidth=1.1, label=h.label)
        if xs_all:
            if not linear:
                ax.set_xscale("log", base=log_base)
            ticks = sorted(xs_all)
            if len(ticks) <= max_ticks:  # label the points themselves; else matplotlib's log ticks
                ax.xaxis.set_major_locator(FixedLocator(ticks))
                ax.set_xticklabels([f"{t:g}" for t in ticks])
                ax.xaxis.set_minor_locator(NullLocator())
            if len(ticks) == 1:
                ax.set_xlim(ticks[0] / 2, ticks[0] * 2)
        if p.unit_y:
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(p.title, fontsize=10)
        ax.set_xlabel(p.xlabel, fontsize=9)
        ax.set_ylabel(p.ylabel, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if not xs_all:
            ax.set_xticks([])
            ax.text(0.5, 0.5, "no defined values", transform=ax.transAxes, ha="center",
                    va="center", color="#777777", fontsize=9)
    # one legend: on `legend_panel`, or the first panel after it (cyclically) that has lines
    for j in list(range(legend_panel, len(axes))) + list(range(legend_panel)):
        if axes[j].get_legend_handles_labels()[0]:
            axes[j].legend(fontsize=7, loc="best", framealpha=0.85)
            break
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return _write(fig, path)


__all__ = ["DPI", "FORMAT_COLORS", "SERIES_COLORS", "HLINE_STYLES", "color_for", "Series", "HLine", "Panel",
           "png_bytes", "plot_panels"]
