"""Teacher chains: the filter's counts worked out by hand, resume after a kill gives the same
file byte for byte (stub teacher and a tiny random HF Llama teacher), and `prmlab synth chains`
end to end. The parsers' own cases are their doctests (prmlab/supervision/chain_styles.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prmlab.data.jsonl import write_records
from prmlab.data.record import Record, labels_from_first_error
from prmlab.errors import InputError
from prmlab.supervision.chain_synth import Completion, SynthConfig, read_chains, synthesize

CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def rec(rid: str, first_error: int, n: int = 3) -> Record:
    return Record(id=rid, problem=f"problem {rid}", steps=[f"step {i} of {rid}" for i in range(n)],
                  labels=labels_from_first_error(first_error, n), first_error=first_error)


def chain(*verdicts: bool) -> str:
    return "\n".join(f"Step {k}: check {k}. The step is {'correct' if v else 'incorrect'}."
                     for k, v in enumerate(verdicts, 1))


# Six records and what a stub teacher answers, with the filter's decision worked out by hand.
RECORDS = [rec("a", -1), rec("b", 1), rec("c", 0), rec("d", 2), rec("e", -1), rec("f", 1)]
ANSWERS = {
    "a": (chain(True, True, True), False),          # kept: all 3 steps right
    "b": (chain(True, False, True), False),         # kept: through step 2 (step 3 ignored)
    "c": (chain(True), False),                      # wrong_verdict at step 1 (gold: incorrect)
    "d": (chain(True, True), True),                 # truncated before step 3
    "e": ("Step 1: hmm. The step is correct.\nStep 2: no verdict here", False),  # parse_failure
    "f": (chain(True, True), False),                # wrong_verdict at step 2
}


class StubTeacher:
    """Answers by record id (read back from the prompt); records every call; may stop."""

    def __init__(self, stop_after: int | None = None):
        self.calls: list[int] = []
        self.stop_after = stop_after

    def __call__(self, conversations, chunk):
        if self.stop_after is not None and len(self.calls) == self.stop_after:
            raise KeyboardInterrupt
        self.calls.append(chunk)
        out = []
        for conv in conversations:
            rid = conv[-1]["content"].split("problem ")[1].split()[0]
            text, trunc = ANSWERS[rid]
            out.append(Completion(text, trunc, prompt_tokens=10, generated_tokens=len(text.split())))
        return out


def test_filter_counts_worked_by_hand(tmp_path):
    summary = synthesize(RECORDS, StubTeacher(), tmp_path / "out", SynthConfig(chunk_size=4))
    assert summary["chains"] == 6 and summary["kept"] == 2
    assert summary["kept_fraction"] == pytest.approx(2 / 6)
    assert summary["rejected"] == {"wrong_verdict": 2, "truncated": 1, "parse_failure": 1,
                                   "unlabelled": 0}
    assert summary["wrong_verdict_at_step"] == {"1": 1, "2": 1}
    assert summary["truncated"] == 1
    rows = read_chains(tmp_path / "out" / "chains.jsonl")
    assert [r.record.id for r in rows] == list("abcdef")
    assert [(r.verdict.reason, r.verdict.step) for r in rows] == [
        (None, None), (None, None), ("wrong_verdict", 1), ("truncated", None),
        ("parse_failure", None), ("wrong_verdict", 2)]
    assert rows[4].verdict.detail == "step 2 has no verdict"
    # a kept chain contributes its steps through the first error only
    assert rows[1].kept_steps() == (("check 1.", "check 2."), (True, False))
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["kept"] == 2 and saved["style"] == "plain"


def test_resume_after_kill_gives_the_same_file(tmp_path):
    cfg = SynthConfig(chunk_size=2)
    synthesize(RECORDS, StubTeacher(), tmp_path / "whole", cfg)
    with pytest.raises(KeyboardInterrupt):
        synthesize(RECORDS, StubTeacher(stop_after=2), tmp_path / "cut", cfg)
    progress = json.loads((tmp_path / "cut" / "progress.json").read_text())
    assert progress["records_done"] == 4
    # a chunk written after the last commit (the kill came mid-write): dropped on resume
    with open(tmp_path / "cut" / "chains.jsonl", "ab") as f:
        f.write(b'{"index": 4, "id": "e", "rec')
    again = StubTeacher()
    synthesize(RECORDS, again, tmp_path / "cut", cfg)
    assert again.calls == [2]  # only the chunk not committed before the kill
    assert ((tmp_path / "cut" / "chains.jsonl").read_bytes()
            == (tmp_path / "whole" / "chains.jsonl").read_bytes())
    assert ((tmp_path / "cut" / "summary.json").read_text()
            == (tmp_path / "whole" / "summary.json").read_text())


def test_resume_refuses_other_settings_or_records(tmp_path):
    synthesize(RECORDS[:2], StubTeacher(), tmp_path / "o", SynthConfig(chunk_size=2))
    with pytest.raises(InputError, match="differs in: chunk_size"):
        synthesize(RECORDS[:2], StubTeacher(), tmp_path / "o", SynthConfig(chunk_size=1))
    with pytest.raises(InputError, match="records"):
        synthesize(RECORDS[:3], StubTeacher(), tmp_path / "o", SynthConfig(chunk_size=2))


def test_unknown_style_is_refused():
    with pytest.raises(ValueError, match="unknown chain style 'nope'"):
        SynthConfig(style="nope")


# ---- a real (tiny, random) Hugging Face teacher --------------------------------------------------

WORDS = ("problem step of check the is correct incorrect solution each in order for write a "
         "short then or stop after first . : , ' k tom has 3 bags with 4 apples he eats 2 how "
         "many are left ? * = 12 - 10 not 11 answer after eating 1 user assistant").split()


def word_tokenizer(chat: bool = True):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>"]
    vocab = {t: i for i, t in enumerate(specials + sorted(set(WORDS)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Punctuation()])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>",
                                   eos_token="<|im_end|>", unk_token="<unk>")
    fast.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    if chat:
        fast.chat_template = CHAT
    return fast


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = word_tokenizer()
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=1024, pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    d = tmp_path_factory.mktemp("teacher")
    LlamaForCausalLM(cfg).save_pretrained(d, safe_serialization=True)
    tok.save_pretrained(d)
    return d


def test_chat_completer_renders_the_chat_template(teacher_dir):
    from prmlab.models.chat import render

    tok = word_tokenizer()
    ids = render(tok, [{"role": "user", "content": "check each step"}])
    assert tok.convert_ids_to_tokens(ids) == ["<|im_start|>", "user", "check", "each", "step",
                                              "<|im_end|>", "<|im_start|>", "assistant"]
    plain = render(word_tokenizer(chat=False), [{"role": "user", "content": "check"}])
    assert tok.convert_ids_to_tokens(plain) == ["check"]


def test_hf_teacher_resume_is_byte_identical(tmp_path, teacher_dir):
    from prmlab.judges.critic import load_causal_lm
    from prmlab.models.chat import ChatCompleter, end_ids
    from prmlab.models.generator import KVCacheGenerator

    lm, tok = load_causal_lm(teacher_dir)
    cfg = SynthConfig(chunk_size=2, max_new_tokens=12, temperature=1.0, seed=3)

    def completer():
        return ChatCompleter(KVCacheGenerator(lm, batch_size=2, pad_id=tok.pad_token_id), tok,
                             max_new_tokens=12, temperature=1.0, seed=3, stop_ids=end_ids(tok, lm))

    whole = synthesize(RECORDS, completer(), tmp_path / "whole", cfg)
    assert whole["chains"] == 6 and whole["generated_tokens"] > 0

    def kill(done, total):
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synthesize(RECORDS, completer(), tmp_path / "cut", cfg, progress=kill)
    synthesize(RECORDS, completer(), tmp_path / "cut", cfg)
    assert ((tmp_path / "cut" / "chains.jsonl").read_bytes()
            == (tmp_path / "whole" / "chains.jsonl").read_bytes())


def test_cli_synth_chains(tmp_path, teacher_dir, run_cli):
    data = tmp_path / "d.jsonl"
    write_records(data, RECORDS[:3])
    out = tmp_path / "chains"
    code, stdout, err = run_cli("synth", "chains", "--teacher", teacher_dir, "--data", data,
                                "--out", out, "--max-new-tokens", "8", "--chunk-size", "2")
    assert code == 0, err
    assert "kept" in stdout and (out / "summary.json").is_file()
    rows = read_chains(out / "chains.jsonl")
    assert [r.record.id for r in rows] == ["a", "b", "c"]
    # a random model writes no parsable chain: every row is rejected with a reason
    assert all(not r.kept and r.verdict.reason in ("truncated", "parse_failure", "wrong_verdict")
               for r in rows)
    # running the same command again resumes (nothing left to do) and changes nothing
    before = (out / "chains.jsonl").read_bytes()
    code, _, err = run_cli("synth", "chains", "--teacher", teacher_dir, "--data", data,
                           "--out", out, "--max-new-tokens", "8", "--chunk-size", "2")
    assert code == 0, err
    assert (out / "chains.jsonl").read_bytes() == before
    code, _, err = run_cli("synth", "chains", "--teacher", teacher_dir, "--data", data,
                           "--out", tmp_path / "x", "--style", "nope")
    assert code == 2 and "unknown chain style" in err


def test_thinkprm_split_keeps_problems_apart():
    from prmlab.experiments.thinkprm import ThinkPRMConfig, split

    recs = [Record(id=f"{p}-{i}", problem=f"problem {p}", steps=["s"], labels=[1], first_error=-1)
            for p in range(10) for i in range(2)]  # 10 problems, 2 solutions each
    parts = split(recs, ThinkPRMConfig(base="x", eval_size=5, dev_size=2, budgets=[4]))
    # whole problems: eval takes 3 problems (6 solutions, the first >= 5), dev 1, pool the rest
    assert [len(parts[k]) for k in ("eval", "dev", "pool")] == [6, 2, 12]
    probs = {k: {r.problem for r in v} for k, v in parts.items()}
    assert not (probs["eval"] & probs["dev"]) and not (probs["eval"] & probs["pool"])
    assert not (probs["dev"] & probs["pool"])
    with pytest.raises(InputError, match="fewer than the largest budget 13"):
        split(recs, ThinkPRMConfig(base="x", eval_size=5, dev_size=2, budgets=[13]))


def test_cli_synth_chains_through_a_server_writes_the_local_teachers_chains(tmp_path, teacher_dir,
                                                                            run_cli):
    """`--backend openai`: the weights stay on the server (`prmlab serve` here), --teacher gives
    the tokenizer; greedy chains equal the in-process teacher's (the same model either way)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_openai_tests", Path(__file__).with_name("test_openai_generator.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # its start_serve: `prmlab serve` on 127.0.0.1, a free port
    data = tmp_path / "d.jsonl"
    write_records(data, RECORDS[:3])
    common = ["--teacher", teacher_dir, "--data", data, "--max-new-tokens", "8", "--chunk-size", "2"]
    code, _, err = run_cli("synth", "chains", *common, "--out", tmp_path / "local")
    assert code == 0, err
    proc, url = mod.start_serve(["--model", str(teacher_dir)])
    try:
        code, _, err = run_cli("synth", "chains", *common, "--out", tmp_path / "served",
                               "--backend", "openai", "--base-url", url)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert code == 0, err
    local, served = (read_chains(tmp_path / d / "chains.jsonl") for d in ("local", "served"))
    assert [r.record.id for r in served] == ["a", "b", "c"]
    assert [r.text for r in served] == [r.text for r in local]


def test_thinkprm_run_end_to_end_scores_every_held_out_solution_with_progress(tmp_path,
                                                                             teacher_dir):
    """The whole recipe on a tiny random base: split, chains (none kept: generative is
    skipped, saying why), direct and discriminative judges trained and evaluated on every
    held-out solution, the critic beside them; the evaluation's progress reaches its total;
    a rerun resumes and rewrites the same results; scores in chunks equal one call's
    (to float noise: batch mates pad differently)."""
    from prmlab.experiments.thinkprm import ThinkPRMConfig, _score_in_chunks, report, run
    from prmlab.judges.load import load_judge

    recs = [Record(id=f"p{p}-{i}", problem=f"tom has {p} bags", steps=["3 * 4 = 12", "12 - 2 = 10"],
                   labels=labels_from_first_error(i - 1, 2), first_error=i - 1)
            for p in range(1, 7) for i in range(2)]  # 6 problems, a correct and a wrong solution each
    data = tmp_path / "d.jsonl"
    write_records(data, recs)
    cfg = ThinkPRMConfig(base=str(teacher_dir), data=str(data), eval_size=4, dev_size=2,
                         budgets=[2], max_steps=1, batch_size=1, eval_every=1,
                         teacher_max_new_tokens=6, judge_max_new_tokens=4,
                         critic_max_new_tokens=6, resamples=20, chunk_size=3)
    calls: dict[str, list[tuple[int, int]]] = {}

    def bar(label):
        return lambda done, total, *_row: calls.setdefault(label, []).append((done, total))

    out = tmp_path / "run"
    results = run(cfg, out, log=lambda _m: None, progress=bar)
    judges = results["budgets"]["2"]["judges"]
    assert judges["generative"] == {"skipped": "no kept chains to train on"}
    for fmt in ("direct", "discriminative"):
        assert judges[fmt]["n"]["solutions"] == 4
        assert calls[f"eval {fmt} N=2"] == [(3, 4), (4, 4)]  # chunks of 3: 3, then the last one
    assert calls["critic"][-1][0] == calls["critic"][-1][1]
    assert results["critic"]["n"]["solutions"] == 4
    # every stage that ran has its wall time; generative (skipped) has none
    assert set(results["seconds"]) == {"base import", "chains N=2", "train direct N=2", "eval direct N=2",
                                       "train discriminative N=2", "eval discriminative N=2", "critic"}
    assert all(v > 0 for v in results["seconds"].values())
    line = report(results).splitlines()[-1]
    assert line.startswith("Wall time per stage (s;") and f"critic {results['seconds']['critic']:.0f}" in line
    first = (out / "results.json").read_bytes()
    calls.clear()
    run(cfg, out, log=lambda _m: None, progress=bar)
    assert not any(k.startswith("eval") for k in calls)  # nothing re-evaluated
    assert (out / "results.json").read_bytes() == first  # the skipped stages keep their times

    judge = load_judge(str(out / "judges" / "N2" / "direct"))
    whole = judge.score(recs)
    chunked = _score_in_chunks(judge, recs, 5, None)
    assert [s.id for s in chunked] == [s.id for s in whole]
    for a, b in zip(chunked, whole):  # other batch mates pad differently: equal to float noise
        assert a.step_scores == pytest.approx(b.step_scores, abs=1e-6)
