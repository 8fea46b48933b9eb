"""Judges trained on their own samples (issue 22): the class-balanced sampler's counts, the
reward on hand-made verdicts, the prompts, a curve row worked by hand, and each format trained
on a tiny model, saved, loaded through `load_judge` and scoring.

The prompt ids are the hand-worked arith record of tests/test_alignment.py (as in
tests/test_judge_formats.py)."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter

import pytest
import torch
from transformers import LlamaForCausalLM

from prmlab.data.arith.generate import iter_records
from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.judges.generative import GenerativeJudge
from prmlab.judges.load import load_judge
from prmlab.models.checkpoint import save_checkpoint
from prmlab.models.presets import llama_config
from prmlab.supervision.budget import step_labels_through_first_error
from prmlab.training.base import FORMAT_VERSION, arith_codec
from prmlab.training.judge_rl import (JudgeBatch, JudgeGRPO, JudgeRLConfig, StepPrompt,
                                      balanced_draw, curve_row, step_prompts, verdict_of,
                                      verdict_reward)
from prmlab.training.judges import JudgeConfig, train_judge
from prmlab.training.loop import FitConfig

CHECK, OK, BAD, EOS = 6, 7, 8, 2
PROMPT_IDS = [1, 9, 41, 70, 69, 33, 85, 10, 41, 74, 42, 33, 44, 9, 85, 53, 47, 33, 54, 10, 55, 86, 4]
STEP1_IDS = [70, 69, 77, 74, 81, 67, 70, 5]
STEP2_IDS = [56, 81, 68, 70, 5]


@pytest.fixture(scope="module")
def codec():
    return arith_codec()


# ---- the class-balanced sampler -------------------------------------------------------------

def test_balanced_draw_fills_half_the_slots_with_each_class():
    # 8 correct steps (0-7), 2 incorrect (8, 9)
    labels = [True] * 8 + [False] * 2
    for step in range(5):
        idx = balanced_draw(labels, 6, seed=0, step=step)
        assert len(idx) == 6
        bad = [i for i in idx if not labels[i]]
        good = [i for i in idx if labels[i]]
        assert len(bad) == 3 and len(good) == 3
        assert sorted(Counter(bad).values()) == [1, 2]  # both bad steps, one of them twice (cycled)
        assert len(set(good)) == 3  # without replacement within a class that has enough
    # an odd batch: the extra slot is a bad step's
    idx = balanced_draw(labels, 5, seed=0, step=0)
    assert sum(not labels[i] for i in idx) == 3 and sum(labels[i] for i in idx) == 2


def test_without_balance_or_with_one_class_the_draw_follows_the_pool():
    labels = [True] * 8 + [False] * 2
    idx = balanced_draw(labels, 6, seed=0, step=0, balance=False)
    assert len(set(idx)) == 6  # six distinct prompts, whatever their class
    # one class only: every slot is its, cycled (7 slots over 3 prompts: 3 + 3 + 1)
    assert sorted(Counter(balanced_draw([True] * 3, 7, seed=0, step=0)).values()) == [2, 2, 3]
    with pytest.raises(ValueError, match="no labelled steps"):
        balanced_draw([], 4, seed=0, step=0)


def test_balanced_draw_is_a_function_of_seed_and_step():
    labels = [True] * 20 + [False] * 5
    assert balanced_draw(labels, 8, 3, 7) == balanced_draw(labels, 8, 3, 7)
    assert balanced_draw(labels, 8, 3, 7) != balanced_draw(labels, 8, 3, 8)


# ---- verdicts and rewards ---------------------------------------------------------------------

def test_the_verdict_is_read_from_token_ids_and_rewarded_against_the_label(codec):
    assert (codec.ok_id, codec.bad_id, codec.eos_id) == (OK, BAD, EOS)
    assert verdict_of([10, 57, 9, OK], codec) is True
    assert verdict_of([10, BAD], codec) is False
    assert verdict_of([10, 57, EOS], codec) is None  # ended before a verdict
    assert verdict_of([10, 57, 9], codec) is None  # ran out of tokens
    assert verdict_of([OK, BAD], codec) is True  # the first verdict counts
    table = [(True, True, 1.0), (True, False, 0.0), (False, False, 1.0), (False, True, 0.0),
             (None, True, 0.0), (None, False, 0.0)]
    assert [verdict_reward(v, g) for v, g, _ in table] == [r for _, _, r in table]


def test_step_prompts_stop_at_the_first_error_and_count_unknown_labels(codec):
    r = Record(id="hand-1", problem="ann has 23 coins. bob has 7 more coins than ann. how many coins does bob have?",
               steps=["23 + 7 = 30", "answer = 31"], labels=[1, 0], first_error=1)
    prompts, unlabelled = step_prompts(codec, [r])
    assert unlabelled == 0
    assert [(p.step, p.good) for p in prompts] == [(0, True), (1, False)]
    assert list(prompts[0].prompt) == PROMPT_IDS + STEP1_IDS + [CHECK]
    assert list(prompts[1].prompt) == PROMPT_IDS + STEP1_IDS + STEP2_IDS + [CHECK]
    # a correct solution: every step; an unknown label is counted, not rewarded
    ok = dataclasses.replace(r, labels=[1, None], first_error=-1)
    prompts, unlabelled = step_prompts(codec, [ok])
    assert [(p.step, p.good) for p in prompts] == [(0, True)] and unlabelled == 1


def test_a_curve_row_by_hand():
    good, bad = StepPrompt("a", 0, (1,), True), StepPrompt("b", 1, (1,), False)
    # two groups of two: the good prompt's verdicts ok, bad; the bad prompt's bad, none
    batch = JudgeBatch(items=[good, good, bad, bad], completion_ids=[[OK], [9, BAD], [BAD], [9, 9]],
                       logprobs=[[-0.1], [-1.0, -0.5], [-0.2], [-1.0, -1.0]],
                       verdicts=[True, False, False, None], rewards=[1.0, 0.0, 1.0, 0.0],
                       advantages=torch.zeros(4), entropy=0.5)
    row = curve_row(3, batch, 2, {"loss": 0.25})
    assert row["step"] == 3 and row["reward_mean"] == 0.5
    assert row["reward_std"] == pytest.approx((4 * 0.25 / 3) ** 0.5)  # Bessel's correction
    assert (row["reward_good"], row["reward_bad"]) == (0.5, 0.5)
    assert (row["verdict_ok"], row["verdict_bad"], row["verdict_none"]) == (0.25, 0.5, 0.25)
    assert (row["sampled_good"], row["sampled_bad"]) == (1, 1)  # prompts, not completions
    assert row["groups_all_equal"] == 0 and row["completion_tokens"] == 6 and row["loss"] == 0.25


# ---- the policies learn -----------------------------------------------------------------------

def tiny_causal(codec, seed=0):
    cfg = llama_config("tiny", codec.vocab_size, pad_id=codec.pad_id, bos_id=codec.bos[0],
                       eos_id=codec.eos_id, max_positions=256)
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg)


def test_direct_rl_raises_the_probability_of_the_rewarded_verdict(codec):
    """Every prompt is a bad step: a bad verdict earns 1, ok 0, so P(bad) must rise."""
    from prmlab.training.grpo import RLConfig
    from prmlab.training.judge_rl import _verdict_logits

    r = next(iter(iter_records(1, 3)))
    pool = [StepPrompt(r.id, 0, tuple(codec.check_prompt(r.problem, r.steps[:1])), False)]
    model = tiny_causal(codec)
    loop = JudgeGRPO(model, codec, RLConfig(prompts_per_step=2, num_generations=8, lr=3e-2),
                     rationale=False, seed=0)

    def p_bad():
        with torch.no_grad():
            return float(torch.softmax(_verdict_logits(model, [pool[0].prompt], codec), -1)[0, 1])

    before = p_bad()
    rows = [loop.step(pool, s) for s in range(5)]
    assert p_bad() > before + 0.05
    assert all(0 < r["entropy"] <= 0.6932 for r in rows)  # a two-way entropy: at most ln 2


# ---- the verdict drawn where a check stops ---------------------------------------------------

class _Draws:
    """A `random.Random` stand-in returning the given numbers in order."""

    def __init__(self, *values):
        self.values = list(values)

    def random(self):
        return self.values.pop(0)


def test_the_verdict_is_drawn_two_ways_where_the_check_stops(codec):
    from prmlab.models.generator import Sample
    from prmlab.training.judge_rl import verdict_at_stop

    samples = [
        Sample([40, 41, EOS], [-1.0, -2.0, -3.0], [[0.1, 0.1], [0.2, 0.2], [0.6, 0.2]]),  # ends: q = 0.75
        Sample([40, OK], [-1.0, -0.5], [[0.1, 0.1], [0.1, 0.3]]),  # wrote ok, but q = 0.25
        Sample([40, 41], [-1.0, -1.0], [[0.1, 0.1], [0.1, 0.1]]),  # ran out of tokens: no draw
    ]
    ids, lps = verdict_at_stop(samples, codec, temperature=1.0, rng=_Draws(0.5, 0.5))
    assert ids == [[40, 41, OK], [40, BAD], [40, 41]]  # 0.5 < 0.75: ok; 0.5 >= 0.25: bad
    assert lps[0][:2] == [-1.0, -2.0] and lps[0][2] == pytest.approx(math.log(0.75))
    assert lps[1] == [-1.0, pytest.approx(math.log(0.75))] and lps[2] == [-1.0, -1.0]
    assert [verdict_of(x, codec) for x in ids] == [True, False, None]
    # at temperature 0.5 the two-way odds are squared: 3:1 -> 9:1, so 0.85 still draws ok
    ids, _ = verdict_at_stop(samples[:1], codec, temperature=0.5, rng=_Draws(0.85))
    assert ids == [[40, 41, OK]]
    with pytest.raises(ValueError, match="watch_probs"):
        verdict_at_stop([Sample([40, EOS], [-1.0, -1.0])], codec, temperature=1.0, rng=_Draws(0.1))


def test_a_two_way_last_token_is_scored_over_ok_and_bad_only(codec):
    from prmlab.training.grpo_loop import completion_logprobs

    model = tiny_causal(codec).eval()
    prompts, comps = [[1, 40, 41, CHECK], [1, 42, CHECK]], [[43, 44, OK], [45, 46]]
    with torch.no_grad():
        full, mask = completion_logprobs(model, prompts, comps, codec.pad_id)
        two, mask2 = completion_logprobs(model, prompts, comps, codec.pad_id, two_way_last=(OK, BAD))
        logits = model(input_ids=torch.tensor([prompts[0] + comps[0][:-1]])).logits[0, -1]
    pair = torch.log_softmax(logits[[OK, BAD]].float(), -1)
    assert two[0, 2] == pytest.approx(float(pair[0]), abs=1e-5)  # log P(ok) / (P(ok) + P(bad))
    assert float(two[0, 2]) > float(full[0, 2])  # the two-way share is larger than the vocab-wide one
    assert torch.equal(two[0, :2], full[0, :2]) and torch.equal(two[1], full[1])  # no verdict: as before
    assert torch.equal(mask, mask2)


class _EndsWithoutVerdict:
    """A generator whose every check is token 40 and then the end token (a base pretrained on
    checks without verdicts), with the model's own (ok, bad) probabilities at the end."""

    def __init__(self, model, codec):
        self.model, self.codec = model, codec

    def generate(self, prompts, *, max_new_tokens, temperature=0.0, stop_ids=(), seed=None,
                 logprobs=False, watch_ids=None, **_):
        from prmlab.models.generator import Sample

        with torch.no_grad():
            rows = [torch.softmax(self.model(input_ids=torch.tensor([list(p) + [40]])).logits[0, -1].float(), -1)
                    for p in prompts]
        return [Sample([40, EOS], [-1.0, -1.0], [[0.0, 0.0], [float(r[OK]), float(r[BAD])]]) for r in rows]


def test_generative_rl_learns_from_a_judge_that_never_writes_a_verdict(codec):
    """Every prompt is a bad step and every check ends with the end token: the verdict drawn
    there still earns 1 when bad, so P(bad) at the end of the check must rise."""
    from prmlab.training.grpo import RLConfig

    r = next(iter(iter_records(1, 3)))
    prompt = tuple(codec.check_prompt(r.problem, r.steps[:1]))
    pool = [StepPrompt(r.id, 0, prompt, False)]
    model = tiny_causal(codec)
    loop = JudgeGRPO(model, codec, RLConfig(prompts_per_step=2, num_generations=8, lr=3e-2, max_new_tokens=4),
                     rationale=True, seed=0)
    loop.generator = _EndsWithoutVerdict(model, codec)

    def p_bad():
        with torch.no_grad():
            row = model(input_ids=torch.tensor([list(prompt) + [40]])).logits[0, -1, [OK, BAD]].float()
        return float(torch.softmax(row, -1)[1])

    before = p_bad()
    rows = [loop.step(pool, s) for s in range(5)]
    assert all(row["verdict_none"] == 0.0 for row in rows)  # every check got its verdict
    assert any(0 < row["reward_mean"] < 1 for row in rows)  # groups that do not tie: a signal
    assert p_bad() > before + 0.05


POOL = list(iter_records(16, 11))
DEV = list(iter_records(6, 12))


@pytest.fixture(scope="module")
def base_ckpt(tmp_path_factory, codec):
    out = tmp_path_factory.mktemp("base") / "base"
    save_checkpoint(out, tiny_causal(codec), codec, {"kind": "base", "format": FORMAT_VERSION})
    return out


def rl_cfg(fmt, **rl):
    return JudgeConfig(format=fmt, budget=len(POOL), lrs=[1e-3], seed=0,
                       fit=FitConfig(batch_size=8, max_steps=4, eval_every=2, warmup_steps=1, bf16=False),
                       rl=JudgeRLConfig.model_validate({"grpo": {"steps": 3, "prompts_per_step": 4,
                                                                 "num_generations": 2, "max_new_tokens": 16,
                                                                 "lr": 1e-3}, "eval_every": 2, **rl}))


@pytest.mark.parametrize("fmt,rationale", [("generative-rl", True), ("direct-rl", False)])
def test_an_rl_judge_trains_saves_its_curve_and_loads_through_load_judge(base_ckpt, tmp_path, fmt, rationale):
    out = tmp_path / fmt
    info = train_judge(rl_cfg(fmt), base_ckpt, POOL, DEV, out, log=lambda s: None)
    saved = json.loads((out / "prmlab.json").read_text())
    assert saved["format"] == fmt and saved["budget_solutions"] == 16
    assert saved["step_labels"] == sum(step_labels_through_first_error(r) for r in POOL)
    rows = [json.loads(x) for x in (out / "rl_curve.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert [("dev" in r) for r in rows] == [False, True, True]  # every 2 steps, and the last
    for r in rows:
        assert 0 <= r["reward_mean"] <= 1 and r["sampled_good"] == r["sampled_bad"] == 2
        assert r["verdict_ok"] + r["verdict_bad"] + r["verdict_none"] == pytest.approx(1.0)
        assert {"loss", "clip_fraction", "entropy", "reward_good", "reward_bad"} <= set(r)
    bal = saved["rl"]["class_balance"]
    assert (bal["sampled_good"], bal["sampled_bad"]) == (6, 6)  # 3 steps x 2 of each class
    assert bal["pool_good"] + bal["pool_bad"] == saved["step_labels"]
    assert saved["rl"]["settings"]["grpo"]["epsilon_high"] == 0.28  # clip-higher, recorded
    assert saved["selection"]["chosen_step"] in (2, 3)  # an RL step, never the start
    assert set(saved["selection"]["trials"][0]["curve"]) == {"0", "2", "3"}
    assert info["threshold"] == saved["threshold"]
    judge = load_judge(str(out))
    assert isinstance(judge, GenerativeJudge) and judge.name == fmt and judge.rationale is rationale
    scores = judge.score(DEV[:3])
    assert [len(s.step_scores) for s in scores] == [len(r.steps) for r in DEV[:3]]
    assert all(0 <= x <= 1 for s in scores for x in s.step_scores)


def test_rft_fine_tunes_on_its_own_checks_that_reached_the_label(base_ckpt, tmp_path):
    out = tmp_path / "rft"
    train_judge(rl_cfg("rft", rft_samples=3), base_ckpt, POOL, DEV, out, log=lambda s: None)
    saved = json.loads((out / "prmlab.json").read_text())
    rft = saved["rft"]
    n = sum(step_labels_through_first_error(r) for r in POOL)
    assert rft["steps"] == n and rft["sampled"] == 3 * n
    assert rft["kept"] == rft["kept_good"] + rft["kept_bad"] == saved["train_examples"] > 0
    assert rft["kept_fraction"] == pytest.approx(rft["kept"] / rft["sampled"])
    assert rft["steps_with_a_kept_check"] <= rft["steps"]
    assert not (out / "rl_curve.jsonl").exists()
    judge = load_judge(str(out))
    assert judge.name == "rft" and judge.rationale is True
    assert len(judge.score(DEV[:1])[0].step_scores) == len(DEV[0].steps)


def test_the_rl_settings_stay_out_of_a_default_config_dump():
    """Configs pinned in run folders before the RL formats existed still equal today's."""
    assert "rl" not in JudgeConfig().model_dump()
    assert JudgeConfig.model_validate(JudgeConfig().model_dump()) == JudgeConfig()
    set_ = JudgeConfig(rl=JudgeRLConfig(balance=False))
    assert set_.model_dump()["rl"]["balance"] is False
    assert JudgeConfig.model_validate(set_.model_dump()) == set_


def test_an_empty_budget_of_labelled_steps_is_an_input_error(base_ckpt, tmp_path):
    unlabelled = [dataclasses.replace(r, labels=[None] * len(r.steps), first_error=-1) for r in POOL]
    with pytest.raises(InputError, match="no labelled step"):
        train_judge(rl_cfg("generative-rl"), base_ckpt, unlabelled, DEV, tmp_path / "x", log=lambda s: None)


def test_train_judge_cli_draws_the_reward_curve_beside_the_judge(base_ckpt, tmp_path, run_cli):
    from prmlab.data.jsonl import write_jsonl

    write_jsonl(tmp_path / "pool.jsonl", (r.to_dict() for r in POOL))
    write_jsonl(tmp_path / "dev.jsonl", (r.to_dict() for r in DEV))
    args = ["train", "judge", "--init", base_ckpt, "--data", tmp_path / "pool.jsonl", "--dev",
            tmp_path / "dev.jsonl", "--out", tmp_path / "j", "--judge-format", "direct-rl",
            "--budget", "8", "--set", "rl.grpo.steps=2", "--set", "rl.grpo.prompts_per_step=2",
            "--set", "rl.grpo.num_generations=2", "--set", "rl.eval_every=1"]
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert (tmp_path / "j" / "rl_curve.png").stat().st_size > 1000
    assert len((tmp_path / "j" / "rl_curve.jsonl").read_text().splitlines()) == 2
    assert "reward curve" in out + err
    # the folder is prmlab's, figure included: training again over it is allowed
    code, _, err = run_cli(*args, "--overwrite")
    assert code == 0, err


def test_a_partial_rl_section_keeps_the_judges_defaults():
    from prmlab.experiments.config import resolve_config

    g = resolve_config(preset="smoke").judge.rl.grpo
    assert (g.steps, g.num_generations, g.max_new_tokens, g.epsilon_high) == (3, 2, 48, 0.28)
    assert g.lr == 1e-4 and g.temperature == 1.0  # the judge's defaults, not set by the preset
    g = resolve_config(preset="quick", sets=["judge.rl.grpo.beta=0.1"]).judge.rl.grpo
    assert (g.steps, g.num_generations, g.beta) == (30, 4, 0.1)


@pytest.mark.parametrize("fmt,sft", [("generative-rl", "generative"), ("direct-rl", "direct")])
def test_an_sft_start_runs_rl_on_from_the_supervised_judge_of_the_same_budget(base_ckpt, tmp_path, fmt, sft):
    """judge.rl.start=sft (StepWiser's warm start): the RL curve's step 0 is the supervised
    judge fitted on the same budget, seed and dev split, the very judge `train_judge` saves
    for that format; its fitting is recorded and its tokens are billed to the RL judge."""
    alone = train_judge(rl_cfg(sft), base_ckpt, POOL, DEV, tmp_path / sft, log=lambda s: None)
    from_base = train_judge(rl_cfg(fmt), base_ckpt, POOL, DEV, tmp_path / "base", log=lambda s: None)
    info = train_judge(rl_cfg(fmt, start="sft"), base_ckpt, POOL, DEV, tmp_path / "warm", log=lambda s: None)
    start = json.loads((tmp_path / "warm" / "prmlab.json").read_text())["rl"]["start"]
    assert from_base["rl"]["start"] == {"from": "base"}
    assert start["from"] == "sft" and start["format"] == sft
    assert start["chosen_lr"] == alone["selection"]["chosen_lr"]
    assert start["dev_f1"] == pytest.approx(alone["threshold"]["dev_f1"])
    assert info["rl"]["start_dev_f1"] == pytest.approx(alone["threshold"]["dev_f1"])
    from prmlab.models.checkpoint import load_model
    from prmlab.training.judge_rl_fit import _start

    model, _ = _start(rl_cfg(fmt, start="sft"), base_ckpt, POOL, DEV, log=lambda s: None, progress=None)
    saved = load_model(tmp_path / sft, "causal").state_dict()
    base = load_model(base_ckpt, "causal").state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    assert not all(torch.equal(saved[k], base[k]) for k in saved)  # the fit moved it
    rl_tokens = from_base["tokens_processed"]  # same prompts, seed and steps: the same RL bill
    assert info["tokens_processed"] == rl_tokens + alone["tokens_processed"]
    assert info["selection"]["chosen_step"] >= 1  # an RL step is kept, never the start itself
    assert load_judge(str(tmp_path / "warm")).name == fmt


def test_the_start_stays_out_of_a_dump_at_its_default():
    assert "start" not in JudgeRLConfig().model_dump()
    warm = JudgeConfig(rl=JudgeRLConfig(start="sft"))
    assert warm.model_dump()["rl"]["start"] == "sft"
    assert JudgeConfig.model_validate(warm.model_dump()) == warm
    with pytest.raises(ValueError, match="start"):
        JudgeRLConfig(start="policy")
