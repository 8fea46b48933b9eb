"""The generator seam (`prmlab.models.generator`): `KVCacheGenerator` is the engine behind the
protocol (same ids as a direct `generate` call), batch-invariant when greedy, with log-probs
that are the model's log-softmax; and a stub generator plugged into the judges, the rollout
sampler and policy sampling changes their outputs as it should."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from prmlab.data.arith.generate import iter_records  # noqa: E402
from prmlab.data.record import Record  # noqa: E402
from prmlab.models.generate import generate  # noqa: E402
from prmlab.models.generator import Generator, KVCacheGenerator, Sample, n_tokens  # noqa: E402

VOCAB = 48
LENS = [6, 11, 3, 9, 1, 14, 5, 8]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      initializer_range=0.5)  # peaked logits: no greedy ties at float noise
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="module")
def prompts():
    g = torch.Generator().manual_seed(2)
    return [torch.randint(1, VOCAB, (n,), generator=g).tolist() for n in LENS]


def _stop(model, prompts):
    """A frequent greedy token: rows stop at different steps."""
    seqs = generate(model, prompts, max_new_tokens=12).sequences
    return [max(range(VOCAB), key=lambda t: sum(s.count(t) for s in seqs))]


# ---- the engine behind the protocol ------------------------------------------------------------

@pytest.mark.parametrize("kw", [
    {},  # greedy
    {"temperature": 1.0, "seed": 11},
    {"temperature": 0.8, "top_k": 5, "seed": 4},
], ids=["greedy", "sampled", "top-k"])
@pytest.mark.parametrize("batch_size", [8, 3])
def test_same_ids_as_a_direct_generate_call(model, prompts, kw, batch_size):
    stop = _stop(model, prompts)
    gen = KVCacheGenerator(model, batch_size=batch_size, pad_id=0)
    assert isinstance(gen, Generator)
    samples = gen.generate(prompts, max_new_tokens=12, stop_ids=stop, **kw)
    direct = generate(model, prompts, max_new_tokens=12, stop_ids=stop, pad_id=0,
                      batch_size=batch_size, **kw)
    assert [s.ids for s in samples] == direct.sequences
    assert n_tokens(samples) == direct.n_generated_tokens
    assert all(s.logprobs is None and s.watch_probs is None for s in samples)
    if kw:  # a seed makes it reproducible, another seed changes it
        again = gen.generate(prompts, max_new_tokens=12, stop_ids=stop, **kw)
        assert [s.ids for s in again] == direct.sequences
        other = gen.generate(prompts, max_new_tokens=12, stop_ids=stop, **{**kw, "seed": 99})
        assert [s.ids for s in other] != direct.sequences


def test_the_pad_id_never_changes_a_sample(model, prompts):
    a = KVCacheGenerator(model, pad_id=0).generate(prompts, max_new_tokens=10, temperature=1.0, seed=1)
    b = KVCacheGenerator(model, pad_id=7).generate(prompts, max_new_tokens=10, temperature=1.0, seed=1)
    assert [s.ids for s in a] == [s.ids for s in b]


@pytest.mark.parametrize("with_stop", [False, True])
def test_greedy_batch_8x1_equals_batch_1x8(model, prompts, with_stop):
    stop = _stop(model, prompts) if with_stop else []
    eight = KVCacheGenerator(model, batch_size=8).generate(prompts, max_new_tokens=14, stop_ids=stop)
    one = KVCacheGenerator(model, batch_size=1)
    singles = [one.generate([p], max_new_tokens=14, stop_ids=stop)[0] for p in prompts]
    assert [s.ids for s in eight] == [s.ids for s in singles]
    if with_stop:
        assert len({len(s.ids) for s in eight}) > 1  # rows did stop at different steps
    lp8 = KVCacheGenerator(model, batch_size=8).generate(prompts, max_new_tokens=14, logprobs=True)
    lp1 = [one.generate([p], max_new_tokens=14, logprobs=True)[0] for p in prompts]
    for a, b in zip(lp8, lp1):
        assert a.ids == b.ids
        torch.testing.assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-4, rtol=0)


@pytest.mark.parametrize("kw", [{}, {"temperature": 1.3, "seed": 5}, {"temperature": 0.7, "top_k": 3, "seed": 8}],
                         ids=["greedy", "sampled", "top-k"])
def test_logprobs_are_log_softmax_of_the_logits_at_the_sampled_tokens(model, prompts, kw):
    stop = _stop(model, prompts)
    gen = KVCacheGenerator(model, batch_size=3)
    samples = gen.generate(prompts, max_new_tokens=10, stop_ids=stop, logprobs=True,
                           watch_ids=[0, 5], **kw)
    plain = gen.generate(prompts, max_new_tokens=10, stop_ids=stop, **kw)
    assert [s.ids for s in samples] == [s.ids for s in plain]  # asking for log-probs changes nothing
    for p, s in zip(prompts, samples):
        assert len(s.logprobs) == len(s.ids) == len(s.watch_probs)
        with torch.no_grad():  # a plain forward pass over prompt + sample, by hand
            logits = model(input_ids=torch.tensor([p + s.ids])).logits[0].float()
        at = logits[len(p) - 1: len(p) - 1 + len(s.ids)]
        want = torch.log_softmax(at, dim=-1)[torch.arange(len(s.ids)), torch.tensor(s.ids)]
        torch.testing.assert_close(torch.tensor(s.logprobs), want, atol=1e-4, rtol=0)
        assert all(lp <= 0.0 for lp in s.logprobs)
        probs = torch.softmax(at, dim=-1)[:, [0, 5]]
        torch.testing.assert_close(torch.tensor(s.watch_probs), probs, atol=1e-5, rtol=0)


def test_progress_is_a_callback(model, prompts):
    calls = []
    gen = KVCacheGenerator(model, batch_size=3)
    samples = gen.generate(prompts, max_new_tokens=4, progress=lambda *a: calls.append(a))
    assert calls[0] == (0, 8, 0) and calls[-1] == (8, 8, n_tokens(samples))
    assert [c[0] for c in calls] == [0, 3, 6, 8]


# ---- a stub generator plugged into every call site ---------------------------------------------

class Fixed:
    """A stub generator: every prompt gets the same ids (and fixed verdict probabilities)."""

    def __init__(self, ids, watch=(0.2, 0.6)):
        self.ids, self.watch, self.calls = list(ids), list(watch), []

    def generate(self, prompts, *, max_new_tokens, temperature=0.0, top_k=None, stop_ids=(),
                 seed=None, logprobs=False, watch_ids=None, progress=None):
        self.calls.append({"n": len(prompts), "seed": seed, "temperature": temperature,
                           "stop_ids": list(stop_ids), "watch_ids": watch_ids})
        ids = self.ids[:max_new_tokens]
        out = [Sample(list(ids), [-1.0] * len(ids) if logprobs else None,
                      [list(self.watch) for _ in ids] if watch_ids is not None else None)
               for _ in prompts]
        if progress is not None:
            progress(len(prompts), len(prompts), len(prompts) * len(ids))
        return out


@pytest.fixture(scope="module")
def codec():
    from prmlab.training.base import arith_codec

    return arith_codec()


@pytest.fixture(scope="module")
def records():
    return list(iter_records(3, seed=9, error_rate=0.5))


def test_stub_generator_in_the_generative_judge(codec, records):
    from prmlab.judges.generative import GenerativeJudge

    stub = Fixed(codec.encode("23 + 7 = 30") + [codec.bad_id])
    judge = GenerativeJudge(None, codec, generator=stub, k=2, temperature=1.0, seed=3)
    out = judge.score(records)
    # P(ok) / (P(ok) + P(bad)) at the last (verdict) position: 0.2 / 0.8, for every step
    assert all(s.step_scores == [pytest.approx(0.25)] * len(r.steps) for s, r in zip(out, records))
    assert out[0].rationales[0] == "23 + 7 = 30"
    n_steps = sum(len(r.steps) for r in records)
    assert [c["seed"] for c in stub.calls] == [3000, 3001] and stub.calls[0]["n"] == n_steps
    assert stub.calls[0]["watch_ids"] == [codec.ok_id, codec.bad_id]
    assert judge.stats["generated_tokens"] == 2 * n_steps * len(stub.ids)
    # a rationale that never reaches a verdict is a parse failure: 0.5
    judge = GenerativeJudge(None, codec, generator=Fixed(codec.encode("23 + 7")))
    assert all(set(s.step_scores) == {0.5} for s in judge.score(records))
    assert judge.stats["parse_failures"] == n_steps


def test_stub_generator_in_the_zero_label_judge(codec, records):
    from prmlab.judges.zero_label import ZeroLabelJudge

    bad = ZeroLabelJudge(None, codec, generator=Fixed(codec.encode("answer is cal ; cal = 90 ; claimed 1!9=")))
    good = ZeroLabelJudge(None, codec, generator=Fixed(
        codec.encode("bob is ann + 7 ; ann has 23 ; 23 + 7 = 30 ; claimed 3=2=|+=|7=|0=3=")))
    assert all(set(s.step_scores) == {0.0} for s in bad.score(records))
    assert all(set(s.step_scores) == {1.0} for s in good.score(records))
    assert good.stats["parse_failures"] == 0


def test_stub_generator_in_the_rollout_sampler(codec):
    from prmlab.supervision.rollouts import Request, derive_labels
    from prmlab.training.rollout_sampler import RolloutSampler

    problem = ("ann has 23 coins. bob has 7 more coins than ann. "
               "cal has 3 times as many coins as bob. how many coins does cal have?")
    rec = Record(id="a", problem=problem, steps=["23 + 7 = 30", "30 * 3 = 91", "answer = 91"],
                 labels=[None] * 3, first_error=None)
    # mc-hard rolls out prefixes 1 and 2; prefix 3 states 91 (wrong) and is resolved without
    # a rollout. Rollouts that answer 90 make steps 0 and 1 good; ones that answer 91, none.
    for answer, first_error in (("90", 2), ("91", 0)):
        stub = Fixed(codec.encode(f"answer = {answer}") + codec.step_end + [codec.eos_id])
        sampler = RolloutSampler(None, codec, generator=stub, seed=2)
        sampler.begin_run()
        out, s = derive_labels([rec], "mc-hard", sampler, k=3)
        assert stub.calls == [{"n": 6, "seed": 2 * 1_000_003, "temperature": 1.0,
                               "stop_ids": [codec.eos_id], "watch_ids": None}]
        assert s["rollouts"] == 6 and s["terminal_prefixes"] == 1
        assert s["tokens_generated"] == 6 * len(stub.ids)
        assert out[0].first_error == first_error
        assert out[0].meta["rollout_labels"]["mc"] == [[1, 3 * (answer == "90"), 3],
                                                       [2, 3 * (answer == "90"), 3], [3, 0, 3]]
        stream = sampler._streams[tuple(sampler.prompt(Request(rec, 1, 3)))]
        assert [r.steps for r in stream] == [[f"answer = {answer}"]] * 3


def test_stub_generator_in_policy_sampling(codec):
    from prmlab.training.policy import sample_policy

    problem = ("ann has 23 coins. bob has 7 more coins than ann. "
               "cal has 3 times as many coins as bob. how many coins does cal have?")
    steps = ["23 + 7 = 30", "30 * 3 = 90", "answer = 90"]
    ids = [t for s in steps for t in codec.encode(s) + codec.step_end] + [codec.eos_id]
    stub = Fixed(ids)
    recs, summary = sample_policy(None, codec, [problem], n_per_problem=2, temperature=1.0, seed=4,
                                  max_new_tokens=200, generator=stub)
    assert [r.steps for r in recs] == [steps, steps] and all(r.first_error == -1 for r in recs)
    assert summary["answer_accuracy"] == 1.0 and summary["generated_tokens"] == 2 * len(ids)
    assert stub.calls[0]["seed"] == 4 and stub.calls[0]["stop_ids"] == [codec.eos_id]


class CharTokenizer:
    """Just enough tokenizer for the critic: one id per character, no chat template."""

    eos_token_id, pad_token_id, chat_template = 1, 0, None

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [2 + ord(ch) % 200 for ch in text]}

    def decode(self, ids, skip_special_tokens=False):
        return "".join(chr(i - 2) for i in ids if i > 1)


def test_stub_generator_in_the_critic():
    from prmlab.judges.critic import CriticJudge

    tok = CharTokenizer()
    recs = [Record(id=f"r{i}", problem="What is 2+3?", steps=["2+3=5", "so 5"], labels=[1, 1],
                   first_error=-1) for i in range(3)]
    stub = Fixed(tok("The first paragraph is wrong: \\boxed{0}")["input_ids"] + [tok.eos_token_id])
    judge = CriticJudge(None, tok, generator=stub, batch_size=2, seed=1)
    out = judge.predict(recs)
    assert [c.prediction for c in out] == [0, 0, 0] and all(c.finished[0] for c in out)
    assert [c["n"] for c in stub.calls] == [2, 1] and [c["seed"] for c in stub.calls] == [100_003, 100_004]
    assert judge.stats["context_length"] is None  # no model: no context length to check
    # the same judge over a generator that writes no box: every prediction fails
    judge = CriticJudge(None, tok, generator=Fixed(tok("fine")["input_ids"]), max_new_tokens=3)
    assert all(c.failed and not c.finished[0] for c in judge.predict(recs))
