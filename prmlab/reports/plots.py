"""Small matplotlib helpers (Agg backend, PNG, written atomically)."""

from __future__ import annotations

import os
from typing import Any, Mapping

from prmlab.atomic import atomic_open


def plot_bon(metrics: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Accuracy vs k (log2 x axis) for pass@k, maj@k and rm@k, with 95% CI bands, and the
    oracle pass@N as a dotted line; from a `bon_metrics` dict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = list(metrics["ks"])
    fig, ax = plt.subplots(figsize=(5.5, 4), dpi=120)
    for key, style in (("pass@k", "o-"), ("maj@k", "s-"), ("rm@k", "^-")):
        if key not in metrics:
            continue
        vals = [metrics[key][str(k)] for k in ks]
        y = [v["value"] for v in vals]
        label = key if key != "rm@k" or not metrics.get("agg") else f"rm@k ({metrics['agg']})"
        (line,) = ax.plot(ks, y, style, label=label)
        if all(v.get("ci") for v in vals):
            ax.fill_between(ks, [v["ci"][0] for v in vals], [v["ci"][1] for v in vals],
                            color=line.get_color(), alpha=0.15, linewidth=0)
    if metrics.get("oracle", {}).get("value") is not None:
        ax.axhline(metrics["oracle"]["value"], color="grey", linestyle=":", label="oracle pass@N")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ks)
    ax.set_xticklabels([str(k) for k in ks])
    ax.set_xlabel("k (samples)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"best-of-N, {metrics.get('n_problems', '?')} problems (95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    save_png(fig, path)


def save_png(fig, path: str | os.PathLike) -> None:
    """Lay out, write atomically as PNG, and close a pyplot figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        with atomic_open(path, "wb") as f:
            fig.savefig(f, format="png")
    finally:
        plt.close(fig)
