"""Policy RL: the rewards worked out by hand (random seeding, majority, incorrect, format,
process aggregation), pass@k and coverage, and `prmlab rl` end to end on a tiny random policy
(run folder, resume, bad input)."""

from __future__ import annotations

import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from prmlab.data.tasks import ARITH  # noqa: E402
from prmlab.judges.protocol import StepScores  # noqa: E402
from prmlab.training.rewards import (Completion, RewardConfig, build_reward,  # noqa: E402
                                     majority_rewards, process_rewards, random_reward)

torch.set_num_threads(1)

P = ("ann has 23 coins. bob has 7 more coins than ann. "
     "cal has 3 times as many coins as bob. how many coins does cal have?")  # gold 90
RIGHT = ["23 + 7 = 30", "30 * 3 = 90", "answer = 90"]
WRONG = ["23 + 7 = 30", "30 * 3 = 91", "answer = 91"]  # 91 = gold + 1: the fixed wrong answer
NONE = ["23 + 7 = 30"]


def comps(solutions, step=0, group=0):
    return [Completion(P, s, step, group, j) for j, s in enumerate(solutions)]


def test_outcome_format_incorrect_by_hand():
    batch = comps([RIGHT, WRONG, NONE, ["answer = 30"]])
    assert build_reward(RewardConfig(name="outcome"), ARITH, seed=0)(batch) == [1.0, 0.0, 0.0, 0.0]
    assert build_reward(RewardConfig(name="format"), ARITH, seed=0)(batch) == [1.0, 1.0, 0.0, 1.0]
    assert build_reward(RewardConfig(name="incorrect"), ARITH, seed=0)(batch) == [0.0, 1.0, 0.0, 0.0]


def test_random_reward_is_seeded_per_sample_and_ignores_the_solution():
    cfg = RewardConfig(name="random", p=0.5)
    fn = build_reward(cfg, ARITH, seed=0)
    a = fn(comps([RIGHT] * 200))
    assert a == fn(comps([WRONG] * 200))  # the solution does not matter, only its place
    assert 60 < sum(a) < 140  # Bernoulli(0.5) over 200 samples (6 sigma either side)
    assert a != build_reward(cfg, ARITH, seed=1)(comps([RIGHT] * 200))  # the seed does
    assert a != fn(comps([RIGHT] * 200, step=1))  # so does the step
    assert [random_reward(0.5, 0, 0, 0, j) for j in range(200)] == a
    assert sum(build_reward(RewardConfig(name="random", p=0.1), ARITH, seed=0)(comps([RIGHT] * 200))) < 45


def test_majority_vote_within_each_group():
    # group 0 votes 91 (2 of 3), group 1 votes 90; a solution with no answer never wins
    batch = comps([WRONG, RIGHT, WRONG]) + comps([RIGHT, NONE, RIGHT], group=1)
    fn = build_reward(RewardConfig(name="majority"), ARITH, seed=0)
    assert fn(batch) == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    assert majority_rewards(ARITH, [NONE, NONE]) == [0.0, 0.0]


class FixedJudge:
    name = "fixed"

    def __init__(self, scores):
        self.scores = scores

    def score(self, records):
        return [StepScores(r.id, list(self.scores[: len(r.steps)])) for r in records]


def test_process_rewards_aggregate_the_judges_step_scores():
    judge = FixedJudge([0.9, 0.5, 0.8])
    assert process_rewards(judge, [P], [RIGHT], "min") == [0.5]
    assert process_rewards(judge, [P], [RIGHT], "product") == [pytest.approx(0.36)]
    assert process_rewards(judge, [P], [RIGHT], "last") == [0.8]
    cfg = RewardConfig(name="outcome+process", judge="j", agg="min", process_weight=0.5)
    assert build_reward(cfg, ARITH, seed=0, judge=judge)(comps([RIGHT, WRONG])) == [1.25, 0.25]
    with pytest.raises(ValueError, match="needs judge"):
        RewardConfig(name="process")


# ---- `prmlab rl` end to end -------------------------------------------------------------------

@pytest.fixture(scope="module")
def policy_ckpt(tmp_path_factory):
    from transformers import LlamaForCausalLM

    from prmlab.models.checkpoint import save_checkpoint
    from prmlab.models.presets import llama_config
    from prmlab.training.base import arith_codec

    codec = arith_codec()
    torch.manual_seed(0)
    cfg = llama_config("tiny", codec.vocab_size, pad_id=codec.pad_id,
                       bos_id=codec.bos[0] if codec.bos else codec.eos_id, eos_id=codec.eos_id)
    return save_checkpoint(tmp_path_factory.mktemp("rl") / "policy", LlamaForCausalLM(cfg), codec,
                           {"kind": "policy"})


ARGS = ["--set", "rl.steps=2", "--set", "rl.prompts_per_step=2", "--set", "rl.num_generations=2",
        "--set", "rl.max_new_tokens=6", "--set", "n_train=3", "--set", "n_test=4",
        "--set", "n_eval_train=3", "--set", "eval_samples=2", "--set", "save_every=1",
        "--set", "bootstrap_resamples=20"]


def test_rl_cli_run_folder_and_resume(policy_ckpt, tmp_path, run_cli):
    out = tmp_path / "run"
    code, stdout, err = run_cli("rl", "--policy", policy_ckpt, "--out", out, *ARGS)
    assert code == 0, err
    assert json.loads(stdout.strip().splitlines()[-1])["steps"] == 2
    curve = [json.loads(x) for x in (out / "curve.jsonl").read_text().splitlines()]
    assert [r["step"] for r in curve] == [1, 2]
    rows = [json.loads(x) for x in (out / "samples" / "step-0002.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["reward"] == float(r["correct"]) for r in rows)  # outcome
    assert curve[1]["reward_mean"] == pytest.approx(sum(r["reward"] for r in rows) / 4)
    before = json.loads((out / "eval-before.json").read_text())
    assert before["test_greedy_accuracy"]["n"] == 4 and before["test_sampled"]["ks"] == [1, 2]
    assert json.loads((out / "state.json").read_text()) == {"step": 2}
    assert (out / "checkpoint" / "model.safetensors").exists()
    # interrupted after step 1: the rerun trains step 2 only, keeping step 1's row
    (out / "state.json").write_text(json.dumps({"step": 1}))
    step1 = curve[0]
    code, _, err = run_cli("rl", "--policy", policy_ckpt, "--out", out, *ARGS)
    assert code == 0, err
    assert "resuming after step 1" in err
    again = [json.loads(x) for x in (out / "curve.jsonl").read_text().splitlines()]
    assert [r["step"] for r in again] == [1, 2] and again[0] == step1
    assert json.loads((out / "result.json").read_text())["resumed_from"] == 1


def test_rl_cli_bad_input(policy_ckpt, tmp_path, run_cli):
    out = tmp_path / "run"
    code, _, err = run_cli("rl", "--policy", policy_ckpt, "--out", out, "--set", "rl.loss_type=ppo")
    assert code == 2 and "rl.loss_type" in err
    code, _, err = run_cli("rl", "--policy", policy_ckpt, "--out", out, "--reward", "process")
    assert code == 2 and "judge" in err
    code, _, err = run_cli("rl", "--policy", policy_ckpt, "--out", out, "--set", "rl.stepz=3")
    assert code == 2 and "stepz" in err
    assert not out.exists()
    code, _, _ = run_cli("rl", "--policy", policy_ckpt, "--out", out, *ARGS)
    assert code == 0
    code, _, err = run_cli("rl", "--policy", policy_ckpt, "--out", out, *ARGS[:-2])
    assert code == 2 and "another config" in err
