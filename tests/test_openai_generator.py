"""The OpenAI-compatible generator (`prmlab.models.openai_client`) against a real server.

By default the server is `prmlab serve` started here on 127.0.0.1 (a free port) with a tiny
prmlab model built here. To run the same tests against another server (vLLM: see
`dev/vllm-check.sh`) set

    PRMLAB_OPENAI_URL=http://127.0.0.1:PORT/v1   PRMLAB_OPENAI_MODEL=NAME
    PRMLAB_OPENAI_MODEL_DIR=DIR   # the prmlab checkpoint it serves (the local reference)

and optionally PRMLAB_OPENAI_REPORT=FILE (the measured agreement and tie margins are appended
to it as JSON lines). The server must allow logprobs up to the vocabulary size (vLLM:
`--max-logprobs 100` for the 88-token arith vocabulary).

What is compared with the local engine (`KVCacheGenerator` over the same weights): greedy ids
(at least 99% of tokens; every first divergence must be a near-tie of the local model's top
two log-probabilities, `TIE`), the ids' log-probabilities, the watched ids' probabilities
(next-token top-K, and the prompt_logprobs fallback), seeded sampling reproducibility.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from prmlab.data.arith.generate import iter_records
from prmlab.errors import InputError
from prmlab.models.checkpoint import load_codec, load_model, save_checkpoint
from prmlab.models.generator import Generator, KVCacheGenerator
from prmlab.models.openai_client import OpenAIConfig, OpenAIGenerator, ServerError

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = os.environ.get("PRMLAB_OPENAI_URL")
TIE = 1e-3  # a first divergence further apart than this in log-probability is a real mismatch
LP_TOL = 1e-4  # log-probabilities of the same ids (float32 kernels differ in rounding only)


def build_tiny(path: Path, *, hidden: int = 32, heads: int = 4, init: float = 0.3) -> Path:
    """A random tiny Llama with the arith tokenizer, saved as a prmlab base checkpoint.
    `init` (initializer_range) above the default gives peaked, tie-free logits."""
    from transformers import LlamaForCausalLM

    from prmlab.models.presets import llama_config
    from prmlab.training.base import FORMAT_VERSION, arith_codec

    codec = arith_codec()
    torch.manual_seed(0)
    cfg = llama_config("tiny", codec.vocab_size, pad_id=codec.pad_id, bos_id=codec.bos[0],
                       eos_id=codec.eos_id, max_positions=256)
    cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads = hidden, heads, heads
    cfg.head_dim = hidden // heads
    cfg.initializer_range = init
    save_checkpoint(path, LlamaForCausalLM(cfg), codec, {"kind": "base", "format": FORMAT_VERSION})
    return path


def start_serve(args: list[str], timeout: float = 120.0) -> tuple[subprocess.Popen, str]:
    """`prmlab serve ARGS --port 0` in a subprocess; (process, base URL) once it listens."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "prmlab.cli.main", "serve", *args, "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT)
    t0 = time.monotonic()
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"prmlab serve did not start: {line!r} {proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
    assert time.monotonic() - t0 < timeout
    return proc, line.split("listening on ", 1)[1].split()[0]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base_url, served model name, the checkpoint folder it serves)."""
    if EXTERNAL:
        folder = os.environ.get("PRMLAB_OPENAI_MODEL_DIR")
        if not folder:
            pytest.skip("PRMLAB_OPENAI_URL is set without PRMLAB_OPENAI_MODEL_DIR (the local "
                        "reference checkpoint)")
        yield EXTERNAL, os.environ.get("PRMLAB_OPENAI_MODEL", Path(folder).name), Path(folder)
        return
    folder = build_tiny(tmp_path_factory.mktemp("serve") / "tiny")
    proc, url = start_serve(["--model", str(folder), "--max-logprobs", "100"])
    try:
        yield url, "tiny", folder
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def local(served):
    folder = served[2]
    codec = load_codec(folder)
    model = load_model(folder, "causal").eval()
    return model, codec


def client(served, **kw) -> OpenAIGenerator:
    url, name, _ = served
    return OpenAIGenerator(OpenAIConfig(base_url=url, model=name, **kw))


def prompts_of(codec, n: int = 12) -> list[list[int]]:
    recs = list(iter_records(n, 5))
    out = [codec.check_prompt(r.problem, r.steps[:1 + i % len(r.steps)]) for i, r in enumerate(recs)]
    return out + [codec.policy_prompt(r.problem) for r in recs[: n // 2]]


def report(**kv) -> None:
    path = os.environ.get("PRMLAB_OPENAI_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(kv) + "\n")


def first_divergence_margins(model, prompts, mine, theirs) -> tuple[float, list[float]]:
    """(fraction of local tokens the server matched position by position, the local model's
    top-1 minus top-2 log-probability at each sequence's first divergence)."""
    same = total = 0
    margins = []
    for p, a, b in zip(prompts, mine, theirs):
        total += len(a)
        k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
        if k is None and len(a) != len(b):
            k = min(len(a), len(b))
        same += len(a) if k is None else k
        if k is not None:
            with torch.no_grad():
                lp = torch.log_softmax(model(torch.tensor([p + a[:k]])).logits[0, -1].float(), -1)
            top = lp.topk(2).values
            margins.append(float(top[0] - top[1]))
    return same / max(total, 1), margins


# ---- against the server -----------------------------------------------------------------------

def test_greedy_ids_match_the_local_engine_but_for_near_ties(served, local):
    model, codec = local
    prompts = prompts_of(codec)
    gen = client(served)
    assert isinstance(gen, Generator)
    kw = dict(max_new_tokens=24, stop_ids=[codec.eos_id])
    theirs = [s.ids for s in gen.generate(prompts, **kw)]
    mine = [s.ids for s in KVCacheGenerator(model, pad_id=codec.pad_id).generate(prompts, **kw)]
    agree, margins = first_divergence_margins(model, prompts, mine, theirs)
    report(test="greedy", server=served[0], tokens=sum(map(len, mine)), agreement=agree,
           divergences=len(margins), max_tie_margin=max(margins, default=None))
    assert sum(map(len, mine)) > 100  # enough tokens for the 99% to mean something
    assert agree >= 0.99, (agree, margins)
    assert all(m < TIE for m in margins), margins
    # each sample ends at the stop id or at max_new_tokens, as the protocol says
    assert all(len(t) == 24 or (t and t[-1] == codec.eos_id) for t in theirs)


def test_logprobs_are_the_models_own(served, local):
    model, codec = local
    prompts = prompts_of(codec, 6)
    kw = dict(max_new_tokens=12, logprobs=True)
    theirs = client(served).generate(prompts, **kw)
    mine = KVCacheGenerator(model, pad_id=codec.pad_id).generate(prompts, **kw)
    worst = 0.0
    for a, b in zip(mine, theirs):
        assert len(b.logprobs) == len(b.ids)
        for x, y, la, lb in zip(a.ids, b.ids, a.logprobs, b.logprobs):
            if x != y:
                break
            worst = max(worst, abs(la - lb))
    report(test="logprobs", server=served[0], max_abs_diff=worst)
    assert worst < LP_TOL


@pytest.mark.parametrize("top", ["vocab", 2], ids=["top-logprobs", "prompt-logprobs-fallback"])
def test_watch_probs_match_the_local_engine(served, local, top):
    model, codec = local
    # the whole vocabulary, never more: vLLM 0.32's engine dies on a top-K above it
    top = codec.vocab_size if top == "vocab" else top
    prompts = prompts_of(codec, 8)[:8]
    kw = dict(max_new_tokens=16, stop_ids=[codec.ok_id, codec.bad_id, codec.eos_id],
              watch_ids=[codec.ok_id, codec.bad_id])
    gen = client(served, top_logprobs=top)
    theirs = gen.generate(prompts, **kw)
    mine = KVCacheGenerator(model, pad_id=codec.pad_id).generate(prompts, **kw)
    worst, n = 0.0, 0
    for a, b in zip(mine, theirs):
        if a.ids != b.ids:
            continue  # a near-tie divergence (the greedy test bounds those)
        assert len(b.watch_probs) == len(b.ids)
        for x, y in zip(a.watch_probs[-1], b.watch_probs[-1]):  # where a judge reads its verdict
            worst, n = max(worst, abs(x - y)), n + 1
    report(test=f"watch-{top}", server=served[0], compared=n, max_abs_diff=worst, stats=gen.stats)
    assert n >= 12 and worst < 1e-4
    if top == 2:  # the verdict ids are rarely both in a top-2: the fallback must have run
        assert gen.stats["watch_prompt_logprobs"] > 0
    else:  # the whole vocabulary fits in the top-K: nothing unknown, no fallback
        assert gen.stats.get("watch_prompt_logprobs") == 0 and gen.stats.get("watch_unknown") == 0


def test_seeded_sampling_is_reproducible_and_copies_draw_apart(served, local):
    _, codec = local
    prompt = prompts_of(codec, 1)[0]
    gen = client(served)
    kw = dict(max_new_tokens=12, temperature=1.0)
    a = [s.ids for s in gen.generate([prompt] * 4, seed=7, **kw)]
    b = [s.ids for s in gen.generate([prompt] * 4, seed=7, **kw)]
    c = [s.ids for s in gen.generate([prompt] * 4, seed=8, **kw)]
    assert a == b
    assert a != c
    assert len({tuple(x) for x in a}) > 1  # K rollouts of one prefix are K different draws


def test_text_prompts_give_the_same_ids_as_token_id_prompts(served, local):
    _, codec = local
    prompts = prompts_of(codec, 4)
    kw = dict(max_new_tokens=12, stop_ids=[codec.eos_id])
    ids = [s.ids for s in client(served).generate(prompts, **kw)]
    as_text = OpenAIGenerator(OpenAIConfig(base_url=served[0], model=served[1],
                                           prompt_format="text"), tokenizer=codec.tok)
    text = [s.ids for s in as_text.generate(prompts, **kw)]
    assert text == ids


def test_make_generator_checks_the_served_model(served):
    from prmlab.models.backends import backend_spec, make_generator

    url, name, _ = served
    gen = make_generator(backend_spec(backend="openai", base_url=url))  # the only one served
    assert gen.config.model == name
    with pytest.raises(InputError, match="does not serve 'nope'"):
        make_generator(backend_spec(backend="openai", base_url=url, model="nope"))
    assert make_generator(backend_spec()) is None  # local: the caller's own engine
    with pytest.raises(InputError, match="needs --base-url"):
        backend_spec(backend="openai")


def test_a_request_the_server_refuses_is_one_line(served, local):
    _, codec = local
    gen = client(served)
    with pytest.raises(ServerError) as e:
        gen.generate([[1, 2, 3]], max_new_tokens=10_000)  # beyond the model's context
    assert "HTTP 400" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.skipif(bool(EXTERNAL), reason="the CLI test serves its own tiny checkpoint")
def test_sample_label_critic_and_eval_commands_use_the_server(served, run_cli, tmp_path):
    url, name, folder = served
    args = ["--backend", "openai", "--base-url", url, "--served-model", name]
    code, _, err = run_cli("sample", "--policy", folder, "--out", tmp_path / "s.jsonl",
                           "--n-problems", "3", "--n-per-problem", "2", *args)
    assert code == 0, err
    rows = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(r["meta"]["generated_tokens"] > 0 for r in rows)
    code, _, err = run_cli("eval", "--data", tmp_path / "s.jsonl", "--judge", folder,
                           "--zero-label", "--out", tmp_path / "e", "--resamples", "10", *args)
    assert code == 0, err
    m = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert m["config"]["served_model"] == name and m["config"]["judge_stats"]["prompts"] > 0
    code, _, err = run_cli("label", "--method", "mc-hard", "--policy", folder, "--data",
                           tmp_path / "s.jsonl", "--out", tmp_path / "l.jsonl", "--k", "2",
                           "--max-new-tokens", "8", "--limit", "2", *args)
    assert code == 0, err
    summary = json.loads((tmp_path / "l.summary.json").read_text())
    assert summary["rollouts"] > 0 and summary["tokens_generated"] > 0
    code, _, err = run_cli("critic", "--model", folder, "--data", tmp_path / "s.jsonl", "--out",
                           tmp_path / "c", "--limit", "2", "--max-new-tokens", "6",
                           "--resamples", "10", *args)
    assert code == 0, err
    c = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert c["config"]["served_model"] == name and c["critic"]["generated_tokens"] > 0
    code, _, err = run_cli("sample", "--policy", folder, "--out", tmp_path / "t.jsonl",
                           "--backend", "openai", "--base-url", url, "--served-model", "nope")
    assert code == 2 and "does not serve 'nope'" in err and len(err.strip().splitlines()) == 1


# ---- failures, against stand-ins that misbehave on purpose -----------------------------------

class _Bad(BaseHTTPRequestHandler):
    """Answers every request as `server.mode` says."""

    def log_message(self, *a):
        pass

    def _reply(self, status: int, body: bytes):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._reply(200, b'{"object": "list", "data": [{"id": "m"}]}')

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.hits += 1
        mode = self.server.mode
        if mode == "garbage":
            self._reply(200, b"<html>not json")
        elif mode == "500":
            self._reply(500, b'{"error": {"message": "boom"}}')
        elif mode == "no-verdict":  # top-K without the watched ids, and no prompt_logprobs
            if body.get("prompt_logprobs") is not None:
                self._reply(400, b'{"error": {"message": "prompt_logprobs is not supported"}}')
                return
            lp = {"tokens": ["token_id:5"], "token_logprobs": [-0.1],
                  "top_logprobs": [{"token_id:5": -0.1}]}
            self._reply(200, json.dumps({"choices": [{"text": "x", "logprobs": lp}]}).encode())


@pytest.fixture
def bad_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Bad)
    srv.hits, srv.mode = 0, "garbage"
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _bad_client(srv, **kw):
    return OpenAIGenerator(OpenAIConfig(base_url=f"http://127.0.0.1:{srv.server_address[1]}/v1",
                                        model="m", backoff_s=0.0, **kw))


def test_malformed_json_is_one_line_and_not_retried(bad_server):
    with pytest.raises(ServerError, match=r"answered with malformed JSON: '<html>not json'"):
        _bad_client(bad_server).generate([[1, 2]], max_new_tokens=2)
    assert bad_server.hits == 1


def test_a_5xx_is_retried_then_reported(bad_server):
    bad_server.mode = "500"
    with pytest.raises(ServerError, match=r"HTTP 500: boom after 3 attempts"):
        _bad_client(bad_server, retries=2).generate([[1, 2]], max_new_tokens=2)
    assert bad_server.hits == 3


def test_no_source_for_the_verdict_probabilities_fails_clearly(bad_server):
    bad_server.mode = "no-verdict"
    with pytest.raises(ServerError) as e:
        _bad_client(bad_server).generate([[1, 2]], max_new_tokens=1, watch_ids=[7, 8])
    msg = str(e.value)
    assert "prompt_logprobs is not supported" in msg and "P(verdict) cannot be read" in msg
    assert "\n" not in msg


def test_an_unreachable_server_is_one_line(run_cli, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gen = OpenAIGenerator(OpenAIConfig(base_url=f"http://127.0.0.1:{port}", model="m",
                                       retries=1, backoff_s=0.0))
    with pytest.raises(ServerError, match=rf"127.0.0.1:{port}/v1/completions: cannot reach the "
                                          r"server \(.*\) after 2 attempts"):
        gen.generate([[1, 2]], max_new_tokens=2)
    (tmp_path / "x.jsonl").write_text("".join(json.dumps(r.to_dict()) + "\n" for r in iter_records(2, 1)))
    code, _, err = run_cli("eval", "--data", tmp_path / "x.jsonl", "--judge", "baseline:never",
                           "--out", tmp_path / "o", "--backend", "openai", "--base-url",
                           f"http://127.0.0.1:{port}")
    assert code == 2 and err.startswith("prmlab: error: ") and len(err.strip().splitlines()) == 1
    assert "cannot reach the server" in err

