"""Judge formats as data: the registry, what each spec builds, and that a new format needs no
edit outside `prmlab/judges/formats.py`.

Expected ids and labels are written out literally (the arith record of tests/test_alignment.py,
worked by hand there): labels sit on each step's last token, -100 elsewhere.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from transformers import LlamaForCausalLM, LlamaForTokenClassification

from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.judges.discriminative import HeadJudge
from prmlab.judges.formats import (JUDGE_FORMATS, ExampleOptions, JudgeFormat, judge_format,
                                   unknown_format)
from prmlab.judges.generative import GenerativeJudge
from prmlab.models.checkpoint import save_checkpoint
from prmlab.models.presets import llama_config
from prmlab.training.base import FORMAT_VERSION, arith_codec
from prmlab.training.judges import FORMATS, LOSSES, JudgeConfig
from prmlab.training.loop import FitConfig, causal_lm_loss, pad_batch, token_cls_loss, weighted_lm_loss

X = -100
KNOWN = "(known: discriminative, discriminative-fe, generative, direct, orm, generative-rl, direct-rl, rft)"

# The hand-worked arith record (tests/test_alignment.py): step 1 right, step 2 wrong.
PROBLEM = "ann has 23 coins. bob has 7 more coins than ann. how many coins does bob have?"
STEPS = ["23 + 7 = 30", "answer = 31"]
PROMPT_IDS = [1, 9, 41, 70, 69, 33, 85, 10, 41, 74, 42, 33, 44, 9, 85, 53, 47, 33, 54, 10, 55, 86, 4]
STEP1_IDS = [70, 69, 77, 74, 81, 67, 70, 5]  # step end (<step> 5) at index 30
STEP2_IDS = [56, 81, 68, 70, 5]  # step end at index 35
SOLUTION_IDS = PROMPT_IDS + STEP1_IDS + STEP2_IDS
CHECK1_IDS = [10, 57, 9, 77, 74, 84, 9, 41, 70, 69, 84, 70, 69, 77, 74, 81, 67, 70, 84,
              58, 70, 81, 69, 81, 83, 77, 81, 83, 74, 81, 83, 67, 81, 70, 81]
CHECK2_IDS = [56, 57, 10, 84, 10, 81, 67, 70, 84, 58, 68, 82, 70, 81]
CHECK, OK, BAD, EOS = 6, 7, 8, 2


def record(**kw) -> Record:
    base = dict(id="hand-1", problem=PROBLEM, steps=list(STEPS), labels=[1, 0], first_error=1,
                answer="31", answer_correct=False)
    return Record(**{**base, **kw})


@pytest.fixture(scope="module")
def codec():
    return arith_codec()


def tiny(codec, head: str):
    torch.manual_seed(0)
    cfg = llama_config("tiny", codec.vocab_size, pad_id=codec.pad_id, bos_id=codec.bos[0],
                       eos_id=codec.eos_id, max_positions=256)
    if head == "token":
        cfg.num_labels, cfg.classifier_dropout = 2, 0.0
        return LlamaForTokenClassification(cfg)
    return LlamaForCausalLM(cfg)


# ---- the registry and the training side agree ---------------------------------------------------

def test_the_registry_and_the_training_losses_name_the_same_losses():
    assert list(JUDGE_FORMATS) == ["discriminative", "discriminative-fe", "generative", "direct", "orm",
                                   "generative-rl", "direct-rl", "rft"]
    assert FORMATS == tuple(JUDGE_FORMATS)
    assert all(name == f.name for name, f in JUDGE_FORMATS.items())
    # Every loss a spec names exists on the training side, and no training loss is orphaned;
    # the GRPO formats' loss is GRPO's own (training/grpo.py), never a supervised one.
    assert {f.loss for f in JUDGE_FORMATS.values() if f.trainer != "grpo"} == set(LOSSES)
    assert {f.loss for f in JUDGE_FORMATS.values() if f.trainer == "grpo"} == {"grpo"}


def test_each_spec_as_data():
    got = {n: (f.head, f.learns_from, f.rationale, f.needs_check_format, f.loss)
           for n, f in JUDGE_FORMATS.items()}
    assert got == {
        "discriminative": ("token", "step labels", False, False, "token-classification"),
        "discriminative-fe": ("token", "step labels", False, False, "token-classification"),
        "generative": ("causal", "verification chains", True, True, "verdict-weighted-lm"),
        "direct": ("causal", "verdicts", False, False, "lm"),
        "orm": ("token", "outcome", False, False, "token-classification"),
        "generative-rl": ("causal", "own checks rewarded by step labels", True, True, "grpo"),
        "direct-rl": ("causal", "own checks rewarded by step labels", False, False, "grpo"),
        "rft": ("causal", "own checks filtered by step labels", True, True, "verdict-weighted-lm"),
    }
    assert {n: f.trainer for n, f in JUDGE_FORMATS.items()} == {
        "discriminative": "sft", "discriminative-fe": "sft", "generative": "sft", "direct": "sft", "orm": "sft",
        "generative-rl": "grpo", "direct-rl": "grpo", "rft": "rft"}
    # The figures' colours, unchanged from the table reports/figures.py held before.
    assert {n: f.color for n, f in JUDGE_FORMATS.items()} == {
        "discriminative": "#1f77b4", "discriminative-fe": "#aec7e8", "generative": "#d62728", "direct": "#2ca02c", "orm": "#9467bd",
        "generative-rl": "#ff7f0e", "direct-rl": "#17becf", "rft": "#8c564b"}
    for f in JUDGE_FORMATS.values():
        assert f.description and "\n" not in f.description and len(f.description) < 80


def test_importing_the_registry_loads_no_torch():
    code = "import sys, prmlab.judges.formats; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_a_spec_rejects_what_it_cannot_mean():
    d = JUDGE_FORMATS["discriminative"]
    with pytest.raises(ValueError, match="only a causal head"):
        dataclasses.replace(d, name="x", rationale=True)
    with pytest.raises(ValueError, match="head must be"):
        dataclasses.replace(d, name="x", head="seq2seq")
    with pytest.raises(ValueError, match="#rrggbb"):
        dataclasses.replace(d, name="x", color="red")


def train_tiny_judge(codec, tmp_path, fmt: str, n: int):
    """A `fmt` judge trained 2 steps from a tiny base on `n` labelled solutions, saved at
    tmp_path/judge: (train_judge's info, the pool, the dev split)."""
    from prmlab.data.arith.generate import iter_records
    from prmlab.training.judges import train_judge

    base = tmp_path / "base"
    save_checkpoint(base, tiny(codec, "causal"), codec, {"kind": "base", "format": FORMAT_VERSION})
    pool, dev = list(iter_records(n, 11)), list(iter_records(3, 12))
    cfg = JudgeConfig(format=fmt, budget=n, lrs=[1e-3],
                      fit=FitConfig(batch_size=4, max_steps=2, eval_every=1, warmup_steps=0, bf16=False))
    return train_judge(cfg, base, pool, dev, tmp_path / "judge", log=lambda s: None), pool, dev


# ---- each spec builds what the code built before, worked by hand -------------------------------

def test_discriminative_examples_label_every_step_end(codec):
    ex, info = JUDGE_FORMATS["discriminative"].examples(codec, [record()], ExampleOptions())
    assert info == {}
    assert ex == [{"input_ids": SOLUTION_IDS, "labels": [X] * 30 + [1] + [X] * 4 + [0]}]


def test_discriminative_fe_examples_stop_at_the_first_error(codec):
    spec = JUDGE_FORMATS["discriminative-fe"]
    # The error in the last step: every step is a target, as for `discriminative`.
    (ex,), info = spec.examples(codec, [record()], ExampleOptions())
    assert info == {} and ex == {"input_ids": SOLUTION_IDS, "labels": [X] * 30 + [1] + [X] * 4 + [0]}
    # The error in the first step: the step after it is not a target (prefix labels make it 0).
    first = record(labels=[0, 0], first_error=0)
    (ex,), _ = spec.examples(codec, [first], ExampleOptions())
    assert ex == {"input_ids": SOLUTION_IDS, "labels": [X] * 30 + [0] + [X] * 5}
    (every,), _ = JUDGE_FORMATS["discriminative"].examples(codec, [first], ExampleOptions())
    assert every["labels"] == [X] * 30 + [0] + [X] * 4 + [0]
    # Unknown labels are skipped, not read as an error; a correct solution keeps every label.
    (ex,), _ = spec.examples(codec, [record(labels=[None, 0], first_error=None)], ExampleOptions())
    assert ex["labels"] == [X] * 35 + [0]
    (ex,), _ = spec.examples(codec, [record(labels=[1, 1], first_error=-1)], ExampleOptions())
    assert ex["labels"] == [X] * 30 + [1] + [X] * 4 + [1]


def test_orm_examples_label_the_last_step_end_with_the_outcome(codec):
    spec = JUDGE_FORMATS["orm"]
    (ex,), _ = spec.examples(codec, [record()], ExampleOptions())
    assert ex == {"input_ids": SOLUTION_IDS, "labels": [X] * 35 + [0]}
    (ex,), _ = spec.examples(codec, [record(answer_correct=True)], ExampleOptions())
    assert ex["labels"] == [X] * 35 + [1]
    with pytest.raises(InputError, match="hand-1.*answer_correct"):
        spec.examples(codec, [record(answer_correct=None)], ExampleOptions())


def test_generative_examples_are_filtered_chains_with_rationale(codec):
    (ex1, ex2), info = JUDGE_FORMATS["generative"].examples(
        codec, [record()], ExampleOptions(teacher_error_rate=0.0, seed=0))
    assert info == {"filter": {"chains": 1, "kept": 1, "kept_fraction": 1.0}}
    assert ex1["input_ids"] == PROMPT_IDS + STEP1_IDS + [CHECK] + CHECK1_IDS + [OK, EOS]
    assert ex1["labels"] == [X] * 32 + CHECK1_IDS + [OK, EOS]
    assert ex2["input_ids"] == SOLUTION_IDS + [CHECK] + CHECK2_IDS + [BAD, EOS]
    assert ex2["labels"] == [X] * 37 + CHECK2_IDS + [BAD, EOS]
    # No filter asked for: no filter record. A teacher that errs on every check: filtered out.
    _, info = JUDGE_FORMATS["generative"].examples(codec, [record()], ExampleOptions(filter_chains=False))
    assert info == {}
    exs, info = JUDGE_FORMATS["generative"].examples(codec, [record()], ExampleOptions(teacher_error_rate=1.0))
    assert exs == [] and info["filter"] == {"chains": 1, "kept": 0, "kept_fraction": 0.0}


def test_direct_examples_are_the_gold_verdict_alone(codec):
    # The teacher's error rate and the filter are for chains with a rationale; not read here.
    opts = ExampleOptions(teacher_error_rate=1.0, filter_chains=True)
    (ex1, ex2), info = JUDGE_FORMATS["direct"].examples(codec, [record()], opts)
    assert info == {}
    assert ex1 == {"input_ids": PROMPT_IDS + STEP1_IDS + [CHECK, OK, EOS], "labels": [X] * 32 + [OK, EOS]}
    assert ex2 == {"input_ids": SOLUTION_IDS + [CHECK, BAD, EOS], "labels": [X] * 37 + [BAD, EOS]}


def test_max_length_is_enforced_by_every_builder(codec):
    # 36 tokens for the solution; 36 + <check> <verdict> <eos> = 39 for the direct judge's
    # second step; 32 + 35 + 2 = 69 for the generative judge's first.
    for name, fits in (("discriminative", 36), ("discriminative-fe", 36), ("orm", 36), ("direct", 39), ("generative", 69)):
        spec = JUDGE_FORMATS[name]
        spec.examples(codec, [record()], ExampleOptions(max_length=fits, teacher_error_rate=0.0))
        with pytest.raises(InputError, match=f"max_length={fits - 1}"):
            spec.examples(codec, [record()], ExampleOptions(max_length=fits - 1, teacher_error_rate=0.0))


def test_step_labels_counted_per_format():
    # 3 steps, the first wrong: a head reads 3 labels, a verifier stops after 1, the ORM 1.
    first_wrong = Record(id="w", problem="p", steps=["a", "b", "c"], labels=[0, 0, 0], first_error=0)
    right = Record(id="r", problem="p", steps=["a", "b"], labels=[1, 1], first_error=-1)
    counts = {n: f.count_step_labels([first_wrong, right]) for n, f in JUDGE_FORMATS.items()}
    assert counts == {"discriminative": 5, "discriminative-fe": 3, "generative": 3, "direct": 3, "orm": 2,
                      "generative-rl": 3, "direct-rl": 3, "rft": 3}


def test_each_format_trains_with_the_loss_it_trained_with_before(codec):
    cfg = JudgeConfig()
    assert LOSSES[JUDGE_FORMATS["discriminative"].loss](cfg, codec) is token_cls_loss
    assert LOSSES[JUDGE_FORMATS["orm"].loss](cfg, codec) is token_cls_loss
    assert LOSSES[JUDGE_FORMATS["direct"].loss](cfg, codec) is causal_lm_loss
    gen = LOSSES[JUDGE_FORMATS["generative"].loss]
    assert gen(cfg.model_copy(update={"verdict_weight": 1.0, "rationale_weight": 1.0}), codec) is causal_lm_loss
    # Default weights: the verdict counts 20 times, every other target once.
    model = tiny(codec, "causal")
    ids = codec.encode("1 + 2 = 3") + [codec.ok_id, codec.eos_id]
    batch = pad_batch([{"input_ids": ids, "labels": [X] * 3 + ids[3:]}], codec.pad_id)
    want = weighted_lm_loss({codec.ok_id: 20.0, codec.bad_id: 20.0}, default=1.0)(model, batch)
    got = gen(cfg, codec)(model, batch)
    assert torch.equal(got[0], want[0]) and got[1] == want[1]


def test_make_returns_a_judge_named_after_its_format(codec):
    for name, spec in JUDGE_FORMATS.items():
        judge = spec.make(tiny(codec, spec.head), codec, k=1, temperature=0.0, seed=3, progress=False)
        assert judge.name == name
        if spec.head == "token":
            assert type(judge) is HeadJudge
        else:
            assert type(judge) is GenerativeJudge and judge.rationale is spec.rationale
            assert judge.seed == 3


# ---- unknown formats: one line listing the known ones --------------------------------------------

def test_unknown_format_in_the_configs():
    from prmlab.experiments.config import LabelFreeConfig, RunConfig, resolve_config

    for build in (lambda: JudgeConfig(format="nope"), lambda: RunConfig(formats=["generative", "nope"]),
                  lambda: LabelFreeConfig(formats=["nope"])):
        with pytest.raises(ValidationError) as e:
            build()
        (err,) = e.value.errors()
        assert err["msg"] == f"Value error, unknown judge format 'nope' {KNOWN}"
    with pytest.raises(InputError) as e:
        resolve_config(preset="smoke", sets=["formats=[discriminative,nope]"])
    assert str(e.value).startswith("field formats") and f"unknown judge format 'nope' {KNOWN}" in str(e.value)
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match=r"field label_free\.formats.*unknown judge format"):
        resolve_config(preset="smoke", sets=["label_free.formats=[nope]"])
    with pytest.raises(InputError) as e:
        judge_format("nope")
    assert str(e.value) == unknown_format("nope") == f"unknown judge format 'nope' {KNOWN}"


def assert_one_line(err, *parts):
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("prmlab: error: ")
    for p in parts:
        assert p in lines[0], (p, lines[0])
    assert "Traceback" not in err


def test_unknown_judge_format_on_the_command_line(run_cli, tmp_path):
    args = ["train", "judge", "--init", tmp_path / "base", "--data", tmp_path / "pool.jsonl",
            "--dev", tmp_path / "dev.jsonl", "--out", tmp_path / "j"]
    code, out, err = run_cli(*args, "--judge-format", "nope")
    assert code == 2
    assert_one_line(err, f"unknown judge format 'nope' {KNOWN}")
    # `--format` is a data format elsewhere in prmlab; here it is gone, not an alias.
    code, _, err = run_cli(*args, "--format", "orm")
    assert code == 2
    assert_one_line(err, "No such option: --format")
    assert not (tmp_path / "j").exists()


def test_the_cli_help_describes_each_format(run_cli):
    code, out, _ = run_cli("train", "judge", "--help")
    assert code == 0
    flat = " ".join(out.replace("│", " ").split())
    assert "--judge-format" in flat
    for name in JUDGE_FORMATS:
        assert name in flat


# ---- JudgeConfig: described, validated, defaults as they were ------------------------------------

def test_judge_config_defaults_are_unchanged():
    cfg = JudgeConfig()
    assert cfg.model_dump(exclude={"fit"}) == {
        "format": "generative", "budget": 256, "seed": 0, "lrs": [3e-4, 1e-3],
        "teacher_error_rate": 0.1, "verdict_weight": 20.0, "rationale_weight": 1.0,
        "filter_chains": True, "max_length": 512, "dev_max": 160, "tune_threshold": False,
        "abandon_margin": None, "abandon_after": 100}
    assert cfg.fit == FitConfig(batch_size=16, max_steps=300, max_epochs=15, min_steps=30,
                                eval_every=50, patience=3, warmup_steps=10)


def test_every_judge_config_field_has_a_one_line_description():
    for name, field in JudgeConfig.model_fields.items():
        assert field.description, name
        assert "\n" not in field.description and len(field.description) <= 160, name


@pytest.mark.parametrize("bad", [
    {"budget": 0}, {"lrs": []}, {"lrs": [1e-3, 0.0]}, {"lrs": [-1e-3]}, {"lrs": [float("nan")]},
    {"lrs": [float("inf")]}, {"teacher_error_rate": -0.1}, {"teacher_error_rate": 1.5},
    {"dev_max": 0}, {"max_length": 0}, {"abandon_after": -1}, {"verdict_weight": -1.0},
    {"rationale_weight": float("nan")}])
def test_judge_config_rejects_values_that_mean_nothing(bad):
    with pytest.raises(ValidationError) as e:
        JudgeConfig(**bad)
    assert e.value.errors()[0]["loc"][0] == next(iter(bad))


def test_judge_config_accepts_the_edges():
    JudgeConfig(budget=1, lrs=[1e-5], teacher_error_rate=0.0, dev_max=1, max_length=1,
                abandon_after=0, rationale_weight=0.0)
    JudgeConfig(teacher_error_rate=1.0, abandon_margin=-1.0)


def test_replay_is_gone_and_rejected_as_an_unknown_key(tmp_path, run_cli):
    from prmlab.experiments.config import resolve_config

    with pytest.raises(ValidationError, match="replay"):
        JudgeConfig(replay=0.5)
    with pytest.raises(InputError, match=r"field judge\.replay: Extra inputs are not permitted"):
        resolve_config(preset="smoke", sets=["judge.replay=0.5"])
    yml = tmp_path / "old.yaml"
    yml.write_text("preset: smoke\njudge:\n  replay: 1.0\n")
    with pytest.raises(InputError, match=r"old\.yaml: field judge\.replay: Extra inputs"):
        resolve_config(yml)
    code, _, err = run_cli("train", "judge", "--init", tmp_path, "--data", tmp_path / "p.jsonl",
                           "--dev", tmp_path / "d.jsonl", "--out", tmp_path / "j", "--set", "replay=1")
    assert code == 2
    assert_one_line(err, "unknown key 'replay'")


def test_a_bad_budget_on_the_command_line_is_one_line(run_cli, tmp_path):
    code, _, err = run_cli("train", "judge", "--init", tmp_path, "--data", tmp_path / "p.jsonl",
                           "--dev", tmp_path / "d.jsonl", "--out", tmp_path / "j", "--budget", "0")
    assert code == 2
    assert_one_line(err, "--budget must be at least 1")


# ---- a new format: one registry entry, nothing else edited ----------------------------------------

@pytest.fixture
def fake_format(monkeypatch):
    """A format added the way a contributor would: one entry, reusing existing parts."""
    spec = JudgeFormat("fake", head="causal", learns_from="verdicts", rationale=False,
                       needs_check_format=False, examples=JUDGE_FORMATS["direct"].examples,
                       step_labels=lambda r: 7, loss="lm", color="#123456",
                       description="a format that exists only in this test")
    monkeypatch.setitem(JUDGE_FORMATS, "fake", spec)
    return spec


def test_a_registered_format_is_known_everywhere(fake_format, codec, tmp_path, run_cli):
    from prmlab.experiments.config import RunConfig, resolve_config
    from prmlab.judges.load import load_judge
    from prmlab.reports.figures import color_for
    from prmlab.training.judges import make_judge

    assert JudgeConfig(format="fake").format == "fake"
    assert RunConfig(formats=["fake", "orm"]).formats == ["fake", "orm"]
    assert resolve_config(preset="smoke", sets=["label_free.formats=[fake]"]).label_free.formats == ["fake"]
    assert color_for("fake") == "#123456"
    judge = make_judge(tiny(codec, "causal"), codec, "fake")
    assert judge.name == "fake" and type(judge) is GenerativeJudge and judge.rationale is False
    # The unknown-format message lists it too.
    code, _, err = run_cli("train", "judge", "--init", tmp_path, "--data", tmp_path / "p.jsonl",
                           "--dev", tmp_path / "d.jsonl", "--out", tmp_path / "j", "--judge-format", "x")
    assert code == 2 and "(known: discriminative, discriminative-fe, generative, direct, orm, generative-rl, direct-rl, rft, fake)" in err
    # Trained, saved and loaded back with no other module edited.
    info, _, _ = train_tiny_judge(codec, tmp_path, "fake", 4)
    assert info["format"] == "fake" and info["step_labels"] == 7 * 4
    saved = json.loads((tmp_path / "judge" / "prmlab.json").read_text())
    assert saved["format"] == "fake"
    loaded = load_judge(str(tmp_path / "judge"))
    assert loaded.name == "fake" and type(loaded) is GenerativeJudge and loaded.rationale is False


def test_a_checkpoint_of_an_unregistered_format_is_refused(codec, tmp_path):
    from prmlab.judges.load import load_judge

    save_checkpoint(tmp_path / "j", tiny(codec, "causal"), codec, {"kind": "judge", "format": "gone"})
    with pytest.raises(InputError, match="not a prmlab judge .*format='gone'.*discriminative"):
        load_judge(str(tmp_path / "j"))


def test_a_format_naming_a_loss_training_lacks_fails_at_validation(fake_format, monkeypatch):
    monkeypatch.setitem(JUDGE_FORMATS, "fake", dataclasses.replace(fake_format, loss="hinge"))
    with pytest.raises(ValidationError) as e:
        JudgeConfig(format="fake")
    msg = e.value.errors()[0]["msg"]
    assert "judge format 'fake' names loss 'hinge'" in msg and "verdict-weighted-lm" in msg


def test_discriminative_fe_trains_saves_and_loads_as_a_head_judge(codec, tmp_path):
    from prmlab.judges.load import load_judge

    info, pool, dev = train_tiny_judge(codec, tmp_path, "discriminative-fe", 6)
    # the labels it paid for are the steps through each first error, not every step
    assert info["step_labels"] == sum(len(r.steps) if r.first_error == -1 else r.first_error + 1
                                      for r in pool[:6])
    assert info["step_labels"] < JUDGE_FORMATS["discriminative"].count_step_labels(pool[:6])
    loaded = load_judge(str(tmp_path / "judge"))
    assert loaded.name == "discriminative-fe" and type(loaded) is HeadJudge
    (scored,) = loaded.score(dev[:1])
    assert len(scored.step_scores) == len(dev[0].steps)
