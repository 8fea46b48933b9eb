"""The RL judge formats in the flagship (smoke preset, tiny models): judge cells at the same
budgets and evaluation sets as the supervised ones, on gold labels and on rollout labels, each
a typed record with its class balance, the reward curve in its judge folder, and the report's
figure of the curves."""

import json

import pytest

from prmlab.experiments.config import resolve_config
from prmlab.experiments.executor import run_sweep
from prmlab.experiments.plan import plan
from prmlab.experiments.records import JudgeCell, read_record
from prmlab.reports.report import build_report

RL = ("generative-rl", "direct-rl", "rft")


@pytest.fixture(scope="module")
def rl_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("flagship-rl")
    cfg = resolve_config(preset="smoke", sets=["formats=[generative,generative-rl,direct-rl,rft]",
                                               "budgets=[4]", "baselines=[never]", "zero_label=false",
                                               "tts.enabled=false", "label_free.formats=[generative-rl,rft]"])
    out = root / "run"
    run_sweep(cfg, out, root / "cache")
    build_report(out)
    return cfg, out


def test_quick_is_unchanged_and_quick_rl_adds_the_rl_cells():
    quick, rl = resolve_config(preset="quick"), resolve_config(preset="quick-rl")
    assert not set(RL) & set(quick.formats) and not set(RL) & set(quick.label_free.formats)
    assert "rl" not in quick.judge.model_dump()  # quick's config.json is what it was
    assert set(RL) <= set(rl.formats) and rl.budgets == quick.budgets
    assert rl.data == quick.data and rl.base == quick.base  # the same evaluation sets and base
    ids = {s.id for s in plan(rl)}
    for f in RL:
        for b in rl.budgets:
            assert f"{f}-N{b}-s0-b0" in ids
    assert {"generative-rl-mc-hard-N128-s0-b0", "rft-mc-hard-N128-s0-b0"} <= ids


def test_rl_judges_are_typed_judge_cells_beside_the_supervised_ones(rl_run):
    cfg, out = rl_run
    for fmt in ("generative", *RL):
        cell = read_record(out / "cells" / f"{fmt}-N4-s0-b0" / "cell.json")
        assert isinstance(cell, JudgeCell) and cell.format == fmt and cell.budget == 4
        assert cell.label_source == "gold" and cell.budget_solutions == 4
        for part in ("policy", "injected", "all"):
            assert (out / "cells" / f"{fmt}-N4-s0-b0" / part / "samples.jsonl").exists()
    for fmt in ("generative-rl", "direct-rl"):
        cell = read_record(out / "cells" / f"{fmt}-N4-s0-b0" / "cell.json")
        c = cell.compute
        assert c["rl_steps"] == 3 and c["rl_sampled_good"] + c["rl_sampled_bad"] == 3 * 4
        curve = (out / "cells" / f"{fmt}-N4-s0-b0" / "judge" / "rl_curve.jsonl").read_text().splitlines()
        assert [json.loads(x)["step"] for x in curve] == [1, 2, 3]
    rft = read_record(out / "cells" / "rft-N4-s0-b0" / "cell.json").compute
    assert rft["rft_sampled"] > 0 and rft["rft_kept"] == rft["rft_kept_good"] + rft["rft_kept_bad"]
    # the same evaluation sets: the same solutions scored by every judge
    ids = {f: [json.loads(x)["id"] for x in (out / "cells" / f"{f}-N4-s0-b0" / "all" / "samples.jsonl").read_text().splitlines()]
           for f in ("generative", *RL)}
    assert len({tuple(v) for v in ids.values()}) == 1


def test_rl_judges_train_on_rollout_labels_too(rl_run):
    cfg, out = rl_run
    n = max(cfg.budgets)
    for fmt in ("generative-rl", "rft"):
        cell = read_record(out / "cells" / f"{fmt}-mc-hard-N{n}-s0-b0" / "cell.json")
        assert cell.label_source == "mc-hard" and cell.budget_solutions == 0
        assert cell.compute["rollout_tokens_generated"] > 0
    assert (out / "cells" / f"generative-rl-mc-hard-N{n}-s0-b0" / "judge" / "rl_curve.jsonl").exists()


def test_the_report_draws_the_reward_curves(rl_run):
    _, out = rl_run
    assert (out / "figures" / "rl_curves.png").stat().st_size > 1000
    assert "rl_curves.png" in (out / "report.md").read_text()
