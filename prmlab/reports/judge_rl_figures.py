"""The reward curves of the judges trained by RL (`judge/rl_curve.jsonl` in their cells): mean
reward, the share of ok verdicts (a judge collapsing to "always correct" drifts to 1 under
balanced sampling, where the right share is about one half) and the sampling policy's entropy,
per GRPO step, one line per RL cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prmlab.errors import InputError
from prmlab.experiments.records import JudgeCell
from prmlab.reports import figures as F
from prmlab.strict import decode, loads, read_bytes

FIGURE = "rl_curves.png"
CURVE = ("judge", "rl_curve.jsonl")
PANELS = (("reward_mean", "mean reward (verdict agrees with the label)", True),
          ("verdict_ok", "share of ok verdicts", True),
          ("entropy", "entropy per token (nats)", False))


def read_curve(path: Path) -> list[dict[str, Any]]:
    """The rows of one rl_curve.jsonl; a row that is not an object with a step is an InputError
    naming its line."""
    rows = []
    for i, line in enumerate(decode(read_bytes(path, note=False), path).splitlines(), 1):
        if not line.strip():
            continue
        row = loads(line, path=path, line=i)
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise InputError("expected an object with an integer step", path=str(path), line=i)
        rows.append(row)
    return rows


def rl_curves(cells) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(cell id, format, curve rows) of every judge cell whose judge folder holds a curve."""
    out = []
    for c in cells:
        f = c.path.joinpath(*CURVE)
        if isinstance(c.record, JudgeCell) and f.is_file():
            out.append((c.id, c.record.format, read_curve(f)))
    return out


def plot_curves(curves: list[tuple[str, list[dict[str, Any]]]], path: Path) -> bytes:
    """The three panels, one line per (label, rows); writes the PNG atomically."""
    fig, axes = F._figure(len(PANELS))
    ids = [cid for cid, _ in curves]
    for ax, (key, title, unit) in zip(axes, PANELS):
        for cid, rows in curves:
            pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", color=F.color_for(cid, ids),
                    label=cid, linewidth=1.2)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("GRPO step")
        if unit:
            ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    return F._write(fig, path)


def judge_curve_figure(judge_dir: Path) -> Path:
    """`prmlab train judge`: the curve of one RL-trained judge, as rl_curve.png beside it."""
    out = judge_dir / "rl_curve.png"
    plot_curves([(judge_dir.name, read_curve(judge_dir / CURVE[1]))], out)
    return out


def rl_figure(cells, fig_dir: Path) -> tuple[str, str, bytes] | None:
    """The run's figure, or None when no cell trained by RL."""
    curves = rl_curves(cells)
    if not curves:
        return None
    data = plot_curves([(cid, rows) for cid, _, rows in curves], fig_dir / FIGURE)
    caption = ("RL-trained judges per GRPO step: mean reward, the share of ok verdicts (about 0.5 "
               "is right under class-balanced prompts; 1 is the \"always correct\" collapse) and "
               "the sampling entropy. Each cell's curve is its judge/rl_curve.jsonl.")
    return FIGURE, caption, data
