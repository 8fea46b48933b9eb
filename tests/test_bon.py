"""Best-of-N: pass@k against brute force, maj@k and rm@k tie-breaks, both input formats, the
`bon` command, and the shared real fixture."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from prmlab.errors import InputError
from prmlab.metrics.bon import (BonProblem, bon_metrics, default_ks, load_bon_samples,
                                   maj_at_k, majority_answer, pass_at_k, rm_at_k)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BON_FILE = SHARED / "bon" / "math_cot_100.jsonl"


def app() -> typer.Typer:
    from prmlab.cli import evaluate

    a = typer.Typer(pretty_exceptions_enable=False)
    evaluate.register(a)
    return a


# ---- pass@k ------------------------------------------------------------------------------------

def test_pass_at_k_hand():
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)        # 1 - C(3,2)/C(4,2) = 1 - 3/6
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)        # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(8, 3, 1) == pytest.approx(3 / 8)      # pass@1 = c/n
    assert pass_at_k(8, 0, 8) == 0.0 and pass_at_k(8, 1, 8) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_pass_at_k_brute_force():
    # fraction of k-subsets of n samples (c of them correct) containing a correct one
    for n in range(1, 8):
        for c in range(n + 1):
            flags = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(range(n), k))
                want = sum(any(flags[i] for i in s) for s in subsets) / len(subsets)
                assert pass_at_k(n, c, k) == pytest.approx(want, abs=1e-12), (n, c, k)


def test_pass_at_k_large_n_is_stable():
    # C(1000, 500) overflows floats; the product form does not
    v = pass_at_k(1000, 3, 500)
    assert v == pytest.approx(1 - (500 * 499 * 498) / (1000 * 999 * 998))


# ---- maj@k and rm@k ----------------------------------------------------------------------------

def test_maj_at_k_tie_break_first_occurrence():
    p = BonProblem("q", ["5", "7", "7", "5"], [False, True, True, False])
    assert maj_at_k(p, 1) is False   # "5"
    assert maj_at_k(p, 2) is False   # 1-1 tie: "5" occurs first
    assert maj_at_k(p, 3) is True    # "7" 2-1
    assert maj_at_k(p, 4) is False   # 2-2 tie: "5" occurs first
    assert majority_answer([None, "", "x"]) == 2   # missing and blank answers abstain
    assert maj_at_k(BonProblem("r", [None, None], [False, False]), 2) is False


def test_rm_at_k_tie_first():
    p = BonProblem("q", ["a", "b", "c", "d"], [True, False, True, True],
                   scores=[0.2, 0.9, 0.9, 0.1])
    assert rm_at_k(p, 1) is True     # only sample 0
    assert rm_at_k(p, 2) is False    # 0.9 beats 0.2
    assert rm_at_k(p, 4) is False    # 0.9 tie between 1 and 2: the first (1, wrong)


def test_default_ks():
    assert default_ks(8) == [1, 2, 4, 8]
    assert default_ks(6) == [1, 2, 4, 6]
    assert default_ks(1) == [1]
    assert default_ks(16)[-1] == 16 and default_ks(5) == [1, 2, 4, 5]


def test_bon_metrics_hand():
    # P1: answers a b b b, correct F T T T, scores .9 .1 .2 .3
    # P2: answers x y x z, correct F F F T, scores .1 .5 .2 .8
    # pass@1 = mean(3/4, 1/4) = .5 ; pass@2: P1 1 - C(1,2)/C(4,2) = 1, P2 1 - C(3,2)/C(4,2) = .5
    #   -> .75 ; pass@4 = 1
    # maj@1: P1 "a" F, P2 "x" F -> 0 ; maj@2: P1 tie a/b -> a F, P2 tie x/y -> x F -> 0
    # maj@4: P1 "b" (3) T, P2 "x" (2) F -> .5
    # rm@1 = 0 (first samples wrong) ; rm@2: P1 .9 -> F, P2 .5 -> F -> 0 ; rm@4: P1 F, P2 .8 T
    ps = [BonProblem("1", list("abbb"), [False, True, True, True], [0.9, 0.1, 0.2, 0.3]),
          BonProblem("2", list("xyxz"), [False, False, False, True], [0.1, 0.5, 0.2, 0.8])]
    m = bon_metrics(ps, agg="min", n_resamples=100)
    val = lambda key: {k: v["value"] for k, v in m[key].items()}  # noqa: E731
    assert m["ks"] == [1, 2, 4] and m["N"] == 4 and m["n_problems"] == 2
    assert val("pass@k") == pytest.approx({"1": 0.5, "2": 0.75, "4": 1.0})
    assert val("maj@k") == {"1": 0.0, "2": 0.0, "4": 0.5}
    assert val("rm@k") == {"1": 0.0, "2": 0.0, "4": 0.5}
    assert m["oracle"]["value"] == 1.0
    for key in ("pass@k", "maj@k", "rm@k"):
        for v in m[key].values():
            assert v["direction"] == "higher" and v["ci"][0] <= v["value"] <= v["ci"][1]
    assert bon_metrics(ps, agg="min", n_resamples=100) == m


def test_bon_unequal_n_stops_at_smallest():
    ps = [BonProblem("1", ["a"] * 3, [True, False, False]),
          BonProblem("2", ["b"] * 5, [False] * 4 + [True])]
    m = bon_metrics(ps, n_resamples=10)
    assert m["ks"] == [1, 2, 3] and m["N"] == 3 and m["N_max"] == 5
    assert "rm@k" not in m
    assert m["oracle"]["value"] == 1.0  # all samples, per problem


# ---- reading both formats ----------------------------------------------------------------------

def canonical_line(rid, pid, answer, ok, steps_scores=None, score=None):
    meta = {"problem_id": pid}
    if steps_scores is not None:
        meta["step_scores"] = steps_scores
    if score is not None:
        meta["score"] = score
    return json.dumps({"id": rid, "problem": "q", "steps": ["s"] * 2, "labels": [None, None],
                       "first_error": None, "answer": answer, "answer_correct": ok,
                       "meta": meta})


def test_canonical_format_with_aggregation(tmp_path):
    # P: sample 0 steps [.9 .2] ok=F ; sample 1 [.6 .7] ok=T
    #   min: .2 vs .6 -> sample 1 (T) ; last: .2 vs .7 -> T ; product: .18 vs .42 -> T
    #   mean: .55 vs .65 -> T
    # Q: sample 0 [.5 .5] ok=T ; sample 1 [1.0 .4] ok=F
    #   min .5 vs .4 -> T ; last .5 vs .4 -> T ; product .25 vs .4 -> F ; mean .5 vs .7 -> F
    f = tmp_path / "s.jsonl"
    f.write_text("\n".join([canonical_line("p0", "P", "1", False, [0.9, 0.2]),
                            canonical_line("q0", "Q", "3", True, [0.5, 0.5]),
                            canonical_line("p1", "P", "2", True, [0.6, 0.7]),
                            canonical_line("q1", "Q", "4", False, [1.0, 0.4])]) + "\n")
    want = {"min": 1.0, "last": 1.0, "product": 0.5, "mean": 0.5}
    for agg, v in want.items():
        ps, fmt = load_bon_samples(f, agg)
        assert fmt == "canonical" and [p.problem_id for p in ps] == ["P", "Q"]
        assert bon_metrics(ps, agg=agg, n_resamples=10)["rm@k"]["2"]["value"] == v, agg


def test_canonical_format_errors(tmp_path):
    f = tmp_path / "s.jsonl"
    line = json.loads(canonical_line("p0", "P", "1", False, score=0.3))
    del line["meta"]["problem_id"]
    f.write_text(json.dumps(line) + "\n")
    with pytest.raises(InputError) as e:
        load_bon_samples(f)
    assert e.value.line == 1 and e.value.field == "meta.problem_id"
    f.write_text(canonical_line("p0", "P", "1", None, score=0.3) + "\n")
    with pytest.raises(InputError, match="answer_correct"):
        load_bon_samples(f)
    f.write_text(canonical_line("p0", "P", "1", True, score=0.3) + "\n"
                 + canonical_line("p1", "P", "1", True) + "\n")
    with pytest.raises(InputError, match="some solutions but not all"):
        load_bon_samples(f)


def test_list_format_scalar_and_list_scores(tmp_path):
    f = tmp_path / "l.jsonl"
    f.write_text(json.dumps({"idx": 0, "gt": "1", "pred": ["1", "2"], "score": [True, False],
                             "pred_score": [[0.1, 0.9], 0.5]}) + "\n")
    ps, fmt = load_bon_samples(f, "last")
    assert fmt == "pred-lists" and ps[0].scores == [0.9, 0.5]
    assert ps[0].step_scores == [[0.1, 0.9], [0.5]]
    ps, _ = load_bon_samples(f, "min")
    assert ps[0].scores == [0.1, 0.5]
    f.write_text(json.dumps({"pred": ["1", "2"], "score": [True, "yes"]}) + "\n")
    with pytest.raises(InputError) as e:
        load_bon_samples(f)
    assert e.value.field == "score[1]" and e.value.line == 1


def test_bon_command_canonical(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text("\n".join(canonical_line(f"{p}{i}", p, str(i % 2), i % 2 == 1, [0.1 * i, 0.5])
                           for p in "AB" for i in range(4)) + "\n")
    out = tmp_path / "out"
    r = CliRunner().invoke(app(), ["bon", "--samples", str(f), "--out", str(out), "--agg",
                                   "mean", "--resamples", "50"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["pass@k"]) == {"1", "2", "4"} and m["agg"] == "mean"
    assert m["pass@k"]["1"]["value"] == 0.5  # half the samples (odd i) are right
    # mean scores .25 .3 .35 .4 -> the last sample (i=3, right) wins for k=4
    assert m["rm@k"]["4"]["value"] == 1.0
    assert set(m["rm@k_by_agg"]) == {"min", "product", "last", "mean"}
    assert (out / "bon.png").read_bytes()[:4] == b"\x89PNG"
    assert "pass@k" in r.output


# ---- the shared real fixture -------------------------------------------------------------------

@pytest.mark.skipif(not BON_FILE.exists(), reason=f"shared data absent: {BON_FILE}")
def test_shared_bon_file(tmp_path):
    rows = [json.loads(line) for line in BON_FILE.read_text().splitlines() if line.strip()]
    flags = [s for row in rows for s in row["score"]]
    ps, fmt = load_bon_samples(BON_FILE)
    assert fmt == "pred-lists" and len(ps) == 100 and {p.n for p in ps} == {8}
    m = bon_metrics(ps, agg="min", n_resamples=200)
    assert m["ks"] == [1, 2, 4, 8]
    assert m["pass@k"]["1"]["value"] == pytest.approx(sum(flags) / len(flags))
    assert m["pass@k"]["8"]["value"] == pytest.approx(
        sum(any(row["score"]) for row in rows) / len(rows))
    assert m["oracle"]["value"] == m["pass@k"]["8"]["value"]
    # maj@1 and rm@1 are both the first sample's correctness
    first = sum(row["score"][0] for row in rows) / len(rows)
    assert m["maj@k"]["1"]["value"] == pytest.approx(first)
    assert m["rm@k"]["1"]["value"] == pytest.approx(first)

    out = tmp_path / "bon"
    r = CliRunner().invoke(app(), ["bon", "--samples", str(BON_FILE), "--out", str(out),
                                   "--resamples", "100"])
    assert r.exit_code == 0, r.output
    cli = json.loads((out / "metrics.json").read_text())
    assert cli["pass@k"]["1"]["value"] == pytest.approx(sum(flags) / len(flags))
    assert set(cli) >= {"pass@k", "maj@k", "rm@k", "oracle", "config", "versions"}
    assert not math.isnan(cli["rm@k"]["8"]["value"])
    assert (out / "bon.png").exists()
