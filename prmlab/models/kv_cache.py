"""The model side of the KV-cache engine (`prmlab.models.generate`): a preallocated KV cache
and an adapter that calls any causal LM's forward with the cache and position keywords it
takes.

* `PreallocCache`: a transformers `Cache` whose layers write keys/values in place into buffers
  sized for the whole generation (attention reads a view of the filled part);
* `fast_path_ok(model)`: Llama-like models on `sdpa` attention with only full-attention layers,
  where that cache and 4D boolean masks built by the engine are exact;
* `Runner`: one forward step (prefill or decode) with whatever keyword names the model uses
  (`cache` / `past_key_values`, `position_ids`, `logits_to_keep`), wrappers (PEFT) included.
"""

from __future__ import annotations

import inspect
import sys

import torch

__all__ = ["DynamicCache", "PreallocCache", "Runner", "fast_path_ok", "num_layers"]

# --------------------------------------------------------------------------------------------
# Preallocated KV cache
# --------------------------------------------------------------------------------------------

try:  # transformers >= 4.56 has per-layer cache objects
    from transformers.cache_utils import Cache as _Cache
    from transformers.cache_utils import DynamicCache as _DynamicCache
    from transformers.cache_utils import DynamicLayer as _DynamicLayer
    from transformers.cache_utils import StaticCache as _StaticCache
except ImportError:  # pragma: no cover - older transformers: generic path only
    _Cache = _DynamicCache = _DynamicLayer = _StaticCache = None


if _DynamicLayer is not None:

    class _PreallocLayer(_DynamicLayer):
        """One layer's keys/values in buffers sized for the whole generation.

        ``update`` writes the new states in place and returns views of the filled part, so
        nothing is concatenated per step (DynamicLayer copies the whole cache every step) and
        attention only reads the filled length (StaticLayer always reads ``max_cache_len``).
        """

        def __init__(self, max_len: int):
            super().__init__()
            self.max_len = int(max_len)
            self.length = 0

        def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
            b, h, _, dk = key_states.shape
            self.device = key_states.device
            self.kbuf = key_states.new_empty((b, h, self.max_len, dk))
            self.vbuf = value_states.new_empty((b, value_states.shape[1], self.max_len, value_states.shape[-1]))
            self.is_initialized = True

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            start, end = self.length, self.length + key_states.shape[-2]
            if end > self.max_len:
                raise RuntimeError(f"PreallocCache overflow: {end} > {self.max_len} positions")
            self.kbuf[:, :, start:end] = key_states
            self.vbuf[:, :, start:end] = value_states
            self.length = end
            self.keys = self.kbuf[:, :, :end]
            self.values = self.vbuf[:, :, :end]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length

        def get_max_length(self) -> int:
            return self.max_len

        def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
            return self.length + query_length, 0

        def crop(self, tokens_to_remove: int) -> None:
            if tokens_to_remove > 0:
                raise ValueError("crop takes a negative number of tokens to remove")
            self.length = max(0, self.length + tokens_to_remove)
            if self.is_initialized:
                self.keys = self.kbuf[:, :, : self.length]
                self.values = self.vbuf[:, :, : self.length]

        def reset(self) -> None:
            self.length = 0
            self.keys = self.values = None
            self.is_initialized = False

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            if not self.is_initialized:
                return
            n = self.length
            kbuf = self.kbuf.new_empty((len(indices),) + tuple(self.kbuf.shape[1:]))
            vbuf = self.vbuf.new_empty((len(indices),) + tuple(self.vbuf.shape[1:]))
            kbuf[:, :, :n] = self.kbuf[indices, :, :n]
            vbuf[:, :, :n] = self.vbuf[indices, :, :n]
            self.kbuf, self.vbuf = kbuf, vbuf
            self.keys = kbuf[:, :, :n]
            self.values = vbuf[:, :, :n]

        def batch_repeat_interleave(self, repeats: int) -> None:  # pragma: no cover - unused here
            raise NotImplementedError

    class PreallocCache(_Cache):
        """A transformers ``Cache`` of :class:`_PreallocLayer`, one per decoder layer."""

        def __init__(self, num_layers: int, max_len: int):
            super().__init__(layers=[_PreallocLayer(max_len) for _ in range(num_layers)])

else:  # pragma: no cover
    PreallocCache = None  # type: ignore[assignment,misc]


# --------------------------------------------------------------------------------------------
# Model adapter
# --------------------------------------------------------------------------------------------


def _decoder_config(model):
    cfg = model.config
    try:
        return cfg.get_text_config(decoder=True)
    except Exception:  # noqa: BLE001  # pragma: no cover
        return cfg


def _all_full_attention(model) -> bool:
    cfg = _decoder_config(model)
    try:
        from transformers.cache_utils import get_layer_types_and_kwargs

        layer_types, _ = get_layer_types_and_kwargs(cfg)
        return len(layer_types) > 0 and all(t == "full_attention" for t in layer_types)
    except Exception:  # noqa: BLE001
        types = getattr(cfg, "layer_types", None)
        if types is not None:
            return all(t == "full_attention" for t in types)
        return getattr(cfg, "sliding_window", None) is None and getattr(cfg, "attention_chunk_size", None) is None


def num_layers(model) -> int | None:
    cfg = _decoder_config(model)
    n = getattr(cfg, "num_hidden_layers", None)
    return int(n) if n is not None else None


def fast_path_ok(model) -> bool:
    """sdpa attention, mask built by ``create_causal_mask`` (passes 4D masks through), only
    full-attention layers: then our preallocated cache and boolean 4D masks are exact."""
    if PreallocCache is None or num_layers(model) is None:
        return False
    impl = getattr(model.config, "_attn_implementation", None)
    if impl != "sdpa":
        return False
    mods = {type(model).__module__}
    base = getattr(model, "base_model", None)
    if base is not None:
        mods.add(type(base).__module__)
    if not any(hasattr(sys.modules.get(m), "create_causal_mask") for m in mods):
        return False
    return _all_full_attention(model)


def _cache_kwarg(params) -> str | None:
    for name in ("cache", "past_key_values"):
        if name in params:
            return name
    return None


def _inner_cache_kwarg(model) -> str | None:
    for sub in model.modules():
        if sub is model or not hasattr(sub, "config"):
            continue
        try:
            name = _cache_kwarg(inspect.signature(sub.forward).parameters)
        except (TypeError, ValueError):  # pragma: no cover
            continue
        if name is not None:
            return name
    return None


class Runner:
    """Calls the model's forward with whatever cache/position keyword names it takes."""

    def __init__(self, model, fast: bool, cache_impl: str):
        self.model = model
        params = inspect.signature(model.forward).parameters
        var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        self.cache_kw = _cache_kwarg(params)
        if self.cache_kw is None and var_kw:
            # a wrapper forwarding **kwargs (PEFT, subclasses): use the wrapped model's name
            self.cache_kw = _inner_cache_kwarg(model)
        self.has_pos = "position_ids" in params or var_kw
        self.has_ltk = "logits_to_keep" in params
        self.fast = fast and self.cache_kw is not None
        self.cache_impl = cache_impl if self.cache_kw is not None else "model"

    def new_cache(self, max_len: int):
        if self.cache_kw is None or self.cache_impl == "model":
            return None
        if self.cache_impl == "prealloc":
            return PreallocCache(num_layers(self.model), max_len)
        if self.cache_impl == "static":
            return _StaticCache(config=self.model.config, max_cache_len=max_len)
        try:
            return _DynamicCache(config=self.model.config)
        except Exception:  # noqa: BLE001  # pragma: no cover
            return _DynamicCache()

    def __call__(self, ids, mask, pos, cache, last_only: bool):
        kw = {"input_ids": ids, "use_cache": True}
        if mask is not None:
            kw["attention_mask"] = mask
        if self.has_pos and pos is not None:
            kw["position_ids"] = pos
        if self.cache_kw is not None and cache is not None:
            kw[self.cache_kw] = cache
        if last_only and self.has_ltk:
            kw["logits_to_keep"] = 1
        out = self.model(**kw)
        new_cache = getattr(out, "cache", None)
        if new_cache is None:
            new_cache = getattr(out, "past_key_values", None)
        return out.logits[:, -1, :], (new_cache if new_cache is not None else cache)



DynamicCache = _DynamicCache
"""transformers' DynamicCache (None on versions without per-layer caches)."""
