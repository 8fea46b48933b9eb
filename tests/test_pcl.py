"""Post-Completion Learning: the segment's layout, mask and reward worked out by hand on a
scripted generator, the outcome-judge metrics by hand, the loss mask hook, and `prmlab pcl` end
to end on a tiny random policy (run folder, resume, bad input)."""

from __future__ import annotations

import json
import math
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from prmlab.data.tasks import ARITH  # noqa: E402
from prmlab.metrics.outcome import outcome_judge_metrics, trivial_judges  # noqa: E402
from prmlab.models.generator import Sample  # noqa: E402
from prmlab.training.base import arith_codec  # noqa: E402
from prmlab.training.grpo import RLConfig  # noqa: E402
from prmlab.training.pcl import PCLConfig, PCLLoop, self_evaluate  # noqa: E402

torch.set_num_threads(1)

P = "ann has 4 coins. bob has 2 more coins than ann. how many coins does bob have?"  # gold 6
C = arith_codec()
RIGHT = C.encode("4 + 2 = 6") + C.step_end + C.encode("answer = 6") + C.step_end + [C.eos_id]
WRONG = C.encode("4 + 2 = 7") + C.step_end + C.encode("answer = 7") + C.step_end + [C.eos_id]


class Scripted:
    """A Generator that answers from a script: answer prompts (ending at <sep>) get the next
    answer, segment prompts (ending at <check>) the next segment; log-prob -0.5 per id."""

    def __init__(self, answers, segments, watch=None):
        self.answers, self.segments, self.watch = list(answers), list(segments), watch
        self.calls = []

    def generate(self, prompts, *, max_new_tokens, temperature=0.0, top_k=None, stop_ids=(),
                 seed=None, logprobs=False, watch_ids=None, progress=None):
        self.calls.append({"n": len(prompts), "stop_ids": list(stop_ids), "seed": seed,
                           "watch_ids": watch_ids, "last": [p[-1] for p in prompts]})
        out = []
        for p in prompts:
            ids = (self.answers if p[-1] == C.sep[-1] else self.segments).pop(0)
            wp = torch.tensor(self.watch.pop(0)) if watch_ids is not None else None
            out.append(Sample(list(ids), [-0.5] * len(ids) if logprobs else None, wp))
        return out


def tiny_model():
    from transformers import LlamaForCausalLM

    from prmlab.models.presets import llama_config

    torch.manual_seed(0)
    return LlamaForCausalLM(llama_config("tiny", C.vocab_size, pad_id=C.pad_id, bos_id=C.bos[0],
                                         eos_id=C.eos_id))


def test_segment_layout_mask_and_reward_by_hand():
    # group of 4: right + <ok> (agrees), right + <eos> where P(<bad>) is 1 (drawn <bad>),
    # wrong + "answer" <bad> (agrees), wrong + a segment that ran out of tokens (no verdict);
    # the (ok, bad) probabilities at each stop make the two-way draws certain
    ok, bad, ran_out = [C.ok_id], C.encode("answer") + [C.bad_id], C.encode("answer")
    gen = Scripted([RIGHT, RIGHT, WRONG, WRONG], [ok, [C.eos_id], bad, ran_out],
                   watch=[[[1.0, 0.0]], [[0.0, 1.0]], [[0.5, 0.5]] * (len(bad) - 1) + [[0.0, 1.0]],
                          [[0.5, 0.5]] * len(ran_out)])
    cfg = RLConfig(steps=1, prompts_per_step=1, num_generations=4, scale_rewards=False)
    loop = PCLLoop(tiny_model(), C, cfg, PCLConfig(lam=0.5), ARITH, generator=gen)
    batch = loop.sample([P], 0)
    # reward = correct + 0.5 x agreement: 1.5, 1.0, 0.5, 0.0; mean 0.75
    assert batch.rewards == [1.5, 1.0, 0.5, 0.0]
    assert batch.advantages.tolist() == [0.75, 0.25, -0.25, -0.75]
    check = C.check[0]
    assert batch.completion_ids[1] == RIGHT + [check] + [C.bad_id]  # the end token became the draw
    assert batch.completion_ids[2] == WRONG + [check] + bad and batch.completion_ids[3] == WRONG + [check] + ran_out
    # the drawn verdict's log-probability is its two-way one: log 1 = 0 here
    assert batch.engine_logprobs[1] == [-0.5] * len(RIGHT) + [0.0] + [0.0]
    assert batch.engine_logprobs[2] == [-0.5] * len(WRONG) + [0.0] + [-0.5] * (len(bad) - 1) + [0.0]
    assert batch.two_way_last == (C.ok_id, C.bad_id)
    n = len(WRONG)
    assert batch.train_mask[2, :n + 1 + len(bad)].tolist() == [1.0] * n + [0.0] + [1.0] * len(bad)
    assert batch.train_mask[0, len(RIGHT) + 2:].sum() == 0  # padding past a 1-token segment
    # answers stop at <eos> (as at inference); segments at a verdict or <eos>, after <check>
    a, s = gen.calls
    assert a["stop_ids"] == [C.eos_id] and s["stop_ids"] == [C.ok_id, C.bad_id, C.eos_id]
    assert s["last"] == [check] * 4 and a["seed"] != s["seed"] and s["watch_ids"] == [C.ok_id, C.bad_id]
    assert [e.predicted for e in loop.last_self_evals] == [1, 0, 0, None]


def test_train_mask_hook_masks_the_loss():
    from prmlab.training.grpo_loop import GRPOLoop

    gen = Scripted([RIGHT, WRONG], [[C.ok_id], [C.ok_id]], watch=[[[0.7, 0.3]], [[0.7, 0.3]]])
    model = tiny_model()
    loop = PCLLoop(model, C, RLConfig(steps=1, prompts_per_step=1, num_generations=2),
                   PCLConfig(), ARITH, generator=gen)
    batch = loop.sample([P], 0)
    assert loop.grpo.update(batch)["grad_norm"] > 0
    batch.train_mask = torch.zeros_like(batch.train_mask)  # nothing read: no loss, no gradient
    st = GRPOLoop.update(loop.grpo, batch)
    assert st["loss"] == 0.0 and st["grad_norm"] == 0.0


def test_self_evaluation_score_is_read_at_the_verdict():
    # P(<ok>), P(<bad>) per written position; the verdict is the 2nd id: 0.6 / (0.6 + 0.2);
    # the 2nd and 3rd segments end without one: read where they stop, 0.3 / 0.4 -> <ok> and
    # 0.1 / 0.4 -> <bad>; the 4th runs out of its 4 tokens: no verdict, its score still read
    out_of_budget = C.encode("answer is 6 is 6")[:4]
    assert len(out_of_budget) == 4 and C.eos_id not in out_of_budget
    gen = Scripted([], [C.encode("answer") + [C.ok_id], [C.eos_id], [C.eos_id], out_of_budget],
                   watch=[[[0.1, 0.3], [0.6, 0.2]], [[0.3, 0.1]], [[0.1, 0.3]],
                          [[0.2, 0.2]] * 3 + [[0.1, 0.3]]])
    evals, _ = self_evaluate(gen, C, [C.policy_prompt(P)] * 4, [RIGHT, WRONG, WRONG, RIGHT],
                             max_tokens=4)
    assert [e.predicted for e in evals] == [1, 1, 0, None]
    assert [e.score for e in evals] == pytest.approx([0.75, 0.75, 0.25, 0.25])
    assert gen.calls[0]["watch_ids"] == [C.ok_id, C.bad_id]


def test_outcome_judge_metrics_by_hand():
    scores, verdicts, correct = [0.9, 0.2, 0.6, 0.4], [1, 0, 1, 0], [1, 0, 0, 1]
    m = outcome_judge_metrics(scores, verdicts, correct, ["a", "a", "b", "b"], n_resamples=50)
    # correct 0.9, 0.4 vs wrong 0.2, 0.6: 3 of 4 pairs ordered
    assert m["auroc"]["value"] == 0.75 and m["auroc"]["direction"] == "higher"
    # wrong ones: 1 of 2 called wrong; correct ones: 1 of 2 called correct
    assert m["acc_err"]["value"] == 0.5 and m["acc_cor"]["value"] == 0.5 and m["f1"]["value"] == 0.5
    # flags idx 1 (right), idx 3 (false alarm), misses idx 2: 2 x 1 / (2 + 1 + 1)
    assert m["f1_wrong"]["value"] == 0.5 and m["auroc"]["ci"] is not None
    t = trivial_judges(correct, ["a", "a", "b", "b"], n_resamples=50)
    assert t["always correct"]["auroc"]["value"] == 0.5 and t["always correct"]["f1"]["value"] == 0.0
    assert t["always wrong"]["f1_wrong"]["value"] == pytest.approx(2 / 3)  # 2q / (1 + q), q = 1/2
    assert t["always correct"]["f1_wrong"]["value"] == 0.0
    one = outcome_judge_metrics([0.5, 0.7], [1, 1], [1, 1], ["a", "b"], n_resamples=10)
    assert one["auroc"]["value"] is None and "one class" in one["auroc"]["reason"]
    assert one["acc_cor"]["value"] == 1.0 and one["acc_err"]["reason"] == "no wrong answers"
    assert not math.isnan(one["acc_cor"]["value"])


# ---- `prmlab pcl` end to end ------------------------------------------------------------------

@pytest.fixture(scope="module")
def policy_ckpt(tmp_path_factory):
    from prmlab.models.checkpoint import save_checkpoint

    return save_checkpoint(tmp_path_factory.mktemp("pcl") / "policy", tiny_model(), C, {"kind": "policy"})


ARGS = ["--set", "rl.steps=2", "--set", "rl.prompts_per_step=2", "--set", "rl.num_generations=2",
        "--set", "rl.max_new_tokens=6", "--set", "n_train=3", "--set", "n_test=3",
        "--set", "eval_samples=2", "--set", "save_every=1", "--set", "bootstrap_resamples=20",
        "--set", "pcl.eval_max_tokens=3"]


def test_pcl_cli_run_folder_and_resume(policy_ckpt, tmp_path, run_cli):
    out = tmp_path / "run"
    code, stdout, err = run_cli("pcl", "--policy", policy_ckpt, "--out", out, *ARGS)
    assert code == 0, err
    assert json.loads(stdout.strip().splitlines()[-1]) == {"steps": 2, "arms": ["before", "grpo", "pcl"]}
    for f in ("config.json", "eval-before.json", "metrics.json", "report.md", "pcl.png",
              "grpo/curve.jsonl", "pcl/curve.jsonl", "pcl/eval-samples.jsonl", "pcl/state.json",
              "pcl/checkpoint/model.safetensors", "grpo/samples/step-0002.jsonl"):
        assert (out / f).exists(), f
    rows = [json.loads(x) for x in (out / "pcl" / "samples" / "step-0002.jsonl").read_text().splitlines()]
    assert len(rows) == 4
    for r in rows:  # lam 1: correct + [prediction == correct]
        agree = r["predicted"] is not None and r["predicted"] == int(r["correct"])
        assert r["reward"] == float(r["correct"]) + float(agree)
    m = json.loads((out / "metrics.json").read_text())
    ev = m["arms"]["pcl"]
    assert ev["test_greedy_accuracy"]["n"] == 3 and ev["judges"]["self-eval"]["n"] == 6
    assert set(ev["judges"]) == {"self-eval", "always correct", "always wrong"}
    assert m["pcl_minus_grpo_greedy"]["direction"] == "higher"
    # interrupted after pcl's step 1: the rerun trains pcl's step 2 only
    (out / "pcl" / "state.json").write_text(json.dumps({"step": 1}))
    (out / "pcl" / "eval.json").unlink()
    curve = (out / "pcl" / "curve.jsonl").read_text().splitlines()
    grpo_curve = (out / "grpo" / "curve.jsonl").read_text()
    code, _, err = run_cli("pcl", "--policy", policy_ckpt, "--out", out, *ARGS)
    assert code == 0, err
    assert "pcl: resuming after step 1" in err and "grpo: resuming" in err
    again = (out / "pcl" / "curve.jsonl").read_text().splitlines()
    assert len(again) == 2 and again[0] == curve[0]
    assert (out / "grpo" / "curve.jsonl").read_text() == grpo_curve  # finished arm untouched


def test_pcl_cli_bad_input(policy_ckpt, tmp_path, run_cli):
    out = tmp_path / "run"
    code, _, err = run_cli("pcl", "--policy", policy_ckpt, "--out", out, "--set", "pcl.lam=-1")
    assert code == 2 and "pcl.lam" in err
    code, _, err = run_cli("pcl", "--policy", policy_ckpt, "--out", out, "--set", 'arms=["ppo"]')
    assert code == 2 and "arms" in err
    code, _, err = run_cli("pcl", "--policy", policy_ckpt, "--out", out, "--set", 'arms=["pcl","pcl"]')
    assert code == 2 and "repeats" in err
    assert not out.exists()
