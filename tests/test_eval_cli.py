"""`prmlab eval`: from a scores file or a baseline judge, same metrics either way; input errors
name the file, line and field; threshold tuning; run-folder outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from prmlab.data.record import Record, labels_from_first_error
from prmlab.errors import InputError
from prmlab.evaluation import evaluate_judge, evaluate_scores
from prmlab.judges.baselines import BaselineJudge
from prmlab.judges.protocol import StepScores

METRICS = ("f1", "acc_err", "acc_cor", "auroc", "ece", "n", "threshold", "baselines",
           "bootstrap")


def app() -> typer.Typer:
    from prmlab.cli import evaluate

    a = typer.Typer(pretty_exceptions_enable=False)
    evaluate.register(a)
    return a


def invoke(*args: str):
    return CliRunner().invoke(app(), [str(a) for a in args])


def rec(rid: str, fe: int, n: int, pid: str | None = None) -> dict:
    meta = {} if pid is None else {"problem_id": pid}
    return Record(id=rid, problem="p", steps=[f"step {i}" for i in range(n)],
                  labels=labels_from_first_error(fe, n), first_error=fe, meta=meta).to_dict()


# fe / steps: a -1/2, b -1/3, c 1/3, d 2/3, e 0/2 (problems: a,c share P1; the rest alone)
DATA = [rec("a", -1, 2, "P1"), rec("b", -1, 3, "P2"), rec("c", 1, 3, "P1"),
        rec("d", 2, 3, "P3"), rec("e", 0, 2, "P4")]
# preds at 0.5: a -1 (right) b 2 (wrong) c 1 (right) d -1 (wrong) e 0 (right)
# acc_err = 2/3 (c, e), acc_cor = 1/2 (a), f1 = 4/7
SCORES = [{"id": "a", "step_scores": [0.9, 0.8]},
          {"id": "b", "step_scores": [0.9, 0.7, 0.2]},
          {"id": "c", "step_scores": [0.6, 0.3, 0.1], "rationales": ["ok", "bad", "bad"]},
          {"id": "d", "step_scores": [0.9, 0.9, 0.6]},
          {"id": "e", "step_scores": [0.4, 0.9]}]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def files(tmp_path):
    return write_jsonl(tmp_path / "data.jsonl", DATA), write_jsonl(tmp_path / "s.jsonl", SCORES)


def test_eval_scores_hand_numbers(files, tmp_path):
    data, scores = files
    out = tmp_path / "run"
    r = invoke("eval", "--scores", scores, "--data", data, "--out", out, "--resamples", 200)
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["f1"]["value"] == pytest.approx(4 / 7)
    assert m["acc_err"]["value"] == pytest.approx(2 / 3) and m["acc_cor"]["value"] == 0.5
    assert m["n"]["problems"] == 4 and m["n"]["evaluated"] == 5
    assert m["threshold"] == {"value": 0.5, "tuned": False}
    for k in ("f1", "acc_err", "acc_cor", "auroc"):
        assert m[k]["direction"] == "higher" and len(m[k]["ci"]) == 2
    assert m["ece"]["direction"] == "lower"
    # baselines beside: never -> acc_cor 1, acc_err 0; last -> predicts 1,2,2,2,1: right on d
    assert m["baselines"]["baseline:never"]["acc_cor"]["value"] == 1.0
    assert m["baselines"]["baseline:last"]["acc_err"]["value"] == pytest.approx(1 / 3)
    assert set(m["baselines"]) == {"baseline:never", "baseline:last", "baseline:first",
                                   "baseline:random"}
    assert m["config"]["scores_path"] == str(scores) and "numpy" in m["versions"]
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert [x["id"] for x in rows] == ["a", "b", "c", "d", "e"]
    assert [x["prediction"] for x in rows] == [-1, 2, 1, -1, 0]
    assert [x["first_error"] for x in rows] == [-1, -1, 1, 2, 0]
    assert rows[2]["rationales"] == ["ok", "bad", "bad"] and "rationales" not in rows[0]
    assert "f1" in r.output and "baseline:last" in r.output


def test_scores_file_and_baseline_judge_agree(files, tmp_path):
    data, _ = files
    by_judge = tmp_path / "judge"
    r = invoke("eval", "--judge", "baseline:last", "--data", data, "--out", by_judge,
               "--resamples", 100)
    assert r.exit_code == 0, r.output
    # the judge's own scores written as a scores file (samples.jsonl is one)
    baseline = [{"id": d["id"], "step_scores": [1.0] * (len(d["steps"]) - 1) + [0.0]}
                for d in DATA]
    scores = write_jsonl(tmp_path / "last.jsonl", baseline)
    by_file = tmp_path / "file"
    r = invoke("eval", "--scores", scores, "--data", data, "--out", by_file, "--resamples", 100)
    assert r.exit_code == 0, r.output
    a = json.loads((by_judge / "metrics.json").read_text())
    b = json.loads((by_file / "metrics.json").read_text())
    assert {k: a[k] for k in METRICS} == {k: b[k] for k in METRICS}
    assert a["judge"] == "baseline:last"
    assert a["f1"] == a["baselines"]["baseline:last"]["f1"]
    # and feeding the judge run's samples.jsonl back as a scores file changes nothing
    again = tmp_path / "again"
    r = invoke("eval", "--scores", by_judge / "samples.jsonl", "--data", data, "--out", again,
               "--resamples", 100)
    c = json.loads((again / "metrics.json").read_text())
    assert {k: c[k] for k in METRICS} == {k: a[k] for k in METRICS}


def test_missing_id_and_length_mismatch(files, tmp_path):
    data, _ = files
    s = write_jsonl(tmp_path / "short.jsonl", SCORES[:4])
    r = invoke("eval", "--scores", s, "--data", data, "--out", tmp_path / "o")
    assert isinstance(r.exception, InputError)
    assert r.exception.path == str(s) and r.exception.field == "id"
    assert "'e'" in str(r.exception)
    bad = [dict(x) for x in SCORES]
    bad[2]["step_scores"] = [0.5, 0.5]
    bad[2].pop("rationales")
    s = write_jsonl(tmp_path / "bad.jsonl", bad)
    r = invoke("eval", "--scores", s, "--data", data, "--out", tmp_path / "o")
    assert isinstance(r.exception, InputError)
    assert (r.exception.path, r.exception.line, r.exception.field) == (str(s), 3, "step_scores")
    bad[2]["step_scores"] = [0.5, 1.5, 0.2]
    s = write_jsonl(tmp_path / "range.jsonl", bad)
    r = invoke("eval", "--scores", s, "--data", data, "--out", tmp_path / "o")
    assert (r.exception.line, r.exception.field) == (3, "step_scores[1]")
    assert not (tmp_path / "o").exists()


def test_flag_errors(files, tmp_path):
    data, scores = files
    r = invoke("eval", "--data", data, "--out", tmp_path / "o")
    assert "exactly one of --scores and --judge" in str(r.exception)
    r = invoke("eval", "--scores", scores, "--judge", "baseline:never", "--data", data,
               "--out", tmp_path / "o")
    assert isinstance(r.exception, InputError)
    r = invoke("eval", "--scores", scores, "--data", data, "--out", tmp_path / "o",
               "--threshold", "0.3", "--tune-on", data, scores)
    assert "not both" in str(r.exception)
    r = invoke("eval", "--judge", "ckpt/model", "--data", data, "--out", tmp_path / "o")
    assert "must be a checkpoint folder" in str(r.exception)
    r = invoke("eval", "--judge", "baseline:sometimes", "--data", data, "--out", tmp_path / "o")
    assert "unknown baseline" in str(r.exception)


def test_main_exit_status_2(files, tmp_path, capsys):
    from prmlab.cli.main import main
    data, _ = files
    with pytest.raises(SystemExit) as e:
        main(["eval", "--judge", "ckpt", "--data", str(data), "--out", str(tmp_path / "o")])
    assert e.value.code == 2
    assert "must be a checkpoint folder" in capsys.readouterr().err


def test_tune_on_dev(files, tmp_path):
    data, scores = files
    # dev: x fe=0 [.45 .9] right for t > .45 ; y fe=-1 [.8 .42] right for t <= .42 ;
    # z fe=1 [.9 .44] right for t in (.44, .9]. Distinct scores .42 .44 .45 .8 .9 give the
    # candidates .42, .43, .445, .625, .85 and just above .9. No t makes y right together with
    # x or z, so acc_err * acc_cor = 0 and F1 = 0 everywhere: the tie goes to the candidate
    # closest to 0.5, which is .445 (|-.055|; .625 is .125 away).
    dev = write_jsonl(tmp_path / "dev.jsonl", [rec("x", 0, 2), rec("y", -1, 2), rec("z", 1, 2)])
    dev_s = write_jsonl(tmp_path / "dev_s.jsonl", [
        {"id": "x", "step_scores": [0.45, 0.9]}, {"id": "y", "step_scores": [0.8, 0.42]},
        {"id": "z", "step_scores": [0.9, 0.44]}])
    out = tmp_path / "t"
    r = invoke("eval", "--scores", scores, "--data", data, "--out", out, "--tune-on", dev, dev_s,
               "--resamples", 50)
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["threshold"]["tuned"] is True and m["threshold"]["value"] == pytest.approx(0.445)
    assert m["threshold"]["dev_f1"] == 0.0 and m["threshold"]["tuned_on"] == str(dev)
    # a dev split where tuning matters: fe=0 [.55 .9] and fe=-1 [.8 .6] -> t in (.55, .6]: .575
    dev_s2 = write_jsonl(tmp_path / "dev_s2.jsonl", [
        {"id": "x", "step_scores": [0.55, 0.9]}, {"id": "y", "step_scores": [0.8, 0.6]},
        {"id": "z", "step_scores": [0.9, 0.3]}])
    r = invoke("eval", "--scores", scores, "--data", data, "--out", out, "--tune-on", dev,
               dev_s2, "--resamples", 50)
    m = json.loads((out / "metrics.json").read_text())
    assert m["threshold"]["value"] == pytest.approx(0.575) and m["threshold"]["dev_f1"] == 1.0
    # at .575 on the test data: a [.9 .8] -> -1 right; b [.9 .7 .2] -> 2 wrong;
    # c [.6 .3 .1] -> 1 right; d [.9 .9 .6] -> -1 wrong; e [.4 .9] -> 0 right: as at 0.5
    assert m["f1"]["value"] == pytest.approx(4 / 7)
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert [x["prediction"] for x in rows] == [-1, 2, 1, -1, 0]


def test_evaluate_functions_directly(tmp_path):
    records = [Record(**d) for d in DATA]
    scores = [StepScores(id=s["id"], step_scores=s["step_scores"]) for s in SCORES]
    m = evaluate_scores(records, list(reversed(scores)), None, {"bootstrap_resamples": 20})
    assert m["f1"]["value"] == pytest.approx(4 / 7)
    m2 = evaluate_judge(BaselineJudge("never"), records, tmp_path / "n",
                        {"bootstrap_resamples": 20})
    assert m2["judge"] == "baseline:never" and m2["acc_cor"]["value"] == 1.0
    assert (tmp_path / "n" / "metrics.json").exists()
    m3 = evaluate_judge(BaselineJudge("first"), records, None, {"bootstrap_resamples": 20},
                        dev_records=records)
    assert m3["threshold"]["tuned"] is True
    with pytest.raises(InputError, match="no step scores for record id 'e'"):
        evaluate_scores(records, scores[:4], None, {})
