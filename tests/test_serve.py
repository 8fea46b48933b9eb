"""`prmlab serve`'s HTTP side (`prmlab.serving`): the completions subset, the step-score server,
refusals (4xx with a reason, the server still up after each), and concurrent clients.

The server runs in this process on 127.0.0.1 (a free port) over a tiny model built here; the
end-to-end client tests against a `prmlab serve` subprocess are in test_openai_generator.py."""

from __future__ import annotations

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from prmlab.data.arith.generate import iter_records
from prmlab.data.record import Record
from prmlab.judges.load import load_judge
from prmlab.models.checkpoint import save_checkpoint
from prmlab.models.generator import KVCacheGenerator
from prmlab.serving.app import ServeConfig, build_app
from prmlab.serving.completions import Limits
from prmlab.serving.server import make_server


def _tiny(codec, head: str):
    from transformers import LlamaForCausalLM, LlamaForTokenClassification

    from prmlab.models.presets import llama_config

    torch.manual_seed(0)
    cfg = llama_config("tiny", codec.vocab_size, pad_id=codec.pad_id, bos_id=codec.bos[0],
                       eos_id=codec.eos_id, max_positions=64)
    cfg.initializer_range = 0.3
    if head == "token":
        cfg.num_labels, cfg.classifier_dropout = 2, 0.0
        return LlamaForTokenClassification(cfg)
    return LlamaForCausalLM(cfg)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from prmlab.training.base import FORMAT_VERSION, arith_codec

    codec = arith_codec()
    root = tmp_path_factory.mktemp("serving")
    save_checkpoint(root / "lm", _tiny(codec, "causal"), codec, {"kind": "base", "format": FORMAT_VERSION})
    save_checkpoint(root / "judge", _tiny(codec, "token"), codec,
                    {"kind": "judge", "format": "discriminative"})
    return root


@pytest.fixture(scope="module")
def server(folders):
    cfg = ServeConfig(model=str(folders / "lm"), judge=str(folders / "judge"), port=0,
                      max_body_bytes=4096, batch_wait_ms=100,
                      limits=Limits(max_n=4, max_logprobs=5, max_solutions=8))
    app = build_app(cfg)
    srv = make_server(app, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield app, srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def call(port: int, method: str, path: str, body=None, *, raw: bytes | None = None,
         headers: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
    r = conn.getresponse()
    out = json.loads(r.read())
    conn.close()
    return r.status, out


def test_models_lists_the_model_and_the_judge(server):
    _, port = server
    status, body = call(port, "GET", "/v1/models")
    assert status == 200
    assert [(m["id"], m["prmlab_endpoint"]) for m in body["data"]] == [
        ("lm", "/v1/completions"), ("judge", "/v1/step_scores")]
    assert body["data"][0]["max_model_len"] == 64


def test_greedy_completion_is_the_engine_and_prompt_logprobs_the_models(server):
    app, port = server
    prompt = [1, 20, 30, 40, 50]
    status, body = call(port, "POST", "/v1/completions", {
        "model": "lm", "prompt": prompt, "max_tokens": 6, "temperature": 0, "ignore_eos": True,
        "logprobs": 3, "prompt_logprobs": 1, "return_token_ids": True,
        "return_tokens_as_token_ids": True})
    assert status == 200, body
    model = app.engine.model
    want = KVCacheGenerator(model).generate([prompt], max_new_tokens=6, logprobs=True)[0]
    c = body["choices"][0]
    assert c["token_ids"] == want.ids and c["prompt_token_ids"] == prompt
    assert c["finish_reason"] == "length" and c["stop_reason"] is None
    assert c["logprobs"]["tokens"] == [f"token_id:{t}" for t in want.ids]
    assert c["logprobs"]["token_logprobs"] == pytest.approx(want.logprobs, abs=1e-5)
    assert all(len(d) >= 3 for d in c["logprobs"]["top_logprobs"])  # top-3 (+ the sampled id)
    with torch.no_grad():
        lsm = torch.log_softmax(model(torch.tensor([prompt])).logits[0], -1)
    pl = c["prompt_logprobs"]
    assert pl[0] is None and len(pl) == len(prompt)
    for pos in range(1, len(prompt)):
        t = prompt[pos]
        assert pl[pos][str(t)]["logprob"] == pytest.approx(float(lsm[pos - 1, t]), abs=1e-5)
        assert pl[pos][str(t)]["rank"] == int((lsm[pos - 1] > lsm[pos - 1, t]).sum()) + 1
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}


def test_stop_ids_seed_n_and_text_prompts(server):
    app, port = server
    tok = app.engine.tokenizer
    base = {"model": "lm", "max_tokens": 8, "temperature": 1.0, "n": 3, "seed": 5,
            "return_token_ids": True}
    _, a = call(port, "POST", "/v1/completions", {**base, "prompt": [1, 20, 30]})
    _, b = call(port, "POST", "/v1/completions", {**base, "prompt": [1, 20, 30]})
    ids = [c["token_ids"] for c in a["choices"]]
    assert ids == [c["token_ids"] for c in b["choices"]] and len({tuple(x) for x in ids}) > 1
    stop = ids[0][2]  # a token the seed-5 draw hits at position 2
    _, s = call(port, "POST", "/v1/completions", {**base, "prompt": [1, 20, 30], "stop_token_ids": [stop]})
    first = s["choices"][0]
    assert first["token_ids"][-1] == stop and len(first["token_ids"]) <= 3
    assert first["finish_reason"] == "stop" and first["stop_reason"] == stop
    _, t = call(port, "POST", "/v1/completions", {**base, "prompt": "ann has 3 coins", "n": 1})
    assert t["choices"][0]["prompt_token_ids"] == tok("ann has 3 coins")["input_ids"]
    assert t["choices"][0]["text"] == tok.decode(t["choices"][0]["token_ids"], skip_special_tokens=True)


@pytest.mark.parametrize("body,status,reason", [
    (b"{not json", 400, "malformed JSON"),
    (b"[1, 2]", 400, "must be a JSON object"),
    (b'{"model": "lm", "prompt": [1], "temperature": NaN}', 400, "NaN is not valid JSON"),
    ({"model": "lm", "prompt": [1, 2], "best_of": 2}, 400, "unknown field 'best_of'"),
    ({"model": "lm", "prompt": [1, 2], "n": "2"}, 400, "n: Input should be a valid integer"),
    ({"model": "lm", "prompt": [1, 2], "n": 5}, 400, "n=5; at most 4"),
    ({"model": "lm", "prompt": [1, 2], "logprobs": 6}, 400, "logprobs=6; at most 5"),
    ({"model": "lm", "prompt": [1, 2], "max_tokens": 63}, 400, "exceeds the model's context of 64"),
    ({"model": "lm", "prompt": [1, 999]}, 400, "token id 999 is outside the vocabulary"),
    ({"model": "lm", "prompt": []}, 400, "prompt is empty"),
    ({"model": "lm", "prompt": [1], "stream": True}, 400, "stream is not supported"),
    ({"model": "lm", "prompt": [1], "stop": ["x"]}, 400, "use stop_token_ids"),
    ({"model": "gpt-4", "prompt": [1, 2]}, 404, "model 'gpt-4' is not served here"),
    ({"model": "judge", "prompt": [1, 2]}, 404, "model 'judge' is not served here"),
], ids=lambda v: str(v)[:30])
def test_bad_completion_requests_get_a_4xx_with_a_reason(server, body, status, reason):
    _, port = server
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    got, out = call(port, "POST", "/v1/completions", raw=raw)
    assert got == status and reason in out["error"]["message"], out
    assert out["error"]["code"] == status
    assert call(port, "GET", "/health") == (200, {"status": "ok"})  # still serving


def test_oversized_unknown_route_and_wrong_method(server):
    _, port = server
    big = json.dumps({"model": "lm", "prompt": [1] * 3000}).encode()
    status, out = call(port, "POST", "/v1/completions", raw=big)
    assert status == 413 and f"the body has {len(big)} bytes; at most 4096" in out["error"]["message"]
    assert call(port, "GET", "/v1/chat/completions")[0] == 404
    status, out = call(port, "GET", "/v1/completions")
    assert status == 405 and "takes POST" in out["error"]["message"]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)  # no Content-Length
    conn.putrequest("POST", "/v1/completions")
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 411 and "Content-Length" in json.loads(r.read())["error"]["message"]
    conn.close()


def _solutions(n: int, seed: int = 4) -> list[Record]:
    return list(iter_records(n, seed))


def test_step_scores_equal_the_judges_own(server, folders):
    _, port = server
    recs = _solutions(3)
    status, out = call(port, "POST", "/v1/step_scores", {"model": "judge", "solutions": [
        {"id": r.id, "problem": r.problem, "steps": r.steps} for r in recs]})
    assert status == 200, out
    direct = load_judge(str(folders / "judge")).score(recs)
    assert [s["id"] for s in out["scores"]] == [r.id for r in recs]
    for got, want in zip(out["scores"], direct):
        assert got["step_scores"] == pytest.approx(want.step_scores, abs=1e-5)
    assert out["usage"] == {"solutions": 3, "steps": sum(len(r.steps) for r in recs)}


@pytest.mark.parametrize("body,status,reason", [
    ({"model": "judge", "solutions": []}, 400, "solutions: List should have at least 1 item"),
    ({"model": "judge", "solutions": [{"problem": "p", "steps": ["a", " "]}]}, 400, "a step is empty"),
    ({"model": "judge", "solutions": [{"problem": "p", "steps": "a"}]}, 400, "valid list"),
    ({"model": "judge", "solutions": [{"problem": "p", "steps": ["a"]}] * 9}, 400, "9 solutions in one request; at most 8"),
    ({"model": "lm", "solutions": [{"problem": "p", "steps": ["a"]}]}, 404, "judge 'lm' is not served here"),
], ids=lambda v: str(v)[:30])
def test_bad_step_score_requests_get_a_4xx(server, body, status, reason):
    _, port = server
    got, out = call(port, "POST", "/v1/step_scores", body)
    assert got == status and reason in out["error"]["message"], out


def test_concurrent_clients_are_served_and_step_scores_share_batches(server, folders):
    app, port = server
    recs = _solutions(8, seed=9)
    direct = load_judge(str(folders / "judge")).score(recs)
    before = dict(app.scorer.stats)

    def one(r):
        return call(port, "POST", "/v1/step_scores", {"model": "judge", "solutions": [
            {"id": r.id, "problem": r.problem, "steps": r.steps}]})

    def complete(i):
        return call(port, "POST", "/v1/completions", {"model": "lm", "prompt": [1, 10 + i],
                                                      "max_tokens": 4, "temperature": 0,
                                                      "return_token_ids": True})

    with ThreadPoolExecutor(16) as pool:
        scores = list(pool.map(one, recs))
        comps = list(pool.map(complete, range(8)))
    for (status, out), want in zip(scores, direct):
        assert status == 200 and out["scores"][0]["step_scores"] == pytest.approx(want.step_scores, abs=1e-5)
    batches = app.scorer.stats["batches"] - before["batches"]
    assert app.scorer.stats["requests"] - before["requests"] == 8
    assert batches < 8  # at least two concurrent requests were scored in one judge call
    for i, (status, out) in enumerate(comps):  # each as if it had been alone
        assert status == 200
        alone = KVCacheGenerator(app.engine.model).generate(  # the model's eos stops it, as in vLLM
            [[1, 10 + i]], max_new_tokens=4, stop_ids=app.engine.eos)[0].ids
        assert out["choices"][0]["token_ids"] == alone


def test_the_command_refuses_bad_options_in_one_line(run_cli, tmp_path):
    code, _, err = run_cli("serve")
    assert code == 2 and "give --model (completions), --judge (step scores) or both" in err
    code, _, err = run_cli("serve", "--judge", "baseline:never", "--host", "my host")
    assert code == 2 and "--host must be an IP address or localhost" in err
    code, _, err = run_cli("serve", "--model", tmp_path / "nope")
    assert code == 2 and err.count("\n") == 1 and "nope" in err
    code, _, err = run_cli("serve", "--judge", "baseline:never", "--port", "70000")
    assert code == 2 and "--port" in err
