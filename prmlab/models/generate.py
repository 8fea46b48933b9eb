"""Fast batched sampling for Hugging Face causal language models: the KV-cache engine.

``generate`` runs a hand-written decoding loop: prompts are sorted by length and cut into
batches (little padding), each batch is left-padded with an attention mask and matching
``position_ids``, prefilled once, then decoded one token per step against a key/value cache
preallocated for the whole batch. Finished rows are dropped from the batch as they stop, so
a batch of short and long rationales does not keep paying for the short ones.

Three paths, picked automatically (``fast="auto"``):

* plain path (``LlamaForCausalLM`` as transformers builds it, see
  ``prmlab.models.llama_step.supports``): the fast path's cache and masks, with the model's
  forward replaced by the same tensor ops on its weights (``LlamaRunner``), which removes the
  per-token module overhead that dominates small models;
* fast path (Llama-like models on ``sdpa`` attention with only full-attention layers): a
  preallocated cache (:class:`PreallocCache`, written in place, attention reads a view of
  the filled part) and 4D boolean masks built here, which skips transformers' per-step
  mask construction;
* generic path (any other causal LM): the model's standard forward with a
  ``DynamicCache`` (or whatever cache the model returns) and a 2D attention mask.

If the plain or fast path's first forward raises, the generic path is used instead. The cache and the
model adapter live in ``prmlab.models.kv_cache``; the backend-neutral interface over this
engine (``Generator``, ``KVCacheGenerator``) in ``prmlab.models.generator``.

Sampling is deterministic for a given ``seed`` (one ``torch.Generator`` per call); it is not
batch-invariant (the same prompt may draw different tokens in a different batch). Greedy
decoding (``temperature=0``) gives the same tokens as ``model.generate(do_sample=False)``
up to floating-point ties.

Progress is reported, never drawn: ``progress(done, total, generated_tokens)`` is called with
the number of prompts finished so far (0 first, then after each batch); the bars are the
callers' (``prmlab.judges.progress``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from prmlab.models.kv_cache import DynamicCache as _DynamicCache
from prmlab.models.kv_cache import PreallocCache, Runner, fast_path_ok, num_layers
from prmlab.models.llama_step import LlamaRunner, supports as plain_ok

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
    token_logprobs: list[torch.Tensor] | None = None
    """With ``logprobs=True``: per prompt a float32 tensor ``[n_generated]``, the temperature-1
    log-softmax of the model's logits at each generated token (the model's own distribution,
    before temperature and top-k); otherwise None."""


ProgressFn = Callable[[int, int, int], None]
"""``progress(prompts_done, prompts_total, generated_tokens)``."""



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
    runner: Runner,
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
    logprobs: bool = False,
):
    """Decode one batch. Returns (tokens [B, n_steps] on CPU, lengths list, probs or None,
    log-probs [B, n_steps] or None)."""
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
    out_lp = torch.zeros((b, max_new_tokens), dtype=torch.float32, device=device) if logprobs else None
    rows = torch.arange(b, device=device)  # original row of each running row
    done = torch.zeros(b, dtype=torch.bool, device=device)
    n_steps = 0
    for step in range(max_new_tokens):
        logits = logits.float()
        tok = _pick(logits, temperature, top_k, gen)
        out_tok[rows, step] = tok
        if out_prob is not None:
            out_prob[rows, step] = torch.softmax(logits, dim=-1).index_select(1, watch_t)
        if out_lp is not None:
            out_lp[rows, step] = torch.log_softmax(logits, dim=-1).gather(1, tok.unsqueeze(1)).squeeze(1)
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
    lps = out_lp[:, :n_steps].cpu() if out_lp is not None else None
    return out_tok, lengths, probs, lps


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
    logprobs: bool = False,
    progress: ProgressFn | None = None,
    device=None,
    fast: bool | str = "auto",
    cache: str = "auto",
) -> Generation:
    """Sample continuations of ``prompts`` (lists of token ids) from a causal LM.

    ``temperature=0`` is greedy; otherwise tokens are drawn from ``softmax(logits/temperature)``
    restricted to the ``top_k`` most likely ids if given. Each sequence stops at its first id
    in ``stop_ids`` (kept) or after ``max_new_tokens``. ``watch_ids`` asks for the
    temperature-1 probabilities of those ids at every generated position; ``logprobs`` for the
    temperature-1 log-probability of each generated token. Prompts are sorted by
    length into batches of ``batch_size``; results come back in input order. ``device``:
    where inputs go (default: the model's device). The caller's autocast, if any, applies.

    Optional knobs: ``fast`` ("auto", "plain", True, False): "plain" forces the plain-tensor
    Llama forward (a ValueError where it does not apply), True the preallocated-cache + 4D-mask
    path through the model's own forward, False the generic path; ``cache`` ("auto", "prealloc", "dynamic", "static", "model") picks the KV
    cache ("auto": prealloc on the fast path, DynamicCache otherwise). ``progress``: a callback
    ``progress(prompts_done, prompts_total, generated_tokens)``, called before the first batch
    and after each one.
    """
    if isinstance(progress, bool):
        raise TypeError("progress takes a callback progress(done, total, generated_tokens), not a "
                        "bool; the bar is prmlab.judges.progress.generation_progress")
    if max_new_tokens < 0:
        raise ValueError("max_new_tokens must be >= 0")
    prompts = [list(map(int, p)) for p in prompts]
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    n_prompt = sum(len(p) for p in prompts)
    watch = list(watch_ids) if watch_ids is not None else None
    if not prompts or max_new_tokens == 0:
        empty = [torch.zeros((0, len(watch)), dtype=torch.float32) for _ in prompts] if watch is not None else None
        no_lp = [torch.zeros((0,), dtype=torch.float32) for _ in prompts] if logprobs else None
        if progress is not None:
            progress(len(prompts), len(prompts), 0)
        return Generation([[] for _ in prompts], empty, n_prompt, 0, no_lp)

    dev = torch.device(device) if device is not None else _model_device(model)
    fast_ok = fast_path_ok(model)
    use_fast = fast_ok if fast in ("auto", "plain") else bool(fast)
    if cache == "auto":
        cache_impl = "prealloc" if use_fast else "dynamic"
    else:
        cache_impl = cache
    if cache_impl == "prealloc" and (PreallocCache is None or num_layers(model) is None):
        cache_impl = "dynamic"
    if cache_impl in ("dynamic", "static") and _DynamicCache is None:  # pragma: no cover
        cache_impl = "model"
    if fast == "plain" and not (plain_ok(model) and cache in ("auto", "prealloc")):
        raise ValueError("fast='plain' needs a LlamaForCausalLM on sdpa attention in eval mode "
                         "(prmlab.models.llama_step.supports) and the prealloc cache")
    if (fast == "plain" or (fast == "auto" and use_fast)) and cache_impl == "prealloc" and plain_ok(model):
        runner = LlamaRunner(model)
    else:
        runner = Runner(model, use_fast, cache_impl)

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

    token_logprobs: list[torch.Tensor] | None = [None] * len(prompts) if logprobs else None  # type: ignore[list-item]
    n_done = 0
    if progress is not None:
        progress(0, len(prompts), 0)
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
                    "logprobs": logprobs,
                }
                batch_prompts = [prompts[i] for i in idx]
                if bi == 0 and (runner.fast or runner.cache_impl == "prealloc") and fast == "auto" and cache == "auto":
                    try:
                        tokens, lengths, probs, lps = _run_batch(runner, batch_prompts, **kwargs)
                    except Exception:  # noqa: BLE001
                        # the fast path does not suit this model: standard forward from here on
                        runner = Runner(model, False, "dynamic")
                        if gen is not None and seed is not None:
                            gen.manual_seed(int(seed))
                        tokens, lengths, probs, lps = _run_batch(runner, batch_prompts, **kwargs)
                else:
                    tokens, lengths, probs, lps = _run_batch(runner, batch_prompts, **kwargs)
                rows = tokens.tolist()
                for j, i in enumerate(idx):
                    sequences[i] = rows[j][: lengths[j]]
                    n_gen += lengths[j]
                    if token_probs is not None:
                        token_probs[i] = probs[j, : lengths[j]].clone()
                    if token_logprobs is not None:
                        token_logprobs[i] = lps[j, : lengths[j]].clone()
                n_done += len(idx)
                if progress is not None:
                    progress(n_done, len(prompts), n_gen)
    finally:
        if was_training:
            model.train()
    return Generation(sequences, token_probs, n_prompt, n_gen, token_logprobs)
