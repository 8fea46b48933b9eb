"""Fast batched sampling for Hugging Face causal language models.

``generate`` runs a hand-written decoding loop: prompts are sorted by length and cut into
batches (little padding), each batch is left-padded with an attention mask and matching
``position_ids``, prefilled once, then decoded one token per step against a key/value cache
preallocated for the whole batch. Finished rows are dropped from the batch as they stop, so
a batch of short and long rationales does not keep paying for the short ones.

Two paths, picked automatically (``fast="auto"``):

* fast path (Llama-like models on ``sdpa`` attention with only full-attention layers): a
  preallocated cache (:class:`PreallocCache`, written in place, attention reads a view of
  the filled part) and 4D boolean masks built here, which skips transformers' per-step
  mask construction;
* generic path (any other causal LM): the model's standard forward with a
  ``DynamicCache`` (or whatever cache the model returns) and a 2D attention mask.

If the fast path's first forward raises, the generic path is used instead.

Sampling is deterministic for a given ``seed`` (one ``torch.Generator`` per call); it is not
batch-invariant (the same prompt may draw different tokens in a different batch). Greedy
decoding (``temperature=0``) gives the same tokens as ``model.generate(do_sample=False)``
up to floating-point ties.
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["Generation", "PreallocCache", "generate"]

# Drop finished rows from a running batch once at least this fraction of it has stopped.
_COMPACT_FRACTION = 0.25


@dataclass
class Generation:
    """Result of :func:`generate`, in the order of the input prompts."""

    sequences: list[list[int]]
    """Generated token ids per prompt (stop token included if hit, nothing after it)."""
    token_probs: list[torch.Tensor] | None
    """With ``watch_ids``: per prompt a float32 tensor ``[n_generated, len(watch_ids)]`` of the
    temperature-1 full-vocabulary softmax probabilities of the watched ids at each generated
    position; otherwise None."""
    n_prompt_tokens: int
    """Sum of the unpadded prompt lengths."""
    n_generated_tokens: int
    """Sum of ``len(s)`` over ``sequences``."""


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


def _num_layers(model) -> int | None:
    cfg = _decoder_config(model)
    n = getattr(cfg, "num_hidden_layers", None)
    return int(n) if n is not None else None


def _fast_path_ok(model) -> bool:
    """sdpa attention, mask built by ``create_causal_mask`` (passes 4D masks through), only
    full-attention layers: then our preallocated cache and boolean 4D masks are exact."""
    if PreallocCache is None or _num_layers(model) is None:
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


class _Runner:
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
            return PreallocCache(_num_layers(self.model), max_len)
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


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def _pick(logits: torch.Tensor, temperature: float, top_k: int | None, gen: torch.Generator | None):
    if temperature <= 0.0:
        return logits.argmax(dim=-1)
    x = logits.float() / temperature
    if top_k is not None and 0 < top_k < x.shape[-1]:
        kth = torch.topk(x, top_k, dim=-1).values[:, -1:]
        x = x.masked_fill(x < kth, float("-inf"))
    probs = torch.softmax(x, dim=-1)
    return torch.multinomial(probs, 1, generator=gen).squeeze(1)


def _run_batch(
    runner: _Runner,
    prompts: list[list[int]],
    *,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    stop_t: torch.Tensor | None,
    pad_id: int,
    watch_t: torch.Tensor | None,
    gen: torch.Generator | None,
    device: torch.device,
):
    """Decode one batch. Returns (tokens [B, n_steps] on CPU, lengths list, probs or None)."""
    b = len(prompts)
    lens = [len(p) for p in prompts]
    lmax = max(lens)
    total = lmax + max_new_tokens
    padded = any(n != lmax for n in lens)

    ids = torch.full((b, lmax), pad_id, dtype=torch.long)
    real = torch.zeros((b, total), dtype=torch.bool)
    for i, p in enumerate(prompts):
        ids[i, lmax - len(p) :] = torch.tensor(p, dtype=torch.long)
        real[i, lmax - len(p) : lmax] = True
    ids = ids.to(device)
    real = real.to(device)
    pos = (real[:, :lmax].long().cumsum(-1) - 1).clamp_min(0)
    next_pos = torch.tensor(lens, dtype=torch.long, device=device).unsqueeze(1)

    static = runner.cache_impl == "static"
    cache = runner.new_cache(total)
    use_mask = padded or static

    def prefill_mask():
        if not use_mask:
            return None
        if not runner.fast:
            return real[:, :lmax].long()
        width = total if static else lmax
        causal = torch.ones((lmax, width), dtype=torch.bool, device=device).tril()
        m = causal[None] & real[:, None, :width]
        # pad query rows attend to themselves, so no row is fully masked (sdpa would give NaN)
        eye = torch.eye(lmax, width, dtype=torch.bool, device=device)
        return (m | eye[None]).unsqueeze(1)

    def step_mask(kv_len: int):
        if not use_mask:
            return None
        if not runner.fast:
            return real[:, :kv_len].long()
        return real[:, None, None, : (total if static else kv_len)]

    ours = cache
    logits, cache = runner(ids, prefill_mask(), pos, cache, last_only=True)
    # No usable KV cache (the model ignored ours and returned none): recompute the whole
    # sequence every step. Correct but slow; only for models without cache support.
    no_cache = cache is None or (cache is ours and cache.get_seq_length() == 0)
    seq = ids if no_cache else None

    out_tok = torch.full((b, max_new_tokens), pad_id, dtype=torch.long, device=device)
    out_prob = None
    if watch_t is not None:
        out_prob = torch.zeros((b, max_new_tokens, len(watch_t)), dtype=torch.float32, device=device)
    rows = torch.arange(b, device=device)  # original row of each running row
    done = torch.zeros(b, dtype=torch.bool, device=device)
    n_steps = 0
    for step in range(max_new_tokens):
        logits = logits.float()
        tok = _pick(logits, temperature, top_k, gen)
        out_tok[rows, step] = tok
        if out_prob is not None:
            out_prob[rows, step] = torch.softmax(logits, dim=-1).index_select(1, watch_t)
        n_steps = step + 1
        if step == max_new_tokens - 1:
            break
        if stop_t is not None:
            done = done | torch.isin(tok, stop_t)
            n_done = int(done.sum())
            if n_done == done.shape[0]:
                break
            can_compact = no_cache or (hasattr(cache, "batch_select_indices") and not static)
            if n_done and n_done >= _COMPACT_FRACTION * done.shape[0] and can_compact:
                keep = (~done).nonzero().squeeze(1)
                if not no_cache:
                    cache.batch_select_indices(keep)
                rows, tok, real, next_pos = rows[keep], tok[keep], real[keep], next_pos[keep]
                done = done[keep]
                if seq is not None:
                    seq = seq[keep]
        kv_len = lmax + step + 1
        real[:, lmax + step] = True
        if no_cache:
            seq = torch.cat([seq, tok.unsqueeze(1)], dim=1)
            full_pos = (real[:, :kv_len].long().cumsum(-1) - 1).clamp_min(0)
            mask = real[:, :kv_len].long() if use_mask else None
            logits, _ = runner(seq, mask, full_pos, None, last_only=True)
        else:
            logits, cache = runner(tok.unsqueeze(1), step_mask(kv_len), next_pos, cache, last_only=True)
        next_pos = next_pos + 1

    out_tok = out_tok[:, :n_steps].cpu()
    if stop_t is not None and n_steps > 0:
        is_stop = torch.isin(out_tok, stop_t.cpu())
        first = is_stop.int().argmax(dim=1) + 1
        lengths = torch.where(is_stop.any(dim=1), first, torch.full_like(first, n_steps)).tolist()
    else:
        lengths = [n_steps] * b
    probs = out_prob[:, :n_steps].cpu() if out_prob is not None else None
    return out_tok, lengths, probs


def _model_device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:  # pragma: no cover
        return torch.device("cpu")


def generate(
    model,
    prompts: list[list[int]],
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    stop_ids: Sequence[int] = (),
    pad_id: int = 0,
    watch_ids: Sequence[int] | None = None,
    batch_size: int = 256,
    seed: int | None = None,
    progress: bool = False,
    device=None,
    fast: bool | str = "auto",
    cache: str = "auto",
) -> Generation:
    """Sample continuations of ``prompts`` (lists of token ids) from a causal LM.

    ``temperature=0`` is greedy; otherwise tokens are drawn from ``softmax(logits/temperature)``
    restricted to the ``top_k`` most likely ids if given. Each sequence stops at its first id
    in ``stop_ids`` (kept) or after ``max_new_tokens``. ``watch_ids`` asks for the
    temperature-1 probabilities of those ids at every generated position. Prompts are sorted by
    length into batches of ``batch_size``; results come back in input order. ``device``:
    where inputs go (default: the model's device). The caller's autocast, if any, applies.

    Optional knobs: ``fast`` (True/False/"auto") forces or forbids the preallocated-cache +
    4D-mask path; ``cache`` ("auto", "prealloc", "dynamic", "static", "model") picks the KV
    cache ("auto": prealloc on the fast path, DynamicCache otherwise).
    """
    if max_new_tokens < 0:
        raise ValueError("max_new_tokens must be >= 0")
    prompts = [list(map(int, p)) for p in prompts]
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    n_prompt = sum(len(p) for p in prompts)
    watch = list(watch_ids) if watch_ids is not None else None
    if not prompts or max_new_tokens == 0:
        empty = [torch.zeros((0, len(watch)), dtype=torch.float32) for _ in prompts] if watch is not None else None
        return Generation([[] for _ in prompts], empty, n_prompt, 0)

    dev = torch.device(device) if device is not None else _model_device(model)
    fast_ok = _fast_path_ok(model)
    use_fast = fast_ok if fast == "auto" else bool(fast)
    if cache == "auto":
        cache_impl = "prealloc" if use_fast else "dynamic"
    else:
        cache_impl = cache
    if cache_impl == "prealloc" and (PreallocCache is None or _num_layers(model) is None):
        cache_impl = "dynamic"
    if cache_impl in ("dynamic", "static") and _DynamicCache is None:  # pragma: no cover
        cache_impl = "model"
    runner = _Runner(model, use_fast, cache_impl)

    stop_t = torch.tensor(sorted({int(s) for s in stop_ids}), dtype=torch.long, device=dev) if stop_ids else None
    watch_t = torch.tensor(watch, dtype=torch.long, device=dev) if watch is not None else None
    gen = None
    if temperature > 0:
        gen = torch.Generator(device=dev)
        if seed is not None:
            gen.manual_seed(int(seed))
        else:
            gen.seed()

    order = sorted(range(len(prompts)), key=lambda i: (-len(prompts[i]), i))
    bs = max(1, int(batch_size))
    batches = [order[i : i + bs] for i in range(0, len(order), bs)]

    sequences: list[list[int]] = [[] for _ in prompts]
    token_probs: list[torch.Tensor] | None = [None] * len(prompts) if watch is not None else None  # type: ignore[list-item]
    n_gen = 0

    bar = None
    if progress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        bar = Progress(
            TextColumn("generate"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("batches"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[rate]} tok/s"),
        )
        task = bar.add_task("generate", total=len(batches), rate="-")
        bar.start()
    t0 = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for bi, idx in enumerate(batches):
                kwargs = {
                    "max_new_tokens": max_new_tokens,
                    "temperature": temperature,
                    "top_k": top_k,
                    "stop_t": stop_t,
                    "pad_id": pad_id,
                    "watch_t": watch_t,
                    "gen": gen,
                    "device": dev,
                }
                batch_prompts = [prompts[i] for i in idx]
                if bi == 0 and (runner.fast or runner.cache_impl == "prealloc") and fast == "auto" and cache == "auto":
                    try:
                        tokens, lengths, probs = _run_batch(runner, batch_prompts, **kwargs)
                    except Exception:  # noqa: BLE001
                        # the fast path does not suit this model: standard forward from here on
                        runner = _Runner(model, False, "dynamic")
                        if gen is not None and seed is not None:
                            gen.manual_seed(int(seed))
                        tokens, lengths, probs = _run_batch(runner, batch_prompts, **kwargs)
                else:
                    tokens, lengths, probs = _run_batch(runner, batch_prompts, **kwargs)
                rows = tokens.tolist()
                for j, i in enumerate(idx):
                    sequences[i] = rows[j][: lengths[j]]
                    n_gen += lengths[j]
                    if token_probs is not None:
                        token_probs[i] = probs[j, : lengths[j]].clone()
                if bar is not None:
                    rate = n_gen / max(time.perf_counter() - t0, 1e-9)
                    bar.update(task, advance=1, rate=f"{rate:,.0f}")
    finally:
        if was_training:
            model.train()
        if bar is not None:
            bar.stop()
    return Generation(sequences, token_probs, n_prompt, n_gen)
