"""`/v1/completions` over the in-process engine: the OpenAI completions subset prmlab's client
(`prmlab.models.openai_client`) and other clients use, with vLLM's extensions where prmlab needs
them.

Accepted: `prompt` (token ids, text, or a list of either), `n`, `max_tokens`, `temperature`,
`top_k` (-1/0: off), `top_p` (1 only), `seed`, `stop_token_ids`, `ignore_eos`, `logprobs`
(top-K per generated token), `prompt_logprobs` (per prompt position, position 0 null),
`return_token_ids`, `return_tokens_as_token_ids`, `skip_special_tokens`, `add_special_tokens`
(text prompts), `stop` (empty only), `echo` (false only), `stream` (false only), `user`.
Anything else is a 400 naming the field: a field silently ignored would be a setting the
client believes it got.

Sampling is `KVCacheGenerator.generate([prompt] * n, seed=seed)`: the same request with the
same seed gives the same choices. The model's end-of-sequence id stops a choice unless
`ignore_eos` (as vLLM does). `token_logprobs` are the engine's own (temperature-1, before
top-k); the top-K dictionaries come from one teacher-forced forward pass over prompt +
choice, which also gives `prompt_logprobs`. Requests run one at a time (`lock`): the engine
batches the `n` choices of a request, not requests with each other.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prmlab.models.chat import end_ids
from prmlab.models.generator import KVCacheGenerator
from prmlab.serving.errors import RequestError

Prompt = str | list[int] | list[list[int]] | list[str]


class CompletionRequest(BaseModel):
    """One `/v1/completions` body (types strict: `"5"` is not 5, `true` is not 1)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str = Field(description="Served model name.")
    prompt: Prompt = Field(description="Token ids, text, or a list of either.")
    n: int = Field(1, ge=1, description="Choices per prompt.")
    max_tokens: int = Field(16, ge=0, description="New tokens per choice.")
    temperature: float = Field(1.0, ge=0, le=100, description="0: greedy.")
    top_k: int | None = Field(None, ge=-1, description="-1 or 0: no top-k.")
    top_p: float = Field(1.0, description="Only 1.0 (prmlab's sampler has no top-p).")
    seed: int | None = Field(None, description="Same seed, same request: same choices.")
    stop_token_ids: list[int] = Field(default_factory=list, description="Stop at these ids (kept).")
    ignore_eos: bool = Field(False, description="Do not stop at the model's end-of-sequence id.")
    logprobs: int | None = Field(None, ge=0, description="Top-K log-probs per generated token.")
    prompt_logprobs: int | None = Field(None, ge=0, description="Top-K log-probs per prompt token.")
    return_token_ids: bool = Field(False, description="Add token_ids / prompt_token_ids.")
    return_tokens_as_token_ids: bool = Field(False, description="Tokens as 'token_id:N'.")
    skip_special_tokens: bool = Field(True, description="Drop special tokens from `text`.")
    add_special_tokens: bool = Field(True, description="Text prompts: add the tokenizer's "
                                                       "special tokens (BOS).")
    stop: list[str] | str | None = Field(None, description="Stop strings: not supported (empty only).")
    echo: bool = Field(False, description="Not supported (false only).")
    stream: bool = Field(False, description="Not supported (false only).")
    user: str | None = Field(None, description="Ignored (an end-user id).")


class Limits(BaseModel):
    """What one request may ask for (a request over a limit gets a 400 naming it)."""

    model_config = ConfigDict(extra="forbid")

    max_n: int = Field(64, ge=1, description="Choices per prompt.")
    max_prompts: int = Field(64, ge=1, description="Prompts per request.")
    max_logprobs: int = Field(20, ge=0, description="Top-K of logprobs and prompt_logprobs.")
    max_solutions: int = Field(256, ge=1, description="Solutions per step-score request.")


class CompletionEngine:
    """One causal LM and its tokenizer behind `/v1/completions`."""

    def __init__(self, model, tokenizer, name: str, limits: Limits, *, batch_size: int = 64):
        self.model, self.tokenizer, self.name, self.limits = model.eval(), tokenizer, name, limits
        pad = tokenizer.pad_token_id
        self.eos = end_ids(tokenizer, model)  # the tokenizer's and generation_config's ends
        self.gen = KVCacheGenerator(model, batch_size=batch_size,
                                    pad_id=pad if isinstance(pad, int) else 0)
        self.vocab = int(model.get_output_embeddings().weight.shape[0])
        self.context = getattr(model.config, "max_position_embeddings", None)
        self.lock = threading.Lock()
        self.created = int(time.time())

    # ---- validation --------------------------------------------------------------------------
    def _prompts(self, req: CompletionRequest) -> list[list[int]]:
        p = req.prompt
        if isinstance(p, str) or (isinstance(p, list) and p and isinstance(p[0], int)):
            items: list[Any] = [p]
        elif isinstance(p, list) and not p:
            raise RequestError("prompt is empty", field="prompt")
        else:
            items = list(p)
        if len(items) > self.limits.max_prompts:
            raise RequestError(f"{len(items)} prompts in one request; at most "
                               f"{self.limits.max_prompts}", field="prompt")
        out = []
        for i, item in enumerate(items):
            if isinstance(item, str):
                ids = self.tokenizer(item, add_special_tokens=req.add_special_tokens)["input_ids"]
            else:
                ids = list(item)
                bad = [t for t in ids if not 0 <= t < self.vocab]
                if bad:
                    raise RequestError(f"token id {bad[0]} is outside the vocabulary "
                                       f"[0, {self.vocab})", field=f"prompt[{i}]")
            if not ids:
                raise RequestError("a prompt has no tokens", field=f"prompt[{i}]")
            if self.context is not None and len(ids) + req.max_tokens > self.context:
                raise RequestError(f"prompt of {len(ids)} tokens + max_tokens {req.max_tokens} "
                                   f"exceeds the model's context of {self.context}",
                                   field=f"prompt[{i}]")
            out.append(ids)
        return out

    def _check(self, req: CompletionRequest) -> None:
        lim = self.limits
        if req.model != self.name:
            raise RequestError(f"model {req.model!r} is not served here (served: {self.name})",
                               status=404, field="model")
        if req.n > lim.max_n:
            raise RequestError(f"n={req.n}; at most {lim.max_n}", field="n")
        for key in ("logprobs", "prompt_logprobs"):
            v = getattr(req, key)
            if v is not None and v > lim.max_logprobs:
                raise RequestError(f"{key}={v}; at most {lim.max_logprobs} (--max-logprobs)",
                                   field=key)
        if req.top_p != 1.0:
            raise RequestError("top_p other than 1 is not supported", field="top_p")
        if req.stop:
            raise RequestError("stop strings are not supported: use stop_token_ids", field="stop")
        if req.echo:
            raise RequestError("echo is not supported", field="echo")
        if req.stream:
            raise RequestError("stream is not supported", field="stream")
        bad = [t for t in req.stop_token_ids if not 0 <= t < self.vocab]
        if bad:
            raise RequestError(f"stop token id {bad[0]} is outside the vocabulary",
                               field="stop_token_ids")

    # ---- the request -------------------------------------------------------------------------
    def complete(self, req: CompletionRequest) -> dict[str, Any]:
        self._check(req)
        prompts = self._prompts(req)
        stops = sorted(set(req.stop_token_ids) | (set() if req.ignore_eos else set(self.eos)))
        top_k = req.top_k if req.top_k is not None and req.top_k > 0 else None
        choices: list[dict[str, Any]] = []
        n_gen = 0
        with self.lock:
            for pi, prompt in enumerate(prompts):
                samples = self.gen.generate([prompt] * req.n, max_new_tokens=req.max_tokens,
                                            temperature=req.temperature, top_k=top_k,
                                            stop_ids=stops, seed=req.seed,
                                            logprobs=req.logprobs is not None)
                pl = self._prompt_logprobs(prompt, req) if req.prompt_logprobs is not None else None
                for j, s in enumerate(samples):
                    n_gen += len(s.ids)
                    choices.append(self._choice(pi * req.n + j, prompt, s, stops, req, pl))
        n_prompt = sum(len(p) for p in prompts) * req.n
        return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion",
                "created": int(time.time()), "model": self.name, "choices": choices,
                "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_gen,
                          "total_tokens": n_prompt + n_gen}}

    def _tok(self, t: int, req: CompletionRequest) -> str:
        return f"token_id:{t}" if req.return_tokens_as_token_ids else self.tokenizer.decode([t])

    def _choice(self, index: int, prompt: list[int], s, stops: list[int],
                req: CompletionRequest, prompt_lp) -> dict[str, Any]:
        ids = s.ids
        stopped = bool(ids) and ids[-1] in stops
        c: dict[str, Any] = {
            "index": index,
            "text": self.tokenizer.decode(ids, skip_special_tokens=req.skip_special_tokens),
            "logprobs": None,
            "finish_reason": "stop" if stopped else "length",
            "stop_reason": ids[-1] if stopped and ids[-1] in req.stop_token_ids else None,
        }
        if req.logprobs is not None:
            tops = self._top_logprobs(prompt, ids, req.logprobs)
            tokens = [self._tok(t, req) for t in ids]
            offsets, pos = [], 0
            for t in ids:
                offsets.append(pos)
                pos += len(self.tokenizer.decode([t]))
            top_dicts = []
            for t, lp, top in zip(ids, s.logprobs or [], tops):
                d = {self._tok(k, req): v for k, v in top}
                d[self._tok(t, req)] = lp  # the sampled token is always listed, as vLLM does
                top_dicts.append(d)
            c["logprobs"] = {"tokens": tokens, "token_logprobs": list(s.logprobs or []),
                             "top_logprobs": top_dicts, "text_offset": offsets}
        if prompt_lp is not None:
            c["prompt_logprobs"] = prompt_lp
        if req.return_token_ids:
            c["token_ids"], c["prompt_token_ids"] = list(ids), list(prompt)
        return c

    def _log_softmax(self, ids: list[int]):
        import torch

        with torch.inference_mode():
            x = torch.tensor([ids], dtype=torch.long, device=self.model.device)
            logits = self.model(input_ids=x).logits[0].float()
            return torch.log_softmax(logits, dim=-1)

    def _top_logprobs(self, prompt: list[int], ids: list[int], k: int) -> list[list[tuple[int, float]]]:
        """Per generated position the top-k (id, log-prob) of the model's own distribution."""
        if not ids or k == 0:
            return [[] for _ in ids]
        lsm = self._log_softmax(prompt + ids[:-1])[len(prompt) - 1:]
        vals, idx = lsm.topk(min(k, lsm.shape[-1]), dim=-1)
        return [list(zip(i.tolist(), v.tolist())) for i, v in zip(idx, vals)]

    def _prompt_logprobs(self, prompt: list[int], req: CompletionRequest) -> list[Any]:
        """vLLM's layout: None for position 0, then {"id": {logprob, rank, decoded_token}}
        holding the prompt's own token and the top-k."""
        k = req.prompt_logprobs or 0
        lsm = self._log_softmax(prompt)
        out: list[Any] = [None]
        for pos in range(1, len(prompt)):
            row = lsm[pos - 1]
            t = prompt[pos]
            lp_t = float(row[t])
            entry = {}
            if k:
                vals, idx = row.topk(min(k, row.shape[-1]))
                for r, (i, v) in enumerate(zip(idx.tolist(), vals.tolist()), start=1):
                    entry[str(i)] = {"logprob": v, "rank": r, "decoded_token": self.tokenizer.decode([i])}
            rank = int((row > row[t]).sum()) + 1
            entry[str(t)] = {"logprob": lp_t, "rank": rank, "decoded_token": self.tokenizer.decode([t])}
            out.append(entry)
        return out

