"""The `--backend` options every generating command shares (`sample`, `label`, `critic`,
`eval --judge`), and the one call that turns them into a generator
(`prmlab.models.backends.make_generator`)."""

from __future__ import annotations

from typing import Optional

import typer

BACKEND = typer.Option("local", "--backend", help="local: prmlab's in-process engine; openai: "
                       "an OpenAI-compatible completions server (vLLM, SGLang, prmlab serve).")
BASE_URL = typer.Option(None, "--base-url", help="--backend openai: the API root, e.g. "
                        "http://127.0.0.1:8000/v1 (API key from $OPENAI_API_KEY when set).")
SERVED_MODEL = typer.Option(None, "--served-model", help="--backend openai: the served model "
                            "name (default: the only one the server lists).")
CONCURRENCY = typer.Option(8, "--concurrency", help="--backend openai: requests in flight.")


def generator_from_options(backend: str, base_url: Optional[str], served_model: Optional[str],
                           concurrency: int, *, tokenizer=None):
    """None for the local engine, else the server's generator (checked to answer first)."""
    from prmlab.models.backends import backend_spec, make_generator

    spec = backend_spec(backend=backend, base_url=base_url, model=served_model,
                        concurrency=concurrency)
    return make_generator(spec, tokenizer=tokenizer)
