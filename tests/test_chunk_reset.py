"""Chunk-reset decoding: the control flow with a scripted policy and judge (resample counts,
token bills, when a solution ends), and a tiny end to end run of the study."""

from __future__ import annotations

import json

import pytest

from prmlab import seeds
from prmlab.judges.chunk_reset import chunk_reset_decode
from prmlab.models.generator import Sample


@pytest.fixture(scope="module")
def codec():
    from prmlab.training.base import arith_codec

    return arith_codec()


class ScriptedPolicy:
    """For each exact prompt, hands out its scripted continuations in order."""

    def __init__(self, script):
        self.script = {tuple(k): list(v) for k, v in script}
        self.seeds = []

    def generate(self, prompts, *, max_new_tokens, temperature=0.0, top_k=None, stop_ids=(),
                 seed=None, logprobs=False, watch_ids=None, progress=None):
        self.seeds.append(seed)
        return [Sample(self.script[tuple(p)].pop(0)) for p in prompts]


def test_a_rejected_step_is_resampled_up_to_r_times(codec):
    se = codec.step_end[0]
    good, bad = codec.encode("1 + 1 = 2"), codec.encode("1 + 1 = 3")
    ans = codec.encode("answer = 2")
    p0 = codec.policy_prompt("p")
    script = [
        (p0, [bad + [se], bad + [se], good + [se]]),  # rejected twice, then accepted
        (p0 + good + [se], [ans + [se]]),
    ]
    calls = []

    def judge(items):
        calls.append(len(items))
        return [(0.1 if steps[-1] == "1 + 1 = 3" else 0.9, 5) for _, steps in items]

    policy = ScriptedPolicy(script)
    (d,) = chunk_reset_decode(["p"], codec, policy, judge, tries=2, seed=1,
                              is_final=lambda s: s[-1].startswith("answer"))
    assert d.steps == ["1 + 1 = 2", "answer = 2"]
    assert d.resamples == 2 and d.rejected_kept == 0 and d.ended == "final"
    assert d.policy_tokens == 3 * (len(good) + 1) + len(ans) + 1
    assert d.judge_tokens == 4 * 5 and calls == [1, 1, 1, 1]
    assert policy.seeds == [seeds.seed("chunk_reset.step", 1, index=i) for i in range(4)]


def test_tries_exhausted_keeps_the_rejected_step_and_r0_never_asks(codec):
    se, eos = codec.step_end[0], codec.eos_id
    bad = codec.encode("1 + 1 = 3")
    p0 = codec.policy_prompt("p")

    def judge(items):
        return [(0.2, 3) for _ in items]

    policy = ScriptedPolicy([(p0, [bad + [se], bad + [eos]])])
    (d,) = chunk_reset_decode(["p"], codec, policy, judge, tries=1)
    assert d.steps == ["1 + 1 = 3"] and d.resamples == 1 and d.rejected_kept == 1
    assert d.ended == "eos" and d.judge_tokens == 6

    def never(items):
        raise AssertionError("R = 0 asks no judge")

    policy = ScriptedPolicy([(p0, [bad + [se]]), (p0 + bad + [se], [[eos]])])
    (d,) = chunk_reset_decode(["p"], codec, policy, never, tries=0, max_steps=5)
    assert d.steps == ["1 + 1 = 3"] and d.ended == "eos" and d.resamples == 0
    assert d.policy_tokens == len(bad) + 2 and d.judge_tokens == 0


def test_batched_problems_are_resampled_independently_and_stop_at_max_steps(codec):
    se = codec.step_end[0]
    a, b = codec.encode("1 + 1 = 2"), codec.encode("2 + 2 = 5")
    pa, pb = codec.policy_prompt("ann has 3"), codec.policy_prompt("bob has 4")
    script = [(pa, [a + [se]]), (pb, [b + [se], b + [se], b + [se]])]

    def judge(items):
        return [(0.0 if s[-1] == "2 + 2 = 5" else 1.0, 1) for _, s in items]

    out = chunk_reset_decode(["ann has 3", "bob has 4"], codec, ScriptedPolicy(script), judge, tries=2, max_steps=1)
    assert [d.resamples for d in out] == [0, 2] and [d.rejected_kept for d in out] == [0, 1]
    assert [d.ended for d in out] == ["max_steps", "max_steps"]
    assert [d.judge_tokens for d in out] == [1, 3]


def test_chunk_reset_end_to_end(tmp_path, codec, run_cli):
    import torch
    from transformers import LlamaForCausalLM

    from prmlab.models.checkpoint import save_checkpoint
    from prmlab.models.presets import llama_config
    from prmlab.training.base import FORMAT_VERSION

    cfg = llama_config("tiny", codec.vocab_size, pad_id=codec.pad_id, bos_id=codec.bos[0],
                       eos_id=codec.eos_id, max_positions=256)
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "policy", LlamaForCausalLM(cfg), codec, {"kind": "policy", "base_format": FORMAT_VERSION})
    save_checkpoint(tmp_path / "judge", LlamaForCausalLM(cfg), codec,
                    {"kind": "judge", "format": "direct", "base_format": FORMAT_VERSION})
    code, out, err = run_cli("chunk-reset", "--policy", tmp_path / "policy", "--judge", tmp_path / "judge",
                             "--out", tmp_path / "run", "--problems", "3", "--tries", "0,2",
                             "--ns", "1,2", "--max-steps", "3", "--bootstrap-resamples", "20")
    assert code == 0, err
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    r0, r2 = m["chunk_reset"]
    assert r0["tries"] == 0 and r0["tokens"]["judge"] == 0 and r0["resamples"] == 0
    assert r2["tokens"]["judge"] > 0 and r2["resamples"] <= 2 * 3 * 3
    b1, b2 = m["best_of_n"]
    assert b1["tokens"]["judge"] == 0 and b2["tokens"]["policy"] > b1["tokens"]["policy"]
    assert b2["tokens"]["judge"] > 0 and b1["accuracy"]["direction"] == "higher"
    assert len((tmp_path / "run" / "solutions" / "R2.jsonl").read_text().splitlines()) == 3
    assert (tmp_path / "run" / "chunk_reset.png").stat().st_size > 0
