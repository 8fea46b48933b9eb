"""The `prmlab pcl` report: `report.md` and `pcl.png` from a run folder's files only.

Panels: the training correctness per step of each arm (and the PCL arm's agreement of its
prediction with the real reward), and test greedy accuracy per arm with 95% CIs. The tables:
accuracy with the paired difference, and the outcome judges (self-evaluation, ORM when run,
"always correct", "always wrong") with AUROC and F1s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prmlab.atomic import write_text
from prmlab.reports.plots import save_png
from prmlab.strict import loads, read_json


def _fmt(m: dict | None) -> str:
    if not m or m.get("value") is None:
        return "— (" + (m or {}).get("reason", "undefined") + ")"
    ci = m.get("ci")
    return f"{m['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _curve(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [loads(x, path=path) for x in path.read_text(encoding="utf-8").splitlines() if x]


def plot(out: Path, metrics: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    for arm in ("grpo", "pcl"):
        rows = _curve(out / arm / "curve.jsonl")
        if rows:
            a.plot([r["step"] for r in rows], [r["correct_mean"] for r in rows], "o-", label=f"{arm}: correct")
        if arm == "pcl" and rows:
            a.plot([r["step"] for r in rows], [r["agreement_mean"] for r in rows], "s--",
                   label="pcl: prediction agrees")
    a.set_xlabel("optimizer step")
    a.set_ylabel("share of the step's samples")
    a.set_title("training samples")
    a.grid(alpha=0.3)
    a.legend(fontsize=8)
    names = list(metrics["arms"])
    vals = [metrics["arms"][n]["test_greedy_accuracy"] for n in names]
    y = [v["value"] if v["value"] is not None else 0.0 for v in vals]
    err = [[max(0.0, v["value"] - v["ci"][0]) if v.get("ci") else 0.0 for v in vals],
           [max(0.0, v["ci"][1] - v["value"]) if v.get("ci") else 0.0 for v in vals]]
    b.bar(names, y, yerr=err, capsize=4, color=["grey", "tab:blue", "tab:orange"][:len(names)])
    b.set_ylabel("greedy test accuracy (95% CI)")
    b.set_title(f"{metrics['n_test']} test problems, {metrics['steps']} steps")
    b.grid(alpha=0.3, axis="y")
    path = out / "pcl.png"
    save_png(fig, path)
    return path


def report(out: str | Path) -> Path:
    """Write `report.md` and `pcl.png` for a finished `prmlab pcl` folder."""
    out = Path(out)
    m = read_json(out / "metrics.json")
    plot(out, m)
    lines = [f"# Post-Completion Learning vs GRPO ({m['steps']} steps, lambda {m['lam']})", "",
             "![curves and accuracy](pcl.png)", "",
             "Test accuracy (higher is better; 95% bootstrap CIs over test problems):", "",
             "| arm | greedy accuracy | sampled accuracy |", "| --- | --- | --- |"]
    for name, a in m["arms"].items():
        lines.append(f"| {name} | {_fmt(a['test_greedy_accuracy'])} | {_fmt(a['test_sampled_accuracy'])} |")
    if "pcl_minus_grpo_greedy" in m:
        lines += ["", f"Paired difference pcl - grpo (greedy): {_fmt(m['pcl_minus_grpo_greedy'])}"]
    lines += ["", f"Outcome judges on each arm's own sampled test answers ({m['eval_samples']} per "
              "problem; higher is better; constant judges have AUROC 0.5):", "",
              "| arm | judge | AUROC | F1 (acc_err, acc_cor) | F1 flagging wrong | no verdict |",
              "| --- | --- | --- | --- | --- | --- |"]
    for name, a in m["arms"].items():
        for judge, j in a["judges"].items():
            lines.append(f"| {name} | {judge} | {_fmt(j['auroc'])} | {_fmt(j['f1'])} | "
                         f"{_fmt(j['f1_wrong'])} | {j.get('no_verdict', '')} |")
    path = out / "report.md"
    write_text(path, "\n".join(lines) + "\n")
    return path
