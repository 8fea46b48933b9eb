"""GRPO's arithmetic worked out by hand (advantages of a 2-group toy batch, the clipped
surrogate with clip-higher, every loss aggregation, the k3 KL), and the loop's log-probability
alignment and update direction on a tiny random Llama."""

from __future__ import annotations

import math
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from prmlab.training.grpo import (RLConfig, aggregate, clipped_surrogate,  # noqa: E402
                                  group_advantages, grpo_loss, k3_kl, trl_kwargs)

torch.set_num_threads(1)

# two groups of three completions: rewards 1, 0, 0 and 0.5, 1.5, 1.0
REWARDS = [1.0, 0.0, 0.0, 0.5, 1.5, 1.0]


def test_advantages_two_groups_by_hand():
    # group 1: mean 1/3 -> 2/3, -1/3, -1/3; std (n - 1) = sqrt((4/9 + 1/9 + 1/9) / 2) = sqrt(1/3)
    # group 2: mean 1.0 -> -0.5, 0.5, 0; std = sqrt((0.25 + 0.25) / 2) = 0.5
    dr = group_advantages(REWARDS, 3, scale=False)  # Dr. GRPO: no std
    assert dr.tolist() == pytest.approx([2 / 3, -1 / 3, -1 / 3, -0.5, 0.5, 0.0])
    s = math.sqrt(1 / 3) + 1e-4
    scaled = group_advantages(REWARDS, 3, scale=True)
    assert scaled.tolist() == pytest.approx([2 / 3 / s, -1 / 3 / s, -1 / 3 / s,
                                             -0.5 / 0.5001, 0.5 / 0.5001, 0.0], rel=1e-6)
    assert scaled[0].item() == pytest.approx(1.1545, abs=1e-4)
    # a group of equal rewards carries no signal, scaled or not
    assert group_advantages([2.0, 2.0, 2.0], 3).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="groups of 4"):
        group_advantages(REWARDS, 4)


# a (2, 3) batch: log-ratios chosen so the ratios are 1.5, 0.5, 1.0 (sequence A = +1) and
# 0.7 (sequence A = -1; its tokens 1 and 2 are padding)
OLD = torch.zeros(2, 3)
NEW = torch.log(torch.tensor([[1.5, 0.5, 1.0], [0.7, 3.0, 3.0]]))
MASK = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
ADV = torch.tensor([1.0, -1.0])


def test_clipped_surrogate_with_clip_higher_by_hand():
    per_token, clipped = clipped_surrogate(NEW, OLD, ADV, epsilon=0.2, epsilon_high=0.28)
    # A=+1: 1.5 -> min(1.5, 1.28) = 1.28 (clipped); 0.5 -> min(0.5, 0.8) = 0.5; 1.0 -> 1.0
    # A=-1: 0.7 -> min(-0.7, -0.8) = -0.8 (clipped)
    assert per_token[0].tolist() == pytest.approx([-1.28, -0.5, -1.0])
    assert per_token[1, 0].item() == pytest.approx(0.8)
    assert clipped[0].tolist() == [True, False, False] and clipped[1, 0].item() is True
    sym, _ = clipped_surrogate(NEW, OLD, ADV, epsilon=0.2, epsilon_high=0.2)
    assert sym[0, 0].item() == pytest.approx(-1.2)  # without clip-higher the gain stops at 1.2


def test_loss_aggregations_by_hand():
    cfg = RLConfig(max_new_tokens=4)
    expected = {"grpo": ((-1.28 - 0.5 - 1.0) / 3 + 0.8) / 2,  # per sequence, then mean
                "dapo": (-1.28 - 0.5 - 1.0 + 0.8) / 4,  # every real token
                "dr_grpo": (-1.28 - 0.5 - 1.0 + 0.8) / (2 * 4)}  # batch x max_new_tokens
    assert expected["grpo"] == pytest.approx(-0.0633333, abs=1e-6)
    for loss_type, want in expected.items():
        loss, stats = grpo_loss(NEW, OLD, ADV, MASK, cfg.model_copy(update={"loss_type": loss_type}))
        assert loss.item() == pytest.approx(want, abs=1e-6), loss_type
        assert stats["clip_fraction"] == 0.5  # 2 of the 4 real tokens
    assert "kl" not in stats
    x = torch.tensor([[1.0, 3.0], [2.0, 0.0]])
    m = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    assert aggregate(x, m, "grpo").item() == 2.0


def test_kl_k3_by_hand():
    assert k3_kl(torch.tensor([0.3]), torch.tensor([0.3])).item() == 0.0
    # policy logp 0, reference log 0.5: 0.5 - ln 0.5 - 1
    assert k3_kl(torch.tensor([0.0]), torch.log(torch.tensor([0.5]))).item() == pytest.approx(
        0.5 + math.log(2) - 1)
    ref = NEW.clone()
    ref[0, 2] += math.log(0.5)  # one token where the reference disagrees
    cfg = RLConfig(beta=0.1, loss_type="dapo")
    loss, stats = grpo_loss(NEW, OLD, ADV, MASK, cfg, ref_logp=ref)
    k3 = 0.5 + math.log(2) - 1
    assert loss.item() == pytest.approx((-1.98 + 0.1 * k3) / 4, abs=1e-6)
    assert stats["kl"] == pytest.approx(k3 / 4, abs=1e-6)
    with pytest.raises(ValueError, match="reference"):
        grpo_loss(NEW, OLD, ADV, MASK, cfg)


def test_per_token_advantages_broadcast_like_per_sequence():
    per_seq, _ = clipped_surrogate(NEW, OLD, ADV, epsilon=0.2, epsilon_high=0.28)
    per_tok, _ = clipped_surrogate(NEW, OLD, ADV.unsqueeze(1).expand(2, 3), epsilon=0.2,
                                   epsilon_high=0.28)
    assert torch.equal(per_seq, per_tok)


def test_config_is_typed_and_described():
    with pytest.raises(ValidationError):
        RLConfig(lossy=1)
    with pytest.raises(ValidationError):
        RLConfig(loss_type="ppo")
    with pytest.raises(ValidationError):
        RLConfig(num_generations=1)  # a group of one has no relative advantage
    assert all(f.description for f in RLConfig.model_fields.values())


# ---- the loop on a tiny random Llama ---------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    from transformers import LlamaForCausalLM

    from prmlab.models.presets import llama_config
    from prmlab.training.base import arith_codec

    codec = arith_codec()
    torch.manual_seed(0)
    cfg = llama_config("tiny", codec.vocab_size, pad_id=codec.pad_id,
                       bos_id=codec.bos[0] if codec.bos else codec.eos_id, eos_id=codec.eos_id)
    return LlamaForCausalLM(cfg), codec


PROBLEM = ("ann has 23 coins. bob has 7 more coins than ann. "
           "cal has 3 times as many coins as bob. how many coins does cal have?")


def test_training_logprobs_match_the_engines(tiny):
    from prmlab.models.generator import KVCacheGenerator
    from prmlab.training.grpo_loop import completion_logprobs

    model, codec = tiny
    model.eval()
    prompts = [codec.policy_prompt(PROBLEM), codec.policy_prompt("ann has 4 coins.")]
    samples = KVCacheGenerator(model, pad_id=codec.pad_id).generate(
        prompts, max_new_tokens=6, temperature=1.0, seed=3, logprobs=True)
    with torch.no_grad():
        logp, mask = completion_logprobs(model, prompts, [s.ids for s in samples], codec.pad_id)
    for i, s in enumerate(samples):
        n = len(s.ids)
        assert mask[i].tolist() == [1.0] * n + [0.0] * (mask.shape[1] - n)
        assert logp[i, :n].tolist() == pytest.approx(s.logprobs, abs=1e-4)


def test_one_update_moves_probability_towards_the_rewarded_completion(tiny):
    import copy

    from prmlab.training.grpo_loop import GRPOLoop, StepBatch, completion_logprobs

    model, codec = tiny
    model = copy.deepcopy(model)
    cfg = RLConfig(num_generations=2, prompts_per_step=1, lr=1e-2, max_new_tokens=4)
    loop = GRPOLoop(model, codec, cfg, reward=lambda batch: [0.0] * len(batch))
    prompt = codec.policy_prompt(PROBLEM)
    good, bad = codec.encode("23 + 7"), codec.encode("9 - 9")
    batch = StepBatch([], [prompt, prompt], [good, bad], [[0.0] * len(good), [0.0] * len(bad)],
                      [1.0, 0.0], group_advantages([1.0, 0.0], 2))
    with torch.no_grad():
        before, m = completion_logprobs(model, batch.prompt_ids, batch.completion_ids, codec.pad_id)
    stats = loop.update(batch)
    with torch.no_grad():
        after, _ = completion_logprobs(model, batch.prompt_ids, batch.completion_ids, codec.pad_id)
    seq = lambda x: (x * m).sum(1)  # noqa: E731
    assert seq(after)[0] > seq(before)[0] and seq(after)[1] < seq(before)[1]
    assert stats["clip_fraction"] == 0.0 and stats["ratio_mean"] == pytest.approx(1.0)


def test_loop_rows_and_reward_seen(tiny):
    import copy

    from prmlab.training.grpo_loop import GRPOLoop

    model, codec = tiny
    seen = []

    def reward(batch):
        seen.extend((c.step, c.group, c.sample) for c in batch)
        return [float(len(c.steps) > 1) for c in batch]

    cfg = RLConfig(steps=2, num_generations=2, prompts_per_step=2, max_new_tokens=5)
    rows = GRPOLoop(copy.deepcopy(model), codec, cfg, reward).run([PROBLEM])
    assert [r["step"] for r in rows] == [1, 2]
    assert seen == [(s, g, j) for s in (0, 1) for g in (0, 1) for j in (0, 1)]
    assert all(r["engine_logprob_gap"] < 1e-3 for r in rows)


def test_trl_accepts_the_same_algorithm():
    trl = pytest.importorskip("trl", reason="TRL is the optional extra prmlab[rl]")
    cfg = RLConfig(loss_type="dr_grpo", scale_rewards=False, epsilon_high=0.28, beta=0.04,
                   num_generations=4, prompts_per_step=2)
    t = trl.GRPOConfig(output_dir="unused", use_cpu=True, report_to="none", **trl_kwargs(cfg))
    assert (t.loss_type, t.scale_rewards, t.epsilon_high, t.beta) == ("dr_grpo", "none", 0.28, 0.04)
    assert t.per_device_train_batch_size == 8 and t.num_generations == 4
