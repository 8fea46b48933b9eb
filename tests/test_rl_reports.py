"""RL reports and the policy-RL claims from hand-made typed `RLResult`s: the run report and the
suite report (means over seeds with a t interval), and the claims (one example, spurious
rewards and the other control rewards, pass@k not widened) from fabricated RL suite folders with accuracies chosen so that
every effect, CI and verdict is worked out by hand (three RL seeds of one base:
t_{0.975, 2} = 4.303); the suite plan's RL folders (an old pinned plan is extended, never
refused)."""

import json

import pytest

from prmlab.claims import control_rewards, one_example, passk_not_wider, spurious_rewards
from prmlab.claims.suite import FolderPlan, Size, SuitePlan
from prmlab.experiments.records import Metric
from prmlab.experiments.rl_records import (Crossing, CurvePoint, FullEval, PassKCurve, PassKGap,
                                           PolicyEval, RLResult, TrainSet)
from prmlab.metrics.passk import crossing_k
from prmlab.reports.claims import build_claims

# ---- hand-made typed records and the reports built from them -----------------------------------------------------

def m(v, half=0.1):
    return Metric(value=v, ci=[v - half, v + half], direction="higher", n=10, aggregation="mean")


def curve(ks, vals):
    return PassKCurve.model_validate({"temperature": 1.0, "ks": ks, "n_min": ks[-1], "n_problems": 10,
                                      "pass@k": {str(k): m(v) for k, v in zip(ks, vals)},
                                      "coverage": m(vals[-1]), "distinct_answers": m(3.0)})


def record(label, reward, seed, before_acc, after_acc, before_pk, after_pk, n_train=1) -> RLResult:
    ks = [1, 2, 4]
    gaps = [a - b for a, b in zip(after_pk, before_pk)]
    return RLResult(
        reward=reward, seed=seed, policy="pol", base="base", label=label, steps=2, resumed_from=0,
        train=TrainSet(rule="the first 1 of stream rl.train", problems=["p"] * n_train, candidates=8),
        curve=[CurvePoint(step=s, reward_mean=0.1 * s, reward_std=0.0, train_accuracy=0.1 * s,
                          groups_all_equal=0, loss=0.0, completion_tokens=10) for s in (1, 2)],
        evals=[PolicyEval(step=0, train_greedy_accuracy=m(0.0), test_greedy_accuracy=m(before_acc)),
               PolicyEval(step=2, train_greedy_accuracy=m(1.0), test_greedy_accuracy=m(after_acc))],
        before=FullEval(step=0, train_greedy_accuracy=m(0.0), test_greedy_accuracy=m(before_acc),
                        test_sampled=curve(ks, before_pk)),
        after=FullEval(step=2, train_greedy_accuracy=m(1.0), test_greedy_accuracy=m(after_acc),
                       test_sampled=curve(ks, after_pk)),
        pass_at_k_gap=PassKGap(ks=ks, n_problems=10, gap={str(k): m(g) for k, g in zip(ks, gaps)},
                               coverage_gap=m(gaps[-1]),
                               crossing=Crossing(k=crossing_k(ks, gaps), rule="r", ks=ks,
                                                 share_crossing=0.9, ci=[2, None], n_resamples=100)),
        train_saturated_at=2, train_seconds_this_run=1.0, seconds=2.0, steps_per_s=2.0,
        samples_per_s=8.0)


def _write(folder, r: RLResult):
    folder.mkdir(parents=True)
    (folder / "result.json").write_text(r.model_dump_json(by_alias=True))
    return folder


def test_single_run_report_from_a_hand_made_record(tmp_path):
    from prmlab.reports.rl import write_rl_report

    d = _write(tmp_path / "r", record("worked", "outcome", 0, 0.2, 0.5, [0.2, 0.4, 0.8], [0.5, 0.6, 0.7]))
    md = write_rl_report(d).read_text()
    assert "test greedy accuracy 0.200 [0.100, 0.300] → 0.500 [0.400, 0.600]" in md
    assert "the curves cross at k = 4" in md  # gaps +0.3, +0.2, -0.1
    assert "beyond the grid" in md and "rollouts all correct first at step 2" in md
    assert "| pass@4, test (T=1) | ↑ | 0.800 [0.700, 0.900] | 0.700 [0.600, 0.800] |" in md
    assert sorted(p.name for p in (d / "figures").iterdir()) == ["rl_accuracy.png", "rl_passk.png",
                                                                 "rl_reward.png"]


def test_suite_report_means_over_seeds_with_a_t_interval(tmp_path):
    from prmlab.reports.rl import write_rl_suite_report

    runs = [_write(tmp_path / "a0", record("worked", "outcome", 0, 0.2, 0.3, [0.2, 0.4, 0.8], [0.5, 0.6, 0.7])),
            _write(tmp_path / "a1", record("worked", "outcome", 1, 0.2, 0.5, [0.2, 0.4, 0.8], [0.3, 0.5, 0.9])),
            _write(tmp_path / "b0", record("no-worked", "random", 0, 0.1, 0.1, [0.1, 0.2, 0.3], [0.1, 0.2, 0.3]))]
    md = write_rl_suite_report(tmp_path / "suite", runs + [tmp_path / "missing"]).read_text()
    # gains 0.1 and 0.3: mean 0.2, sd 0.1414, t_{0.975,1} = 12.706: half-width 12.706 x 0.1 = 1.2706
    assert "| worked · outcome · N=1 | 2 | +0.200 [-1.071, +1.471] |" in md
    # pass@4 gaps -0.1 and +0.1: mean 0 (half-width 12.706 x 0.1414 / sqrt 2 = 1.2706); crossings 4, none
    assert "pass@4: +0.000 [-1.271, +1.271] | 4, — |" in md
    assert "| no-worked · random · N=1 | 1 | +0.000 |" in md  # one seed: no interval
    assert "3 finished run(s) of 4" in md and "missing" in md


# ---- the RL claims -------------------------------------------------------------------------

SEEDS = [0, 1, 2]
RL_CLAIMS = (one_example.CLAIM, spurious_rewards.CLAIM, passk_not_wider.CLAIM, control_rewards.INCORRECT,
             control_rewards.FORMAT, control_rewards.MAJORITY)
ONE_AFTER = [0.53, 0.54, 0.55]  # worked, outcome, 1 problem: gains 0.33, 0.34, 0.35
PK4_AFTER = [0.70, 0.72, 0.74]  # worked, outcome, all: pass@4 0.8 -> these


def _plan():
    return SuitePlan(size=Size(name="test", preset="smoke", bases=[0], seeds=SEEDS, note="fabricated"),
                     folders=[FolderPlan(name=f"{e}-b0-s{s}", experiment=e, base=0, seed=s, sets=[],
                                         config={"fake": s}, kind="rl")
                              for e in ("rl", "rl-controls") for s in SEEDS])


# the controls folders: worked-base gains per seed (no-worked: 0.1 -> 0.1 + NO_WORKED_GAIN)
CONTROL_GAINS = {"incorrect": [0.30, 0.32, 0.34], "format": [0.02, 0.03, 0.04], "majority": [0.20, 0.10, 0.0]}
NO_WORKED_GAIN = {"incorrect": 0.0, "format": 0.0, "majority": -0.05}


def _controls(s):
    out = {}
    for reward, gains in CONTROL_GAINS.items():
        out[f"worked-{reward}-nall"] = record("worked", reward, s, 0.2, 0.2 + gains[s], [0.2, 0.4, 0.8],
                                              [0.2, 0.4, 0.8], n_train=8)
        out[f"no-worked-{reward}-nall"] = record("no-worked", reward, s, 0.1, 0.1 + NO_WORKED_GAIN[reward],
                                                 [0.1, 0.2, 0.3], [0.1, 0.2, 0.3], n_train=8)
    # a run on one problem is not an arm of these claims: never read (it sorts before the nall run)
    out["worked-incorrect-n1"] = record("worked", "incorrect", s, 0.2, 0.9, [0.2, 0.4, 0.8], [0.2, 0.4, 0.8])
    return out


def _runs(s):
    return {
        "worked-outcome-n1": record("worked", "outcome", s, 0.2, ONE_AFTER[s], [0.2, 0.4, 0.8], [0.5, 0.6, 0.8]),
        # all 8 candidates: gain 0.55 - 0.2 = 0.35
        "worked-outcome-nall": record("worked", "outcome", s, 0.2, 0.55, [0.2, 0.4, 0.8],
                                      [0.5, 0.6, PK4_AFTER[s]], n_train=8),
        "worked-random-nall": record("worked", "random", s, 0.2, 0.3, [0.2, 0.4, 0.8], [0.2, 0.4, 0.8], n_train=8),
        "no-worked-random-nall": record("no-worked", "random", s, 0.1, 0.1, [0.1, 0.2, 0.3], [0.1, 0.2, 0.3], n_train=8),
    }


def _write_suite(root, without=()):
    """The fabricated suite under `root`, leaving out the (folder, run) pairs in `without`."""
    for experiment, runs in (("rl", _runs), ("rl-controls", _controls)):
        for s in SEEDS:
            folder = root / "runs" / f"{experiment}-b0-s{s}"
            folder.mkdir(parents=True)
            (folder / "rl-suite.json").write_text(json.dumps({"config": {"fake": s}}))
            for name, r in runs(s).items():
                if (folder.name, name) in without:
                    continue
                (folder / "runs" / name).mkdir(parents=True)
                (folder / "runs" / name / "result.json").write_text(r.model_dump_json(by_alias=True))
    return root


@pytest.fixture
def suite(tmp_path):
    return _write_suite(tmp_path)


EXPECTED = {
    # gain(1) - gain(all): 0.33 - 0.35, 0.34 - 0.35, 0.35 - 0.35; mean -0.01, sd 0.01,
    # half 4.303 x 0.01 / sqrt 3 = 0.024843: CI [-0.034843, 0.014843] >= -0.05
    "one-example": ([-0.02, -0.01, 0.0], [-0.034843, 0.014843], "supported"),
    # random: worked +0.1, no-worked 0: effect 0.1 everywhere (sd 0): CI [0.1, 0.1] < 0.107
    "spurious-rewards": ([0.1, 0.1, 0.1], [0.1, 0.1], "refuted"),
    # pass@4 before - after: 0.8 - 0.70, 0.8 - 0.72, 0.8 - 0.74: mean 0.08, sd 0.02,
    # half 4.303 x 0.02 / sqrt 3 = 0.049687: CI [0.030313, 0.129687] >= -0.05
    "passk-not-wider": ([0.10, 0.08, 0.06], [0.030313, 0.129687], "supported"),
    # incorrect: 0.30, 0.32, 0.34 - 0: mean 0.32, sd 0.02, half 0.049687: CI [0.270313, 0.369687],
    # above 0 and mean >= 0.123 (half of 24.6 points)
    "incorrect-reward": ([0.30, 0.32, 0.34], [0.270313, 0.369687], "supported"),
    # format: 0.02, 0.03, 0.04: mean 0.03, sd 0.01, half 0.024843: CI [0.005157, 0.054843] < 0.082
    "format-reward": ([0.02, 0.03, 0.04], [0.005157, 0.054843], "refuted"),
    # majority: 0.20 + 0.05, 0.10 + 0.05, 0 + 0.05: mean 0.15, sd 0.1, half 4.303 x 0.1 / sqrt 3
    # = 0.248434: CI [-0.098434, 0.398434] neither above 0 nor below 0.133
    "majority-reward": ([0.25, 0.15, 0.05], [-0.098434, 0.398434], "inconclusive"),
}


def test_every_rl_claim_by_hand(suite):
    res = build_claims(suite, RL_CLAIMS, _plan())
    assert [c.id for c in res.claims] == list(EXPECTED)
    for c in res.claims:
        values, ci, verdict = EXPECTED[c.id]
        assert [r.value for r in c.replicates] == pytest.approx(values), c.id
        assert c.summary.ci == pytest.approx(ci, abs=1e-6), c.id
        assert c.verdict == verdict, (c.id, c.verdict_reason)
    assert res.claims[3].replicates[0].detail == "incorrect reward: worked base +0.300, no-worked base +0.000"
    pk = res.claims[2].replicates[0]
    assert "curves cross at k = 4" in pk.detail  # gaps +0.3, +0.2, -0.1
    # every input is the result.json field it names
    for c in res.claims:
        for r in c.replicates:
            assert r.inputs
            for i in r.inputs:
                v = json.loads((suite / "runs" / i.folder / "runs" / i.cell / "result.json").read_text())
                for k in i.field.split("."):
                    v = v[k]
                assert v == pytest.approx(i.value), (c.id, i)


def test_missing_arm_and_a_null_full_set_gain_are_reasons_never_zeros(suite):
    (suite / "runs" / "rl-b0-s1" / "runs" / "no-worked-random-nall" / "result.json").unlink()
    r = record("worked", "outcome", 2, 0.2, 0.2, [0.2, 0.4, 0.8], [0.5, 0.6, 0.8], n_train=8)
    (suite / "runs" / "rl-b0-s2" / "runs" / "worked-outcome-nall" / "result.json").write_text(
        r.model_dump_json(by_alias=True))
    res = {c.id: c for c in build_claims(suite, RL_CLAIMS, _plan()).claims}
    sp = res["spurious-rewards"].replicates[1]
    assert sp.value is None and "no-worked base" in sp.reason
    one = res["one-example"].replicates[2]
    assert one.value is None and "no gain for one example to match" in one.reason
    assert res["one-example"].verdict == res["spurious-rewards"].verdict == "inconclusive"


def test_a_missing_control_run_is_a_reason_and_the_other_controls_still_read(tmp_path):
    suite = _write_suite(tmp_path, without={("rl-controls-b0-s0", "worked-format-nall")})
    res = {c.id: c for c in build_claims(suite, RL_CLAIMS, _plan()).claims}
    fm = res["format-reward"].replicates[0]
    assert fm.value is None and fm.reason == "the RL suite has no format-reward run on the worked base"
    assert res["format-reward"].verdict == "inconclusive"
    assert [r.value for r in res["incorrect-reward"].replicates] == pytest.approx([0.30, 0.32, 0.34])


def test_suite_plans_one_rl_folder_per_base_and_seed_and_extends_an_old_pin(tmp_path):
    from prmlab.claims.registry import CLAIMS
    from prmlab.claims.suite import load_plan, pin_plan, plan_suite
    from prmlab.experiments.rl_suite import RLSuiteConfig

    plan = plan_suite("smoke", CLAIMS)
    rl = [f for f in plan.folders if f.kind == "rl"]
    assert [f.name for f in rl] == ["rl-b0-s0", "rl-controls-b0-s0"]
    cfg = RLSuiteConfig.model_validate(rl[0].config)
    assert cfg.size == "smoke" and cfg.base_seed == 0 and cfg.seeds == [0]
    assert {b.name for b in cfg.bases} == {"worked", "no-worked"}
    assert cfg.rewards == ["outcome", "random"] and cfg.train_sizes == [1, None]
    # the controls: the same RL settings, the three other controls, all training problems
    ctl = RLSuiteConfig.model_validate(rl[1].config)
    assert ctl.size == "smoke-controls" and ctl.seeds == [0] and ctl.sets == cfg.sets
    assert ctl.rewards == ["incorrect", "format", "majority"] and ctl.train_sizes == [None]
    quick = {f.name: RLSuiteConfig.model_validate(f.config) for f in plan_suite("quick", CLAIMS).folders
             if f.kind == "rl"}
    assert sorted(quick) == ["rl-b0-s0", "rl-b0-s1", "rl-controls-b0-s0", "rl-controls-b0-s1"]
    assert quick["rl-controls-b0-s1"].size == "quick-controls" and quick["rl-controls-b0-s1"].seeds == [1]
    # a suite pinned before the RL claims existed gains their folders; its own are unchanged
    old = SuitePlan(size=plan.size, folders=[f for f in plan.folders if f.kind == "flagship"])
    pin_plan(old, tmp_path)
    pin_plan(plan, tmp_path)
    assert load_plan(tmp_path) == plan
    # a suite pinned with the RL folders but before the control-reward claims gains rl-controls
    other = tmp_path / "before-controls"
    pin_plan(SuitePlan(size=plan.size, folders=[f for f in plan.folders if f.experiment != "rl-controls"]), other)
    pin_plan(plan, other)
    assert load_plan(other) == plan
    changed = SuitePlan(size=plan.size, folders=[f.model_copy(update={"sets": ["x"]}) for f in plan.folders])
    from prmlab.errors import InputError

    with pytest.raises(InputError, match="another size or plan"):
        pin_plan(changed, tmp_path)
