"""The generator protocol: token ids in, sampled ids (and log-probabilities) out.

Every part of prmlab that samples text from a model (policy sampling, rollouts, the generative
and zero-label judges, the ProcessBench critic) goes through a `Generator`:

    generator.generate(prompts, *, max_new_tokens, temperature=0.0, top_k=None, stop_ids=(),
                       seed=None, logprobs=False, watch_ids=None, progress=None) -> list[Sample]

* `prompts`: token-id lists (every one non-empty); the result is one `Sample` per prompt, in
  the same order;
* `temperature=0` is greedy; otherwise draws come from softmax(logits / temperature),
  restricted to the `top_k` most likely ids when given;
* each sample ends at its first id in `stop_ids` (kept, as the last id) or after
  `max_new_tokens` ids;
* `seed`: the same seed, prompts and settings give the same samples (None: unseeded). Samples
  need not be batch-invariant: which prompts share a call may change them;
* `logprobs=True`: `Sample.logprobs[i]` is the log-probability of `ids[i]` under the model's
  own (temperature-1, no top-k) distribution, as OpenAI-compatible servers report it;
* `watch_ids`: `Sample.watch_probs[i][j]` is the temperature-1 probability of `watch_ids[j]`
  at generated position i (a judge reads its verdict tokens' probabilities there);
* `progress`: a callback `progress(prompts_done, prompts_total, generated_tokens)`, called with
  0 first and as prompts finish; drawing it is the caller's business.

Nothing in the protocol is a model internal (no padding, KV cache, device, batching): an
OpenAI-compatible HTTP backend (vLLM / SGLang completions with token-id prompts, `logprobs`,
`stop_token_ids`, `seed`) can implement it. Batch size, pad id, device and cache choices are
the constructor's business of each implementation. `KVCacheGenerator` is the in-process one,
over the engine of `prmlab.models.generate`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from prmlab.models.generate import ProgressFn, generate

__all__ = ["Generator", "KVCacheGenerator", "ProgressFn", "Sample", "generator_for", "n_tokens"]


@dataclasses.dataclass(frozen=True)
class Sample:
    """One sampled continuation."""

    ids: list[int]
    """Generated ids (a stop id, when hit, is the last one; nothing after it)."""
    logprobs: list[float] | None = None
    """With `logprobs=True`: the model's log-probability of each id in `ids`."""
    watch_probs: list[list[float]] | None = None
    """With `watch_ids`: per generated position the probabilities of the watched ids."""


@runtime_checkable
class Generator(Protocol):
    def generate(self, prompts: Sequence[Sequence[int]], *, max_new_tokens: int,
                 temperature: float = 0.0, top_k: int | None = None,
                 stop_ids: Sequence[int] = (), seed: int | None = None, logprobs: bool = False,
                 watch_ids: Sequence[int] | None = None,
                 progress: ProgressFn | None = None) -> list[Sample]:
        """One `Sample` per prompt, in order (see the module docstring for the contract)."""
        ...


def n_tokens(samples: Sequence[Sample]) -> int:
    """Generated tokens in `samples` (stop ids included)."""
    return sum(len(s.ids) for s in samples)


class KVCacheGenerator:
    """The in-process KV-cache engine (`prmlab.models.generate.generate`) as a `Generator`.

    Prompts of one call are sorted by length and run in batches of `batch_size`, left-padded
    with `pad_id` (masked: the pad id never changes a sample). `device`, `fast` and `cache` are
    passed through to the engine. For a fixed seed it returns exactly what a direct `generate`
    call with the same arguments returns.
    """

    def __init__(self, model, *, batch_size: int = 256, pad_id: int = 0, device=None,
                 fast: bool | str = "auto", cache: str = "auto"):
        self.model = model
        self.batch_size, self.pad_id, self.device = batch_size, pad_id, device
        self.fast, self.cache = fast, cache

    def __repr__(self) -> str:
        return (f"KVCacheGenerator({type(self.model).__name__}, batch_size={self.batch_size}, "
                f"pad_id={self.pad_id})")

    def generate(self, prompts: Sequence[Sequence[int]], *, max_new_tokens: int,
                 temperature: float = 0.0, top_k: int | None = None,
                 stop_ids: Sequence[int] = (), seed: int | None = None, logprobs: bool = False,
                 watch_ids: Sequence[int] | None = None,
                 progress: ProgressFn | None = None) -> list[Sample]:
        g = generate(self.model, [list(p) for p in prompts], max_new_tokens=max_new_tokens,
                     temperature=temperature, top_k=top_k, stop_ids=stop_ids, pad_id=self.pad_id,
                     watch_ids=watch_ids, batch_size=self.batch_size, seed=seed,
                     logprobs=logprobs, progress=progress, device=self.device, fast=self.fast,
                     cache=self.cache)
        lps = g.token_logprobs or [None] * len(g.sequences)
        probs = g.token_probs or [None] * len(g.sequences)
        return [Sample(seq, None if lp is None else lp.tolist(), None if pr is None else pr.tolist())
                for seq, lp, pr in zip(g.sequences, lps, probs)]


def generator_for(model, generator: Generator | None, *, batch_size: int = 256,
                  pad_id: int = 0) -> Generator:
    """`generator` when given, else a `KVCacheGenerator` over `model` (the old constructors'
    `model` argument); a ValueError when neither is given."""
    if generator is not None:
        return generator
    if model is None:
        raise ValueError("give a model or a generator")
    return KVCacheGenerator(model, batch_size=batch_size, pad_id=pad_id)

