"""claims.json / claims.md built from fabricated run folders: typed records (the sweep's own
schemas) with F1s chosen so that every claim's effect, CI and verdict is worked out by hand
(t_{0.975, 2} = 4.303; three judge seeds of one base)."""

import json
import shutil

import pytest

from prmlab.claims.registry import CLAIMS as ALL_CLAIMS
from prmlab.claims.stats import summarize
from prmlab.claims.suite import FolderPlan, Size, SuitePlan
from prmlab.errors import InputError
from prmlab.experiments.records import (EvalMetrics, JudgeCell, KPoint, Metric, Selection,
                                        SetMetrics, Threshold, TTSCell, ZeroLabelCell,
                                        record_to_dict)
from prmlab.reports.claims import build_claims, fmt_effect

# the flagship's claims (the RL claims read RL suite folders: tests/test_rl_claims.py)
CLAIMS = tuple(c for c in ALL_CLAIMS if all(e.kind == "flagship" for e in c.experiments))

SEEDS = [0, 1, 2]
# per seed: F1 on policy samples
DISC = {16: [0.30] * 3, 128: [0.50] * 3, 1024: [0.60] * 3}
GEN = {16: [0.57, 0.58, 0.59], 128: [0.65, 0.66, 0.67], 1024: [0.70, 0.72, 0.74]}
DIRECT = {16: [0.2] * 3, 128: [0.4] * 3, 1024: [0.60] * 3}
MC_HARD_128 = [0.55, 0.50, 0.60]
TTS = {1: [0.70, 0.70, 0.70], 8: [0.70, 0.70, 0.71]}
ZERO_LABEL, ZERO_LABEL_NO_WORKED = 0.40, 0.10
GEN_RL = {128: [0.9] * 3, 1024: [0.80, 0.78, 0.79]}  # the rl-judges folders
GEN_RL_SFT = {128: [0.5] * 3, 1024: [0.71, 0.72, 0.75]}  # the rl-judges-sft folders


def _metrics(f1):
    m = SetMetrics(f1=Metric(value=f1, ci=None if f1 is None else [f1 - .1, f1 + .1]),
                   acc_err=Metric(value=0.5), acc_cor=Metric(value=0.5), auroc=Metric(value=0.5),
                   ece=Metric(value=0.1), threshold=0.5)
    return EvalMetrics(policy=m, injected=m, all=m)


def _judge(fmt, budget, seed, f1, source="gold", tokens=1000):
    return JudgeCell(format=fmt, budget=budget, seed=seed, label_source=source,
                     budget_solutions=budget if source == "gold" else 0, step_labels=3 * budget,
                     selection=Selection(metric="f1", dev_solutions=10, trials=[], chosen_lr=1e-3,
                                         chosen_step=10),
                     filter=None, threshold=Threshold(value=0.5, tuned=False), train_seconds=1.0,
                     score_seconds=1.0, compute={"train_tokens_processed": tokens,
                                                 **({"rollout_tokens_generated": 5000}
                                                    if source != "gold" else {})},
                     metrics=_metrics(f1))


def _zero(f1):
    return ZeroLabelCell(metrics=_metrics(f1), compute={}, seconds=1.0)


def _tts(seed):
    return TTSCell(format="generative", budget=1024, seed=seed, ks=[1, 8], temperature=0.7,
                   threshold=0.5, compute={},
                   f1_by_k={str(k): KPoint(value=v[seed], ci=None, acc_err=0.5, acc_cor=0.5, k=k, n=50)
                            for k, v in TTS.items()})


def _write(folder, name, records):
    (folder).mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"config": {"fake": name}}))
    for cid, rec in records.items():
        (folder / "cells" / cid).mkdir(parents=True)
        (folder / "cells" / cid / "cell.json").write_text(json.dumps(record_to_dict(rec)))


def _plan():
    folders = [FolderPlan(name=f"flagship-b0-s{s}", experiment="flagship", base=0, seed=s, sets=[],
                          config={"fake": f"flagship-b0-s{s}"}) for s in SEEDS]
    folders += [FolderPlan(name=f"rl-judges-b0-s{s}", experiment="rl-judges", base=0, seed=s, sets=[],
                           config={"fake": f"rl-judges-b0-s{s}"}) for s in SEEDS]
    folders += [FolderPlan(name=f"rl-judges-sft-b0-s{s}", experiment="rl-judges-sft", base=0, seed=s,
                           sets=[], config={"fake": f"rl-judges-sft-b0-s{s}"}) for s in SEEDS]
    folders.append(FolderPlan(name="no-worked-b0", experiment="no-worked", base=0, seed=None,
                              sets=[], config={"fake": "no-worked-b0"}))
    return SuitePlan(size=Size(name="test", preset="smoke", bases=[0], seeds=SEEDS,
                               note="fabricated"), folders=folders)


@pytest.fixture
def suite(tmp_path):
    for s in SEEDS:
        recs = {"zero-label": _zero(ZERO_LABEL), f"tts-generative-N1024-s{s}": _tts(s),
                f"generative-mc-hard-N128-s{s}": _judge("generative", 128, s, MC_HARD_128[s],
                                                        source="mc-hard", tokens=900)}
        for fmt, table in (("discriminative", DISC), ("generative", GEN), ("direct", DIRECT)):
            for b, v in table.items():
                recs[f"{fmt}-N{b}-s{s}"] = _judge(fmt, b, s, v[s])
        _write(tmp_path / "runs" / f"flagship-b0-s{s}", f"flagship-b0-s{s}", recs)
    for s in SEEDS:
        _write(tmp_path / "runs" / f"rl-judges-b0-s{s}", f"rl-judges-b0-s{s}",
               {f"generative-rl-N{b}-s{s}": _judge("generative-rl", b, s, v[s]) for b, v in GEN_RL.items()})
        _write(tmp_path / "runs" / f"rl-judges-sft-b0-s{s}", f"rl-judges-sft-b0-s{s}",
               {f"generative-rl-N{b}-s{s}": _judge("generative-rl", b, s, v[s])
                for b, v in GEN_RL_SFT.items()})
    _write(tmp_path / "runs" / "no-worked-b0", "no-worked-b0",
           {"zero-label": _zero(ZERO_LABEL_NO_WORKED),
            "generative-N16-s0": _judge("generative", 16, 0, 0.05)})
    return tmp_path


# claim id -> (per-replicate effects, CI, verdict), worked by hand from the tables above
EXPECTED = {
    # generative at N=16 (<= 1024/10) minus discriminative's best (0.60 at N=1024)
    "label-efficiency": ([-0.03, -0.02, -0.01], [-0.044843, 0.004843], "supported"),
    # generative - direct at N=1024
    "reasoning-not-format": ([0.10, 0.12, 0.14], [0.070313, 0.169687], "supported"),
    # K=8 - K=1: mean 1/300, sd sqrt(3)/300, half 4.303/300
    "judge-compute": ([0.0, 0.0, 0.01], [-0.011010, 0.017677], "refuted"),
    # zero-label 0.40 - best gold judge at N=1024 (generative)
    "latent-skill": ([-0.30, -0.32, -0.34], [-0.369687, -0.270313], "refuted"),
    # one base: one replicate, no CI
    "worked-checks": ([0.30], None, "inconclusive"),
    # gold generative N=128 - mc-hard generative on the same 128: sd 0.045826, half 0.113847
    "labels-from-outcomes": ([0.10, 0.16, 0.07], [-0.003847, 0.223847], "inconclusive"),
    # generative-rl - the best supervised judge (generative) at N=1024, the largest budget both
    # ran: mean 0.07, sd sqrt(0.0007) = 0.026458, half 4.303 x 0.026458 / sqrt(3) = 0.065729
    "rl-judge": ([0.10, 0.06, 0.05], [0.004271, 0.135729], "supported"),
    # the same read from the rl-judges-sft folders: mean 0.02/3, sd sqrt(1/30000) = 0.0057735,
    # half 4.303 x 0.0057735 / sqrt(3) = 0.014343; the whole CI below +0.05
    "rl-judge-sft": ([0.01, 0.0, 0.01], [-0.007677, 0.021010], "refuted"),
}


def test_every_claim_by_hand(suite):
    res = build_claims(suite, CLAIMS, _plan())
    assert [c.id for c in res.claims] == list(EXPECTED)
    for c in res.claims:
        values, ci, verdict = EXPECTED[c.id]
        assert [r.value for r in c.replicates] == pytest.approx(values), c.id
        assert (c.summary.ci is None) if ci is None else c.summary.ci == pytest.approx(ci, abs=1e-6), c.id
        assert c.verdict == verdict, (c.id, c.verdict_reason)
    lab = next(c for c in res.claims if c.id == "labels-from-outcomes")
    assert "5000 rollout tokens generated" in lab.replicates[0].detail
    worked = next(c for c in res.claims if c.id == "worked-checks")
    assert worked.replicates[0].seed is None and {r.folder for r in worked.runs} == {
        "runs/flagship-b0-s0", "runs/no-worked-b0"}


def test_every_number_in_claims_md_is_recomputable_from_claims_json_and_the_cells(suite):
    build_claims(suite, CLAIMS, _plan())
    data = json.loads((suite / "claims.json").read_text())
    md = (suite / "claims.md").read_text()
    assert md.count("\n| ") - 1 >= len(CLAIMS)  # the verdict table has a row per claim
    from prmlab.claims.schema import ClaimsResult

    res = ClaimsResult.model_validate(data)
    for c in res.claims:
        again = summarize([r.value for r in c.replicates])
        assert again == c.summary
        assert fmt_effect(c.summary) in md and f"| {c.verdict} |" in md
        for r in c.replicates:
            for i in r.inputs:  # each input is the cell.json field it names
                cell = json.loads((suite / "runs" / i.folder / "cells" / i.cell / "cell.json").read_text())
                v = cell
                for k in i.field.split("."):
                    v = v[k]
                assert v == i.value, (c.id, i)
    html = (suite / "claims.html").read_text()
    assert "<table>" in html and "supported" in html
    # the same folders give the same files
    before = {f: (suite / f).read_bytes() for f in ("claims.json", "claims.md", "claims.html")}
    build_claims(suite, CLAIMS, _plan())
    assert before == {f: (suite / f).read_bytes() for f in before}


def test_a_folder_not_run_makes_its_replicates_undefined_and_every_verdict_inconclusive(suite):
    shutil.rmtree(suite / "runs" / "flagship-b0-s2")
    res = build_claims(suite, CLAIMS, _plan())
    for c in res.claims:
        assert c.verdict == "inconclusive"
        if c.level == "seed":
            last = c.replicates[-1]
            assert last.value is None and "not run yet: runs/flagship-b0-s2" in last.reason
            assert "1 of 3 planned replicate(s) undefined" in c.verdict_reason
    assert "no (not run yet)" in (suite / "claims.md").read_text()


def test_an_undefined_f1_is_a_reason_never_a_zero(suite):
    f = suite / "runs" / "flagship-b0-s1" / "cells" / "direct-N1024-s1" / "cell.json"
    f.write_text(json.dumps(record_to_dict(_judge("direct", 1024, 1, None))))
    res = build_claims(suite, CLAIMS, _plan())
    c = next(c for c in res.claims if c.id == "reasoning-not-format")
    assert c.replicates[1].value is None and "undefined" in c.replicates[1].reason
    assert c.summary.n == 2 and c.verdict == "inconclusive"


def test_a_folder_holding_another_config_is_refused(suite):
    (suite / "runs" / "flagship-b0-s1" / "config.json").write_text(json.dumps({"config": {"fake": "x"}}))
    with pytest.raises(InputError, match="another config than the claim suite planned"):
        build_claims(suite, CLAIMS, _plan())
    assert not (suite / "claims.json").exists()


def test_report_only_reads_the_pinned_plan_and_prints_each_verdict(suite, run_cli):
    (suite / "suite.json").write_text(json.dumps({"plan": _plan().model_dump(mode="json")}))
    code, _, err = run_cli("claims", "--report-only", suite)
    assert code == 2 and "not empty and was not written by prmlab" in err  # folders made by hand
    assert not (suite / "claims.json").exists()
    code, out, err = run_cli("claims", "--report-only", suite, "--overwrite")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("supported") and "Label efficiency: -0.020 [-0.045, +0.005] (n=3)" in lines[0]
    assert sum(x.split()[0] == "refuted" for x in lines[:6]) == 2
    assert json.loads((suite / "claims.json").read_text())["size"] == "test"
