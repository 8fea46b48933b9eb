"""The rl-judge claim read from fabricated records (the effect worked by hand), and a claim
suite pinned before the claim existed resuming with its new folders appended."""

import json

import pytest

from prmlab import outdir
from prmlab.claims import rl_judge
from prmlab.claims.suite import FolderPlan, Size, SuitePlan, pin_plan
from prmlab.claims.view import Folder, ReplicateView
from prmlab.errors import InputError
from prmlab.experiments.records import (EvalMetrics, JudgeCell, Metric, Selection, SetMetrics,
                                        Threshold)


def _judge(fmt, budget, f1):
    m = SetMetrics(f1=Metric(value=f1), acc_err=Metric(value=0.5), acc_cor=Metric(value=0.5),
                   auroc=Metric(value=0.5), ece=Metric(value=0.1), threshold=0.5)
    return JudgeCell(format=fmt, budget=budget, seed=0, budget_solutions=budget, step_labels=budget,
                     selection=Selection(metric="f1", dev_solutions=1, trials=[], chosen_lr=1e-3,
                                         chosen_step=1),
                     filter=None, threshold=Threshold(value=0.5, tuned=False), train_seconds=0.0,
                     score_seconds=0.0, compute={}, metrics=EvalMetrics(policy=m, injected=m, all=m))


def _view(flagship: dict, rl: dict) -> ReplicateView:
    def folder(name, exp, recs):
        return Folder(name, exp, 0, 0, None, records={f"{r.format}-N{r.budget}": r for r in recs})

    return ReplicateView(0, 0, {"flagship": folder("flagship-b0-s0", "flagship", flagship),
                                "rl-judges": folder("rl-judges-b0-s0", "rl-judges", rl)})


def test_the_effect_is_the_rl_judge_minus_the_best_supervised_one_at_the_largest_shared_budget():
    sft = [_judge("discriminative", 16, 0.5), _judge("generative", 16, 0.6), _judge("direct", 16, 0.4),
           _judge("discriminative", 128, 0.55), _judge("generative", 128, 0.70), _judge("direct", 128, 0.72)]
    # RL at 16, 128 and 1024; the flagship has no 1024: the claim reads N=128
    m = rl_judge.CLAIM.measure(_view(sft, [_judge("generative-rl", b, v) for b, v in ((16, 0.9), (128, 0.80), (1024, 0.99))]))
    assert m.value == pytest.approx(0.80 - 0.72) and "best supervised direct 0.720 at N=128" in m.detail
    assert {i.cell for i in m.inputs} == {"generative-rl-N128", "discriminative-N128", "generative-N128", "direct-N128"}


def test_no_rl_judge_or_an_undefined_f1_is_a_reason():
    sft = [_judge("generative", 16, 0.6)]
    assert rl_judge.CLAIM.measure(_view(sft, [])).reason.startswith("no budget with both")
    m = rl_judge.CLAIM.measure(_view(sft, [_judge("generative-rl", 16, None)]))
    assert m.value is None and "undefined" in m.reason


def _plan(n):
    size = Size(name="t", preset="smoke", bases=[0], seeds=[0], note="")
    return SuitePlan(size=size, folders=[FolderPlan(name=f"f{i}", experiment=f"e{i}", base=0, seed=0,
                                                    sets=[], config={"i": i}) for i in range(n)])


def test_a_pinned_suite_resumes_with_a_new_claims_folders_appended(tmp_path):
    pin_plan(_plan(2), tmp_path)
    with outdir.command():  # as `prmlab claims` runs it: the pinned plan it read is its own record
        pin_plan(_plan(3), tmp_path)  # a claim registered since: its folder after the pinned ones
    assert len(json.loads((tmp_path / "suite.json").read_text())["plan"]["folders"]) == 3
    pin_plan(_plan(3), tmp_path)
    changed = _plan(3)
    changed.folders[0].config = {"i": "other"}
    with pytest.raises(InputError, match="another size or plan"):
        pin_plan(changed, tmp_path)
    with pytest.raises(InputError, match="another size or plan"):
        pin_plan(_plan(2), tmp_path)  # fewer folders than pinned: not an extension


def test_the_sft_started_claim_reads_its_own_folders_and_plans_them_with_the_start_set():
    from prmlab.claims import rl_judge_sft
    from prmlab.claims.view import Folder

    sft = [_judge("generative", 128, 0.6), _judge("discriminative", 128, 0.5), _judge("direct", 128, 0.4)]
    base_rl, warm_rl = [_judge("generative-rl", 128, 0.1)], [_judge("generative-rl", 128, 0.75)]

    def folder(name, exp, recs):
        return Folder(name, exp, 0, 0, None, records={f"{r.format}-N{r.budget}": r for r in recs})

    rep = ReplicateView(0, 0, {"flagship": folder("flagship-b0-s0", "flagship", sft),
                               "rl-judges": folder("rl-judges-b0-s0", "rl-judges", base_rl),
                               "rl-judges-sft": folder("rl-judges-sft-b0-s0", "rl-judges-sft", warm_rl)})
    assert rl_judge_sft.CLAIM.measure(rep).value == pytest.approx(0.75 - 0.6)
    assert rl_judge.CLAIM.measure(rep).value == pytest.approx(0.1 - 0.6)
    exp = rl_judge_sft.RL_JUDGES_SFT
    assert exp.sets[-1] == "judge.rl.start=sft" and exp.sets[:-1] == rl_judge.RL_JUDGES.sets
    from prmlab.experiments.config import resolve_config

    assert resolve_config(sets=list(exp.sets), preset="quick").judge.rl.start == "sft"
