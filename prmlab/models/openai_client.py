"""`OpenAIGenerator`: the `Generator` protocol over an OpenAI-compatible `/v1/completions` server
(vLLM, SGLang, `prmlab serve`).

One HTTP request per prompt (`n=1`), `concurrency` of them in flight (threads; stdlib
`urllib`, so the default install needs nothing new). A prompt is sent as token ids
(`"prompt": [1, 5, 6]`, which vLLM, SGLang and `prmlab serve` accept) or, with
`prompt_format="text"`, as the tokenizer's text of those ids. The reply's ids come from the
vLLM extensions `return_token_ids` (`choices[i].token_ids`) or `return_tokens_as_token_ids`
(`"token_id:17"` tokens); failing both, from the tokenizer re-encoding the text (lossy: a
server that returns neither cannot promise the ids it sampled).

Sampling: `temperature`, `top_k`, `stop_token_ids` and `ignore_eos: true` (the protocol stops
only at `stop_ids`), `seed`. Each prompt of a call gets its own seed from the named stream
`openai.request` (`prmlab.seeds`), so two copies of one prompt (K rollouts of a prefix) draw
different samples and the same call with the same seed draws the same ones again.

`watch_ids` (a judge's verdict tokens): read from the next-token `logprobs` top-K (K =
`top_logprobs`) at each position where a watched id is in it. At the LAST position (where a
judge reads its verdict) a watched id outside the top-K is read exactly from `prompt_logprobs`
(a vLLM extension) of the continuation `prompt + ids[:-1] + [watched id]`, one request per
watched id. Elsewhere a watched id outside the top-K is unknown and reads NaN. `stats` says
which source each value came from (`watch_top_logprobs`, `watch_prompt_logprobs`,
`watch_unknown`); a server that offers neither is one `InputError` naming the server.

Errors: an unreachable server, a timeout, an HTTP error, or a reply that is not the JSON the
completions API promises is one `InputError` line (exit status 2 at the CLI) naming the URL.
Connection errors, timeouts, 429 and 5xx are retried `retries` times with exponential backoff
(`backoff_s`, doubled each time); a 4xx is the request's fault and is never retried.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from prmlab import seeds
from prmlab.errors import InputError
from prmlab.models.generator import ProgressFn, Sample

__all__ = ["OpenAIConfig", "OpenAIGenerator", "ServerError", "normalize_base_url"]

_RETRY_STATUS = {408, 429, 500, 502, 503, 504}


class OpenAIConfig(BaseModel):
    """Where the server is and how to talk to it."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(description="API root, e.g. http://127.0.0.1:8000/v1 (/v1 is added "
                                      "when the URL has no path).")
    model: str = Field(description="The served model name (`/v1/models` lists them).")
    concurrency: int = Field(8, ge=1, le=1024, description="Requests in flight at once.")
    retries: int = Field(3, ge=0, le=20, description="Retries of a connection error, timeout, "
                                                     "429 or 5xx (never of another 4xx).")
    backoff_s: float = Field(0.5, ge=0, le=60, description="First retry delay; doubled each retry.")
    timeout_s: float = Field(120.0, gt=0, description="Seconds to wait for one reply.")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the "
                             "API key (sent as a Bearer token when set; never stored).")
    prompt_format: Literal["ids", "text"] = Field("ids", description="Send prompts as token ids "
                                                  "(exact) or as the tokenizer's text of them.")
    top_logprobs: int = Field(20, ge=0, le=1000, description="Next-token top-K asked for with "
                              "watch_ids (vLLM's default cap is 20, --max-logprobs raises it; "
                              "never above the vocabulary size: vLLM 0.32's engine dies on that, "
                              "so a given tokenizer caps it); 0: prompt_logprobs only.")


class ServerError(InputError):
    """The server could not be reached or answered something unusable (one line)."""


def normalize_base_url(url: str) -> str:
    """The API root: no trailing slash, `/v1` added when the URL has no path.

    >>> normalize_base_url("http://127.0.0.1:8000")
    'http://127.0.0.1:8000/v1'
    >>> normalize_base_url("http://h:1/v1/")
    'http://h:1/v1'
    >>> normalize_base_url("http://h/api/v1")
    'http://h/api/v1'
    """
    from urllib.parse import urlsplit

    u = url.strip().rstrip("/")
    parts = urlsplit(u)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"--base-url must be an http(s) URL, got {url!r}")
    return u if parts.path not in ("", "/") else u + "/v1"


class _Http:
    """POST/GET JSON with retries; every failure one ServerError line."""

    def __init__(self, cfg: OpenAIConfig):
        self.cfg, self.base = cfg, normalize_base_url(cfg.base_url)
        key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self.retried = 0
        self._lock = threading.Lock()

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        url = self.base + path
        data = None if body is None else json.dumps(body).encode()
        last = ""
        for attempt in range(self.cfg.retries + 1):
            if attempt:
                with self._lock:
                    self.retried += 1
                time.sleep(self.cfg.backoff_s * 2 ** (attempt - 1))
            req = urllib.request.Request(url, data=data, headers=self._headers,
                                         method="GET" if body is None else "POST")
            try:
                with urllib.request.urlopen(req, timeout=self.cfg.timeout_s) as r:
                    raw = r.read()
            except urllib.error.HTTPError as e:
                reason = _error_reason(e.read())
                if e.code not in _RETRY_STATUS:
                    raise ServerError(f"{url} answered HTTP {e.code}: {reason}") from None
                last = f"HTTP {e.code}: {reason}"
                continue
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
                why = getattr(e, "reason", None) or e
                last = f"cannot reach the server ({_one_line(str(why)) or type(e).__name__})"
                continue
            try:
                return json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise ServerError(f"{url} answered with malformed JSON: "
                                  f"{_one_line(raw[:120].decode('utf-8', 'replace'))!r}") from None
        tries = self.cfg.retries + 1
        raise ServerError(f"{url}: {last} after {tries} attempt{'s' * (tries > 1)}")


def _one_line(s: str) -> str:
    return " ".join(s.split())[:300]


def _error_reason(raw: bytes) -> str:
    """The `error.message` of an OpenAI-style error body, else its first characters."""
    try:
        body = json.loads(raw)
        err = body.get("error", body) if isinstance(body, dict) else body
        msg = err.get("message") if isinstance(err, dict) else None
        if msg is None and isinstance(body, dict):
            msg = body.get("detail") or body.get("message")
        if msg is not None:
            return _one_line(str(msg))
    except (ValueError, UnicodeDecodeError, AttributeError):
        pass
    return _one_line(raw[:200].decode("utf-8", "replace")) or "(empty body)"


def _token_id(tok: Any) -> int | None:
    """17 from `"token_id:17"` (vLLM's return_tokens_as_token_ids), else None."""
    if isinstance(tok, str) and tok.startswith("token_id:"):
        try:
            return int(tok[9:])
        except ValueError:
            return None
    return None


class OpenAIGenerator:
    """The `Generator` protocol over an OpenAI-compatible completions server (module docstring).

    `tokenizer` (a Hugging Face tokenizer) is needed for `prompt_format="text"` and for servers
    that return tokens only as text.
    """

    def __init__(self, config: OpenAIConfig, *, tokenizer=None):
        self.config, self.tokenizer = config, tokenizer
        self.http = _Http(config)
        self.stats: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"OpenAIGenerator({self.http.base!r}, model={self.config.model!r})"

    def models(self) -> list[str]:
        """The ids `/v1/models` lists."""
        body = self.http.call("/models")
        try:
            return [str(m["id"]) for m in body["data"]]
        except (KeyError, TypeError):
            raise ServerError(f"{self.http.base}/models: not an OpenAI model list") from None

    # ---- one request ------------------------------------------------------------------------
    def _prompt(self, ids: list[int]) -> Any:
        if self.config.prompt_format == "ids":
            return ids
        if self.tokenizer is None:
            raise InputError("prompt_format=text needs a tokenizer")
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def _complete(self, prompt: list[int], **params: Any) -> dict[str, Any]:
        body = {"model": self.config.model, "prompt": self._prompt(prompt), "n": 1,
                "return_tokens_as_token_ids": True, "return_token_ids": True, **params}
        if self.config.prompt_format == "text":
            body["add_special_tokens"] = False
        reply = self.http.call("/completions", body)
        try:
            choice = reply["choices"][0]
            if not isinstance(choice, dict):
                raise TypeError
        except (KeyError, IndexError, TypeError):
            raise ServerError(f"{self.http.base}/completions: the reply has no choices[0] "
                              f"object") from None
        return choice

    def _ids(self, choice: dict[str, Any]) -> tuple[list[int], dict[str, Any] | None]:
        lp = choice.get("logprobs")
        lp = lp if isinstance(lp, dict) else None
        tids = choice.get("token_ids")
        if isinstance(tids, list) and all(isinstance(t, int) for t in tids):
            return list(tids), lp
        if lp is not None and isinstance(lp.get("tokens"), list):
            ids = [_token_id(t) for t in lp["tokens"]]
            if all(i is not None for i in ids):
                return ids, lp  # type: ignore[return-value]
        if self.tokenizer is None:
            raise ServerError(f"{self.http.base}: the server returns neither token ids "
                              "(vLLM's return_token_ids) nor token_id:N tokens; give a tokenizer "
                              "to re-encode its text")
        return self.tokenizer.encode(str(choice.get("text", "")), add_special_tokens=False), lp

    def _one(self, prompt: list[int], seed: int | None, watch: list[int] | None,
             want_lp: bool, **params: Any) -> Sample:
        """One prompt: one completion request (plus prompt_logprobs ones, see the module)."""
        top = self.config.top_logprobs if watch else 0
        if top and self.tokenizer is not None:
            top = min(top, len(self.tokenizer))  # vLLM 0.32's engine dies on a top-K above the vocabulary
        if seed is not None:
            params["seed"] = seed
        choice = self._complete(prompt, logprobs=top, **params)
        ids, lp = self._ids(choice)
        stop = choice.get("stop_reason")
        if isinstance(stop, int) and (not ids or ids[-1] != stop):
            ids = ids + [stop]  # a server that drops the stop id it stopped at
        n = len(ids)
        lps: list[float] | None = None
        if want_lp:
            vals = lp.get("token_logprobs") if lp else None
            if not isinstance(vals, list) or len(vals) < n or any(
                    not isinstance(v, (int, float)) for v in vals[:n]):
                raise ServerError(f"{self.http.base}/completions: logprobs were asked for and "
                                  "the reply has no token_logprobs for every token")
            lps = [float(v) for v in vals[:n]]
        probs: list[list[float]] | None = None
        if watch is not None:
            tops = lp.get("top_logprobs") if lp else None
            tops = tops if isinstance(tops, list) else []
            probs = []
            for i in range(n):
                d = tops[i] if i < len(tops) and isinstance(tops[i], dict) else {}
                got = {_token_id(k): v for k, v in d.items()}
                probs.append([math.exp(got[w]) if w in got else math.nan for w in watch])
            if n:
                self._count("watch_top_logprobs", sum(not math.isnan(x) for row in probs for x in row))
                missing = [j for j, x in enumerate(probs[-1]) if math.isnan(x)]
                for j in missing:
                    probs[-1][j] = self._prompt_prob(prompt + ids[:-1], watch[j])
                self._count("watch_prompt_logprobs", len(missing))
                self._count("watch_unknown", sum(math.isnan(x) for row in probs[:-1] for x in row))
        return Sample(ids, lps, probs)

    def _prompt_prob(self, context: list[int], w: int) -> float:
        """P(w | context) from the server's prompt_logprobs of `context + [w]`."""
        try:
            choice = self._complete(context + [w], max_tokens=1, temperature=0.0,
                                    prompt_logprobs=0)
        except ServerError as e:
            raise ServerError(f"{e}; the watched id {w} was not in the server's top-"
                              f"{self.config.top_logprobs} next-token logprobs and the server "
                              "does not give prompt_logprobs either, so P(verdict) cannot be "
                              "read") from None
        pl = choice.get("prompt_logprobs")
        entry = pl[-1] if isinstance(pl, list) and pl else None
        if isinstance(entry, dict):
            hit = entry.get(str(w))
            val = hit.get("logprob") if isinstance(hit, dict) else hit
            if isinstance(val, (int, float)):
                return math.exp(float(val))
        raise ServerError(f"{self.http.base}: the watched id {w} is not in the server's top-"
                          f"{self.config.top_logprobs} next-token logprobs and its reply has no "
                          "prompt_logprobs (a vLLM extension) for it: P(verdict) cannot be read "
                          "(raise the server's --max-logprobs and top_logprobs, or use a server "
                          "with prompt_logprobs)")

    def _count(self, key: str, n: int) -> None:
        with self.http._lock:
            self.stats[key] = self.stats.get(key, 0) + n

    # ---- the protocol ------------------------------------------------------------------------
    def generate(self, prompts: Sequence[Sequence[int]], *, max_new_tokens: int,
                 temperature: float = 0.0, top_k: int | None = None,
                 stop_ids: Sequence[int] = (), seed: int | None = None, logprobs: bool = False,
                 watch_ids: Sequence[int] | None = None,
                 progress: ProgressFn | None = None) -> list[Sample]:
        prompts = [list(map(int, p)) for p in prompts]
        if any(not p for p in prompts):
            raise ValueError("every prompt needs at least one token")
        if progress is not None:
            progress(0, len(prompts), 0)
        if max_new_tokens == 0 or not prompts:
            w = list(watch_ids) if watch_ids is not None else None
            out = [Sample([], [] if logprobs else None, [] if w is not None else None)
                   for _ in prompts]
            if progress is not None:
                progress(len(prompts), len(prompts), 0)
            return out
        params: dict[str, Any] = {"max_tokens": int(max_new_tokens),
                                  "temperature": float(temperature), "ignore_eos": True,
                                  "stop_token_ids": sorted({int(s) for s in stop_ids}),
                                  "skip_special_tokens": False}
        if top_k is not None and temperature > 0:
            params["top_k"] = int(top_k)
        watch = list(map(int, watch_ids)) if watch_ids is not None else None
        results: list[Sample | None] = [None] * len(prompts)
        done = tokens = 0
        with ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(prompts))) as pool:
            futs = {pool.submit(self._one, p,
                                None if seed is None else seeds.seed("openai.request", seed, index=i),
                                watch, logprobs, **params): i
                    for i, p in enumerate(prompts)}
            try:
                for f in as_completed(futs):
                    s = f.result()
                    results[futs[f]] = s
                    done += 1
                    tokens += len(s.ids)
                    if progress is not None:
                        progress(done, len(prompts), tokens)
            except BaseException:
                for f in futs:
                    f.cancel()
                raise
        return results  # type: ignore[return-value]
