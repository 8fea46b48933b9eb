"""A plain-tensor forward for `transformers.LlamaForCausalLM`, for the KV-cache engine.

Why: at the sizes prmlab trains (0.03M-5M parameters) a decode step's matmuls take tens of
microseconds and the model's module tree (hooks, kwargs plumbing, mask building, output
dataclasses) takes the rest of a step; at batch 1 that overhead is most of the time. This
step does the same arithmetic on the model's own weights and nothing else, in fewer ops: the
q/k/v projections are one matmul against their concatenated weights, so are the gate/up
projections, and rope rotates q and k in one go. Each output element is the same dot product
as in the model's separate matmuls (bitwise equal with this machine's MKL at prmlab's shapes,
checked in tests/test_generate_plain.py; another BLAS may round differently in the last bit).
The concatenated weights are copied when the runner is made (one `generate` call), so they
take the attention and MLP input weights' memory once more while it runs.

Used only where it computes what the model's forward computes (`supports`): the exact
`LlamaForCausalLM` class (no PEFT or other wrapper, no subclass), plain `nn.Linear` /
`nn.Embedding` modules without hooks, sdpa attention, SiLU MLP, default rope, no tensor
parallel slicing (dropout is off: the engine runs the model in eval mode). Anything else keeps the model's own forward
(`prmlab.models.kv_cache.Runner`). The engine's tests compare its greedy tokens with
`model.generate` and its logits with the model's forward.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

__all__ = ["LlamaRunner", "supports"]


def _plain(module, cls) -> bool:
    return (type(module) is cls and not module._forward_hooks and not module._forward_pre_hooks)


def supports(model) -> bool:
    """Whether `LlamaRunner` computes exactly what `model`'s forward does."""
    try:
        from transformers import LlamaForCausalLM
        from transformers.models.llama.modeling_llama import LlamaRMSNorm
    except ImportError:  # pragma: no cover
        return False
    if type(model) is not LlamaForCausalLM:
        return False
    cfg = model.config
    if (getattr(cfg, "_attn_implementation", None) != "sdpa" or cfg.hidden_act != "silu"
            or getattr(cfg, "pretraining_tp", 1) != 1):
        return False
    rope = getattr(cfg, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        return False
    if any(t != "full_attention" for t in (getattr(cfg, "layer_types", None) or [])):
        return False
    inner = model.model
    allowed = (torch.nn.Linear, torch.nn.Embedding, LlamaRMSNorm)
    for sub in model.modules():
        if sub._forward_hooks or sub._forward_pre_hooks:
            return False
        if not list(sub.children()) and type(sub) not in allowed and type(sub).__name__ not in (
                "LlamaRotaryEmbedding", "SiLU", "SiLUActivation"):
            return False
    if not _plain(inner.embed_tokens, torch.nn.Embedding) or not _plain(model.lm_head, torch.nn.Linear):
        return False
    return len(inner.layers) == cfg.num_hidden_layers


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # LlamaRMSNorm.forward, op for op (fp32 statistics, the weight multiplied last)
    dtype = x.dtype
    if dtype != torch.float32:
        x = x.to(torch.float32)
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return weight * (x if dtype == torch.float32 else x.to(dtype))


def _cat_bias(*linears):
    if all(m.bias is None for m in linears):
        return None
    return torch.cat([m.bias if m.bias is not None else m.weight.new_zeros(m.out_features)
                      for m in linears])


@dataclasses.dataclass
class _Layer:
    ln1: torch.Tensor
    eps1: float
    w_qkv: torch.Tensor
    b_qkv: torch.Tensor | None
    w_o: torch.Tensor
    b_o: torch.Tensor | None
    ln2: torch.Tensor
    eps2: float
    w_gu: torch.Tensor
    b_gu: torch.Tensor | None
    w_down: torch.Tensor
    b_down: torch.Tensor | None


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class LlamaRunner:
    """`Runner`'s interface (`new_cache`, `__call__`) over a plain-tensor Llama forward.

    The KV cache is the engine's `PreallocCache` (its layers' `update` writes in place and
    returns views of the filled part, as the model's attention sees them)."""

    fast = True
    cache_impl = "prealloc"

    def __init__(self, model):
        from prmlab.models.kv_cache import PreallocCache, num_layers

        self.model = model
        cfg = model.config
        self.n_layers = num_layers(model)
        self._cache_cls = PreallocCache
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        self.n_rep = cfg.num_attention_heads // cfg.num_key_value_heads
        self.scaling = self.head_dim ** -0.5
        self.n_q = cfg.num_attention_heads
        self.n_qk = self.n_q + cfg.num_key_value_heads
        self.ffn = cfg.intermediate_size
        self.layers = []
        for layer in model.model.layers:
            att, mlp = layer.self_attn, layer.mlp
            self.layers.append(_Layer(
                layer.input_layernorm.weight, layer.input_layernorm.variance_epsilon,
                torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight]),
                _cat_bias(att.q_proj, att.k_proj, att.v_proj), att.o_proj.weight, att.o_proj.bias,
                layer.post_attention_layernorm.weight, layer.post_attention_layernorm.variance_epsilon,
                torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]),
                _cat_bias(mlp.gate_proj, mlp.up_proj), mlp.down_proj.weight, mlp.down_proj.bias))

    def new_cache(self, max_len: int):
        return self._cache_cls(self.n_layers, max_len)

    def _attend(self, q, k, v, mask, is_causal: bool):
        # transformers' sdpa_attention_forward, branch for branch, grouped-query attention too
        # (enable_gqa without a mask, packed queries for one query, repeated keys otherwise)
        kw = {}
        s = q.shape[2]
        if self.n_rep > 1:
            if mask is None and k.shape[-1] == v.shape[-1] <= 256:
                kw["enable_gqa"] = True
            elif s == 1:
                b, h, _, d = q.shape
                q = q.reshape(b, h // self.n_rep, self.n_rep, d)
                if mask is not None and mask.shape[1] != 1:
                    mask = mask.reshape(b, h // self.n_rep, self.n_rep, mask.shape[-1])
            else:
                b, h, n, d = k.shape
                k = k[:, :, None].expand(b, h, self.n_rep, n, d).reshape(b, h * self.n_rep, n, d)
                v = v[:, :, None].expand(b, h, self.n_rep, n, d).reshape(b, h * self.n_rep, n, d)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0,
                                           scale=self.scaling, is_causal=is_causal, **kw)
        return a.reshape(a.shape[0], -1, s, v.shape[-1]).transpose(1, 2).contiguous()

    def __call__(self, ids, mask, pos, cache, last_only: bool):
        model, inner = self.model, self.model.model
        b, s = ids.shape
        h = inner.embed_tokens(ids)
        cos, sin = inner.rotary_emb(h, pos)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        # the model's sdpa path: causal flag only without a mask and with several queries
        is_causal = mask is None and s > 1
        shape = (b, s, -1, self.head_dim)
        n_q, n_qk = self.n_q, self.n_qk
        for i, L in enumerate(self.layers):
            x = _rms(h, L.ln1, L.eps1)
            qkv = F.linear(x, L.w_qkv, L.b_qkv).view(shape).transpose(1, 2)
            qk, v = qkv[:, :n_qk], qkv[:, n_qk:]
            qk = (qk * cos) + (_rotate_half(qk) * sin)
            q, k = qk[:, :n_q], qk[:, n_q:]
            if cache is not None:
                k, v = cache.layers[i].update(k, v)
            a = self._attend(q, k, v, mask, is_causal).reshape(b, s, -1).contiguous()
            h = h + F.linear(a, L.w_o, L.b_o)
            x = _rms(h, L.ln2, L.eps2)
            gate, up = F.linear(x, L.w_gu, L.b_gu).split(self.ffn, dim=-1)
            h = h + F.linear(F.silu(gate) * up, L.w_down, L.b_down)
        if last_only:
            h = h[:, -1:]
        h = _rms(h, inner.norm.weight, inner.norm.variance_epsilon)
        logits = F.linear(h, model.lm_head.weight, model.lm_head.bias)
        return logits[:, -1, :], cache
