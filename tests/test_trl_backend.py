"""`rl.backend: trl`: the default changes nothing (dumps, keys), the schedule TRL reads is
prmlab's, the reward adapter builds the same `Completion`s by hand, and (with TRL installed:
`pip install -e .[rl]`) `prmlab rl --set rl.backend=trl` end to end on a tiny random policy."""

from __future__ import annotations

import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from prmlab.data.tasks import ARITH  # noqa: E402
from prmlab.keys import content_key  # noqa: E402
from prmlab.training.base import arith_codec  # noqa: E402
from prmlab.training.grpo import RLConfig, trl_kwargs  # noqa: E402
from prmlab.training.grpo_loop import batch_problems  # noqa: E402
from prmlab.training.rewards import RewardConfig, build_reward  # noqa: E402
from prmlab.training.trl_backend import TRLLoop, prompt_text, schedule  # noqa: E402

torch.set_num_threads(1)
C = arith_codec()
P = "ann has 4 coins. bob has 2 more coins than ann. how many coins does bob have?"  # gold 6


def test_default_backend_changes_no_dump_or_key():
    assert "backend" not in RLConfig().model_dump(mode="json")
    assert RLConfig(backend="trl").model_dump(mode="json")["backend"] == "trl"
    assert content_key(RLConfig()) == content_key(RLConfig(backend="prmlab"))
    assert content_key(RLConfig()) != content_key(RLConfig(backend="trl"))
    assert RLConfig.model_validate(RLConfig().model_dump(mode="json")) == RLConfig()
    assert "backend" not in trl_kwargs(RLConfig(backend="trl"))
    with pytest.raises(ValueError, match="iterations = 1"):
        RLConfig(backend="trl", iterations=2)


def test_schedule_is_prmlabs_batches_step_by_step():
    cfg = RLConfig(steps=3, prompts_per_step=2)
    probs = ["a", "b", "c"]
    rows = schedule(probs, cfg, start_step=1)
    assert rows["step"] == [1, 1, 2, 2] and rows["slot"] == [0, 1, 0, 1]
    assert rows["problem"] == batch_problems(probs, cfg, 1) + batch_problems(probs, cfg, 2)
    one = schedule(["a"], RLConfig(steps=1, prompts_per_step=3), 0)
    assert one["problem"] == ["a", "a", "a"] and one["slot"] == [0, 1, 2]


def test_prompt_text_round_trips_to_the_policy_prompt():
    text = prompt_text(C, P)
    assert text.startswith("<bos> ann has 4 coins") and text.endswith("<sep>")
    assert C.tok(text=text)["input_ids"] == C.policy_prompt(P)


def test_reward_adapter_reads_completion_ids_not_decoded_text():
    right = C.encode("4 + 2 = 6") + C.step_end + C.encode("answer = 6") + C.step_end + [C.eos_id]
    wrong = C.encode("answer = 7") + C.step_end + [C.eos_id]
    cfg = RLConfig(steps=1, prompts_per_step=2, num_generations=2)
    loop = TRLLoop(None, C, cfg, build_reward(RewardConfig(), ARITH, seed=0))
    pending: list = []
    fn = loop.reward_fn(pending)
    # what TRL decodes (special tokens skipped, digits as the model writes them) is ignored
    r = fn(prompts=["x"] * 4, completions=["garbage"] * 4, completion_ids=[right, wrong, wrong, right],
           problem=[P] * 4, step=[0] * 4, slot=[0, 0, 1, 1], trainer_state=None)
    assert r == [1.0, 0.0, 0.0, 1.0]
    b = pending[0]
    assert [(c.group, c.sample) for c in b.completions] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert b.completions[0].steps == ["4 + 2 = 6", "answer = 6"]
    assert b.prompt_ids[0] == C.policy_prompt(P) and b.completion_ids[3] == right
    with pytest.raises(RuntimeError, match="whole groups"):
        fn(prompts=["x"] * 3, completions=[""] * 3, completion_ids=[right] * 3, problem=[P] * 3,
           step=[0] * 3, slot=[0, 0, 1])


# ---- with TRL -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def policy_ckpt(tmp_path_factory):
    from transformers import LlamaForCausalLM

    from prmlab.models.checkpoint import save_checkpoint
    from prmlab.models.presets import llama_config

    torch.manual_seed(0)
    cfg = llama_config("tiny", C.vocab_size, pad_id=C.pad_id, bos_id=C.bos[0], eos_id=C.eos_id)
    return save_checkpoint(tmp_path_factory.mktemp("trl") / "policy", LlamaForCausalLM(cfg), C,
                           {"kind": "policy"})


ARGS = ["--set", "rl.backend=trl", "--set", "rl.steps=2", "--set", "rl.prompts_per_step=2",
        "--set", "rl.num_generations=2", "--set", "rl.max_new_tokens=6", "--set", "n_train=3",
        "--set", "n_test=3", "--set", "n_eval_train=3", "--set", "eval_samples=2",
        "--set", "save_every=1", "--set", "bootstrap_resamples=20"]


def test_rl_cli_trl_backend_end_to_end(policy_ckpt, tmp_path, run_cli):
    pytest.importorskip("trl", reason="the TRL backend needs trl (pip install -e .[rl])")
    from safetensors.torch import load_file

    out = tmp_path / "run"
    # the random reward gives every group a signal, so the weights must move
    code, stdout, err = run_cli("rl", "--policy", policy_ckpt, "--out", out, "--reward", "random", *ARGS)
    assert code == 0, err
    assert json.loads(stdout.strip().splitlines()[-1])["steps"] == 2
    curve = [json.loads(x) for x in (out / "curve.jsonl").read_text().splitlines()]
    assert [r["step"] for r in curve] == [1, 2]
    for step, row in zip((1, 2), curve):
        rows = [json.loads(x) for x in (out / "samples" / f"step-{step:04d}.jsonl").read_text().splitlines()]
        assert len(rows) == 4 and [r["step"] for r in rows] == [step] * 4
        assert row["reward_mean"] == pytest.approx(sum(r["reward"] for r in rows) / 4)
        assert row["trl_reward_mean"] == pytest.approx(row["reward_mean"])  # TRL saw our rewards
        from prmlab.training.rewards import random_reward
        assert [r["reward"] for r in rows] == [random_reward(0.5, 0, step - 1, r["group"], r["sample"])
                                               for r in rows]
    assert json.loads((out / "config.json").read_text())["config"]["rl"]["backend"] == "trl"
    before, after = load_file(f"{policy_ckpt}/model.safetensors"), load_file(out / "checkpoint" / "model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)
