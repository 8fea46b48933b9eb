"""`prmlab serve`'s configuration and what it loads: a causal LM for `/v1/completions`, a
judge for `/v1/step_scores`, or both, validated and loaded before the port opens."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from prmlab.errors import InputError
from prmlab.serving.completions import CompletionEngine, Limits
from prmlab.serving.server import App
from prmlab.serving.step_scores import StepScorer


class ServeConfig(BaseModel):
    """What `prmlab serve` serves, where, and the limits of one request."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="A prmlab or Hugging Face causal LM folder "
                              "(safetensors) served at /v1/completions.")
    model_name: str | None = Field(None, description="Its served name (default: the folder's name).")
    judge: str | None = Field(None, description="A judge spec (checkpoint folder or "
                              "baseline:...) served at /v1/step_scores.")
    judge_name: str | None = Field(None, description="Its served name (default: the folder's name).")
    host: str = Field("127.0.0.1", description="Address to bind (loopback unless changed).")
    port: int = Field(8000, ge=0, le=65535, description="Port (0: a free one, printed).")
    max_body_bytes: int = Field(4 << 20, ge=1024, description="Largest request body accepted.")
    limits: Limits = Field(default_factory=Limits, description="Per-request limits.")
    batch_wait_ms: float = Field(5.0, ge=0, le=1000, description="Step scores: how long the "
                                 "first waiting request waits for others to share its batch.")
    trust_remote_code: bool = Field(False, description="Run a model folder's own code.")


def _name(spec: str, given: str | None) -> str:
    return given or Path(spec.rstrip("/")).name or spec


def check_host(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise InputError(f"--host must be an IP address or localhost, got {host!r}") from None
    return host


def build_app(cfg: ServeConfig) -> App:
    if cfg.model is None and cfg.judge is None:
        raise InputError("give --model (completions), --judge (step scores) or both")
    check_host(cfg.host)
    engine = scorer = None
    if cfg.model is not None:
        from prmlab.judges.critic import load_causal_lm

        lm, tok = load_causal_lm(cfg.model, trust_remote_code=cfg.trust_remote_code)
        engine = CompletionEngine(lm, tok, _name(cfg.model, cfg.model_name), cfg.limits)
    if cfg.judge is not None:
        from prmlab.judges.load import load_judge

        judge = load_judge(cfg.judge, trust_remote_code=cfg.trust_remote_code)
        scorer = StepScorer(judge, _name(cfg.judge, cfg.judge_name), cfg.limits,
                            wait_s=cfg.batch_wait_ms / 1000, max_batch=cfg.limits.max_solutions)
    if engine is not None and scorer is not None and engine.name == scorer.name:
        raise InputError(f"the model and the judge would both be served as {engine.name!r}: "
                         "give --model-name or --judge-name")
    return App(engine=engine, scorer=scorer, max_body_bytes=cfg.max_body_bytes)
