"""The report of a `prmlab rl` run folder, and of an RL suite's folders, from their typed
`result.json` alone (never a model, never torch).

One run (`write_rl_report(OUT)`): OUT/report.md, OUT/report.html and OUT/figures/rl_*.png —
the reward curve and the rollouts' train accuracy, greedy train/test accuracy per evaluation
step (the one-example curve), pass@k before vs after RL with its crossing, and a table of every
number with its 95% bootstrap CI over problems, its direction and the baselines beside it (the
policy RL started from; a policy that never states the gold answer scores 0).

A suite (`write_rl_suite_report(OUT, runs)`): the same figures with one line per arm (base ×
reward × training problems) averaged over seeds, a Student-t 95% CI over seeds where an arm has
two or more (`claims.stats.summarize`), and one pass@k panel per base.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from prmlab.atomic import write_text
from prmlab.claims.stats import summarize
from prmlab.experiments.records import Metric
from prmlab.experiments.rl_records import RLResult, read_result
from prmlab.reports.render import Block, render_html, render_md
from prmlab.reports.rl_figures import RL_COLORS, Panel, Series, plot_passk, plot_steps
from prmlab.reports.tables import Table

FIGURES = ("rl_reward.png", "rl_accuracy.png", "rl_passk.png")
SUITE_FILE = "rl-suite.json"  # experiments/rl_suite.py's (imported there with torch: named here)


def suite_runs(out: Path) -> list[Path]:
    """The run folders of an RL suite folder, finished or not."""
    runs = Path(out) / "runs"
    return sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []


def fmt(m: Metric | None) -> str:
    """A metric as 'value [lo, hi]' (— when undefined)."""
    if m is None or m.value is None:
        return "—" + (f" ({m.reason})" if m is not None and m.reason else "")
    return f"{m.value:.3f}" + (f" [{m.ci[0]:.3f}, {m.ci[1]:.3f}]" if m.ci else "")


def arm_name(r: RLResult) -> str:
    n = "all" if r.train.candidates == len(r.train.problems) else str(len(r.train.problems))
    return f"{r.label or 'policy'} · {r.reward} · N={n}"


def _metric_series(label: str, pts: Sequence[tuple[int, Metric]], color: str) -> Series:
    return Series(label, [float(s) for s, _ in pts], [m.value for _, m in pts],
                  [m.ci[0] if m.ci else None for _, m in pts],
                  [m.ci[1] if m.ci else None for _, m in pts], color=color)


def _mean_series(label: str, runs: Sequence[Sequence[tuple[int, float | None]]], color: str,
                 marker: str = "o") -> Series:
    """The mean over seeds at every x all of them share, with the t CI over seeds (n >= 2)."""
    xs = sorted(set.intersection(*(set(x for x, _ in r) for r in runs))) if runs else []
    y, lo, hi = [], [], []
    for x in xs:
        s = summarize([dict(r)[x] for r in runs])
        y.append(s.mean)
        lo.append(s.ci[0] if s.ci else None)
        hi.append(s.ci[1] if s.ci else None)
    return Series(label, [float(x) for x in xs], y, lo, hi, color=color, marker=marker)


def _groups(results: Sequence[RLResult]) -> dict[str, list[RLResult]]:
    out: dict[str, list[RLResult]] = {}
    for r in sorted(results, key=lambda r: (arm_name(r), r.seed)):
        out.setdefault(arm_name(r), []).append(r)
    return out


def step_figures(results: Sequence[RLResult], figdir: Path, suffix: str = "") -> list[tuple[str, str, bytes]]:
    """Reward/train-accuracy and greedy-accuracy curves, one line per arm (mean over seeds)."""
    groups = _groups(results)
    one = len(results) == 1
    rew, acc = [], []
    for i, (name, rs) in enumerate(groups.items()):
        c = RL_COLORS[i % len(RL_COLORS)]
        if one:
            r = rs[0]
            rew += [Series("reward (mean of the step's samples)", [p.step for p in r.curve],
                           [p.reward_mean for p in r.curve], color=c),
                    Series("train accuracy of the rollouts", [p.step for p in r.curve],
                           [p.train_accuracy for p in r.curve], color="#7f7f7f", marker=".")]
            acc += [_metric_series("test greedy", [(e.step, e.test_greedy_accuracy) for e in r.evals], c),
                    _metric_series("train greedy", [(e.step, e.train_greedy_accuracy) for e in r.evals], "#7f7f7f")]
            continue
        rew.append(_mean_series(name, [[(p.step, p.reward_mean) for p in r.curve] for r in rs], c))
        acc.append(_mean_series(f"{name} test", [[(e.step, e.test_greedy_accuracy.value) for e in r.evals] for r in rs], c))
        acc.append(_mean_series(f"{name} train", [[(p.step, p.train_accuracy) for p in r.curve] for r in rs], c, "."))
    ci = "" if one else " (mean over seeds, t 95% CI with ≥ 2 seeds)"
    out = []
    name = f"rl_reward{suffix}.png"
    out.append((name, "Reward per optimizer step" + (" and the share of rollouts the verifier accepts" if one else ci),
                plot_steps([Panel("reward per step", rew, ylabel="reward", unit_y=False)], figdir / name)))
    name = f"rl_accuracy{suffix}.png"
    what = ("greedy accuracy on the training problems and the held-out test problems at every "
            "evaluation step (95% bootstrap CI over problems)" if one else
            "test greedy accuracy (solid) and rollout train accuracy (dotted) per step" + ci)
    out.append((name, "One-example curve: " + what,
                plot_steps([Panel("accuracy vs step", acc, ylabel="accuracy")], figdir / name)))
    return out


def passk_figure(results: Sequence[RLResult], figdir: Path, name: str = "rl_passk.png") -> tuple[str, str, bytes]:
    """pass@k before (the policy RL started from) and after RL, one panel per base label."""
    panels = []
    by_label: dict[str, list[RLResult]] = {}
    for r in results:
        by_label.setdefault(r.label or "policy", []).append(r)
    for label, rs in sorted(by_label.items()):
        series = []
        if len(results) == 1:
            r = rs[0]
            for lab, ev, c in (("before RL", r.before, "#7f7f7f"), (f"after RL ({r.reward})", r.after, RL_COLORS[0])):
                pk = ev.test_sampled.pass_at_k
                series.append(_metric_series(lab, [(int(k), pk[k]) for k in sorted(pk, key=int)], c))
        else:
            first = sorted(rs, key=lambda r: r.seed)
            series.append(_mean_series("before RL", [[(int(k), m.value) for k, m in r.before.test_sampled.pass_at_k.items()]
                                                     for r in first if r.seed == first[0].seed][:1], "#7f7f7f"))
            for i, (arm, grp) in enumerate(_groups(rs).items()):
                series.append(_mean_series(arm, [[(int(k), m.value) for k, m in r.after.test_sampled.pass_at_k.items()]
                                                 for r in grp], RL_COLORS[i % len(RL_COLORS)]))
        panels.append(Panel(f"pass@k, {label}", series, ylabel="pass@k (unbiased)", xlabel="k (samples)"))
    cap = ("pass@k on held-out test problems (unbiased estimator), before and after RL; 95% CI "
           + ("over problems" if len(results) == 1 else "over seeds"))
    return name, cap, plot_passk(panels, figdir / name)


def run_table(r: RLResult) -> Table:
    rows = [["greedy accuracy, training problems", "↑", fmt(r.before.train_greedy_accuracy), fmt(r.after.train_greedy_accuracy)],
            ["greedy accuracy, test problems", "↑", fmt(r.before.test_greedy_accuracy), fmt(r.after.test_greedy_accuracy)]]
    b, a = r.before.test_sampled, r.after.test_sampled
    for k in r.pass_at_k_gap.ks:
        rows.append([f"pass@{k}, test (T={a.temperature:g})", "↑", fmt(b.pass_at_k[str(k)]), fmt(a.pass_at_k[str(k)])])
    rows.append(["answer coverage (any sample right)", "↑", fmt(b.coverage), fmt(a.coverage)])
    rows.append(["distinct answers per problem", "(diversity)", fmt(b.distinct_answers), fmt(a.distinct_answers)])
    return Table(["metric", "better", "before RL (baseline)", "after RL"], rows, notes=[
        "95% bootstrap CI over problems. Baselines: the policy RL started from (the column "
        "beside), and a policy that never states the gold answer (0 on every accuracy row)."])


def gap_lines(r: RLResult) -> list[str]:
    g = r.pass_at_k_gap
    c = g.crossing
    k_max = str(g.ks[-1])
    where = (f"the curves cross at k = {c.k}" if c.k is not None else
             f"the curves do not cross on k = 1..{g.ks[-1]}")
    if c.ci is not None:
        lo, hi = (("beyond the grid" if x is None else str(x)) for x in c.ci)
        where += (f" (95% bootstrap interval of the crossing k: {lo} to {hi}; "
                  f"{c.share_crossing:.0%} of {c.n_resamples} resamples cross)")
    return [f"pass@1 gap (after − before): {fmt(g.gap['1'])}; pass@{k_max} gap: {fmt(g.gap[k_max])}; "
            f"coverage gap: {fmt(g.coverage_gap)}", where + f" ({c.rule})"]


def write_rl_report(out: Path) -> Path:
    """OUT/report.md, report.html and figures/ from OUT/result.json; returns report.md."""
    out = Path(out)
    r = read_result(out)
    figdir = out / "figures"
    figdir.mkdir(exist_ok=True)
    figs = step_figures([r], figdir) + [passk_figure([r], figdir)]
    sat = (f"rollouts all correct first at step {r.train_saturated_at}; training and evaluation "
           "continued to the last step" if r.train_saturated_at else "training accuracy never saturated")
    blocks: list[Block] = [
        ("h1", f"prmlab rl — reward {r.reward}, seed {r.seed}"),
        ("headline", f"test greedy accuracy {fmt(r.before.test_greedy_accuracy)} → "
                     f"{fmt(r.after.test_greedy_accuracy)} after {r.steps} GRPO steps; " + gap_lines(r)[0]),
        ("ul", [f"trained on: {r.train.rule} ({len(r.train.problems)} problem(s), duplicated to fill every batch)",
                sat, *gap_lines(r)[1:],
                f"policy {r.policy}; base {r.base or '—'}; resumed from step {r.resumed_from}; "
                f"{r.steps_per_s:.3f} steps/s, {r.samples_per_s:.1f} samples/s"]),
        ("h2", "Before and after RL"), ("table", run_table(r)),
        ("h2", "Figures"), *(("fig", n, c) for n, c, _ in figs)]
    return _write_doc(out, blocks, figs)


def _write_doc(out: Path, blocks: list[Block], figs) -> Path:
    write_text(out / "report.md", render_md(blocks))
    write_text(out / "report.html", render_html(blocks, {n: d for n, _, d in figs}))
    return out / "report.md"


def suite_table(results: Sequence[RLResult]) -> Table:
    rows = []
    for name, rs in _groups(results).items():
        gain = summarize([r.after.test_greedy_accuracy.value - r.before.test_greedy_accuracy.value
                          if r.after.test_greedy_accuracy.value is not None
                          and r.before.test_greedy_accuracy.value is not None else None for r in rs])
        k_max = str(rs[0].pass_at_k_gap.ks[-1])
        gap = summarize([r.pass_at_k_gap.gap[k_max].value for r in rs])
        cross = [r.pass_at_k_gap.crossing.k for r in rs]

        def t(s) -> str:
            if s.mean is None:
                return "—"
            z = [round(x, 9) + 0.0 for x in (s.mean, *(s.ci or ()))]  # no "-0.000" from rounding noise
            return f"{z[0]:+.3f}" + (f" [{z[1]:+.3f}, {z[2]:+.3f}]" if s.ci else "")
        rows.append([name, str(len(rs)), t(gain), f"pass@{k_max}: {t(gap)}",
                     ", ".join("—" if k is None else str(k) for k in cross)])
    return Table(["arm (base · reward · training problems)", "seeds", "test greedy accuracy gain ↑",
                  "pass@k_max gap (after − before) ↑", "crossing k per seed"], rows, notes=[
        "Mean over seeds with the Student-t 95% CI over seeds (none with one seed). The baseline "
        "of every gain is the policy RL started from (gain 0)."])


def write_rl_suite_report(out: Path, run_folders: Sequence[Path]) -> Path:
    """OUT/report.md (+ html, figures) over the finished RL runs among `run_folders`."""
    out = Path(out)
    results = [read_result(f) for f in run_folders if (Path(f) / "result.json").is_file()]
    missing = [str(f) for f in run_folders if not (Path(f) / "result.json").is_file()]
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    figs = (step_figures(results, figdir) + [passk_figure(results, figdir)]) if results else []
    blocks: list[Block] = [("h1", "prmlab RL suite"),
                           ("ul", [f"{len(results)} finished run(s) of {len(run_folders)}"]
                            + ([f"not finished: {', '.join(missing)}"] if missing else []))]
    if results:
        blocks += [("h2", "Arms"), ("table", suite_table(results)), ("h2", "Figures"),
                   *(("fig", n, c) for n, c, _ in figs)]
    return _write_doc(out, blocks, figs)


__all__ = ["FIGURES", "arm_name", "fmt", "write_rl_report", "write_rl_suite_report"]
