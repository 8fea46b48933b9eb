"""Policy-RL experiments: the pass@k gap and crossing worked out by hand, coverage, one-example
duplication counts, the random reward's per-sample seeding in a run folder, pass@k recomputed
from the saved samples, resuming a folder written before the one-example options, and the RL
reports and claims from hand-made records: tests/test_rl_reports.py."""

from __future__ import annotations

import json
import math
import os
from collections import Counter

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

from prmlab.experiments.rl_records import read_eval_samples  # noqa: E402
from prmlab.metrics.passk import ProblemSamples, crossing_k, pass_at_k_gap  # noqa: E402


def ps(pid, c, n=4):
    return ProblemSamples(pid, ["1"] * n, [True] * c + [False] * (n - c))


# ---- the pass@k gap, its crossing and coverage, by hand ---------------------------------------

def test_crossing_point_and_its_bootstrap_by_hand():
    # a: before 2/4, after 4/4; b: before 1/4, after 0/4 (RL sharpens a, loses b)
    # pass@1: before (2/4 + 1/4)/2 = 0.375, after (1 + 0)/2 = 0.5          -> gap +0.125
    # pass@2: before (1 - C(2,2)/C(4,2) + 1 - C(3,2)/C(4,2))/2 = (5/6 + 1/2)/2 = 2/3, after 1/2
    #                                                                       -> gap -1/6
    # pass@4: before (1 + 1)/2 = 1, after 1/2                               -> gap -1/2
    before, after = [ps("a", 2), ps("b", 1)], [ps("a", 4), ps("b", 0)]
    g = pass_at_k_gap(before, after, n_resamples=2000, seed=0)
    assert g["ks"] == [1, 2, 4]
    assert [g["gap"][k]["value"] for k in ("1", "2", "4")] == pytest.approx([0.125, -1 / 6, -0.5])
    assert g["crossing"]["k"] == 2
    # coverage: both covered before, only a after: 1/2 - 1 = -1/2
    assert g["coverage_gap"]["value"] == pytest.approx(-0.5)
    # a resample of (a, a) never crosses (gaps +0.5, +1/6, 0: a touch), (b, b) neither (all
    # negative), a mix crosses at 2: P(mix) = 1/2, so half the resamples cross, at k = 2 exactly
    c = g["crossing"]
    assert 0.45 < c["share_crossing"] < 0.55
    assert c["ci"] == [2, None]  # the upper end lies beyond the grid


def test_crossing_rule_edge_cases():
    assert crossing_k([1, 2, 4], [0.2, 0.1, 0.05]) is None  # RL above everywhere
    assert crossing_k([1, 2, 4], [-0.2, 0.0, 0.1]) == 4  # a touch at 2 is not a crossing
    assert crossing_k([1, 2], [0.0, 0.3]) is None  # nothing to cross from
    with pytest.raises(ValueError):
        crossing_k([1, 2], [0.1])


def test_gap_needs_the_same_problems():
    with pytest.raises(ValueError, match="same problems"):
        pass_at_k_gap([ps("a", 1)], [ps("b", 1)], n_resamples=0)
    g = pass_at_k_gap([ps("a", 1)], [ps("a", 3)], n_resamples=0)
    assert g["crossing"]["ci"] is None and g["gap"]["1"]["value"] == pytest.approx(0.5)


# ---- one-example duplication ------------------------------------------------------------------

def test_one_example_duplication_counts():
    from prmlab.training.grpo import RLConfig
    from prmlab.training.grpo_loop import batch_problems

    cfg = RLConfig(prompts_per_step=8)
    assert batch_problems(["p"], cfg, 0) == ["p"] * 8
    assert Counter(batch_problems(["p", "q"], cfg, 3)) == {"p": 4, "q": 4}
    # 3 problems in 8 slots: the step's order is cycled, so its first two get 3 slots, the last 2
    counts = Counter(batch_problems(["p", "q", "r"], cfg, 5))
    assert sorted(counts.values()) == [2, 3, 3] and set(counts) == {"p", "q", "r"}


def test_nearest_half_rule():
    from prmlab.experiments.rl import nearest_half

    # |r - 1/2|: 0.5, 0.25, 0.25, 0, 0.5 -> the 0.5 first, then 0.25 and 0.75 (index order)
    assert nearest_half([0.0, 0.25, 0.75, 0.5, 1.0], 1) == [3]
    assert nearest_half([0.0, 0.25, 0.75, 0.5, 1.0], 2) == [1, 3]
    assert nearest_half([1.0, 0.0, 1.0], 2) == [0, 1]  # all tie: the earliest


# ---- a run folder end to end ------------------------------------------------------------------

@pytest.fixture(scope="module")
def policy_ckpt(tmp_path_factory):
    import torch
    from transformers import LlamaForCausalLM

    from prmlab.models.checkpoint import save_checkpoint
    from prmlab.models.presets import llama_config
    from prmlab.training.base import arith_codec

    codec = arith_codec()
    torch.manual_seed(0)
    cfg = llama_config("tiny", codec.vocab_size, pad_id=codec.pad_id,
                       bos_id=codec.bos[0] if codec.bos else codec.eos_id, eos_id=codec.eos_id)
    return save_checkpoint(tmp_path_factory.mktemp("rlexp") / "policy", LlamaForCausalLM(cfg), codec,
                           {"kind": "policy"})


ONE = ["--reward", "random", "--set", "reward.p=0.5", "--set", "rl.steps=3",
       "--set", "rl.prompts_per_step=3", "--set", "rl.num_generations=2",
       "--set", "rl.max_new_tokens=6", "--set", "n_train=5", "--set", "n_test=4",
       "--set", "n_eval_train=3", "--set", "train_problems=1", "--set", "train_pick=mid-pass-rate",
       "--set", "pick_samples=2", "--set", "eval_every=2", "--set", "eval_samples=4",
       "--set", "save_every=1", "--set", "bootstrap_resamples=20", "--set", "rl.seed=3"]


def rows_candidates(policy):
    """The run's candidate problems: the first n_train = 5 of stream rl.train at rl.seed 3."""
    from prmlab.experiments.rl import RLRunConfig, _problems
    from prmlab.training.grpo import RLConfig

    return _problems(RLRunConfig(policy=str(policy), rl=RLConfig(seed=3), n_train=5, n_eval_train=3),
                     "rl.train", 5)


def _jsonl(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x]


def test_one_example_run_folder(policy_ckpt, tmp_path, run_cli):
    from prmlab.experiments.rl import nearest_half
    from prmlab.training.rewards import random_reward

    out = tmp_path / "one"
    code, _, err = run_cli("rl", "--policy", policy_ckpt, "--out", out, *ONE)
    assert code == 0, err
    train = json.loads((out / "train.json").read_text())
    assert len(train["pass_rates"]) == 5 and train["candidates"] == 5
    assert "nearest 1/2" in train["rule"]
    assert train["problems"] == [rows_candidates(policy_ckpt)[i] for i in nearest_half(train["pass_rates"], 1)]
    rows = [r for s in (1, 2, 3) for r in _jsonl(out / "samples" / f"step-{s:04d}.jsonl")]
    # one example duplicated: 3 groups x 2 samples per step, all of the one chosen problem
    assert len(rows) == 18 and {r["problem"] for r in rows} == set(train["problems"])
    # the random reward: Bernoulli(0.5) keyed by (seed, step, slot, sample), never the solution
    assert [r["reward"] for r in rows] == [random_reward(0.5, 3, r["step"] - 1, r["group"], r["sample"])
                                           for r in rows]
    res = json.loads((out / "result.json").read_text())
    assert [e["step"] for e in res["evals"]] == [0, 2, 3]  # before, every 2 steps, after
    assert [e["step"] for e in _jsonl(out / "evals.jsonl")] == [2]
    assert res["evals"][1]["train_greedy_accuracy"]["n"] == 1  # the one example itself
    assert [p["train_accuracy"] for p in res["curve"]] == [
        sum(r["correct"] for r in rows if r["step"] == s) / 6 for s in (1, 2, 3)]
    assert (out / "report.md").is_file() and (out / "figures" / "rl_passk.png").is_file()


def test_pass_at_k_recomputed_from_saved_samples(policy_ckpt, tmp_path, run_cli):
    out = tmp_path / "pk"
    code, _, err = run_cli("rl", "--policy", policy_ckpt, "--out", out, *ONE)
    assert code == 0, err
    for when in ("before", "after"):
        rows = _jsonl(out / f"eval-{when}-samples.jsonl")
        assert len(rows) == 4 * 4
        ev = json.loads((out / f"eval-{when}.json").read_text())["test_sampled"]
        for k in (1, 2, 4):
            by_hand = []
            for pid in sorted({r["problem_id"] for r in rows}):
                c = sum(r["correct"] for r in rows if r["problem_id"] == pid)
                by_hand.append(1 - math.comb(4 - c, k) / math.comb(4, k))
            assert ev["pass@k"][str(k)]["value"] == pytest.approx(sum(by_hand) / 4)
        got = read_eval_samples(out / f"eval-{when}-samples.jsonl")
        assert [p.n for p in got] == [4] * 4
    # `prmlab report` rebuilds the RL report from result.json alone
    (out / "report.md").unlink()
    code, stdout, err = run_cli("report", out)
    assert code == 0, err
    assert (out / "report.md").is_file() and "report.md" in stdout


def test_old_folder_without_the_new_options_resumes(policy_ckpt, tmp_path, run_cli):
    args = ["--set", "rl.steps=1", "--set", "rl.prompts_per_step=2", "--set", "rl.num_generations=2",
            "--set", "rl.max_new_tokens=4", "--set", "n_train=2", "--set", "n_test=2",
            "--set", "n_eval_train=2", "--set", "eval_samples=2", "--set", "bootstrap_resamples=0"]
    out = tmp_path / "old"
    code, _, err = run_cli("rl", "--policy", policy_ckpt, "--out", out, *args)
    assert code == 0, err
    saved = json.loads((out / "config.json").read_text())
    for k in ("train_problems", "train_pick", "pick_samples", "eval_every", "label"):
        saved["config"].pop(k)  # as a folder written before these options existed
    (out / "config.json").write_text(json.dumps(saved))
    code, _, err = run_cli("rl", "--policy", policy_ckpt, "--out", out, *args)
    assert code == 0, err
    code, _, err = run_cli("rl", "--policy", policy_ckpt, "--out", out, *args, "--set", "train_problems=1")
    assert code == 2 and "another config" in err
