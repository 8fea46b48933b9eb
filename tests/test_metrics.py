"""Hand-computed checks of every step-judge metric (ProcessBench, AUROC, ECE, aggregation,
bootstrap, threshold tuning, baselines)."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from prmlab.data.record import Record, labels_from_first_error
from prmlab.metrics import (aggregate, auroc, cluster_bootstrap, ece, f1_by_k,
                               predict_first_error, processbench_metrics, step_metrics,
                               tune_threshold, with_ci)
from prmlab.metrics.bootstrap import weighted_mean
from prmlab.metrics.processbench import (candidate_thresholds, f1_at_thresholds,
                                           processbench_point, threshold_sweep)
from prmlab.judges.baselines import BASELINES, BaselineJudge


def rec(rid: str, fe: int | None, n: int, pid: str | None = None) -> Record:
    labels = [None] * n if fe is None else labels_from_first_error(fe, n)
    meta = {} if pid is None else {"problem_id": pid}
    return Record(id=rid, problem="p", steps=[f"s{i}" for i in range(n)], labels=labels,
                  first_error=fe, meta=meta)


# ---- ProcessBench ------------------------------------------------------------------------------

def test_prediction_at_threshold():
    s = [0.9, 0.6, 0.4, 0.2]
    assert predict_first_error(s) == 2          # 0.4 is the first below 0.5
    assert predict_first_error(s, 0.7) == 1     # 0.6 < 0.7
    assert predict_first_error(s, 0.1) == -1    # nothing below 0.1
    assert predict_first_error([0.5, 0.5]) == -1  # equal to the threshold is not below it
    assert predict_first_error([0.2, 0.9, 0.1]) == 0


# r1 fe=-1 [.9 .8]      -> pred -1  right
# r2 fe=-1 [.9 .3]      -> pred  1  wrong
# r3 fe= 1 [.7 .2 .1]   -> pred  1  right
# r4 fe= 0 [.6 .4]      -> pred  1  wrong
# r5 fe= 2 [.8 .9 .45]  -> pred  2  right
# r6 fe=None            -> excluded
# acc_err = 2/3, acc_cor = 1/2, f1 = 2*(2/3)*(1/2) / (2/3 + 1/2) = (2/3)/(7/6) = 4/7
PB_RECORDS = [rec("r1", -1, 2), rec("r2", -1, 2), rec("r3", 1, 3), rec("r4", 0, 2),
              rec("r5", 2, 3), rec("r6", None, 2)]
PB_SCORES = [[0.9, 0.8], [0.9, 0.3], [0.7, 0.2, 0.1], [0.6, 0.4], [0.8, 0.9, 0.45], [0.1, 0.1]]


def test_processbench_hand_example():
    m = processbench_metrics(PB_RECORDS, PB_SCORES, n_resamples=200)
    assert m["acc_err"]["value"] == pytest.approx(2 / 3)
    assert m["acc_cor"]["value"] == pytest.approx(1 / 2)
    assert m["f1"]["value"] == pytest.approx(4 / 7)
    assert m["acc_err"]["n"] == 3 and m["acc_cor"]["n"] == 2 and m["f1"]["n"] == 5
    assert m["n"] == {"solutions": 6, "evaluated": 5, "with_error": 3, "correct": 2,
                      "excluded_unknown_first_error": 1, "problems": 5}
    for k in ("f1", "acc_err", "acc_cor"):
        assert m[k]["direction"] == "higher"
        lo, hi = m[k]["ci"]
        assert 0.0 <= lo <= m[k]["value"] <= hi <= 1.0


def test_processbench_point_matches():
    # same predictions as above, without r6: fe [-1,-1,1,0,2], pred [-1,1,1,1,2]
    p = processbench_point([-1, -1, 1, 0, 2], [-1, 1, 1, 1, 2])
    assert p["acc_err"] == pytest.approx(2 / 3) and p["acc_cor"] == 0.5
    assert p["f1"] == pytest.approx(4 / 7)


def test_f1_when_one_class_absent():
    # only erroneous solutions: acc_err = 1/2 (r3 right, r4 wrong); acc_cor and F1 undefined
    recs, scores = PB_RECORDS[2:4], PB_SCORES[2:4]
    m = processbench_metrics(recs, scores, n_resamples=50)
    assert m["acc_err"]["value"] == 0.5
    assert m["acc_cor"]["value"] is None and m["acc_cor"]["ci"] is None
    assert "no correct solutions" in m["acc_cor"]["reason"]
    assert m["f1"]["value"] is None and "undefined" in m["f1"]["reason"]
    # only correct solutions: acc_err and F1 undefined
    m = processbench_metrics(PB_RECORDS[:2], PB_SCORES[:2], n_resamples=50)
    assert m["acc_cor"]["value"] == 0.5 and m["acc_err"]["value"] is None
    assert m["f1"]["value"] is None


def test_f1_zero_when_both_accuracies_zero():
    # r2 (correct, pred 1) and r4 (fe 0, pred 1) are both wrong: both accuracies 0 -> F1 = 0
    m = processbench_metrics([PB_RECORDS[1], PB_RECORDS[3]], [PB_SCORES[1], PB_SCORES[3]],
                             n_resamples=50)
    assert m["acc_err"]["value"] == 0.0 and m["acc_cor"]["value"] == 0.0
    assert m["f1"]["value"] == 0.0


def test_tune_threshold_hand_example():
    # a fe=1 [.9 .3]  right for t in (.3, .9]
    # b fe=-1 [.8 .6] right for t <= .6
    # c fe=0 [.55 .9] right for t > .55
    # candidates: .3, .425, .575, .7, .85, just above .9; only .575 is in (.55, .6] -> F1 = 1
    recs = [rec("a", 1, 2), rec("b", -1, 2), rec("c", 0, 2)]
    scores = [[0.9, 0.3], [0.8, 0.6], [0.55, 0.9]]
    assert candidate_thresholds(scores)[:5].tolist() == pytest.approx([0.3, 0.425, 0.575, 0.7,
                                                                       0.85])
    assert tune_threshold(recs, scores) == pytest.approx(0.575)
    sweep = threshold_sweep(recs, scores)
    assert sweep["dev_f1"] == 1.0 and sweep["candidates"] == 6
    # at the default 0.5: a right, b right, c wrong (0.55 is not below 0.5): F1 = 2*.5*1/1.5
    m = processbench_metrics(recs, scores, 0.5, n_resamples=10)
    assert m["f1"]["value"] == pytest.approx(2 / 3)


def test_tune_threshold_needs_both_classes():
    with pytest.raises(ValueError, match="both"):
        tune_threshold([rec("a", 1, 2)], [[0.9, 0.3]])


def test_f1_at_thresholds_agrees_with_brute_force():
    rng = random.Random(1)
    recs, scores = [], []
    for i in range(40):
        n = rng.randint(1, 5)
        recs.append(rec(f"x{i}", rng.randint(-1, n - 1), n))
        scores.append([round(rng.random(), 1) for _ in range(n)])  # rounding makes ties
    cands = candidate_thresholds(scores)
    fast = f1_at_thresholds(recs, scores, cands)
    for j, t in enumerate(cands):
        slow = processbench_point([r.first_error for r in recs],
                                  [predict_first_error(s, t) for s in scores])
        assert fast["acc_err"][j] == pytest.approx(slow["acc_err"])
        assert fast["acc_cor"][j] == pytest.approx(slow["acc_cor"])
        assert fast["f1"][j] == pytest.approx(slow["f1"])
    best = tune_threshold(recs, scores)
    assert max(fast["f1"]) == pytest.approx(processbench_point(
        [r.first_error for r in recs], [predict_first_error(s, best) for s in scores])["f1"])


def test_f1_by_k():
    # K=1: a [0.6] -> pred -1 (fe 0: wrong), b [0.7] right: acc_err 0, acc_cor 1 -> F1 0
    # K=8: a [0.2] -> pred 0 right, b right -> F1 1
    recs = [rec("a", 0, 1), rec("b", -1, 1)]
    r = f1_by_k(recs, {8: [[0.2], [0.7]], 1: [[0.6], [0.7]]}, n_resamples=20)
    assert list(r) == [1, 8]
    assert r[1]["value"] == 0.0 and r[1]["acc_err"] == 0.0 and r[1]["acc_cor"] == 1.0
    assert r[8]["value"] == 1.0 and r[8]["direction"] == "higher" and r[8]["ci"] is not None


# ---- step-level --------------------------------------------------------------------------------

def test_auroc_with_ties():
    # positives (label 1) 0.5, 0.9; negatives 0.2, 0.5
    # pairs: (.5,.2)=1 (.5,.5)=1/2 (.9,.2)=1 (.9,.5)=1  -> 3.5/4
    assert auroc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1]) == 0.875
    # average ranks: .2->1, .5->2.5, .5->2.5, .9->4; U = (2.5+4) - 2*3/2 = 3.5 -> 3.5/4
    assert auroc([0.5, 0.5, 0.5], [1, 0, 1]) == 0.5   # all tied
    assert auroc([0.1, 0.9], [1, 0]) == 0.0           # perfectly inverted
    assert math.isnan(auroc([0.3, 0.4], [0, 0]))


def test_auroc_brute_force():
    rng = random.Random(7)
    s = [round(rng.random(), 1) for _ in range(30)]
    y = [rng.randint(0, 1) for _ in range(30)]
    pairs = [(a, b) for a, la in zip(s, y) if la == 1 for b, lb in zip(s, y) if lb == 0]
    want = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs) / len(pairs)
    assert auroc(s, y) == pytest.approx(want)


def test_ece_two_bins():
    # bin [0, .5): scores .2 .4 labels 0 1 -> conf .3, acc .5, |.2| * 2/4 = .1
    # bin [.5, 1]: scores .6 .9 labels 1 1 -> conf .75, acc 1, |.25| * 2/4 = .125
    assert ece([0.2, 0.4, 0.6, 0.9], [0, 1, 1, 1], n_bins=2) == pytest.approx(0.225)
    # 10 bins: one step each: (.2 + .6 + .4 + .1) / 4
    assert ece([0.2, 0.4, 0.6, 0.9], [0, 1, 1, 1]) == pytest.approx(0.325)
    # calibrated: four steps at .25, one correct
    assert ece([0.25] * 4, [1, 0, 0, 0]) == pytest.approx(0.0)
    # 1.0 falls in the last bin, 0.0 in the first
    assert ece([1.0, 0.0], [1, 0]) == 0.0


def test_step_metrics_skip_unlabelled_and_report_reasons():
    # labels a: [1, 0] ; b: [1, None] (None skipped) -> steps (.8,1) (.3,0) (.6,1)
    a = rec("a", 1, 2)
    b = Record(id="b", problem="p", steps=["x", "y"], labels=[1, None], first_error=None)
    m = step_metrics([a, b], [[0.8, 0.3], [0.6, 0.1]], n_resamples=50)
    assert m["auroc"]["value"] == 1.0 and m["auroc"]["n"] == 3
    # 10 bins: |.8-1| + |.3-0| + |.6-1| = .9, / 3
    assert m["ece"]["value"] == pytest.approx(0.3)
    assert m["auroc"]["direction"] == "higher" and m["ece"]["direction"] == "lower"
    only_pos = step_metrics([rec("c", -1, 2)], [[0.9, 0.8]], n_resamples=10)
    assert only_pos["auroc"]["value"] is None
    assert "no wrong (label 0) steps" in only_pos["auroc"]["reason"]
    assert only_pos["ece"]["value"] == pytest.approx(0.15)  # (.1 + .2) / 2


# ---- aggregation -------------------------------------------------------------------------------

def test_aggregations():
    s = [0.9, 0.5, 0.8]
    assert aggregate(s, "min") == 0.5
    assert aggregate(s, "product") == pytest.approx(0.36)
    assert aggregate(s, "last") == 0.8
    assert aggregate(s, "mean") == pytest.approx(2.2 / 3)
    with pytest.raises(ValueError):
        aggregate(s, "max")


# ---- bootstrap ---------------------------------------------------------------------------------

def test_bootstrap_deterministic_and_contains_point():
    m1 = processbench_metrics(PB_RECORDS, PB_SCORES, n_resamples=300, seed=5)
    m2 = processbench_metrics(PB_RECORDS, PB_SCORES, n_resamples=300, seed=5)
    assert m1 == m2
    x = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1], dtype=float)
    keys = list("aabbccddee")
    c1 = cluster_bootstrap(keys, weighted_mean(x), seed=0)
    assert c1 == cluster_bootstrap(keys, weighted_mean(x), seed=0)
    assert c1["n_resamples"] == 1000
    lo, hi = c1["ci"]
    assert lo <= x.mean() <= hi and lo < hi
    m = with_ci(weighted_mean(x), keys, direction="higher", aggregation="mean", n=10)
    assert m["value"] == 0.7 and m["ci"] == c1["ci"]


def test_bootstrap_resamples_whole_problems():
    # two problems, ten solutions each, all right / all wrong. Resampling problems can only give
    # 0, 0.5 or 1; each endpoint has probability 1/4 > 2.5%, so the 95% CI is [0, 1]. An
    # item-level bootstrap would give a narrow interval around 0.5.
    x = np.array([1.0] * 10 + [0.0] * 10)
    r = cluster_bootstrap(["p"] * 10 + ["q"] * 10, weighted_mean(x), seed=0)
    assert r["ci"] == [0.0, 1.0]
    # problem_id in meta groups solutions: 2 problems although 4 ids
    recs = [rec("a1", -1, 1, "A"), rec("a2", -1, 1, "A"), rec("b1", 0, 1, "B"),
            rec("b2", 0, 1, "B")]
    m = processbench_metrics(recs, [[0.9], [0.9], [0.1], [0.1]], n_resamples=50)
    assert m["n"]["problems"] == 2


def test_bootstrap_undefined_resamples_are_dropped():
    # acc_err defined only when the erroneous problem is drawn
    recs = [rec("a", -1, 1), rec("b", 0, 1)]
    m = processbench_metrics(recs, [[0.9], [0.1]], n_resamples=200, seed=1)
    assert m["f1"]["value"] == 1.0
    assert m["f1"]["n_undefined_resamples"] > 0
    assert m["f1"]["ci"] == [1.0, 1.0]


# ---- trivial baselines -------------------------------------------------------------------------

def test_baselines_on_hand_example():
    recs = [r for r in PB_RECORDS if r.first_error is not None]  # fe: -1 -1 1 0 2 (2,2,3,2,3)

    def pb(kind):
        scores = [s.step_scores for s in BaselineJudge(kind).score(recs)]
        return processbench_metrics(recs, scores, n_resamples=10)

    never = pb("never")  # always -1: acc_cor 1, acc_err 0, f1 0
    assert (never["acc_err"]["value"], never["acc_cor"]["value"], never["f1"]["value"]) == \
        (0.0, 1.0, 0.0)
    last = pb("last")  # predicts n-1: 1, 1, 2, 1, 2 -> right on r5 (fe 2) only -> 1/3
    assert last["acc_err"]["value"] == pytest.approx(1 / 3) and last["acc_cor"]["value"] == 0.0
    first = pb("first")  # predicts 0: right on r4 only
    assert first["acc_err"]["value"] == pytest.approx(1 / 3) and first["f1"]["value"] == 0.0
    a = BaselineJudge("random", seed=3).score(recs)
    b = BaselineJudge("random", seed=3).score(list(reversed(recs)))
    assert [s.step_scores for s in a] == [s.step_scores for s in reversed(b)]
    assert all(0.0 <= x < 1.0 for s in a for x in s.step_scores)
    assert a[0].step_scores != BaselineJudge("random", seed=4).score(recs)[0].step_scores
    assert BASELINES == ("never", "last", "first", "random")
    assert list(itertools.chain(*[s.step_scores for s in BaselineJudge("first").score(recs[:1])])
                ) == [0.0, 1.0]
