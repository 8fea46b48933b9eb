"""Judges fine-tuned from a Hugging Face causal LM on teacher chains: training examples (labels on
each step's verdict token) against arrays written out by hand, the verdict position the judge
reads P(correct) at, and fine-tuning + loading + scoring of all three formats on a tiny random
Llama with a word-level tokenizer (LoRA where peft is installed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.models.generator import Sample
from prmlab.models.text import Codec, TextFormat
from prmlab.supervision.chain_filter import judge_chain
from prmlab.supervision.chain_styles import parse_plain
from prmlab.supervision.chain_synth import ChainRow

X = -100

# Vocabulary (ids written out so the arrays below can be read against it):
VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "<sep>", "<step>", "<check>",  # 0..6
         "correct", "incorrect", "The", "step", "is",                     # 7..11
         "+", "=", ".", "2", "3", "5", "6", "what", "?", "so", "not", "fine"]  # 12..23
FMT = TextFormat(lsd_digits=False, space_join=True, sep="<sep>", step_end="<step>",
                 check="<check>", ok="correct", bad="incorrect")

PROBLEM = "what is 2 + 3 ?"
STEPS = ["2 + 3 = 5", "so 5 + 2 = 6"]  # step 1 right, step 2 wrong
RECORD = Record(id="h1", problem=PROBLEM, steps=list(STEPS), labels=[1, 0], first_error=1)
CHAIN = "Step 1: 2 + 3 = 5 . The step is correct.\nStep 2: 5 + 2 is not 6 . The step is incorrect."

# <s> what is 2 + 3 ? <sep> | 2 + 3 = 5 <step> | so 5 + 2 = 6 <step>
SOLUTION = [1, 19, 11, 15, 12, 16, 20, 4, 15, 12, 16, 13, 17, 5, 21, 17, 12, 15, 13, 18, 5]
PROMPT1 = SOLUTION[:14] + [6]                  # ... 5 <step> <check>: 15 ids
PROMPT2 = SOLUTION + [6]                       # ... 6 <step> <check>: 22 ids
CRIT1 = [15, 12, 16, 13, 17, 14, 9, 10, 11]    # 2 + 3 = 5 . The step is
CRIT2 = [17, 12, 15, 11, 22, 18, 14, 9, 10, 11]  # 5 + 2 is not 6 . The step is


def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({t: i for i, t in enumerate(VOCAB)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>", unk_token="<unk>")
    fast.add_special_tokens({"additional_special_tokens": ["<sep>", "<step>", "<check>"]})
    return fast


def row(record: Record, text: str, index: int = 0) -> ChainRow:
    parsed = parse_plain(text)
    return ChainRow(index, record, text, False, 0, 0, parsed, judge_chain(record, parsed, False))


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(tokenizer(), FMT)


def test_generative_examples_put_labels_on_the_verdict_token(codec):
    from prmlab.training.hf_judges import HFJudgeConfig, build_examples

    assert codec.solution(PROBLEM, STEPS) == (SOLUTION, [13, 20])
    ex, info = build_examples(codec, HFJudgeConfig(format="generative"), [row(RECORD, CHAIN)])
    assert info == {"chains": 1, "kept_chains": 1, "trained_chains": 1,
                    "dropped": {"verdict_token_in_critique": 0, "critique_too_long": 0}}
    assert ex == [
        {"input_ids": PROMPT1 + CRIT1 + [7, 2], "labels": [X] * 15 + CRIT1 + [7, 2]},
        {"input_ids": PROMPT2 + CRIT2 + [8, 2], "labels": [X] * 22 + CRIT2 + [8, 2]},
    ]
    # the verdict token sits right after "The step is": position 24 (step 1) and 32 (step 2)
    assert ex[0]["labels"][24] == codec.ok_id == 7 and ex[0]["input_ids"][21:24] == [9, 10, 11]
    assert ex[1]["labels"][32] == codec.bad_id == 8


def test_direct_and_discriminative_examples(codec):
    from prmlab.training.hf_judges import HFJudgeConfig, build_examples

    rows = [row(RECORD, "not a chain")]  # rejected chain: still a labelled solution
    direct, _ = build_examples(codec, HFJudgeConfig(format="direct"), rows)
    assert direct == [{"input_ids": PROMPT1 + [7, 2], "labels": [X] * 15 + [7, 2]},
                      {"input_ids": PROMPT2 + [8, 2], "labels": [X] * 22 + [8, 2]}]
    head, _ = build_examples(codec, HFJudgeConfig(format="discriminative"), rows)
    assert head == [{"input_ids": SOLUTION, "labels": [X] * 13 + [1] + [X] * 6 + [0]}]
    gen, info = build_examples(codec, HFJudgeConfig(format="generative"), rows)
    assert gen == [] and info["kept_chains"] == 0


def test_chains_the_judge_could_not_reproduce_are_dropped_and_counted(codec):
    from prmlab.training.hf_judges import HFJudgeConfig, build_examples

    ambiguous = CHAIN.replace("2 + 3 = 5 .", "2 + 3 = 5 is correct .")
    rows = [row(RECORD, ambiguous), row(RECORD, CHAIN, 1)]
    ex, info = build_examples(codec, HFJudgeConfig(format="generative"), rows)
    assert info["dropped"] == {"verdict_token_in_critique": 1, "critique_too_long": 0}
    assert len(ex) == 2  # the other chain's two steps
    _, info = build_examples(codec, HFJudgeConfig(format="generative", max_new_tokens=10), rows[1:])
    assert info["dropped"]["critique_too_long"] == 1  # CRIT2 + verdict = 11 tokens > 10


class StubGenerator:
    """Writes a fixed critique per prompt; the watched probabilities differ at every position."""

    def __init__(self, samples):
        self.samples = samples

    def generate(self, prompts, **kw):
        assert kw["watch_ids"] == [7, 8] and 7 in kw["stop_ids"] and 8 in kw["stop_ids"]
        return [self.samples[len(p)] for p in prompts]


def test_score_is_p_correct_at_the_verdict_position(codec):
    from prmlab.judges.generative import GenerativeJudge

    samples = {  # keyed by prompt length: 15 (step 1), 22 (step 2)
        15: Sample(ids=CRIT1[:3] + [7], watch_probs=[[0.9, 0.1], [0.5, 0.5], [0.1, 0.9], [0.6, 0.2]]),
        22: Sample(ids=CRIT2[:2] + [8], watch_probs=[[0.9, 0.1], [0.8, 0.2], [0.1, 0.3]]),
    }
    judge = GenerativeJudge(None, codec, generator=StubGenerator(samples))
    [s] = judge.score([RECORD])
    # 0.6 / (0.6 + 0.2) at step 1's verdict token; 0.1 / (0.1 + 0.3) at step 2's
    assert s.step_scores == pytest.approx([0.75, 0.25])
    assert judge.stats["parse_failures"] == 0
    samples[22] = Sample(ids=CRIT2[:3], watch_probs=[[0.9, 0.1]] * 3)  # out of tokens
    [s] = judge.score([RECORD])
    assert s.step_scores == pytest.approx([0.75, 0.5]) and judge.stats["parse_failures"] == 1


# ---- fine-tuning a tiny random Llama -------------------------------------------------------------

@pytest.fixture(scope="module")
def init_dir(tmp_path_factory, codec) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from prmlab.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(VOCAB), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=256, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    d = tmp_path_factory.mktemp("init") / "base"
    save_checkpoint(d, LlamaForCausalLM(cfg), codec, {"kind": "import", "source": "test"})
    return d


def _rows():
    ok = Record(id="h2", problem=PROBLEM, steps=["2 + 3 = 5"], labels=[1], first_error=-1)
    return [row(RECORD, CHAIN, 0), row(ok, "Step 1: 2 + 3 = 5 . The step is correct.", 1)]


@pytest.mark.parametrize("fmt", ["generative", "direct", "discriminative"])
def test_fine_tune_save_load_and_score(tmp_path, init_dir, fmt):
    from prmlab.judges.load import load_judge
    from prmlab.training.hf_judges import HFJudgeConfig, train_hf_judge
    from prmlab.training.loop import FitConfig

    cfg = HFJudgeConfig(format=fmt, lrs=[1e-3], dev_max=2, max_new_tokens=12,
                        fit=FitConfig(batch_size=2, max_steps=2, eval_every=2, warmup_steps=0))
    rows = _rows()
    info = train_hf_judge(cfg, init_dir, rows, [r.record for r in rows], tmp_path / "j",
                          log=lambda s: None)
    assert info["train_examples"] == {"generative": 3, "direct": 3, "discriminative": 2}[fmt]
    saved = json.loads((tmp_path / "j" / "prmlab.json").read_text())
    assert saved["kind"] == "judge" and saved["format"] == fmt
    assert (tmp_path / "j" / "model.safetensors").is_file()
    judge = load_judge(str(tmp_path / "j"))
    scores = judge.score([RECORD])
    assert len(scores[0].step_scores) == 2
    assert all(0.0 <= x <= 1.0 for x in scores[0].step_scores)
    # a smaller batch (what a real LM needs) reaches the judge and its engine, and scores the same
    small = load_judge(str(tmp_path / "j"), batch_size=1)
    assert small.batch_size == 1
    if hasattr(small, "generator"):
        assert small.generator.batch_size == 1
    assert small.score([RECORD])[0].step_scores == pytest.approx(scores[0].step_scores, abs=1e-6)
    with pytest.raises(InputError, match="batch size must be at least 1"):
        load_judge(str(tmp_path / "j"), batch_size=0)


def test_cli_eval_of_a_real_lm_judge_takes_a_batch_size(tmp_path, init_dir, run_cli):
    from prmlab.data.jsonl import write_records
    from prmlab.training.hf_judges import HFJudgeConfig, train_hf_judge
    from prmlab.training.loop import FitConfig

    cfg = HFJudgeConfig(format="generative", lrs=[1e-3], dev_max=2, max_new_tokens=12,
                        fit=FitConfig(batch_size=2, max_steps=1, eval_every=1, warmup_steps=0))
    rows = _rows()
    train_hf_judge(cfg, init_dir, rows, [r.record for r in rows], tmp_path / "j", log=lambda s: None)
    data = tmp_path / "d.jsonl"
    write_records(data, [r.record for r in rows])
    outs = {}
    for b in ("1", None):
        out = tmp_path / f"eval-{b}"
        code, _, err = run_cli("eval", "--judge", tmp_path / "j", "--data", data, "--out", out,
                               "--resamples", "10", *(("--batch-size", b) if b else ()))
        assert code == 0, err
        outs[b] = json.loads((out / "metrics.json").read_text())
    assert outs["1"]["config"]["batch_size"] == 1 and outs[None]["config"]["batch_size"] is None
    assert outs["1"]["auroc"] == outs[None]["auroc"]
    code, _, err = run_cli("eval", "--judge", tmp_path / "j", "--data", data,
                           "--out", tmp_path / "bad", "--batch-size", "0")
    assert code == 2 and "batch-size" in err


def test_lora_fine_tune_merges_before_saving(tmp_path, init_dir):
    pytest.importorskip("peft", reason="LoRA needs the optional extra prmlab[peft]")
    from safetensors import safe_open

    from prmlab.judges.load import load_judge
    from prmlab.training.hf_judges import HFJudgeConfig, train_hf_judge
    from prmlab.training.loop import FitConfig

    cfg = HFJudgeConfig(format="generative", lrs=[1e-2], lora=True, lora_r=2, lora_alpha=4,
                        dev_max=2, max_new_tokens=12,
                        fit=FitConfig(batch_size=2, max_steps=2, eval_every=1, warmup_steps=0))
    rows = _rows()
    train_hf_judge(cfg, init_dir, rows, [r.record for r in rows], tmp_path / "j", log=lambda s: None)
    with safe_open(str(tmp_path / "j" / "model.safetensors"), "pt") as f:
        names = list(f.keys())
    assert names and not any("lora" in n for n in names)  # a plain model folder
    assert len(load_judge(str(tmp_path / "j")).score([RECORD])[0].step_scores) == 2


def test_cli_synth_judge(tmp_path, init_dir, run_cli):
    from prmlab.atomic import write_jsonl
    from prmlab.data.jsonl import write_records

    chains = tmp_path / "chains.jsonl"
    write_jsonl(chains, [r.to_dict() for r in _rows()])
    dev = tmp_path / "dev.jsonl"
    write_records(dev, [RECORD])
    code, out, err = run_cli("synth", "judge", "--init", init_dir, "--chains", chains, "--dev", dev,
                             "--judge-format", "direct", "--out", tmp_path / "j", "--max-steps", "1",
                             "--batch-size", "2", "--lr", "1e-3")
    assert code == 0, err
    assert json.loads((tmp_path / "j" / "prmlab.json").read_text())["format"] == "direct"
    code, _, err = run_cli("synth", "judge", "--init", init_dir, "--chains", chains,
                           "--judge-format", "orm", "--out", tmp_path / "k")
    assert code == 2 and "format" in err
