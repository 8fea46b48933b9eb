"""Issue 16 item 7: read the re-measure of `base.drills` and `fit.decay_steps` (dev/LOG.md,
2026-12-06 for the pre-registration and the commands, 2026-12-07 for decay's result; both
options were removed by the rule, their saved folders still read) and print the table and the
verdicts.

    python dev/remeasure_options.py runs/options

ROOT holds one `prmlab run` folder per arm and base seed: `default-b{S}`, `drills-b{S}`,
`decay-b{S}`. The rule is the claims suite's `AtLeast(0.05)` over base seeds, on the generative
judge's F1 at N = 1024 (option − default, paired by seed); the zero-label F1 and the base's
probes are printed beside it and decide nothing. Reads records only, never a model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from prmlab.claims.rules import AtLeast
from prmlab.claims.stats import summarize
from prmlab.claims.view import ReplicateView, read_folder
from prmlab.experiments.records import read_artifacts

SEEDS = (0, 1, 2)
OPTIONS = {"drills": "base.drills=3", "decay": "base.fit.decay_steps=400"}
BUDGET = 1024
RULE = AtLeast(0.05)
PROBES = ("slip_flagged", "check_exact", "hard_check_exact", "name_exact", "worked_exact")


def _fmt(v: float | None, ci: list[float] | None = None) -> str:
    if v is None:
        return "—"
    return f"{v:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def _probes(path: Path, seed: int) -> dict:
    art = path / "artifacts.json"
    if not art.is_file():
        return {}
    mine = read_artifacts(art, seed).get(seed)
    return (mine.base_report if mine else None) or {}


def _read(root: Path, arm: str, seed: int, budget: int) -> dict:
    name = f"{arm}-b{seed}"
    view = ReplicateView(seed, None, {arm: read_folder(root / name, name, arm, seed, 0)})
    out = {"gen": None, "gen_ci": None, "zl": None, "zl_ci": None,
           "probes": _probes(root / name, seed)}
    judge, zero = view.judge(arm, "generative", budget), view.zero_label(arm)
    for key, ref in (("gen", judge), ("zl", zero)):
        if ref is not None:
            m = ref.record.metrics.of("policy").f1
            out[key], out[key + "_ci"] = m.value, m.ci
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--budget", type=int, default=BUDGET, help="the generative judge's budget read")
    args = ap.parse_args()
    root, budget = args.root, args.budget
    got = {(arm, s): _read(root, arm, s, budget) for arm in ("default", *OPTIONS) for s in SEEDS}
    print(f"| arm | base seed | generative N={budget} F1 [95% CI] | zero-label F1 | "
          + " | ".join(PROBES) + " |")
    print("| --- | --- | --- | --- | " + " | ".join("---" for _ in PROBES) + " |")
    for (arm, s), r in got.items():
        probes = " | ".join(_fmt(r["probes"].get(p) if isinstance(r["probes"].get(p), float)
                                 else None) for p in PROBES)
        print(f"| {arm} | {s} | {_fmt(r['gen'], r['gen_ci'])} | {_fmt(r['zl'], r['zl_ci'])} | {probes} |")
    print()
    for opt, sets in OPTIONS.items():
        for key, label in (("gen", f"generative N={budget} (decides)"), ("zl", "zero-label")):
            diffs = [None if got[(opt, s)][key] is None or got[("default", s)][key] is None
                     else got[(opt, s)][key] - got[("default", s)][key] for s in SEEDS]
            summ = summarize(diffs)
            verdict, why = RULE.decide(summ)
            per = ", ".join("—" if d is None else f"{d:+.3f}" for d in diffs)
            ci = f"[{summ.ci[0]:+.3f}, {summ.ci[1]:+.3f}]" if summ.ci else "no CI"
            mean = "—" if summ.mean is None else f"{summ.mean:+.3f}"
            print(f"{sets} − default, {label}: per seed {per}; mean {mean} {ci}: {verdict} ({why})")


if __name__ == "__main__":
    main()
