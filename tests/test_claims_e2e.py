"""`prmlab claims` end to end on the tests' tiny size (`smoke`: the smoke preset, one base, one
judge seed, plus the no-worked base): one row per claim, every input a real cell.json field,
resume after an interruption, and `--report-only` rebuilding the same files without a model."""

import json
import shutil

import pytest

from prmlab.claims.registry import CLAIMS

FILES = ("claims.json", "claims.md", "claims.html")


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    from prmlab.cli import main as main_mod

    root = tmp_path_factory.mktemp("claims")
    out, cache = root / "suite", root / "cache"
    try:
        main_mod.main(["claims", "--size", "smoke", "--out", str(out), "--cache", str(cache)])
    except SystemExit as e:
        assert not e.code, e.code
    return out, cache


def _field(cell, path):
    for k in path.split("."):
        cell = cell[k]
    return cell


def test_one_row_per_claim_from_real_cells(suite):
    out, _ = suite
    data = json.loads((out / "claims.json").read_text())
    assert [c["id"] for c in data["claims"]] == [c.id for c in CLAIMS]
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["flagship-b0-s0", "no-worked-b0",
                                                                "pcl-b0-s0", "rl-b0-s0", "rl-controls-b0-s0",
                                                                "rl-judges-b0-s0",
                                                                "rl-judges-sft-b0-s0", "tree-b0-s0"]
    plan = json.loads((out / "suite.json").read_text())["plan"]
    assert plan["size"]["name"] == "smoke" and plan["folders"][0]["sets"][-2:] == ["base.seed=0", "seeds=[0]"]
    no_worked = json.loads((out / "runs" / "no-worked-b0" / "config.json").read_text())["config"]
    assert no_worked["base"]["worked"] is False and no_worked["formats"] == ["generative"]
    md = (out / "claims.md").read_text()
    for c in data["claims"]:
        assert f"| {c['title']} |" in md and f"| {c['verdict']} |" in md
        assert len(c["replicates"]) == 1  # one base, one judge seed
        r = c["replicates"][0]
        assert (r["value"] is None) == bool(r["reason"]), c["id"]
        for i in r["inputs"]:
            rl = out / "runs" / i["folder"] / "runs" / i["cell"] / "result.json"  # an RL suite's run
            f = rl if rl.is_file() else out / "runs" / i["folder"] / "cells" / i["cell"] / "cell.json"
            if i["cell"] == "metrics.json":  # a Tree-GRPO / PCL run's one record
                f = out / "runs" / i["folder"] / "metrics.json"
            assert _field(json.loads(f.read_text()), i["field"]) == i["value"], (c["id"], i)
        assert c["verdict"] == "inconclusive"  # a single replicate never gives a verdict
    # every cell kind a claim reads was run
    cells = {p.parent.name for p in (out / "runs" / "flagship-b0-s0" / "cells").glob("*/cell.json")}
    assert {"zero-label-b0", "tts-generative-N8-s0-b0", "generative-mc-hard-N8-s0-b0", "direct-N8-s0-b0"} <= cells
    assert (out / "runs" / "flagship-b0-s0" / "report.md").is_file()
    rl = {p.parent.name for p in (out / "runs" / "rl-judges-b0-s0" / "cells").glob("*/cell.json")}
    assert rl == {"generative-rl-N4-s0-b0", "generative-rl-N8-s0-b0"}
    for cid, folder in (("tree-structure", "tree-b0-s0"), ("self-evaluation", "pcl-b0-s0")):
        run = out / "runs" / folder
        assert (run / "metrics.json").is_file() and (run / "policy-run.json").is_file()
        r = next(c for c in data["claims"] if c["id"] == cid)["replicates"][0]
        assert not r["reason"] or not r["reason"].startswith("not run yet"), (cid, r["reason"])
    tree = json.loads((out / "runs" / "tree-b0-s0" / "metrics.json").read_text())
    assert tree["tokens"]["chain_generations"] >= 2 and (out / "runs" / "tree-b0-s0" / "tree_vs_chain.png").is_file()
    assert (out / "runs" / "pcl-b0-s0" / "report.md").is_file()
    row = next(c for c in data["claims"] if c["id"] == "rl-judge")["replicates"][0]
    assert {i["cell"] for i in row["inputs"]} >= {"generative-rl-N8-s0-b0", "generative-N8-s0-b0"}
    # the control rewards are read from their own RL folder, each from its own reward's runs
    for reward in ("incorrect", "format", "majority"):
        row = next(c for c in data["claims"] if c["id"] == f"{reward}-reward")["replicates"][0]
        assert {(i["folder"], i["cell"]) for i in row["inputs"]} == {
            ("rl-controls-b0-s0", f"worked-{reward}-nall-s0"), ("rl-controls-b0-s0", f"no-worked-{reward}-nall-s0")}
    # the SFT-started RL judge is read from its own folder, whose judges started from SFT
    sft = json.loads((out / "runs" / "rl-judges-sft-b0-s0" / "config.json").read_text())["config"]
    assert sft["judge"]["rl"]["start"] == "sft"
    row = next(c for c in data["claims"] if c["id"] == "rl-judge-sft")["replicates"][0]
    assert {(i["folder"], i["cell"]) for i in row["inputs"]} >= {
        ("rl-judges-sft-b0-s0", "generative-rl-N8-s0-b0"), ("flagship-b0-s0", "generative-N8-s0-b0")}


def test_resume_after_an_interruption_and_report_only(suite, run_cli, tmp_path):
    out, cache = suite
    copy = tmp_path / "suite"
    shutil.copytree(out, copy)
    before = (copy / "claims.json").read_text()
    victim = copy / "runs" / "flagship-b0-s0" / "cells" / "generative-N8-s0-b0"
    (victim / "cell.json").unlink()  # the interruption: a cell without its record
    (copy / "claims.json").unlink()
    kept = copy / "runs" / "flagship-b0-s0" / "cells" / "direct-N4-s0-b0" / "cell.json"
    stamp = kept.stat().st_mtime_ns
    code, outp, err = run_cli("claims", "--size", "smoke", "--out", copy, "--cache", cache)
    assert code == 0, err
    assert (victim / "cell.json").is_file() and kept.stat().st_mtime_ns == stamp
    assert (copy / "claims.json").read_text() == before
    assert "inconclusive" in outp
    stamps = sorted(p.stat().st_mtime_ns for p in (copy / "runs").glob("*/cells/*/cell.json"))
    files = {f: (copy / f).read_bytes() for f in FILES}
    code, _, err = run_cli("claims", "--report-only", copy)
    assert code == 0, err
    assert {f: (copy / f).read_bytes() for f in FILES} == files
    assert sorted(p.stat().st_mtime_ns for p in (copy / "runs").glob("*/cells/*/cell.json")) == stamps


def test_claim_runs_only_the_folders_that_claim_reads(suite, run_cli, tmp_path):
    out, cache = suite
    copy = tmp_path / "suite"
    unrun = {"rl-judges-sft-b0-s0", "tree-b0-s0"}  # copied without them: as if neither had run
    shutil.copytree(out, copy, ignore=lambda d, names: unrun & set(names) if d == str(out / "runs") else ())
    code, outp, err = run_cli("claims", "--size", "smoke", "--out", copy, "--cache", cache,
                              "--claim", "rl-judge-sft")
    assert code == 0, err
    assert (copy / "runs" / "rl-judges-sft-b0-s0" / "cells" / "generative-rl-N8-s0-b0" / "cell.json").is_file()
    assert not (copy / "runs" / "tree-b0-s0").exists()  # another claim's folder: still planned, not run
    data = {c["id"]: c for c in json.loads((copy / "claims.json").read_text())["claims"]}
    assert len(data) == len(CLAIMS)  # every claim keeps its row
    sft = data["rl-judge-sft"]["replicates"][0]  # read from the folder just run (its F1 may be undefined at smoke size)
    assert not sft["reason"].startswith("not run yet") and ("rl-judges-sft-b0-s0", "generative-rl-N8-s0-b0") in {
        (i["folder"], i["cell"]) for i in sft["inputs"]}
    assert data["tree-structure"]["replicates"][0]["reason"].startswith("not run yet")
    plan = json.loads((copy / "suite.json").read_text())["plan"]
    assert "tree-b0-s0" in {f["name"] for f in plan["folders"]}  # the whole plan stays pinned
    code, _, err = run_cli("claims", "--size", "smoke", "--out", copy, "--claim", "rl-judges")
    assert code == 2 and "unknown claim 'rl-judges'" in err and "rl-judge-sft" in err
    code, _, err = run_cli("claims", "--report-only", copy, "--claim", "rl-judge")
    assert code == 2 and "--report-only runs none" in err


def test_another_size_on_a_suite_folder_is_refused(suite, run_cli):
    out, _ = suite
    code, _, err = run_cli("claims", "--report-only", out, "--size", "full")
    assert code == 2 and "holds the smoke suite" in err
    code, _, err = run_cli("claims", "--size", "huge", "--out", out.parent / "x")
    assert code == 2 and "unknown size 'huge'" in err and not (out.parent / "x").exists()


def test_rl_suite_controls_with_its_own_overrides_on_the_suites_cached_bases(suite, run_cli, tmp_path):
    """`prmlab rl-suite --size smoke-controls` on the bases the claims suite cached: the
    command's --reward/--seed/--set are pinned with the suite, each run holds its reward."""
    _, cache = suite
    out = tmp_path / "controls"
    args = ("rl-suite", "--size", "smoke-controls", "--out", out, "--cache", cache,
            "--reward", "incorrect", "--reward", "majority", "--seed", "3", "--set", "rl.steps=1")
    code, outp, err = run_cli(*args)
    assert code == 0, err
    runs = sorted(p.parent.name for p in (out / "runs").glob("*/result.json"))
    assert runs == ["no-worked-incorrect-nall-s3", "no-worked-majority-nall-s3",
                    "worked-incorrect-nall-s3", "worked-majority-nall-s3"]
    for name in runs:
        res = json.loads((out / "runs" / name / "result.json").read_text())
        assert res["reward"] == name.split("-")[-3] and res["steps"] == 1
    pinned = json.loads((out / "rl-suite.json").read_text())["config"]
    assert pinned["rewards"] == ["incorrect", "majority"] and pinned["seeds"] == [3]
    assert pinned["sets"][-1] == "rl.steps=1"  # after the size's own rl.steps=2: it wins
    assert "ran 4 of 4 runs" in outp
    code, _, err = run_cli(*args[:-1], "rl.steps=2")  # another config into the same folder
    assert code == 2 and "rl-suite.json" in err


@pytest.mark.parametrize("extra, msg", [
    (("--reward", "process"), "needs judge"),
    (("--reward", "outcome", "--judge", "JUDGE"), "process rewards only"),
    (("--reward", "best"), "unknown reward 'best'"),
    (("--set", "rl.stepz=1"), "rl.stepz"),
])
def test_rl_suite_refuses_a_bad_suite_before_any_work(run_cli, tmp_path, extra, msg):
    extra = tuple(str(tmp_path) if a == "JUDGE" else a for a in extra)
    code, _, err = run_cli("rl-suite", "--size", "smoke-controls", "--out", tmp_path / "x",
                           "--cache", tmp_path / "cache", *extra)
    assert code == 2 and msg in err, err
    assert not (tmp_path / "x").exists() and not (tmp_path / "cache").exists()
