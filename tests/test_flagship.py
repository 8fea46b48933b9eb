"""The flagship sweep end to end on the `smoke` preset (tiny models, a handful of everything):
run folders, resume after an interruption, and a report rebuilt identically from the folders."""

import json
import shutil
from pathlib import Path

import pytest

from prmlab.experiments.config import resolve_config
from prmlab.experiments.executor import run_sweep
from prmlab.reports.report import build_report
from prmlab.errors import InputError


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("flagship")
    cfg = resolve_config(preset="smoke", sets=["formats=[discriminative,generative]", "budgets=[4,8]",
                                               "zero_label=true"])
    out, cache = root / "run", root / "cache"
    run_sweep(cfg, out, cache)
    build_report(out)
    return cfg, out, cache


def test_every_cell_is_a_recomputable_run_folder(smoke_run):
    cfg, out, _ = smoke_run
    cells = sorted(p.parent.name for p in (out / "cells").glob("*/cell.json"))
    for f in cfg.formats:
        for b in cfg.budgets:
            assert f"{f}-N{b}-s0-b0" in cells
    assert {"baseline-never-b0", "baseline-last-b0", "baseline-first-b0", "baseline-random-b0", "zero-label-b0",
            "bon-b0", "tts-generative-N8-s0-b0", "discriminative-mc-hard-N8-s0-b0"} <= set(cells)
    lf = json.loads((out / "cells" / "discriminative-mc-hard-N8-s0-b0" / "cell.json").read_text())
    assert lf["label_source"] == "mc-hard" and lf["budget_solutions"] == 0
    assert lf["compute"]["rollout_tokens_generated"] > 0 and "label_quality" in lf
    cell = json.loads((out / "cells" / "generative-N8-s0-b0" / "cell.json").read_text())
    assert cell["budget_solutions"] == 8 and cell["step_labels"] > 0
    assert cell["selection"]["chosen_lr"] in cfg.judge.lrs
    assert 0 <= cell["filter"]["kept_fraction"] <= 1
    for part in ("policy", "injected", "all"):
        m = json.loads((out / "cells" / "generative-N8-s0-b0" / part / "metrics.json").read_text())
        assert {"f1", "acc_err", "acc_cor", "n", "config", "versions"} <= set(m)
        assert (out / "cells" / "generative-N8-s0-b0" / part / "samples.jsonl").exists()
    # the judge checkpoint and the resolved config sit beside the metrics
    assert (out / "cells" / "generative-N8-s0-b0" / "judge" / "prmlab.json").exists()
    top = json.loads((out / "config.json").read_text())
    assert top["config"]["budgets"] == [4, 8] and top["command"] and "versions" in top
    for name in ("report.md", "report.html"):
        assert (out / name).stat().st_size > 1000
    assert any((out / "figures").glob("*.png"))


@pytest.mark.parametrize("tuned", [False, True])
def test_each_judge_is_read_at_half_and_at_its_dev_tuned_threshold(smoke_run, tmp_path, tuned):
    """Selection at one threshold, the other saved beside it; the F1 in cell.json is
    recomputable from samples.jsonl at the threshold used."""
    from prmlab.metrics.processbench import processbench_point, predict_first_error

    cfg, out, cache = smoke_run
    if tuned:
        cfg = cfg.model_copy(update={"judge": cfg.judge.model_copy(update={"tune_threshold": True}),
                                     "formats": ["discriminative"], "budgets": [8]})
        out = tmp_path / "tuned"
        run_sweep(cfg, out, cache)
        build_report(out)
    for cid in [f"{f}-N8-s0-b0" for f in cfg.formats]:
        folder = out / "cells" / cid
        cell = json.loads((folder / "cell.json").read_text())
        thr = cell["threshold"]
        assert thr["tuned"] is tuned and thr["other"]["tuned"] is (not tuned)
        assert (thr["value"] if not tuned else thr["other"]["value"]) == 0.5
        assert json.loads((folder / "judge" / "prmlab.json").read_text())["threshold"] == thr
        chosen = [t for t in cell["selection"]["trials"] if t["lr"] == cell["selection"]["chosen_lr"]][0]
        assert chosen["threshold"] == thr["value"]
        pol = cell["metrics"]["policy"]
        assert pol["threshold"] == thr["value"]
        assert pol["other_threshold"]["threshold"] == thr["other"]["value"]
        rows = [json.loads(line) for line in (folder / "policy" / "samples.jsonl").read_text().splitlines()]
        assert all(r["prediction"] == predict_first_error(r["step_scores"], thr["value"]) for r in rows)
        again = processbench_point([r["first_error"] for r in rows],
                                   [predict_first_error(r["step_scores"], thr["other"]["value"]) for r in rows])
        o = pol["other_threshold"]["f1"]["value"]
        assert (o is None and again["f1"] != again["f1"]) or o == pytest.approx(again["f1"])
    report = (out / "report.md").read_text()
    assert "## Decision threshold" in report and "dev-tuned threshold" in report


def test_eval_of_a_trained_judge_uses_its_saved_threshold(smoke_run, run_cli, tmp_path):
    cfg, out, cache = smoke_run
    cfg = cfg.model_copy(update={"judge": cfg.judge.model_copy(update={"tune_threshold": True}),
                                 "formats": ["discriminative"], "budgets": [8], "tts": cfg.tts.model_copy(update={"enabled": False}),
                                 "bon": cfg.bon.model_copy(update={"enabled": False}), "label_free": cfg.label_free.model_copy(update={"methods": []})})
    out = tmp_path / "tuned"
    run_sweep(cfg, out, cache)
    judge = out / "cells" / "discriminative-N8-s0-b0" / "judge"
    saved = json.loads((judge / "prmlab.json").read_text())["threshold"]["value"]
    data = next((cache / "data").glob("*/eval_policy.jsonl"))
    code, _, err = run_cli("eval", "--judge", judge, "--data", data, "--out", tmp_path / "a",
                           "--resamples", "20")
    assert code == 0, err
    m = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert m["threshold"]["value"] == saved and "prmlab.json" in m["config"]["threshold_source"]
    code, _, err = run_cli("eval", "--judge", judge, "--data", data, "--out", tmp_path / "b",
                           "--resamples", "20", "--threshold", "0.5")
    assert code == 0, err
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["threshold"]["value"] == 0.5


def test_eval_reads_a_fine_tuned_judges_own_checks_by_the_zero_label_rule(smoke_run, run_cli, tmp_path):
    cfg, out, cache = smoke_run
    judge = out / "cells" / "generative-N8-s0-b0" / "judge"
    data = next((cache / "data").glob("*/eval_policy.jsonl"))
    code, _, err = run_cli("eval", "--judge", judge, "--data", data, "--out", tmp_path / "z",
                           "--resamples", "20", "--zero-label")
    assert code == 0, err
    m = json.loads((tmp_path / "z" / "metrics.json").read_text())
    assert m["judge"] == "zero-label" and m["config"]["zero_label"] is True
    assert m["threshold"]["value"] == 0.5  # not the generative judge's saved threshold
    rows = [json.loads(x) for x in (tmp_path / "z" / "samples.jsonl").read_text().splitlines()]
    # The rule's scores: 1 (no "!"), 0 (a "!"), 0.5 for a check it cannot read (the tiny
    # smoke judge writes many), counted in the judge's stats.
    assert rows and all(set(r["step_scores"]) <= {0.0, 0.5, 1.0} for r in rows)
    stats = m["config"]["judge_stats"]
    assert stats["prompts"] > 0 and 0 <= stats["parse_failures"] <= stats["prompts"]
    code, _, err = run_cli("eval", "--judge", "baseline:last", "--data", data, "--out",
                           tmp_path / "w", "--zero-label")
    assert code == 2 and "--zero-label needs --judge" in err and not (tmp_path / "w").exists()


def test_policy_starts_from_the_bases_snapshot_and_solves_its_difficulty(smoke_run):
    cfg, out, cache = smoke_run
    art = json.loads((out / "artifacts.json").read_text())["bases"][0]
    assert art["base_seed"] == cfg.base.seed == 0
    base, init = Path(art["base"]), Path(art["policy_init"])
    assert init.name == f"{base.name}-step{cfg.base.snapshot_step}" and init.parent == base.parent
    snap = json.loads((init / "prmlab.json").read_text())
    assert snap["kind"] == "base-snapshot" and snap["report"]["steps"] == cfg.base.snapshot_step
    assert art["base_report"]["snapshot"]["steps"] == cfg.base.snapshot_step
    # The two models differ: the snapshot is the same run, stopped early.
    from safetensors.torch import load_file

    a, b = load_file(base / "model.safetensors"), load_file(init / "model.safetensors")
    assert a.keys() == b.keys() and any(not (a[k] == b[k]).all() for k in a)
    from prmlab.training.policy import base_difficulty

    assert base_difficulty(init) == cfg.base.difficulty.build()


def test_interrupted_sweep_resumes_and_report_is_identical(smoke_run, tmp_path):
    cfg, out, cache = smoke_run
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    before = (copy / "report.md").read_text()
    # An interruption leaves a cell without its cell.json (and maybe half its files).
    victim = copy / "cells" / "discriminative-N8-s0-b0"
    (victim / "cell.json").unlink()
    (victim / "policy" / "metrics.json").unlink()
    untouched = copy / "cells" / "generative-N4-s0-b0" / "cell.json"
    stamp = untouched.stat().st_mtime_ns
    (copy / "report.md").unlink()
    run_sweep(cfg, copy, cache)
    assert (victim / "cell.json").exists()
    assert untouched.stat().st_mtime_ns == stamp  # finished cells are not rerun
    build_report(copy)
    after = (copy / "report.md").read_text()
    assert after.replace(str(copy), "X") == before.replace(str(out), "X")


def test_a_folder_with_another_config_is_refused(smoke_run):
    cfg, out, cache = smoke_run
    other = cfg.model_copy(update={"budgets": [4]})
    with pytest.raises(InputError, match="another config"):
        run_sweep(other, out, cache)


def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    with pytest.raises(InputError, match="budgetz"):
        resolve_config(sets=["budgetz=[1]"])
    with pytest.raises(InputError, match="judge.fit.lr"):
        resolve_config(sets=["judge.fit.lr=fast"])
    y = tmp_path / "c.yaml"
    y.write_text("preset: quick\nbudgets: [8, 16]\nseeds: [0, 1]\n")
    cfg = resolve_config(y, sets=["seeds=[3]"])
    assert cfg.budgets == [8, 16] and cfg.seeds == [3]
    y.write_text("budgets: [8, 16\n")
    with pytest.raises(InputError, match="c.yaml"):
        resolve_config(y)


def test_partial_nested_override_keeps_the_sections_other_defaults(tmp_path):
    default = resolve_config().judge.fit
    cfg = resolve_config(sets=["judge.fit.max_steps=100"]).judge.fit
    assert cfg.max_steps == 100
    # The judge's own fit defaults (batch 16, patience 3, ...), not FitConfig's bare ones.
    assert cfg.model_dump() == {**default.model_dump(), "max_steps": 100}
    y = tmp_path / "c.yaml"
    y.write_text("base:\n  difficulty:\n    max_steps: 4\n")
    base = resolve_config(y).base
    assert base.difficulty.max_steps == 4
    assert base.model_dump()["fit"] == resolve_config().base.fit.model_dump()


def test_run_command_on_a_finished_sweep_only_reports(smoke_run, run_cli):
    cfg, out, cache = smoke_run
    before = sorted(p.stat().st_mtime_ns for p in (out / "cells").glob("*/cell.json"))
    code, _, err = run_cli("run", "--preset", "smoke", "--set", "formats=[discriminative,generative]",
                           "--set", "budgets=[4,8]", "--set", "zero_label=true",
                           "--out", out, "--cache", cache)
    assert code == 0, err
    assert sorted(p.stat().st_mtime_ns for p in (out / "cells").glob("*/cell.json")) == before
    # The summary names the label source of rollout-labelled judges and their zero gold labels.
    flat = " ".join(err.split())
    assert "(mc-hard" in flat and "rollout)" in flat and "F1 on policy-sampled" in flat, err
    # A cached base's probes are read again: one that misses arithmetic slips is named (the
    # smoke preset's few-step tiny base does miss them).
    slip = json.loads((out / "artifacts.json").read_text())["bases"][0]["base_report"]["slip_flagged"]
    assert ("base: WARNING: the base flags" in flat) is (slip < 0.8), (slip, err)


def test_base_key_ignores_the_snapshot_step_but_not_the_corpus():
    from prmlab.training.base import BaseConfig

    a = BaseConfig()
    assert a.model_copy(update={"snapshot_step": 900}).key() == a.key()  # same weights
    assert a.model_copy(update={"hard_checks": 0}).key() != a.key()


def test_load_judge_takes_a_generator(smoke_run):
    """A loaded generative judge and the zero-label judge write their tokens through the given
    generator (the seam a server backend plugs into), not the checkpoint's engine."""
    from prmlab.judges.load import load_judge
    from prmlab.models.checkpoint import load_codec
    from prmlab.models.generator import Sample

    _, out, _ = smoke_run
    folder = out / "cells" / "generative-N8-s0-b0" / "judge"
    codec = load_codec(folder)
    calls = []

    class Bad:
        def generate(self, prompts, *, max_new_tokens, watch_ids=None, **kw):
            calls.append(len(prompts))
            return [Sample([codec.bad_id], None, [[0.1, 0.9]] if watch_ids is not None else None)
                    for _ in prompts]

    from prmlab.data.arith.generate import iter_records
    from prmlab.data.arith.problems import Difficulty

    recs = list(iter_records(3, 5, Difficulty()))
    scores = load_judge(str(folder), generator=Bad()).score(recs)
    assert calls and all(s == pytest.approx(0.1) for r in scores for s in r.step_scores)


def test_every_cell_json_is_its_typed_record_exactly(smoke_run):
    """What the sweep writes is what the schema reads back: no field dropped, added or coerced."""
    from prmlab.experiments.records import read_record, record_to_dict

    _, out, _ = smoke_run
    files = sorted((out / "cells").glob("*/cell.json"))
    assert len(files) >= 10
    for f in files:
        assert record_to_dict(read_record(f)) == json.loads(f.read_text()), f.parent.name
