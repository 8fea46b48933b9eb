"""The figure of `prmlab label --quality`: rollout-label quality against its compute."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_quality(rows: list[dict[str, Any]], path: str | Path, *, title: str = "") -> None:
    """Quality vs compute: first-error exact match and "wrong step" F1 against tokens generated,
    one line per method, points labelled with K. PNG, Agg backend, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from prmlab.reports.plots import save_png

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    for ax, key, label in ((axes[0], "first_error_exact", "first-error exact match"),
                           (axes[1], "wrong_f1", 'F1 of "step is wrong"')):
        for m in methods:
            pts = sorted((r for r in rows if r["method"] == m), key=lambda r: r["k"])
            xs = [max(r["tokens_generated"], 1) for r in pts]
            ys = [float("nan") if r[key] is None else r[key] for r in pts]
            ax.plot(xs, ys, "o-", label=m)
            for x, y, r in zip(xs, ys, pts):
                ax.annotate(f"K={r['k']}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("tokens generated (log)")
        ax.set_ylabel(label)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    if title:
        fig.suptitle(title)
    save_png(fig, path)
