"""The Tree-GRPO and PCL claim rows read from fabricated run folders (effects, detail and
verdicts worked by hand), and the pinned quick suite staying extendable with their folders."""

import json
from pathlib import Path

import pytest

from prmlab.claims import self_evaluation, tree_structure
from prmlab.claims.evaluate import evaluate_suite
from prmlab.claims.suite import SIZES, FolderPlan, SuitePlan, extends
from prmlab.errors import InputError
from prmlab.experiments.policy_runs import policy_run_config

# the real quick suite, where the README's `prmlab claims --size quick --out runs/claims-quick` writes it (read only)
PINNED_QUICK = Path(__file__).resolve().parents[1] / "runs" / "claims-quick" / "suite.json"


def _m(value, ci=None, reason=None):
    out = {"value": value, "ci": ci, "direction": "higher", "n": 100, "aggregation": "x"}
    return out if value is not None else {**out, "reason": reason or "undefined"}


def _tree_metrics(tree, chain, diff, ratio=1.0, agreement=0.6):
    arms = {"tree": _m(tree), "chain": _m(chain)}
    return {"initial_accuracy": _m(0.3), "final_accuracy": arms,
            "final_difference": _m(diff, [diff - 0.05, diff + 0.05]),
            "accuracy_vs_tokens": {a: [{"step": 0, "tokens": 0, "accuracy": _m(0.3)}] for a in arms},
            "tokens": {"generated": {"tree": 1000, "chain": round(1000 * ratio)},
                       "chain_over_tree": ratio, "trained_tree": 1500,
                       "per_step": {"tree": [1000], "chain": [round(1000 * ratio)]},
                       "chain_generations": 8},
            "preference_agreement": {"pairs": 12, "agree": 6, "disagree": 4, "tie": 2,
                                     "agreement": _m(agreement, [0.3, 0.9]),
                                     "agreement_prefix_correct": _m(None, reason="no pair"),
                                     "baselines": {"random": 0.5, "shorter": _m(0.7)}},
            "advantage": "sum"}


def _judge(auroc, f1=0.4):
    return {"n": 40, "n_correct": 20, "auroc": _m(auroc, reason="only one class"),
            "acc_err": _m(0.5), "acc_cor": _m(0.5), "f1": _m(f1), "f1_wrong": _m(0.5)}


def _pcl_metrics(auroc, before=0.55, grpo=0.52, orm=None):
    def arm(a, acc):
        j = {"self-eval": {**_judge(a), "no_verdict": 3}, "always correct": _judge(0.5, 0.0),
             "always wrong": _judge(0.5, 0.0)}
        if orm is not None:
            j["orm"] = _judge(orm)
        return {"test_greedy_accuracy": _m(acc), "test_sampled_accuracy": _m(acc), "judges": j}

    return {"steps": 20, "lam": 1.0, "n_test": 100, "eval_samples": 4,
            "arms": {"before": arm(before, 0.4), "grpo": arm(grpo, 0.45), "pcl": arm(auroc, 0.47)},
            "pcl_minus_grpo_greedy": _m(0.02, [-0.03, 0.07])}


def _suite(tmp_path, kind, metrics_per_seed):
    """A quick-shaped plan (one base, seeds 0 and 1) of one experiment, its folders written as
    `policy_runs` writes them: policy-run.json, and metrics.json where the run finished."""
    size = SIZES["quick"]
    folders = []
    for seed, metrics in enumerate(metrics_per_seed):
        cfg = policy_run_config(kind, "quick", base_seed=0, seed=seed).model_dump(mode="json")
        name = f"{kind}-b0-s{seed}"
        folders.append(FolderPlan(name=name, experiment=kind, base=0, seed=seed, sets=[], config=cfg, kind=kind))
        if metrics is not None:
            d = tmp_path / "runs" / name
            d.mkdir(parents=True)
            (d / "policy-run.json").write_text(json.dumps({"config": cfg}))
            (d / "metrics.json").write_text(json.dumps(metrics))
    return SuitePlan(size=size, folders=folders)


def test_tree_effect_is_the_paired_tree_minus_chain_difference_with_agreement_beside_it(tmp_path):
    plan = _suite(tmp_path, "tree", [_tree_metrics(0.42, 0.32, 0.10), _tree_metrics(0.41, 0.30, 0.11, 1.1)])
    c = evaluate_suite(plan, tmp_path, [tree_structure.CLAIM]).claims[0]
    assert [r.value for r in c.replicates] == [0.10, 0.11]
    r = c.replicates[0]
    assert "tree 0.420 vs chain 0.320" in r.detail and "chain/tree 1.000, G = 8" in r.detail
    assert "agreeing with the oracle 0.600 [0.300, 0.900] over 10 decisive pairs (2 ties)" in r.detail
    assert "coin 0.5 and shorter branch 0.700" in r.detail
    assert {i.field: i.value for i in r.inputs}["final_difference.value"] == 0.10
    assert {i.cell for i in r.inputs} == {"metrics.json"}
    # mean 0.105, sd 0.00707, half-width t(1) 12.706 x 0.00707 / sqrt(2) = 0.0635:
    # CI [0.0415, 0.1685] lies above 0 and the mean reaches +0.05
    assert c.summary.ci == pytest.approx([0.0415, 0.1685], abs=1e-3)
    assert c.verdict == "supported"


def test_tree_refuted_unmatched_budgets_and_not_run(tmp_path):
    plan = _suite(tmp_path, "tree", [_tree_metrics(0.30, 0.32, -0.02), _tree_metrics(0.30, 0.31, -0.01)])
    c = evaluate_suite(plan, tmp_path, [tree_structure.CLAIM]).claims[0]
    # mean -0.015, CI [-0.0785, +0.0485]: wholly below +0.05
    assert c.verdict == "refuted" and c.summary.mean == pytest.approx(-0.015)
    plan = _suite(tmp_path / "b", "tree", [_tree_metrics(0.4, 0.3, 0.1, ratio=1.3), None])
    c = evaluate_suite(plan, tmp_path / "b", [tree_structure.CLAIM]).claims[0]
    assert c.replicates[0].value is None and "budgets not matched: chain/tree generated tokens 1.300" in c.replicates[0].reason
    assert c.replicates[1].value is None and c.replicates[1].reason.startswith("not run yet: runs/tree-b0-s1")
    assert c.verdict == "inconclusive" and "2 of 2 planned replicate(s) undefined" in c.verdict_reason


def test_pcl_effect_is_the_self_evaluation_auroc_minus_chance(tmp_path):
    plan = _suite(tmp_path, "pcl", [_pcl_metrics(0.70, orm=0.8), _pcl_metrics(0.66)])
    c = evaluate_suite(plan, tmp_path, [self_evaluation.CLAIM]).claims[0]
    assert [r.value for r in c.replicates] == pytest.approx([0.20, 0.16])
    d = c.replicates[0].detail
    assert "pcl self-eval AUROC 0.700 (constant judges 0.500), F1 0.400" in d and "3 of 40 without a verdict" in d
    assert "before self-eval AUROC 0.550; grpo self-eval AUROC 0.520; ORM AUROC 0.800" in d
    assert "pcl − grpo 0.020 [-0.030, 0.070]" in d and "ORM" not in c.replicates[1].detail
    assert {i.field for i in c.replicates[0].inputs} == {
        "arms.pcl.judges.self-eval.auroc.value", "arms.pcl.judges.self-eval.f1.value", "pcl_minus_grpo_greedy.value"}
    # mean 0.18, sd 0.02828, half 12.706 x 0.02828 / sqrt(2) = 0.2541: CI [-0.074, 0.434]
    assert c.summary.ci == pytest.approx([-0.0741, 0.4341], abs=1e-3) and c.verdict == "inconclusive"


def test_pcl_undefined_auroc_and_a_bad_metrics_file(tmp_path):
    plan = _suite(tmp_path, "pcl", [_pcl_metrics(None), _pcl_metrics(0.5)])
    c = evaluate_suite(plan, tmp_path, [self_evaluation.CLAIM]).claims[0]
    assert c.replicates[0].value is None and "AUROC is undefined (only one class)" in c.replicates[0].reason
    assert c.replicates[1].value == 0.0 and c.verdict == "inconclusive"
    bad = _pcl_metrics(0.6)
    del bad["arms"]["pcl"]["test_greedy_accuracy"]
    plan = _suite(tmp_path / "b", "pcl", [bad, None])
    with pytest.raises(InputError, match="metrics.json does not match the pcl run's schema"):
        evaluate_suite(plan, tmp_path / "b", [self_evaluation.CLAIM])


def test_a_folder_with_another_config_is_refused(tmp_path):
    plan = _suite(tmp_path, "pcl", [_pcl_metrics(0.6), None])
    plan.folders[0].config["sets"] = ["rl.steps=1"]
    with pytest.raises(InputError, match="another config than the claim suite planned for pcl-b0-s0"):
        evaluate_suite(plan, tmp_path, [self_evaluation.CLAIM])


def test_the_quick_plan_extends_a_plan_pinned_before_these_claims():
    from prmlab.claims.registry import CLAIMS
    from prmlab.claims.suite import plan_suite

    new = plan_suite("quick", CLAIMS)
    before = plan_suite("quick", [c for c in CLAIMS if c not in (tree_structure.CLAIM, self_evaluation.CLAIM)])
    assert extends(before, new) and not extends(new, before)
    assert [f.name for f in new.folders[len(before.folders):]] == ["tree-b0-s0", "tree-b0-s1", "pcl-b0-s0", "pcl-b0-s1"]
    assert new.folders[-1].kind == "pcl" and new.folders[-1].config["seed"] == 1
    if not PINNED_QUICK.is_file():
        pytest.skip(f"{PINNED_QUICK} (the real pinned quick suite) is not on this machine")
    pinned = SuitePlan.model_validate(json.loads(PINNED_QUICK.read_text())["plan"])  # read only
    assert extends(pinned, new)
    names = {f.name for f in pinned.folders}  # kept, in their order (later claims' folders may sit between)
    assert [f.name for f in new.folders if f.name in names] == [f.name for f in pinned.folders]


def test_report_only_on_the_pinned_plan_names_the_new_rows_not_planned(tmp_path, run_cli):
    """A copy of a suite folder pinned before the two claims: --report-only reads it as run,
    and the new rows say why they have no value (never a zero)."""
    from prmlab.claims.registry import CLAIMS
    from prmlab.claims.suite import plan_suite

    old = plan_suite("smoke", [c for c in CLAIMS if c not in (tree_structure.CLAIM, self_evaluation.CLAIM)])
    (tmp_path / "suite.json").write_text(json.dumps({"plan": old.model_dump(mode="json")}))
    code, out, err = run_cli("claims", "--report-only", tmp_path, "--overwrite")  # suite.json: ours
    assert code == 0, err
    data = json.loads((tmp_path / "claims.json").read_text())
    rows = {c["id"]: c for c in data["claims"]}
    for cid, exp in (("tree-structure", "tree"), ("self-evaluation", "pcl")):
        r = rows[cid]["replicates"][0]
        assert r["value"] is None and f"{exp} (not in this suite's plan" in r["reason"]
        assert rows[cid]["verdict"] == "inconclusive" and rows[cid]["summary"]["mean"] is None
    assert json.loads((tmp_path / "suite.json").read_text())["plan"] == old.model_dump(mode="json")
