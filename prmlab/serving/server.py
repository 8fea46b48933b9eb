"""The HTTP side of `prmlab serve`: routes, body limits, JSON errors (stdlib `http.server`).

Routes: `GET /v1/models`, `POST /v1/completions` (`prmlab.serving.completions`),
`POST /v1/step_scores` (`prmlab.serving.step_scores`), `GET /v1/stats`, `GET /health`.
Every refusal is a JSON body `{"error": {"message", "type", "param", "code"}}` (OpenAI's shape)
with a 4xx status: 400 malformed JSON or a field out of range, 404 an unknown path or model,
405 a wrong method, 411 no Content-Length, 413 a body over `max_body_bytes` (read and dropped, never parsed). An
exception inside the model is a 500 with its one-line reason; the traceback goes to the
server's stderr, never to the client. Each connection is served on its own thread
(`ThreadingHTTPServer`); the model calls themselves are serialized (completions) or
micro-batched (step scores).
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from prmlab.errors import InputError
from prmlab.serving.completions import CompletionEngine, CompletionRequest
from prmlab.serving.errors import RequestError
from prmlab.serving.step_scores import StepScorer, StepScoreRequest
from prmlab.strict import loads


class App:
    """What the server serves: a completions engine, a step scorer, or both."""

    def __init__(self, *, engine: CompletionEngine | None = None,
                 scorer: StepScorer | None = None, max_body_bytes: int = 4 << 20):
        if engine is None and scorer is None:
            raise ValueError("serve a model, a judge or both")
        self.engine, self.scorer, self.max_body_bytes = engine, scorer, max_body_bytes
        self.counts = {"completions": 0, "refused": 0}
        self._lock = threading.Lock()

    def models(self) -> dict[str, Any]:
        data = []
        if self.engine is not None:
            data.append({"id": self.engine.name, "object": "model", "owned_by": "prmlab",
                         "created": self.engine.created, "max_model_len": self.engine.context,
                         "prmlab_endpoint": "/v1/completions"})
        if self.scorer is not None:
            data.append({"id": self.scorer.name, "object": "model", "owned_by": "prmlab",
                         "prmlab_endpoint": "/v1/step_scores"})
        return {"object": "list", "data": data}

    def handle(self, method: str, path: str, body: bytes | None) -> dict[str, Any]:
        path = path.split("?", 1)[0].rstrip("/") or "/"
        routes = {"/v1/models": "GET", "/health": "GET", "/v1/stats": "GET",
                  "/v1/completions": "POST", "/v1/step_scores": "POST"}
        if path not in routes:
            raise RequestError(f"no route {path} (routes: {', '.join(routes)})", status=404)
        if method != routes[path]:
            raise RequestError(f"{path} takes {routes[path]}, not {method}", status=405)
        if path == "/health":
            return {"status": "ok"}
        if path == "/v1/models":
            return self.models()
        if path == "/v1/stats":
            return {"completions": dict(self.counts),
                    "step_scores": dict(self.scorer.stats) if self.scorer else None}
        obj = _parse(body or b"")
        if path == "/v1/completions":
            if self.engine is None:
                raise RequestError("this server serves no completions model (only step scores "
                                   "at /v1/step_scores)", status=404)
            req = _validate(CompletionRequest, obj)
            out = self.engine.complete(req)
            with self._lock:
                self.counts["completions"] += 1
            return out
        if self.scorer is None:
            raise RequestError("this server serves no judge (start it with --judge)", status=404)
        return self.scorer.score(_validate(StepScoreRequest, obj))


def _parse(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("the body is not UTF-8") from None
    try:
        obj = loads(text)
    except InputError as e:
        raise RequestError(f"malformed JSON: {e.message}") from None
    if not isinstance(obj, dict):
        raise RequestError(f"the body must be a JSON object, got {type(obj).__name__}")
    return obj


def _validate(schema, obj: dict[str, Any]):
    try:
        return schema.model_validate(obj)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            raise RequestError(f"unknown field {loc!r} (not supported by this server)",
                               field=loc) from None
        raise RequestError(err["msg"], field=loc or None) from None


def error_body(e: RequestError) -> dict[str, Any]:
    kind = "invalid_request_error" if e.status < 500 else "internal_error"
    return {"error": {"message": str(e), "type": kind, "param": e.field, "code": e.status}}


def make_server(app: App, host: str = "127.0.0.1", port: int = 8000, *,
                log: bool = False) -> ThreadingHTTPServer:
    """A bound server (port 0: a free one; read `server.server_address`); call
    `serve_forever()` to serve and `shutdown()` from another thread to stop."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "prmlab-serve"

        def log_message(self, fmt: str, *args: Any) -> None:
            if log:
                sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload, allow_nan=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _drain(self, n: int) -> None:
            """Read and drop an oversized body (so the client reads the 413 rather than a
            reset); past 64 MiB just close the connection."""
            self.close_connection = True
            if n > 64 << 20:
                return
            while n > 0:
                chunk = self.rfile.read(min(n, 1 << 16))
                if not chunk:
                    return
                n -= len(chunk)

        def _run(self, method: str) -> None:
            try:
                body = None
                if method == "POST":
                    size = self.headers.get("Content-Length")
                    if size is None:
                        raise RequestError("a POST needs a Content-Length header", status=411)
                    try:
                        n = int(size)
                    except ValueError:
                        raise RequestError(f"bad Content-Length {size[:40]!r}") from None
                    if n < 0:
                        raise RequestError(f"bad Content-Length {n}")
                    if n > app.max_body_bytes:
                        self._drain(n)
                        raise RequestError(f"the body has {n} bytes; at most "
                                           f"{app.max_body_bytes} (--max-body-bytes)", status=413)
                    body = self.rfile.read(n)
                self._send(200, app.handle(method, self.path, body))
            except RequestError as e:
                with app._lock:
                    app.counts["refused"] += 1
                self._send(e.status, error_body(e))
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client left; nothing to answer
            except ValueError as e:  # out-of-range values the engine itself refuses
                self._send(400, error_body(RequestError(" ".join(str(e).split())[:300])))
            except Exception as e:  # noqa: BLE001 - a 500 with its reason; the trace stays here
                traceback.print_exc(file=sys.stderr)
                msg = f"internal error: {type(e).__name__}: {' '.join(str(e).split())[:200]}"
                try:
                    self._send(500, error_body(RequestError(msg, status=500)))
                except OSError:
                    pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._run("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._run("POST")

        def do_PUT(self) -> None:  # noqa: N802
            self._run("PUT")

        def do_DELETE(self) -> None:  # noqa: N802
            self._run("DELETE")

    srv = ThreadingHTTPServer((host, port), Handler)
    srv.daemon_threads = True
    return srv
