"""`prmlab serve`: a causal LM behind the OpenAI completions subset and/or a judge behind
`/v1/step_scores`, on 127.0.0.1 unless `--host` says otherwise.

    prmlab serve --model runs/x/base --port 8000
    prmlab serve --judge runs/x/judge --model runs/x/base --port 0     # prints the port

Prints one line `prmlab serve: listening on http://HOST:PORT/v1 (...)` once it accepts
requests; Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from prmlab.errors import InputError


def register(app: typer.Typer) -> None:
    app.command("serve", help="Serve a causal LM (OpenAI /v1/completions) and/or a judge "
                              "(/v1/step_scores) over HTTP, on loopback by default.")(serve_command)


def serve_command(
    model: Optional[Path] = typer.Option(None, "--model", help="A prmlab or Hugging Face causal "
                                         "LM folder (safetensors) for /v1/completions."),
    model_name: Optional[str] = typer.Option(None, "--model-name", help="Served name of --model "
                                             "(default: its folder name)."),
    judge: Optional[str] = typer.Option(None, "--judge", help="A judge checkpoint folder (or "
                                        "baseline:...) for /v1/step_scores."),
    judge_name: Optional[str] = typer.Option(None, "--judge-name", help="Served name of --judge "
                                             "(default: its folder name)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default; "
                             "0.0.0.0 exposes the server to the network)."),
    port: int = typer.Option(8000, "--port", help="Port (0: a free one, printed)."),
    max_logprobs: int = typer.Option(20, "--max-logprobs", help="Largest logprobs / "
                                     "prompt_logprobs top-K a request may ask for."),
    max_n: int = typer.Option(64, "--max-n", help="Largest n (choices per prompt)."),
    max_solutions: int = typer.Option(256, "--max-solutions", help="Most solutions in one "
                                      "step-score request (and in one judge batch)."),
    max_body_bytes: int = typer.Option(4 << 20, "--max-body-bytes", help="Largest request body."),
    batch_wait_ms: float = typer.Option(5.0, "--batch-wait-ms", help="Step scores: how long a "
                                        "request waits for others to share its judge batch."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads."),
    log: bool = typer.Option(False, "--log", help="One stderr line per request."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Run the model "
                                           "folder's own code (off unless given)."),
) -> None:
    from pydantic import ValidationError

    from prmlab.serving.app import ServeConfig, build_app
    from prmlab.serving.completions import Limits
    from prmlab.serving.server import make_server

    if threads is not None:
        if threads < 1:
            raise InputError("--threads must be at least 1")
        import torch

        torch.set_num_threads(threads)
    try:
        cfg = ServeConfig(model=None if model is None else str(model), model_name=model_name,
                          judge=judge, judge_name=judge_name, host=host, port=port,
                          max_body_bytes=max_body_bytes, batch_wait_ms=batch_wait_ms,
                          trust_remote_code=trust_remote_code,
                          limits=Limits(max_n=max_n, max_logprobs=max_logprobs,
                                        max_solutions=max_solutions))
    except ValidationError as e:
        err = e.errors()[0]
        flag = "--" + str(err["loc"][-1]).replace("_", "-")
        raise InputError(f"{flag}: {err['msg']}") from None
    app = build_app(cfg)
    try:
        srv = make_server(app, cfg.host, cfg.port, log=log)
    except OSError as e:
        raise InputError(f"cannot listen on {cfg.host}:{cfg.port}: {e.strerror or e}") from None
    h, p = srv.server_address[:2]
    served = [f"completions: {app.engine.name}"] if app.engine else []
    served += [f"step_scores: {app.scorer.name}"] if app.scorer else []
    print(f"prmlab serve: listening on http://{h}:{p}/v1 ({'; '.join(served)})", flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
        print("prmlab serve: stopped", file=sys.stderr, flush=True)
