"""The plain-tensor Llama step (prmlab.models.llama_step) against the model's own forward."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from prmlab.models import llama_step  # noqa: E402
from prmlab.models.generate import generate  # noqa: E402
from prmlab.models.kv_cache import PreallocCache  # noqa: E402

VOCAB = 32
PROMPT_LENS = [5, 9, 3, 12, 7, 1, 20, 4, 15, 2]


def llama(kv_heads: int, seed: int = 0, attn: str | None = None, **extra) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=kv_heads,
                      max_position_embeddings=256, initializer_range=0.5,
                      tie_word_embeddings=False, **extra)
    if attn is not None:
        cfg._attn_implementation = attn
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="module")
def prompts():
    g = torch.Generator().manual_seed(1)
    return [torch.randint(1, VOCAB, (n,), generator=g).tolist() for n in PROMPT_LENS]


def hf_greedy(model, prompt, n):
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                             do_sample=False, eos_token_id=None, pad_token_id=0)
    return out[0, len(prompt):].tolist()


def test_supports_only_what_it_computes_exactly():
    assert llama_step.supports(llama(2)) and llama_step.supports(llama(4))
    assert not llama_step.supports(llama(4, attn="eager"))
    assert not llama_step.supports(llama(4, hidden_act="gelu"))

    class Sub(LlamaForCausalLM):
        pass

    assert not llama_step.supports(Sub(llama(4).config))
    hooked = llama(4)
    hooked.model.layers[0].mlp.register_forward_hook(lambda *a: None)
    assert not llama_step.supports(hooked)
    with pytest.raises(ValueError, match="plain"):
        generate(llama(4, attn="eager"), [[1, 2]], max_new_tokens=2, fast="plain")


@pytest.mark.parametrize("kv_heads", [4, 2])  # plain attention and grouped-query attention
def test_logits_match_the_models_forward(kv_heads, prompts):
    """Prefill (padded, masked) and one decode step: the same logits as the model's forward
    over the same cache and masks (bitwise on this machine's MKL; 1e-6 allows another BLAS)."""
    m = llama(kv_heads)
    plain = llama_step.LlamaRunner(m)
    from prmlab.models.kv_cache import Runner

    ref = Runner(m, True, "prealloc")
    b, lmax = 3, 12
    ids = torch.zeros((b, lmax), dtype=torch.long)
    real = torch.zeros((b, lmax + 1), dtype=torch.bool)
    for i, p in enumerate(prompts[:b]):
        p = p[:lmax]
        ids[i, lmax - len(p):] = torch.tensor(p)
        real[i, lmax - len(p):lmax] = True
    pos = (real[:, :lmax].long().cumsum(-1) - 1).clamp_min(0)
    causal = torch.ones((lmax, lmax), dtype=torch.bool).tril()
    mask = ((causal[None] & real[:, None, :lmax]) | torch.eye(lmax, dtype=torch.bool)[None]).unsqueeze(1)
    with torch.inference_mode():
        out = []
        for run in (plain, ref):
            cache = PreallocCache(2, lmax + 1)
            first, cache = run(ids, mask, pos, cache, last_only=True)
            real[:, lmax] = True
            nxt = first.argmax(-1, keepdim=True)
            step_pos = real[:, :lmax].sum(-1, keepdim=True)
            second, _ = run(nxt, real[:, None, None, :], step_pos, cache, last_only=True)
            out.append((first, second))
    for a, r in zip(out[0], out[1]):
        assert a.shape == (b, VOCAB)
        torch.testing.assert_close(a, r, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kv_heads", [4, 2])
def test_greedy_tokens_identical_to_model_generate(kv_heads, prompts):
    m = llama(kv_heads)
    g = generate(m, prompts, max_new_tokens=12, batch_size=4, fast="plain")
    assert g.sequences == [hf_greedy(m, p, 12) for p in prompts]
    # and to the engine through the model's own forward, log-probabilities included
    a = generate(m, prompts, max_new_tokens=12, batch_size=4, fast="plain", logprobs=True)
    b = generate(m, prompts, max_new_tokens=12, batch_size=4, fast=True, logprobs=True)
    assert a.sequences == b.sequences
    for x, y in zip(a.token_logprobs, b.token_logprobs):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-5)


def test_batch_one_unpadded_path(prompts):
    """Batch 1 runs without a mask (is_causal prefill): same tokens as model.generate."""
    m = llama(2)
    for p in prompts[:4]:
        assert generate(m, [p], max_new_tokens=10, fast="plain").sequences[0] == hf_greedy(m, p, 10)


def test_sampling_reproducible_per_seed(prompts):
    m = llama(2)
    kw = dict(max_new_tokens=16, temperature=1.0, top_k=8, batch_size=4)
    a = generate(m, prompts, seed=7, fast="plain", **kw)
    assert a.sequences == generate(m, prompts, seed=7, fast="plain", **kw).sequences
    assert a.sequences != generate(m, prompts, seed=8, fast="plain", **kw).sequences
    # the same draws as the engine through the model's forward (the same logits, the same stream)
    assert a.sequences == generate(m, prompts, seed=7, fast=True, **kw).sequences


def test_auto_uses_the_plain_step_and_falls_back_when_it_raises(prompts, monkeypatch):
    m = llama(2)
    calls = []
    real_call = llama_step.LlamaRunner.__call__

    def spy(self, *a, **k):
        calls.append(1)
        return real_call(self, *a, **k)

    monkeypatch.setattr(llama_step.LlamaRunner, "__call__", spy)
    want = generate(m, prompts, max_new_tokens=8).sequences
    assert calls, "fast='auto' did not take the plain step"

    def broken(self, *a, **k):
        raise RuntimeError("no")

    monkeypatch.setattr(llama_step.LlamaRunner, "__call__", broken)
    assert generate(m, prompts, max_new_tokens=8).sequences == want


def test_weights_read_when_the_call_starts(prompts):
    """A model changed between calls is what the next call runs (nothing stale is kept)."""
    m = llama(4)
    before = generate(m, prompts, max_new_tokens=8).sequences
    with torch.no_grad():
        m.lm_head.weight.mul_(-1.0)
    after = generate(m, prompts, max_new_tokens=8)
    assert after.sequences != before
    assert after.sequences == [hf_greedy(m, p, 8) for p in prompts]
