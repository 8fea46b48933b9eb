"""Which engine generates: `make_generator(spec)`, the one place a command turns its
`--backend` options into a `Generator`.

* `local` (the default): None, so the caller builds its in-process `KVCacheGenerator` over the
  model it loaded (each caller knows its batch size and pad id);
* `openai`: an `OpenAIGenerator` over an OpenAI-compatible completions server (vLLM, SGLang,
  `prmlab serve`) at `base_url`, serving `model` (when not given: the one model the server's
  `/v1/models` lists).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prmlab.errors import InputError
from prmlab.models.generator import Generator

BACKENDS = ("local", "openai")


class BackendSpec(BaseModel):
    """The generation backend a command uses (its `--backend` options)."""

    model_config = ConfigDict(extra="forbid")

    backend: Literal["local", "openai"] = Field("local", description="local: prmlab's in-process "
                                                "KV-cache engine; openai: an OpenAI-compatible "
                                                "completions server.")
    base_url: str | None = Field(None, description="openai: the API root, e.g. "
                                 "http://127.0.0.1:8000/v1.")
    model: str | None = Field(None, description="openai: the served model name (default: the "
                              "only one /v1/models lists).")
    concurrency: int = Field(8, ge=1, le=1024, description="openai: requests in flight at once.")
    timeout_s: float = Field(120.0, gt=0, description="openai: seconds to wait for one reply.")
    retries: int = Field(3, ge=0, le=20, description="openai: retries of a failed request.")
    prompt_format: Literal["ids", "text"] = Field("ids", description="openai: prompts as token "
                                                  "ids or as text.")
    top_logprobs: int = Field(20, ge=0, le=1000, description="openai: next-token top-K read for "
                              "a judge's verdict tokens.")


def backend_spec(**kwargs) -> BackendSpec:
    """A `BackendSpec` from command-line values; a bad value is one InputError line."""
    try:
        spec = BackendSpec(**kwargs)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "backend"
        raise InputError(f"--{where.replace('_', '-')}: {err['msg']}") from None
    if spec.backend == "openai" and not spec.base_url:
        raise InputError("--backend openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
    if spec.backend == "local" and spec.base_url:
        raise InputError("--base-url is for --backend openai")
    return spec


def load_tokenizer(folder, *, trust_remote_code: bool = False):
    """A model folder's Hugging Face tokenizer alone (a server holds the weights), read
    locally; a missing or broken one is one InputError naming the folder."""
    from pathlib import Path

    path = Path(folder)
    if not path.is_dir():
        raise InputError("expected a model folder (its tokenizer writes the prompts)", path=str(path))
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True,
                                             trust_remote_code=trust_remote_code)
    except Exception as e:  # tokenizers raises its own exception types
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise InputError(f"cannot load a tokenizer: {msg}", path=str(path)) from None


def make_generator(spec: BackendSpec, *, tokenizer=None) -> Generator | None:
    """None for the local backend (the caller's own engine), else the server's generator,
    checked to answer and to serve the model before any work starts."""
    if spec.backend == "local":
        return None
    from prmlab.models.openai_client import OpenAIConfig, OpenAIGenerator

    probe = OpenAIGenerator(OpenAIConfig(base_url=spec.base_url or "", model=spec.model or "",
                                         retries=spec.retries, timeout_s=spec.timeout_s),
                            tokenizer=tokenizer)
    served = probe.models()
    model = spec.model
    if model is None:
        if len(served) != 1:
            raise InputError(f"{probe.http.base} serves {len(served)} models "
                             f"({', '.join(served) or 'none'}): name one with --served-model")
        model = served[0]
    elif model not in served:
        raise InputError(f"{probe.http.base} does not serve {model!r} (it serves: "
                         f"{', '.join(served) or 'nothing'})")
    cfg = OpenAIConfig(base_url=spec.base_url or "", model=model, concurrency=spec.concurrency,
                       retries=spec.retries, timeout_s=spec.timeout_s,
                       prompt_format=spec.prompt_format, top_logprobs=spec.top_logprobs)
    return OpenAIGenerator(cfg, tokenizer=tokenizer)
