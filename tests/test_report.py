"""The report is rebuilt from run folders alone: a hand-written run folder in, figures,
report.md and a self-contained report.html out, byte-identical on a rebuild."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from prmlab.errors import InputError
from prmlab.experiments.records import (BaselineCell, BonCell, EvalMetrics, JudgeCell, Selection,
                                        Threshold, TTSCell, ZeroLabelCell, record_to_dict)
from prmlab.reports.report import build_report, headline
from prmlab.reports.tables import labels_needed, needed_ratio

# policy-set F1 by format and budget (seed 0); the generative curve is the hand-worked example:
# 0.6 at N=16, 0.8 at N=64 -> F1 0.7 at N=32 (log-linear).
F1 = {"generative": {16: 0.6, 64: 0.8, 256: 0.85},
      "discriminative": {16: 0.3, 64: 0.5, 256: 0.7}}


def m(v, half=0.05, direction="higher", n=100):
    if v is None:
        return {"value": None, "ci": None, "direction": direction, "n": 0, "reason": "no errors"}
    return {"value": v, "ci": [round(v - half, 6), round(v + half, 6)], "direction": direction,
            "n": n, "aggregation": "mean"}


def metrics(f1, shift=0.0) -> EvalMetrics:
    def one(f):
        if f is None:
            return {"f1": m(None), "acc_err": m(0.0), "acc_cor": m(1.0), "auroc": m(None),
                    "ece": m(None, direction="lower"), "threshold": 0.5}
        return {"f1": m(f), "acc_err": m(min(1.0, f + 0.05)), "acc_cor": m(max(0.0, f - 0.05)),
                "auroc": m(0.5 + f / 2), "ece": m(0.1, 0.02, "lower"), "threshold": 0.5}
    if f1 is None:
        return EvalMetrics(policy=one(None), injected=one(None), all=one(None))
    return EvalMetrics(policy=one(f1), injected=one(min(1.0, f1 + 0.1 + shift)),
                       all=one(min(1.0, f1 + 0.05)))


def judge(fmt, budget, seed, f1, *, step_labels=0, label_source="gold", chosen_lr=0.001,
          chosen_step=100, kept=None, compute=None) -> JudgeCell:
    return JudgeCell(format=fmt, budget=budget, seed=seed, label_source=label_source,
                     budget_solutions=budget if label_source == "gold" else 0,
                     step_labels=step_labels,
                     selection=Selection(metric="dev F1", dev_solutions=60, trials=[],
                                         chosen_lr=chosen_lr, chosen_step=chosen_step),
                     filter=({"chains": budget, "kept": int(budget * kept), "kept_fraction": kept}
                             if kept is not None else None),
                     threshold=Threshold(value=0.5, tuned=False), train_seconds=10.0,
                     score_seconds=2.0, compute=compute or {}, metrics=metrics(f1))


def write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not isinstance(obj, dict):
        obj = record_to_dict(obj)
    path.write_text(json.dumps(obj, indent=2))


def make_run(root: Path, *, extra_seed: bool = True) -> Path:
    out = root / "run"
    config = {"preset": "quick", "formats": ["discriminative", "generative"],
              "budgets": [16, 64, 256], "seeds": [0], "baselines": ["never", "last", "first", "random"],
              "tts": {"ks": [1, 2, 4], "temperature": 0.7, "budget": None, "max_solutions": 50},
              "bon": {"n_problems": 8, "n": 4}, "f1_targets": [0.5, 0.6, 0.7, 0.8],
              "bootstrap_resamples": 100}
    write(out / "config.json", {"config": config, "command": ["prmlab", "run", "--out", "run"],
                                "git_revision": "abc123", "versions": {"python": "3.11", "numpy": "2"}})
    write(out / "artifacts.json", {
        "base": "/cache/base/x", "policy": "/cache/policy/y", "policy_init": "/cache/base/x",
        "base_report": {"worked_exact": 0.97, "copy_exact": 0.99, "recompute_exact": 0.9,
                        "marks_exact": 0.96, "check_exact": 0.93, "params": 1234567,
                        "tokens": 5000000, "seconds": 321.5, "meets_bar": True, "bar": 0.95},
        "data": {"pool": 2400, "dev": 240, "eval_policy": 400, "eval_injected": 300, "bon": 1024},
        "data_summary": {k: {"n": n, "natural_error_rate": 0.3, "answer_accuracy": 0.75,
                             "right_answer_wrong_process": 0.05,
                             "error_types": {"correct": n - 30, "carry": 20, "copy": 10},
                             "generated_tokens": 10 * n, "prompt_tokens": 5 * n}
                         for k, n in (("pool_policy", 1200), ("eval_policy", 400), ("bon", 1024))}})
    cells = out / "cells"
    for fmt, curve in F1.items():
        for b, f in curve.items():
            seeds = [0, 1] if extra_seed and fmt == "discriminative" and b == 64 else [0]
            for seed in seeds:
                f_seed = f if seed == 0 else f + 0.1  # seeds 0.5 and 0.6 -> mean 0.55
                write(cells / f"{fmt}-N{b}-s{seed}" / "cell.json", judge(
                    fmt, b, seed, f_seed, step_labels=b * 5 if fmt == "discriminative" else b * 3,
                    chosen_step=100 + b, kept=0.75 if fmt == "generative" else None,
                    compute={"train_tokens_processed": 1000 * b}))
    for kind, f in (("never", 0.0), ("last", 0.25), ("first", 0.1), ("random", 0.15)):
        write(cells / f"baseline-{kind}" / "cell.json",
              BaselineCell(format=f"baseline:{kind}", metrics=metrics(f)))
    write(cells / "zero-label" / "cell.json", ZeroLabelCell(
        metrics=metrics(0.4), compute={"generated_tokens": 9000, "parse_failures": 3}, seconds=12.0))
    write(cells / "mc-hard-N0-s0" / "cell.json", judge(
        "discriminative", 0, 0, 0.45, label_source="mc-hard",
        compute={"train_tokens_processed": 5000, "generated_tokens": 77777}))
    write(cells / "tts-generative-N256-s0" / "cell.json", TTSCell(
        format="generative", budget=256, seed=0, ks=[1, 2, 4], temperature=0.7, threshold=0.5,
        compute={}, f1_by_k={str(k): {**m(v), "acc_err": v, "acc_cor": v, "k": k}
                             for k, v in ((1, 0.8), (2, 0.83), (4, 0.86))}))
    ks = ("1", "2", "4")
    write(cells / "bon" / "cell.json", BonCell.model_validate({
        "budget": 256, "seed": 0, "n": 4, "n_problems": 8,
        "pass@k": {k: m(0.5 + 0.1 * i) for i, k in enumerate(ks)},
        "maj@k": {k: m(0.5 + 0.05 * i) for i, k in enumerate(ks)},
        "oracle": m(0.8),
        "rm@k": {j: {a: {k: m(0.5 + d * i) for i, k in enumerate(ks)}
                     for a in ("min", "product", "last", "mean")}
                 for j, d in (("zero-label", 0.02), ("generative", 0.08), ("discriminative", 0.06))}}))
    # an unfinished cell: metrics written, no cell.json -> ignored
    write(cells / "generative-N1024-s0" / "policy" / "metrics.json", {"f1": m(0.987)})
    return out


def test_labels_needed_interpolates_log_linearly():
    pts = [(16, 0.6), (64, 0.8), (256, 0.85)]
    r = labels_needed(pts, 0.7)
    assert r["kind"] == "exact" and r["value"] == pytest.approx(32.0) and r["text"] == "32"
    assert labels_needed(pts, 0.6)["text"] == "≤16"  # the smallest budget already reaches it
    assert labels_needed(pts, 0.9)["text"] == ">256"
    # first crossing only, on a non-monotone curve: 0.3@16, 0.7@64 -> 0.5 at 32
    assert labels_needed([(16, 0.3), (64, 0.7), (256, 0.4)], 0.5)["value"] == pytest.approx(32.0)
    assert labels_needed([], 0.5)["text"] == "—"
    assert labels_needed([(16, 0.5), (64, 0.7 + 0.1)], 0.8)["text"] == "64"  # float rounding
    d, g = labels_needed([(16, 0.3), (256, 0.7)], 0.9), labels_needed(pts, 0.8)
    assert needed_ratio(d, g)["text"] == ">4.0×"


def test_headline_cases():
    gen = [(16, 0.6), (64, 0.8), (256, 0.85)]
    disc = [(16, 0.3), (64, 0.5), (256, 0.7)]
    h = headline({"generative": gen, "discriminative": disc}, [0.5, 0.6, 0.7, 0.8])
    assert h.startswith("On policy-sampled solutions, the generative judge reaches F1 0.70 with 32 "
                        "labelled solutions; the discriminative judge needs 256 (8.0× more).")
    assert "For F1 0.80, the generative judge needs 64" in h and "never reaches it" in h
    # the claim not holding: formats swapped
    h = headline({"generative": disc, "discriminative": gen}, [0.7])
    assert "the discriminative judge reaches F1 0.70 with 32" in h and "does not hold" in h
    # never reached by either
    h = headline({"generative": disc, "discriminative": disc}, [0.9])
    assert "neither" in h and "0.90" in h
    # a single budget
    h = headline({"generative": [(64, 0.7)], "discriminative": [(64, 0.8)]}, [0.5])
    assert "single label budget" in h and "discriminative judge is ahead by 0.100" in h
    # a missing format
    assert "not available" in headline({"generative": gen}, [0.7])


def test_build_report(tmp_path):
    out = make_run(tmp_path)
    res = build_report(out)
    md = (out / "report.md").read_text(encoding="utf-8")
    page = (out / "report.html").read_text(encoding="utf-8")
    names = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert names == sorted(["f1_vs_budget.png", "acc_vs_budget.png", "f1_vs_step_labels.png",
                            "tts.png", "bon.png", "bon_aggregations.png"])
    assert page.count("data:image/png;base64,") == len(names)
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    # headline: generative needs 32 for F1 0.7; discriminative (0.3, 0.55 mean of two seeds, 0.7)
    # needs 256 -> 8.0x
    assert res["headline"].startswith("On policy-sampled solutions, the generative judge reaches "
                                      "F1 0.70 with 32 labelled solutions; the discriminative "
                                      "judge needs 256 (8.0× more)")
    assert res["headline"] in md
    ln = res["labels_needed"]
    assert ln[0.7]["generative"]["value"] == pytest.approx(32.0)
    assert ln[0.6]["generative"]["text"] == "≤16"
    assert ln[0.8]["discriminative"]["text"] == ">256"
    # discriminative 0.55@64, 0.7@256: target 0.6 -> 64 * 4**(1/3)
    assert ln[0.6]["discriminative"]["value"] == pytest.approx(64 * 4 ** (1 / 3))
    assert ln[0.6]["ratio"]["text"] == f"≥{64 * 4 ** (1 / 3) / 16:.1f}×"
    assert "| 0.70 | 256 | 32 | 8.0× |" in md
    # ceiling and floor
    cf = " ".join(res["ceiling_floor"])
    assert "Ceiling: at the largest budget (256 labelled solutions) the best judge is generative, F1 0.850" in cf
    assert "Floor: the best trivial baseline is baseline:last, F1 0.250" in cf
    # two seeds: mean 0.55, CI = mean of bounds, sd over seeds
    assert "| discriminative | 64 | 1 × 2 | 0.550 [0.500, 0.600] sd 0.071 |" in md
    # baselines, zero-label, label-free sources, arrows
    for s in ("baseline:never", "baseline:random", "zero-label", "mc-hard", "ECE ↓", "F1 ↑",
              "## Other label sources", "## Base model", "## Data", "## Best-of-N",
              "## Verifier test-time scaling", "carry"):
        assert s in md, s
    # the unfinished cell is ignored (no F1 0.987 anywhere) but named
    assert "generative-N1024-s0" in res["unfinished"] and "generative-N1024-s0" not in res["cells"]
    assert "0.987" not in md

    before = {p: p.read_bytes() for p in [out / "report.md", out / "report.html",
                                          *sorted((out / "figures").glob("*.png"))]}
    build_report(out)
    after = {p: p.read_bytes() for p in before}
    assert before == after


def test_cli_and_bad_input(tmp_path):
    from prmlab.cli.report import register

    app = typer.Typer()

    @app.callback()
    def _root() -> None:  # makes `report` a subcommand
        pass

    register(app)
    runner = CliRunner()
    empty = tmp_path / "empty"
    empty.mkdir()
    r = runner.invoke(app, ["report", str(empty)])
    assert isinstance(r.exception, InputError) and "no config.json" in str(r.exception)
    assert "\n" not in str(r.exception)
    write(empty / "config.json", {"config": {}})
    (empty / "cells" / "x").mkdir(parents=True)  # unfinished only
    with pytest.raises(InputError, match="no finished cells"):
        build_report(empty)

    out = make_run(tmp_path, extra_seed=False)
    r = runner.invoke(app, ["report", str(out)])
    assert r.exit_code == 0, r.output
    assert "generative judge reaches F1 0.70" in r.output and (out / "report.html").is_file()


def test_cli_exit_status_through_main(tmp_path, capsys):
    """Through the real entry point: one line on stderr, exit 2 (skipped until main registers)."""
    from prmlab.cli import main as main_mod

    main_mod._register()
    if not any(c.name == "report" for c in main_mod.app.registered_commands):
        pytest.skip("prmlab.cli.main does not register `report` yet")
    with pytest.raises(SystemExit) as e:
        main_mod.main(["report", str(tmp_path)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no config.json" in err


def test_minimal_and_partial_folders(tmp_path):
    """Only a baseline; then a single budget with an undefined metric: still a report."""
    out = tmp_path / "run"
    write(out / "config.json", {"config": {"formats": ["generative", "discriminative"],
                                           "budgets": [64]}})
    write(out / "cells" / "baseline-never" / "cell.json",
          BaselineCell(format="baseline:never", metrics=metrics(None)))
    res = build_report(out)
    assert res["figures"] == [] and "no judge has a defined F1" in res["headline"]
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "F1: no errors (all rows)" in md and "Floor: no trivial baseline has a defined F1" in md
    for fmt, f in (("generative", 0.7), ("discriminative", 0.75)):
        write(out / "cells" / f"{fmt}-N64-s0" / "cell.json", judge(fmt, 64, 0, f))
    res = build_report(out)
    assert "single label budget" in res["headline"] and "does not hold" in res["headline"]
    # no step_labels recorded: no step-label figure, and the old one is not left behind
    assert sorted(Path(p).name for p in res["figures"]) == ["acc_vs_budget.png", "f1_vs_budget.png"]
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["acc_vs_budget.png",
                                                                  "f1_vs_budget.png"]


def test_a_base_that_does_not_flag_slips_is_named_beside_the_headline(tmp_path):
    out = make_run(tmp_path)
    build_report(out)
    assert "Warning" not in (out / "report.md").read_text(encoding="utf-8")  # no probe, no claim
    art = json.loads((out / "artifacts.json").read_text())
    art["base_report"]["slip_flagged"] = 0.96
    write(out / "artifacts.json", art)
    build_report(out)
    assert "Warning" not in (out / "report.md").read_text(encoding="utf-8")
    art["base_report"]["slip_flagged"] = 0.088
    write(out / "artifacts.json", art)
    build_report(out)
    md = (out / "report.md").read_text(encoding="utf-8")
    head = md.split("## Run")[0]  # above the run table, with the headline
    assert "Warning: the base flags 9% of its checks of arithmetic slips as bad" in head
    assert "Warning" in (out / "report.html").read_text(encoding="utf-8")


def test_a_cell_that_does_not_match_its_schema_is_named(tmp_path):
    out = make_run(tmp_path, extra_seed=False)
    f = out / "cells" / "generative-N64-s0" / "cell.json"
    d = json.loads(f.read_text())
    d["budget"] = "many"
    f.write_text(json.dumps(d))
    with pytest.raises(InputError, match="cell.json.*budget"):
        build_report(out)
    d["budget"] = 64
    d["surprise"] = 1  # an unknown field is refused, never ignored
    f.write_text(json.dumps(d))
    with pytest.raises(InputError, match="surprise"):
        build_report(out)


def test_a_cell_of_an_unknown_kind_is_listed_not_read(tmp_path):
    out = make_run(tmp_path, extra_seed=False)
    write(out / "cells" / "rl-judge-s0" / "cell.json", {"kind": "rl-judge", "anything": [1]})
    build_report(out)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "rl-judge-s0 (rl-judge)" in md


def test_score_by_position_figure_reads_the_largest_budgets_samples(tmp_path):
    out = make_run(tmp_path)
    # No samples.jsonl in any cell: no figure (test_build_report's list).
    rows = [{"id": "a", "step_scores": [0.9, 0.8, 0.7], "first_error": -1},
            {"id": "b", "step_scores": [0.7, 0.2, 0.1], "first_error": 1},
            {"id": "c", "step_scores": [0.5], "first_error": None}]
    path = out / "cells" / "discriminative-N256-s0" / "policy" / "samples.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from prmlab.reports.load import load_run, step_scores
    cell = next(c for c in load_run(out).cells if c.id == "discriminative-N256-s0")
    assert step_scores(cell) == [([0.9, 0.8, 0.7], -1), ([0.7, 0.2, 0.1], 1), ([0.5], None)]
    build_report(out)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert (out / "figures" / "score_by_position.png").is_file()
    assert "figures/score_by_position.png" in md and "discriminative" in md
    # A row without step scores is named by file and line; nothing is drawn from it.
    path.write_text(path.read_text() + json.dumps({"id": "d", "first_error": 0}) + "\n")
    with pytest.raises(InputError, match=r"samples\.jsonl.*4.*step_scores"):
        build_report(out)
