"""Tests for prmlab.models.generate on tiny models built from configs (no downloads)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from prmlab.models.generate import Generation, generate  # noqa: E402

VOCAB = 32
PROMPT_LENS = [5, 9, 3, 12, 7, 1, 20, 4, 15, 2]


def tiny_llama(seed: int = 0, attn: str | None = None) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        # The default init (0.02) gives near-uniform logits whose top-2 gaps (~1e-6) are at
        # float noise level; a larger init makes greedy decoding well defined.
        initializer_range=0.5,
    )
    if attn is not None:
        cfg._attn_implementation = attn
    model = LlamaForCausalLM(cfg).eval()
    assert sum(p.numel() for p in model.parameters()) <= 200_000
    return model


@pytest.fixture(scope="module")
def model():
    return tiny_llama()


@pytest.fixture(scope="module")
def prompts():
    g = torch.Generator().manual_seed(1)
    return [torch.randint(1, VOCAB, (n,), generator=g).tolist() for n in PROMPT_LENS]


_HF_MEMO: dict = {}


def hf_greedy(model, prompt, max_new_tokens, stop_ids=()):
    """model.generate on one prompt alone (no padding), cut after the first stop id.

    Memoised per (model object, prompt, stop ids); the models are never modified."""
    # greedy decoding for n tokens is the first n tokens of a longer greedy run
    n = max(max_new_tokens, 16)
    key = (id(model), tuple(prompt), n, tuple(stop_ids))
    if key not in _HF_MEMO:
        _HF_MEMO[key] = (model, _hf_greedy(model, prompt, n, stop_ids))
    return _HF_MEMO[key][1][:max_new_tokens]


def _hf_greedy(model, prompt, max_new_tokens, stop_ids=()):
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            eos_token_id=list(stop_ids) or None,
            pad_token_id=0,
        )
    seq = out[0, len(prompt) :].tolist()
    for j, t in enumerate(seq):
        if t in stop_ids:
            return seq[: j + 1]
    return seq


def frequent_tokens(model, prompts, n=2, max_new_tokens=16):
    """Ids that greedy decoding produces often: good stop ids (rows stop at different steps)."""
    g = generate(model, prompts, max_new_tokens=max_new_tokens)
    counts = torch.bincount(torch.tensor([t for s in g.sequences for t in s]), minlength=VOCAB)
    return counts.argsort(descending=True)[:n].tolist()


# ---------------------------------------------------------------------------------------------
# greedy equals transformers' generate
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_stop", [False, True])
@pytest.mark.parametrize("batch_size", [8, 3])
def test_greedy_matches_hf_generate(model, prompts, with_stop, batch_size):
    stop = frequent_tokens(model, prompts) if with_stop else []
    g = generate(model, prompts, max_new_tokens=16, stop_ids=stop, batch_size=batch_size)
    assert isinstance(g, Generation)
    for p, s in zip(prompts, g.sequences):
        assert s == hf_greedy(model, p, 16, stop)
    if with_stop:
        # the stop ids were hit at different steps, and nothing follows a stop id
        lengths = {len(s) for s in g.sequences}
        assert len(lengths) > 1
        for s in g.sequences:
            assert not any(t in stop for t in s[:-1])


@pytest.mark.parametrize("cache", ["prealloc", "dynamic", "static", "model"])
@pytest.mark.parametrize("fast", [True, False])
def test_every_cache_and_mask_path_matches(model, prompts, cache, fast):
    stop = frequent_tokens(model, prompts, n=1)
    g = generate(model, prompts, max_new_tokens=12, stop_ids=stop, cache=cache, fast=fast)
    for p, s in zip(prompts, g.sequences):
        assert s == hf_greedy(model, p, 12, stop)


def test_eager_attention_generic_path(prompts):
    m = tiny_llama(attn="eager")
    g = generate(m, prompts, max_new_tokens=10)
    for p, s in zip(prompts, g.sequences):
        assert s == hf_greedy(m, p, 10)


def test_other_architecture_gpt2(prompts):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=256, initializer_range=0.5)
    m = GPT2LMHeadModel(cfg).eval()
    for fast, cache in [("auto", "auto"), (False, "model")]:
        g = generate(m, prompts, max_new_tokens=10, fast=fast, cache=cache)
        for p, s in zip(prompts, g.sequences):
            assert s == hf_greedy(m, p, 10)


def test_falls_back_when_fast_path_raises(prompts):
    class Picky(LlamaForCausalLM):
        def forward(self, *args, attention_mask=None, **kwargs):
            if attention_mask is not None and attention_mask.dim() == 4:
                raise RuntimeError("no 4D masks here")
            return super().forward(*args, attention_mask=attention_mask, **kwargs)

    ref = tiny_llama()
    m = Picky(ref.config).eval()
    m.load_state_dict(ref.state_dict())
    g = generate(m, prompts, max_new_tokens=10)
    for p, s in zip(prompts, g.sequences):
        assert s == hf_greedy(ref, p, 10)


def test_model_without_kv_cache_recomputes(prompts):
    class NoCache(LlamaForCausalLM):
        def forward(self, input_ids=None, attention_mask=None, position_ids=None, **kwargs):
            return super().forward(
                input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
            )

    ref = tiny_llama()
    m = NoCache(ref.config).eval()
    m.load_state_dict(ref.state_dict())
    stop = frequent_tokens(ref, prompts, n=1)
    g = generate(m, prompts, max_new_tokens=10, stop_ids=stop)
    for p, s in zip(prompts, g.sequences):
        assert s == hf_greedy(ref, p, 10, stop)


# ---------------------------------------------------------------------------------------------
# batching, sampling, probabilities, accounting
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_stop", [False, True])
def test_batch_invariance(model, prompts, with_stop):
    stop = frequent_tokens(model, prompts) if with_stop else []
    one = generate(model, prompts, max_new_tokens=16, stop_ids=stop, batch_size=1)
    eight = generate(model, prompts, max_new_tokens=16, stop_ids=stop, batch_size=8)
    assert one.sequences == eight.sequences


def test_seeded_sampling(model, prompts):
    kw = {"max_new_tokens": 16, "temperature": 1.0, "batch_size": 4}
    a = generate(model, prompts, seed=123, **kw)
    b = generate(model, prompts, seed=123, **kw)
    c = generate(model, prompts, seed=124, **kw)
    assert a.sequences == b.sequences
    assert a.sequences != c.sequences
    assert all(len(s) == 16 for s in a.sequences)
    # top-k restricts draws to the k most likely ids of each step's distribution
    k = generate(model, prompts, seed=5, top_k=2, watch_ids=list(range(VOCAB)), **kw)
    for s, probs in zip(k.sequences, k.token_probs):
        top2 = probs.topk(2, dim=-1).indices
        assert all(t in top2[j].tolist() for j, t in enumerate(s))
    # top_k=1 is greedy
    g1 = generate(model, prompts, seed=5, top_k=1, **kw)
    assert g1.sequences == generate(model, prompts, max_new_tokens=16).sequences


def test_watch_probs_match_full_forward(model, prompts):
    watch = [0, 3, 7, 31]
    stop = frequent_tokens(model, prompts, n=1)
    g = generate(model, prompts, max_new_tokens=12, watch_ids=watch, stop_ids=stop, batch_size=4)
    assert g.token_probs is not None and len(g.token_probs) == len(prompts)
    for p, s, probs in zip(prompts, g.sequences, g.token_probs):
        assert probs.dtype == torch.float32
        assert probs.shape == (len(s), len(watch))
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([p + s])).logits[0].float()
        ref = torch.softmax(logits, dim=-1)[len(p) - 1 : len(p) - 1 + len(s)][:, watch]
        torch.testing.assert_close(probs, ref, atol=1e-5, rtol=0)


def test_watch_probs_with_sampling_are_temperature_one(model, prompts):
    g = generate(model, prompts[:3], max_new_tokens=8, temperature=2.0, seed=0, watch_ids=list(range(VOCAB)))
    for p, s, probs in zip(prompts, g.sequences, g.token_probs):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([p + s])).logits[0].float()
        ref = torch.softmax(logits, dim=-1)[len(p) - 1 : len(p) - 1 + len(s)]
        torch.testing.assert_close(probs, ref, atol=1e-5, rtol=0)
        torch.testing.assert_close(probs.sum(-1), torch.ones(len(s)), atol=1e-5, rtol=0)


def test_token_accounting(model, prompts):
    stop = frequent_tokens(model, prompts)
    g = generate(model, prompts, max_new_tokens=16, stop_ids=stop, batch_size=4)
    assert g.n_prompt_tokens == sum(PROMPT_LENS)
    assert g.n_generated_tokens == sum(len(s) for s in g.sequences)
    by_hand = 0
    for p in prompts:
        by_hand += len(hf_greedy(model, p, 16, stop))
    assert g.n_generated_tokens == by_hand
    assert g.token_probs is None


def test_edge_cases(model, prompts):
    g = generate(model, prompts, max_new_tokens=0, watch_ids=[1, 2])
    assert g.sequences == [[] for _ in prompts] and g.n_generated_tokens == 0
    assert g.n_prompt_tokens == sum(PROMPT_LENS)
    assert all(t.shape == (0, 2) for t in g.token_probs)
    assert generate(model, [], max_new_tokens=5).sequences == []
    with pytest.raises(ValueError):
        generate(model, [[1, 2], []], max_new_tokens=5)
    # a stop id as the first generated token gives a one-token sequence
    first = generate(model, prompts[:1], max_new_tokens=1).sequences[0][0]
    assert generate(model, prompts[:1], max_new_tokens=8, stop_ids=[first]).sequences == [[first]]
    # equal-length prompts (no padding anywhere) and duplicates
    same = [prompts[0], prompts[0], prompts[0][::-1]]
    g = generate(model, same, max_new_tokens=10)
    assert g.sequences[0] == g.sequences[1] == hf_greedy(model, prompts[0], 10)
    assert g.sequences[2] == hf_greedy(model, prompts[0][::-1], 10)


def test_training_mode_restored_and_no_grad(prompts):
    m = tiny_llama()
    m.train()
    g = generate(m, prompts[:2], max_new_tokens=4)
    assert m.training
    assert g.n_generated_tokens == 8


def test_bf16_autocast_and_progress(model, prompts):
    calls = []
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g = generate(model, prompts, max_new_tokens=8, watch_ids=[1, 2], batch_size=4,
                     progress=lambda *a: calls.append(a))
    assert all(len(s) == 8 for s in g.sequences)
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in g.token_probs)
    # the engine reports (prompts done, total, tokens so far): 0 first, then once per batch
    assert calls == [(0, 10, 0), (4, 10, 32), (8, 10, 64), (10, 10, 80)]
    with pytest.raises(TypeError, match="callback"):
        generate(model, prompts, max_new_tokens=2, progress=True)


def test_logprobs_are_the_models_log_softmax(model, prompts):
    stop = frequent_tokens(model, prompts, n=1)
    for kw in ({}, {"temperature": 1.5, "seed": 3, "top_k": 4}):
        g = generate(model, prompts, max_new_tokens=10, stop_ids=stop, logprobs=True, batch_size=3, **kw)
        plain = generate(model, prompts, max_new_tokens=10, stop_ids=stop, batch_size=3, **kw)
        assert g.sequences == plain.sequences and plain.token_logprobs is None
        for p, s, lp in zip(prompts, g.sequences, g.token_logprobs):
            with torch.no_grad():
                logits = model(input_ids=torch.tensor([p + s])).logits[0].float()
            ref = torch.log_softmax(logits, dim=-1)[len(p) - 1: len(p) - 1 + len(s)]
            ref = ref.gather(1, torch.tensor(s).unsqueeze(1)).squeeze(1)
            torch.testing.assert_close(lp, ref, atol=1e-4, rtol=0)
    empty = generate(model, prompts[:2], max_new_tokens=0, logprobs=True)
    assert [t.shape for t in empty.token_logprobs] == [(0,), (0,)]
