"""Balanced evaluation sets (quota sampler, composition) and bases as an axis (plan, keys,
reports over replicates), with counts and means worked out by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.experiments.config import resolve_config
from prmlab.experiments.evalsets import (Quota, check_fills, composition, fill_quota, interleave)
from prmlab.experiments.plan import plan
from prmlab.experiments.records import BaselineCell, RunArtifacts, SweepArtifacts
from prmlab.reports.load import load_run
from prmlab.reports.replicates import base_health, judge_metric, over_cells
from prmlab.reports.report import build_report


def _report_helpers():
    """tests/test_report.py's record builders (tests are imported by path: --import-mode=importlib)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_report_helpers", Path(__file__).with_name("test_report.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_H = _report_helpers()
judge, metrics, write, make_run = _H.judge, _H.metrics, _H.write, _H.make_run


def rec(rid: str, first_error: int | None, gen: str = "g", reason: str = "carry") -> Record:
    meta = {"generator": gen, "oracle_reason": None if first_error == -1 else reason}
    return Record(rid, "p", ["a", "b", "c"], [], first_error, meta=meta)


# ---- the quota sampler -------------------------------------------------------------------------

ROUNDS = [[0, None, 0, -1, 1, 0], [-1, -1, 1, 2], [-1, -1, -1]]


def fake_draw(calls: list):
    def draw(r: int) -> list[Record]:
        calls.append(r)
        return [rec(f"r{r}-{i}", fe) for i, fe in enumerate(ROUNDS[r])]
    return draw


def test_quota_rounding_by_hand():
    assert Quota.of(5, 0.4, 0.4) == Quota(correct=2, erroneous=3, max_per_position=1)
    assert Quota.of(150, 0.5, 0.4) == Quota(75, 75, 30)
    assert Quota.of(7, 0.5, 0.5) == Quota(4, 3, 1)  # 3.5 rounds up; floor(1.5) = 1


def test_fill_quota_accepts_in_order_and_caps_each_first_error_step():
    # quota: 2 correct, 3 erroneous, at most 1 per first-error step.
    # round 0 [0, None, 0, -1, 1, 0]: keep r0-0 (step 0), skip None, skip r0-2 (step 0 full),
    #   keep r0-3 (correct 1), keep r0-4 (step 1), skip r0-5 (step 0 full)
    # round 1 [-1, -1, 1, 2]: keep r1-0 (correct 2), skip r1-1 (correct full), skip r1-2 (step 1
    #   full), keep r1-3 (step 2): met, round 2 never drawn.
    calls: list = []
    f = fill_quota("g", fake_draw(calls), Quota(2, 3, 1), max_rounds=5)
    assert calls == [0, 1]
    assert [r.id for r in f.accepted] == ["r0-0", "r0-3", "r0-4", "r1-0", "r1-3"]
    assert (f.correct, f.erroneous, f.met, f.rounds, f.drawn, f.drawn_erroneous) == (2, 3, True, 2, 10, 6)
    assert f.natural_error_rate == pytest.approx(6 / 10)
    assert f.shortfall() is None


def test_an_unmet_quota_is_an_error_or_a_recorded_shortfall_never_silent():
    f = fill_quota("g", fake_draw([]), Quota(2, 3, 1), max_rounds=1)
    assert (f.correct, f.erroneous, f.met) == (1, 2, False)
    assert f.shortfall() == ("g: 1 of 2 correct and 2 of 3 erroneous (at most 1 per first-error "
                             "step) after 1 rounds, 6 solutions drawn")
    with pytest.raises(InputError, match="quota was not met.*g: 1 of 2 correct"):
        check_fills([f], "error")
    check_fills([f], "record")  # kept, and the shortfall travels in the composition:
    comp = composition(f.accepted, {"g": f.draws()}, "rule")
    assert comp.quota_met is False and comp.generators[0].shortfall == f.shortfall()
    assert comp.n == 3 and (comp.correct, comp.erroneous) == (1, 2)


def test_composition_counts_by_hand():
    a = fill_quota("weak", lambda r: [rec("w0", 0, "weak"), rec("w1", 0, "weak"), rec("w2", 1, "weak", "copy"),
                                      rec("w3", -1, "weak")], Quota(1, 2, 1), 3)
    b = fill_quota("strong", lambda r: [rec("s0", -1, "strong"), rec("s1", 2, "strong")], Quota(1, 1, 1), 3)
    # weak keeps w0 (step 0), w2 (step 1), w3 (correct) in one round of 4 (3 erroneous drawn);
    # strong keeps s0, s1 in one round of 2 (1 erroneous drawn).
    pooled = interleave([a, b])
    assert [r.id for r in pooled] == ["w3", "w0", "s0", "s1", "w2"]
    comp = composition(pooled, {"weak": a.draws(), "strong": b.draws()})
    assert (comp.n, comp.correct, comp.erroneous) == (5, 2, 3)
    assert comp.first_error_histogram == {"0": 1, "1": 1, "2": 1}
    assert comp.error_types == {"carry": 2, "correct": 2, "copy": 1}
    weak, strong = comp.generators
    assert (weak.generator, weak.correct, weak.erroneous, weak.drawn) == ("weak", 1, 2, 4)
    assert weak.natural_error_rate == pytest.approx(3 / 4) and strong.natural_error_rate == 0.5
    assert weak.first_error_histogram == {"0": 1, "1": 1} and comp.quota_met is True


# ---- presets and keys --------------------------------------------------------------------------

def test_full_never_reports_f1_on_fewer_than_100_of_either_and_runs_3_bases():
    cfg = resolve_config(preset="full")
    q = cfg.data.eval_quota
    n_gen = 1 + len(q.policies)
    per = Quota.of(q.size // n_gen, q.correct_share, q.max_first_error_share)
    assert n_gen >= 2 and per.correct * n_gen >= 100 and per.erroneous * n_gen >= 100
    assert q.on_shortfall == "error"  # a smaller set stops the run instead
    assert len(cfg.bases) >= 3 and len(cfg.seeds) >= 3
    quick = resolve_config(preset="quick")
    assert quick.data.eval_quota.correct_share >= 0.4 and 1 - quick.data.eval_quota.correct_share >= 0.4


def test_base_seeds_default_to_the_base_seed_and_keep_every_key():
    cfg = resolve_config(preset="quick")
    assert cfg.base_seeds is None and cfg.bases == [cfg.base.seed]
    assert cfg.for_base(cfg.base.seed).base.key() == cfg.base.key() == "ffebf5a5f8a2eec3"
    two = resolve_config(preset="quick", sets=["base_seeds=[0,5]"])
    assert two.for_base(5).base.key() == cfg.base.model_copy(update={"seed": 5}).key() != cfg.base.key()
    assert two.for_base(0).base.key() == cfg.base.key()
    with pytest.raises(InputError, match="base_seeds"):
        resolve_config(sets=["base_seeds=[1,1]"])


def test_plan_has_every_cell_once_per_base_and_dependencies_stay_in_their_base():
    cfg = resolve_config(preset="smoke", sets=["base_seeds=[0,3]"])
    specs = plan(cfg)
    one = plan(resolve_config(preset="smoke"))
    assert len(specs) == 2 * len(one)
    ids = [s.id for s in specs]
    assert ids[:len(one)] == [s.id for s in one]  # base 0 first, same ids as a one-base plan
    assert all(i.endswith("-b0") for i in ids[:len(one)]) and all(i.endswith("-b3") for i in ids[len(one):])
    assert {"generative-N8-s0-b3", "baseline-first-b3", "zero-label-b3", "bon-b3",
            "tts-generative-N8-s0-b3"} <= set(ids)
    for s in specs:
        assert all(d.endswith(f"-b{s.base}") for d in s.deps)


# ---- reports over bases ------------------------------------------------------------------------

# policy-set F1 by base, format and budget (judge seed 0)
F1 = {0: {"generative": {16: 0.6, 64: 0.8}, "discriminative": {16: 0.3, 64: 0.7}},
      1: {"generative": {16: 0.4, 64: 0.6}, "discriminative": {16: 0.5, 64: 0.7}}}


def two_base_run(root: Path) -> Path:
    out = root / "run2"
    config = {"preset": "quick", "formats": ["discriminative", "generative"], "budgets": [16, 64],
              "seeds": [0], "base_seeds": [0, 1], "base": {"seed": 0},
              "baselines": ["first"], "f1_targets": [0.6], "bootstrap_resamples": 100}
    write(out / "config.json", {"config": config, "command": ["prmlab"], "git_revision": None,
                                "versions": {}})
    arts = [RunArtifacts(base=f"/c/base/{b}", policy="/c/p", policy_init="/c/i",
                         base_report={"worked_exact": 0.97, "copy_exact": 0.99, "meets_bar": True,
                                      "bar": 0.95, "slip_flagged": slip},
                         data={}, data_summary={}, base_seed=b) for b, slip in ((0, 0.95), (1, 0.03))]
    write(out / "artifacts.json", SweepArtifacts(bases=arts).model_dump(mode="json"))
    for b, by_fmt in F1.items():
        for fmt, curve in by_fmt.items():
            for n, f in curve.items():
                cell = judge(fmt, n, 0, f).model_copy(update={"base_seed": b})
                write(out / "cells" / f"{fmt}-N{n}-s0-b{b}" / "cell.json", cell)
        write(out / "cells" / f"baseline-first-b{b}" / "cell.json",
              BaselineCell(format="baseline:first", metrics=metrics(0.1 + 0.2 * b), base_seed=b))
    return out


def test_headline_and_curves_are_means_over_bases_with_the_spread_beside(tmp_path):
    out = two_base_run(tmp_path)
    run = load_run(out)
    assert run.base_seeds == [0, 1] and sorted({c.base for c in run.cells}) == [0, 1]
    g = judge_metric(run, "generative", 64)
    # (0.8 + 0.6) / 2; CI = mean of [0.75, 0.85] and [0.55, 0.65]; sd of the two base means
    assert g.value == pytest.approx(0.7) and g.ci == pytest.approx([0.65, 0.75])
    assert (g.base_min, g.base_max) == (0.6, 0.8) and g.base_sd == pytest.approx(math.sqrt(0.02))
    assert [(m.base, m.value) for m in g.by_base] == [(0, 0.8), (1, 0.6)]
    diff = over_cells([c for c in run.of_kind("judge") if c.budget == 64],
                      lambda c: c.record.metrics.policy.f1.value * (1 if c.format == "generative" else -1))
    assert [m.value for m in diff.by_base] == pytest.approx([0.05, -0.05])  # (0.8-0.7)/2, (0.6-0.7)/2
    res = build_report(out)
    # mean curves: generative 0.5 -> 0.7, discriminative 0.4 -> 0.7 (16 -> 64). F1 0.6:
    # generative 16 * 4**(0.1/0.2) = 32; discriminative 16 * 4**(0.2/0.3)
    ln = res["labels_needed"][0.6]
    assert ln["generative"]["value"] == pytest.approx(32.0)
    assert ln["discriminative"]["value"] == pytest.approx(16 * 4 ** (2 / 3))
    assert res["headline"].startswith("On policy-sampled solutions, the generative judge reaches F1 0.60 "
                                      "with 32 labelled solutions")
    md = (out / "report.md").read_text()
    # per base: base 0 generative reaches 0.6 at 16 (≤min), base 1 only at 64
    assert "Base 0 alone, the generative judge reaches F1 0.60 already at the smallest budget" in md
    assert "Base 1 alone, the discriminative judge" in md
    assert "| generative | 64 | 2 × 1 | 0.700 [0.650, 0.750] sd 0.141 |" in md
    assert "sd 0.141 (0.600–0.800)" in md  # the spread between bases, its own column
    assert "### policy samples, base 1 alone" in md
    assert "Floor: the best trivial baseline is baseline:first, F1 0.200" in md  # (0.1 + 0.3) / 2
    assert "(mean of 2 bases; per base 0.100–0.300)" in md
    health = base_health(run)
    assert [h.healthy for h in health] == [True, False]
    assert "base 1 is under the health bar and stays in every mean" in md
    assert "f1_vs_budget_by_base.png" in " ".join(res["figures"])


def test_a_folder_from_before_the_base_axis_loads_as_one_base(tmp_path):
    out = make_run(tmp_path)  # one RunArtifacts, ids without -b, records without base_seed
    run = load_run(out)
    assert list(run.bases) == [0] and {c.base for c in run.cells} == {0}
    assert run.artifacts is run.bases[0]
    bad = tmp_path / "bad"
    write(bad / "config.json", {"config": {}})
    write(bad / "artifacts.json", {"bases": [{"base": 1}]})
    write(bad / "cells" / "x" / "cell.json", BaselineCell(format="baseline:first", metrics=metrics(0.1)))
    with pytest.raises(InputError, match="artifacts.json does not match its schema"):
        load_run(bad)


# ---- end to end: two bases on the smoke preset -----------------------------------------------

def test_a_two_base_smoke_sweep_reports_the_spread_and_its_composition(tmp_path):
    from prmlab.experiments.executor import run_sweep

    cfg = resolve_config(preset="smoke", sets=["base_seeds=[0,1]", "formats=[discriminative,generative]",
                                               "budgets=[4]", "label_free.methods=[]",
                                               "tts.enabled=false", "bon.enabled=false",
                                               "zero_label=false", "baselines=[first]"])
    out = tmp_path / "run"
    run_sweep(cfg, out, tmp_path / "cache")
    build_report(out)
    arts = json.loads((out / "artifacts.json").read_text())["bases"]
    assert [a["base_seed"] for a in arts] == [0, 1] and arts[0]["base"] != arts[1]["base"]
    assert list(arts[0]["generators"]) == ["g0-snapshot", "g1-base"]
    for b in (0, 1):
        folder = out / "cells" / f"generative-N4-s0-b{b}" / "policy"
        rows = [json.loads(x) for x in (folder / "samples.jsonl").read_text().splitlines()]
        comp = json.loads((folder / "metrics.json").read_text())["config"]["composition"]
        # counted from samples.jsonl
        assert comp["n"] == len(rows)
        assert comp["correct"] == sum(r["first_error"] == -1 for r in rows)
        assert comp["erroneous"] == sum(r["first_error"] != -1 for r in rows)
        hist: dict = {}
        for r in rows:
            if r["first_error"] != -1:
                hist[str(r["first_error"])] = hist.get(str(r["first_error"]), 0) + 1
        assert comp["first_error_histogram"] == hist
        for g in comp["generators"]:
            mine = [r for r in rows if r["generator"] == g["generator"]]
            assert g["correct"] + g["erroneous"] == len(mine)
            assert g["correct"] == sum(r["first_error"] == -1 for r in mine)
            assert g["drawn"] >= len(mine) and 0 <= g["natural_error_rate"] <= 1
        cell = json.loads((out / "cells" / f"generative-N4-s0-b{b}" / "cell.json").read_text())
        assert cell["base_seed"] == b and cell["metrics"]["policy"]["composition"] == comp
        # the smoke quota (3 per generator) is kept short, not silently: recorded when unmet
        assert comp["quota_met"] is all(g["shortfall"] is None for g in comp["generators"])
    md = (out / "report.md").read_text()
    assert "## Evaluation sets" in md and "Evaluation set (base 1):" in md
    assert "| generative | 4 | 2 × 1 |" in md and "F1 between bases" in md
    assert "Base 0 alone" in md and "Base 1 alone" in md
    assert "f1_vs_budget_by_base.png" in md
