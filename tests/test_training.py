"""The training loop and checkpoints: accumulation, determinism, round trips, judges end to end.

Every model here is the `tiny` preset (~0.02M parameters) and every fit a few steps.
"""

from __future__ import annotations

import copy
import json

import pytest
import torch
from transformers import (AutoModelForCausalLM, AutoModelForTokenClassification, LlamaForCausalLM,
                          LlamaForTokenClassification)

from prmlab.data.arith.generate import iter_records
from prmlab.errors import InputError
from prmlab.models.checkpoint import load_model, save_checkpoint
from prmlab.models.presets import llama_config
from prmlab.supervision.budget import step_labels_through_first_error
from prmlab.training.base import FORMAT_VERSION, arith_codec
from prmlab.training.judges import JudgeConfig, head_examples, train_judge
from prmlab.training.loop import FitConfig, causal_lm_loss, fit, token_cls_loss


@pytest.fixture(scope="module")
def codec():
    return arith_codec()


def tiny_config(codec, **kw):
    cfg = llama_config("tiny", codec.vocab_size, pad_id=codec.pad_id, bos_id=codec.bos[0],
                       eos_id=codec.eos_id, max_positions=256)
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


def tiny_causal(codec, seed=0):
    torch.manual_seed(seed)
    return LlamaForCausalLM(tiny_config(codec))


def tiny_token(codec, seed=0, dropout=0.0):
    # transformers gives the token-classification head dropout 0.1 unless told otherwise; off
    # here so that runs which draw random numbers in a different order can be compared
    torch.manual_seed(seed)
    return LlamaForTokenClassification(tiny_config(codec, num_labels=2, classifier_dropout=dropout))


def lm_examples(codec, n, seed=0):
    """Whole solutions as causal-LM examples (labels = inputs): lengths differ."""
    out = []
    for r in iter_records(n, seed):
        ids, _ = codec.solution(r.problem, r.steps)
        out.append({"input_ids": ids + [codec.eos_id], "labels": ids + [codec.eos_id]})
    return out


def _cpu_state(m):
    # fit moves a model to the accelerator where there is one; compare on the CPU.
    return {k: v.detach().cpu() for k, v in m.state_dict().items()}


def assert_same_weights(a, b, atol=0.0):
    sa, sb = _cpu_state(a), _cpu_state(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        if atol:
            torch.testing.assert_close(sa[k], sb[k], atol=atol, rtol=0, msg=k)
        else:
            assert torch.equal(sa[k], sb[k]), k


def moved(a, b) -> bool:
    return any(not torch.equal(x, y) for x, y in zip(_cpu_state(a).values(), _cpu_state(b).values()))


# ---- (a) batch 8 x accumulation 1 == batch 1 x accumulation 8 -------------------------------

@pytest.mark.parametrize("head", ["causal", "token"])
def test_grad_accumulation_matches_big_batch(codec, head):
    if head == "causal":
        model, examples, loss_fn = tiny_causal(codec), lm_examples(codec, 8), causal_lm_loss
    else:
        model, loss_fn = tiny_token(codec), token_cls_loss
        examples = head_examples(codec, list(iter_records(8, 0)), "discriminative", 512)
    lengths = {len(e["input_ids"]) for e in examples}
    assert len(examples) == 8 and len(lengths) > 1  # padding matters
    start = copy.deepcopy(model)
    big, small = copy.deepcopy(model), copy.deepcopy(model)
    base = dict(lr=1e-3, warmup_steps=0, max_steps=2, bf16=False, seed=0, weight_decay=0.01)
    # 8 examples: each step of either run sees all 8 (a fresh permutation per step)
    r_big = fit(big, examples, FitConfig(batch_size=8, grad_accum=1, **base),
                pad_id=codec.pad_id, loss_fn=loss_fn)
    r_small = fit(small, examples, FitConfig(batch_size=1, grad_accum=8, **base),
                  pad_id=codec.pad_id, loss_fn=loss_fn)
    assert r_big.steps == r_small.steps == 2
    assert r_big.tokens == r_small.tokens  # same targets counted
    assert r_big.tokens_processed == r_small.tokens_processed == 2 * sum(
        len(e["input_ids"]) for e in examples)
    assert moved(start, big)
    assert_same_weights(big, small, atol=1e-5)


# ---- (b) checkpoints round trip -------------------------------------------------------------

def _logits(model, ids):
    model.eval()
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits


def test_checkpoint_round_trip_causal_and_token(codec, tmp_path):
    ids = torch.tensor([codec.solution(r.problem, r.steps)[0][:30] for r in iter_records(2, 0)])
    for head, model, auto in (("causal", tiny_causal(codec), AutoModelForCausalLM),
                              ("token", tiny_token(codec), AutoModelForTokenClassification)):
        out = tmp_path / head
        save_checkpoint(out, model, codec, {"kind": "test", "head": head})
        files = {p.name for p in out.iterdir()}
        assert any(f.endswith(".safetensors") for f in files), files
        assert "pytorch_model.bin" not in files
        assert {"config.json", "prmlab.json", "prmlab_text.json", "tokenizer.json"} <= files
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left
        want = _logits(model, ids)
        got = _logits(load_model(out, head), ids)
        assert torch.equal(want, got)
        plain = auto.from_pretrained(str(out))  # plain transformers, no prmlab
        assert torch.equal(want, _logits(plain, ids))
        info = json.loads((out / "prmlab.json").read_text())
        assert info["kind"] == "test" and "provenance" in info


def test_load_model_refuses_folder_without_safetensors(codec, tmp_path):
    model = tiny_causal(codec)
    model.config.save_pretrained(str(tmp_path))
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(InputError, match="safetensors"):
        load_model(tmp_path)
    with pytest.raises(InputError):
        load_model(tmp_path / "missing")


# ---- (c) determinism ------------------------------------------------------------------------

@pytest.mark.parametrize("head", ["causal", "token"])
def test_same_seed_same_weights_other_seed_differs(codec, head):
    if head == "causal":
        examples, init, loss_fn = lm_examples(codec, 8), tiny_causal(codec), causal_lm_loss
    else:  # with the head's dropout on, as judges train: fit's seed fixes the masks too
        examples = head_examples(codec, list(iter_records(8, 0)), "discriminative", 512)
        init, loss_fn = tiny_token(codec, dropout=0.1), token_cls_loss

    def run(seed):
        m = copy.deepcopy(init)
        fit(m, examples, FitConfig(lr=3e-3, warmup_steps=1, batch_size=2, max_steps=3, seed=seed,
                                   bf16=False), pad_id=codec.pad_id, loss_fn=loss_fn)
        return m

    a, b, c = run(0), run(0), run(1)
    for (n, x), y in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(x, y), n
    assert moved(a, init)
    assert moved(a, c)  # another seed draws other batches


# ---- (d) judges end to end ------------------------------------------------------------------

@pytest.fixture(scope="module")
def base_ckpt(tmp_path_factory, codec):
    out = tmp_path_factory.mktemp("base") / "base"
    save_checkpoint(out, tiny_causal(codec), codec, {"kind": "base", "format": FORMAT_VERSION})
    return out


POOL = list(iter_records(16, 11))
DEV = list(iter_records(6, 12))


def judge_cfg(fmt, **kw):
    return JudgeConfig(format=fmt, budget=len(POOL), lrs=[1e-3], seed=0, **kw,
                       fit=FitConfig(batch_size=8, max_steps=4, eval_every=2, warmup_steps=1,
                                     bf16=False))


@pytest.mark.parametrize("fmt", ["discriminative", "generative", "direct", "orm"])
def test_train_judge_each_format(base_ckpt, tmp_path, fmt):
    out = tmp_path / fmt
    info = train_judge(judge_cfg(fmt), base_ckpt, POOL, DEV, out, log=lambda s: None)
    saved = json.loads((out / "prmlab.json").read_text())
    assert any(p.suffix == ".safetensors" for p in out.iterdir())
    assert not (out / "pytorch_model.bin").exists()
    assert saved["kind"] == "judge" and saved["format"] == fmt
    assert saved["budget_solutions"] == 16
    expected = {"discriminative": sum(len(r.steps) for r in POOL),
                "generative": sum(step_labels_through_first_error(r) for r in POOL),
                "direct": sum(step_labels_through_first_error(r) for r in POOL),
                "orm": len(POOL)}[fmt]
    assert saved["step_labels"] == expected
    assert saved["selection"]["chosen_lr"] == 1e-3
    (trial,) = saved["selection"]["trials"]
    assert trial["steps"] == 4 and trial["best_step"] in (2, 4)
    assert saved["selection"]["chosen_step"] == trial["best_step"]
    if fmt == "generative":
        f = saved["filter"]
        assert 0 < f["kept_fraction"] <= 1 and f["chains"] == 16
        assert f["kept"] == round(f["kept_fraction"] * 16)
    else:
        assert "filter" not in saved
    assert info["step_labels"] == saved["step_labels"]
    head = "token" if fmt in ("discriminative", "orm") else "causal"
    load_model(out, head)  # loads with the head it was trained with


def test_train_judge_cli_reports_both_thresholds(base_ckpt, tmp_path, run_cli):
    from prmlab.data.jsonl import write_jsonl

    write_jsonl(tmp_path / "pool.jsonl", (r.to_dict() for r in POOL))
    write_jsonl(tmp_path / "dev.jsonl", (r.to_dict() for r in DEV))
    code, out, err = run_cli("train", "judge", "--init", base_ckpt, "--data", tmp_path / "pool.jsonl",
                             "--dev", tmp_path / "dev.jsonl", "--out", tmp_path / "j", "--judge-format", "orm",
                             "--budget", "8", "--set", "lrs=[1e-3]", "--set", "fit.max_steps=2",
                             "--set", "fit.eval_every=1", "--set", "tune_threshold=true")
    assert code == 0, err
    saved = json.loads((tmp_path / "j" / "prmlab.json").read_text())["threshold"]
    assert saved["tuned"] is True and saved["other"] == {"value": 0.5, "tuned": False,
                                                         "dev_f1": saved["other"]["dev_f1"]}
    said = out + err
    assert "tuned on dev" in said and "fixed" in said


def test_a_dev_split_of_one_class_trains_at_half_and_reports_no_tuned_threshold(base_ckpt, tmp_path):
    wrong = [r for r in iter_records(40, 13) if r.first_error != -1][:6]
    assert len(wrong) == 6
    info = train_judge(judge_cfg("orm"), base_ckpt, POOL, wrong, tmp_path / "j", log=lambda s: None)
    assert info["threshold"]["value"] == 0.5 and info["threshold"]["other"] is None
    with pytest.raises(InputError, match="tune_threshold"):
        train_judge(judge_cfg("orm", tune_threshold=True), base_ckpt, POOL, wrong, tmp_path / "k",
                    log=lambda s: None)


def test_a_base_of_another_check_format_is_refused_for_chains(codec, tmp_path):
    """Teacher chains are written in the current check format: a base that learnt another one
    would be fine-tuned on a format, not on checking. Judges that read no check text train as
    before."""
    old = tmp_path / "old-base"
    save_checkpoint(old, tiny_causal(codec), codec, {"kind": "base"})  # saved before formats were
    with pytest.raises(InputError, match="check format 3 and prmlab now writes format 5"):
        train_judge(judge_cfg("generative"), old, POOL, DEV, tmp_path / "generative", log=lambda s: None)
    for fmt in ("direct", "discriminative"):
        train_judge(judge_cfg(fmt), old, POOL, DEV, tmp_path / f"{fmt}-ok", log=lambda s: None)
    hf = tmp_path / "hf"  # not a prmlab base: its own text format, nothing to compare
    save_checkpoint(hf, tiny_causal(codec), codec, {})
    train_judge(judge_cfg("generative"), hf, POOL, DEV, tmp_path / "h", log=lambda s: None)


def test_teacher_errors_are_filtered(base_ckpt, tmp_path):
    cfg = judge_cfg("generative", teacher_error_rate=1.0)
    cfg.fit.max_steps = 2
    info = train_judge(cfg, base_ckpt, POOL, DEV, tmp_path / "gen", log=lambda s: None)
    assert 0 < info["filter"]["kept_fraction"] < 1
    assert info["filter"]["kept"] < info["filter"]["chains"] == 16


def test_weighted_lm_loss_counts_chosen_tokens_w_times(codec):
    from prmlab.training.loop import pad_batch, weighted_lm_loss

    torch.manual_seed(0)
    model = LlamaForCausalLM(llama_config("tiny", codec.vocab_size, pad_id=codec.pad_id,
                                          bos_id=codec.bos[0], eos_id=codec.eos_id))
    ids = codec.encode("1 + 2 = 3") + [codec.ok_id, codec.eos_id]
    labels = [-100] * 3 + ids[3:]
    batch = pad_batch([{"input_ids": ids, "labels": labels}], codec.pad_id)
    plain, n = causal_lm_loss(model, batch)
    same, n1 = weighted_lm_loss({codec.ok_id: 1.0})(model, batch)
    heavy, n2 = weighted_lm_loss({codec.ok_id: 5.0, codec.bad_id: 5.0})(model, batch)
    # The per-token loss of the verdict, worked out directly.
    logits = model(input_ids=batch["input_ids"]).logits[0]
    pos = ids.index(codec.ok_id)
    ce_ok = torch.nn.functional.cross_entropy(logits[pos - 1:pos].float(), torch.tensor([codec.ok_id]))
    assert n == n1 == n2 == len(ids) - 3  # the count of targets is not weighted
    assert torch.allclose(same, plain)
    assert torch.allclose(heavy, plain + 4 * ce_ok, rtol=1e-5)
    # default=0: only the verdict counts (rationale tokens still count in n, keeping the scale).
    only, n3 = weighted_lm_loss({codec.ok_id: 5.0}, default=0.0)(model, batch)
    assert n3 == n
    assert torch.allclose(only, 5 * ce_ok, rtol=1e-5)


def test_bf16_autocast_only_where_it_pays(monkeypatch):
    import prmlab.training.loop as L

    # Left to None: from 5M parameters on either device (slower below on CPU, and no faster but
    # less accurate on an H200: dev/LOG.md 2026-11-27), where the device has native bf16.
    monkeypatch.setattr(L, "native_bf16", lambda device_type: True)
    assert L.bf16_pays(None, "cuda", 826_496) is False
    assert L.bf16_pays(None, "cuda", 5_000_000) is True
    assert L.bf16_pays(None, "cpu", 826_496) is False
    assert L.bf16_pays(None, "cpu", 5_000_000) is True
    # An explicit setting wins, but never on a device without bf16 autocast.
    assert L.bf16_pays(True, "cpu", 1_000) is True
    assert L.bf16_pays(False, "cuda", 10 ** 9) is False
    assert L.bf16_pays(True, "mps", 10 ** 9) is False
    # An AVX2-only CPU emulates bf16 (a base step ~5x slower): never chosen for it; asked for
    # explicitly, it is honoured and said once.
    monkeypatch.setattr(L, "native_bf16", lambda device_type: False)
    monkeypatch.setattr(L, "_warned_emulated_bf16", False)
    assert L.bf16_pays(None, "cpu", 10 ** 9) is False
    with pytest.warns(UserWarning, match="no native bf16"):
        assert L.bf16_pays(True, "cpu", 1_000) is True
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert L.bf16_pays(True, "cpu", 1_000) is True  # said once only


def test_native_bf16_is_what_onednn_reports():
    import prmlab.training.loop as L

    assert L.native_bf16("cpu") is bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert L.native_bf16("mps") is False


def test_dev_f1_at_half_and_at_the_tuned_threshold(monkeypatch, codec):
    """Worked by hand: a judge that ranks every step right but scores them all below 0.5."""
    from prmlab.data.record import Record
    from prmlab.judges.protocol import StepScores
    import prmlab.training.judges as J

    dev = [Record(id="e0", problem="p", steps=["a", "b"], labels=[0, 0], first_error=0),
           Record(id="e1", problem="p", steps=["a", "b"], labels=[1, 0], first_error=1),
           Record(id="c", problem="p", steps=["a", "b"], labels=[1, 1], first_error=-1)]
    fixed = {"e0": [0.1, 0.1], "e1": [0.4, 0.2], "c": [0.4, 0.45]}

    class Stub:
        def score(self, recs):
            return [StepScores(r.id, fixed[r.id]) for r in recs]

    monkeypatch.setattr(J, "make_judge", lambda *a, **k: Stub())
    # At 0.5 every first step is flagged: e0 right, e1 wrong, c wrong -> acc_err 1/2, acc_cor 0.
    assert J.dev_f1(None, codec, "discriminative", dev, tune=False) == (0.0, 0.5)
    # Any t in (0.2, 0.4] gets all three right; the closest to 0.5 is 0.4 (scores' own value
    # 0.4 is not below it), so e1's second step 0.2 < 0.4 and c's 0.4 is kept.
    f1, t = J.dev_f1(None, codec, "discriminative", dev, tune=True)
    assert f1 == 1.0 and 0.2 < t <= 0.4


def test_a_fit_records_the_precision_it_ran_in(codec):
    examples = lm_examples(codec, 4)
    kw = dict(lr=1e-3, warmup_steps=0, max_steps=1, batch_size=4, seed=0)
    auto = fit(tiny_causal(codec), examples, FitConfig(**kw), pad_id=codec.pad_id)
    forced = fit(tiny_causal(codec), examples, FitConfig(bf16=True, **kw), pad_id=codec.pad_id)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert auto.precision == "fp32"  # a tiny model: bf16 does not pay on either device
    assert forced.precision == ("bf16-autocast" if device in ("cpu", "cuda") else "fp32")
    assert auto.to_dict()["precision"] == "fp32"


def test_a_later_learning_rate_is_abandoned_where_it_trails(base_ckpt, tmp_path):
    def trials(**kw):
        cfg = judge_cfg("orm", **kw)
        cfg.lrs = [1e-3, 3e-4]
        info = train_judge(cfg, base_ckpt, POOL, DEV, tmp_path / str(len(kw)), log=lambda s: None)
        return info["selection"]["trials"]

    full = trials()
    assert [t["steps"] for t in full] == [4, 4] and "abandoned" not in {t["stopped_by"] for t in full}
    assert set(full[0]["curve"]) == {2, 4}
    # A margin of -1 means "trails unless it beats the earlier run by 1": always, from step 2.
    cut = trials(abandon_margin=-1.0, abandon_after=2)
    assert cut[0]["steps"] == 4 and cut[0]["stopped_by"] != "abandoned"  # the first runs in full
    assert cut[1]["steps"] == 2 and cut[1]["stopped_by"] == "abandoned"
    # Not before abandon_after, and never at the last step (nothing left to save).
    late = trials(abandon_margin=-1.0, abandon_after=4)
    assert late[1]["steps"] == 4 and late[1]["stopped_by"] != "abandoned"


def test_lr_schedule_cosine_after_warmup_by_hand():
    from prmlab.training.loop import FitConfig, _lr_at

    cfg = FitConfig(lr=1.0, warmup_steps=10, max_steps=100, min_lr_ratio=0.0)
    # Cosine from the end of warmup (step 10) over 90 steps: half-way at 55, cos(pi/2) = 0.
    assert [round(_lr_at(s, cfg, 100), 3) for s in (0, 9, 10, 55, 80, 90, 100)] == [0.1, 1.0, 1.0, 0.5, 0.117, 0.03, 0.0]


def test_removed_decay_steps_is_refused_by_name_and_reads_at_null():
    from prmlab.training.base import BaseConfig
    from prmlab.training.loop import FitConfig

    with pytest.raises(ValueError, match="fit.decay_steps was removed"):
        FitConfig(decay_steps=400)
    assert FitConfig.model_validate({"lr": 0.5, "decay_steps": None}) == FitConfig(lr=0.5)
    saved = {"fit": {**BaseConfig().fit.model_dump(), "decay_steps": None}}  # as `config show` printed it
    assert BaseConfig.model_validate(saved).key() == BaseConfig().key() == "ffebf5a5f8a2eec3"


def test_fit_uses_fused_adamw_with_the_per_tensor_update(codec, monkeypatch):
    """The fused optimizer is the same AdamW: 5 steps end at the per-tensor loop's weights."""
    import prmlab.training.loop as L

    examples = lm_examples(codec, 8)
    cfg = FitConfig(lr=1e-2, warmup_steps=0, max_steps=5, batch_size=4, weight_decay=0.1, seed=0)
    made = []
    real = torch.optim.AdamW

    def recording(*a, **kw):
        made.append(kw.get("fused"))
        return real(*a, **kw)

    monkeypatch.setattr(L.torch.optim, "AdamW", recording)
    fused = tiny_causal(codec)
    fit(fused, examples, cfg, pad_id=codec.pad_id)
    monkeypatch.setattr(L.torch.optim, "AdamW", lambda *a, **kw: real(*a, **{**kw, "fused": None}))
    loop = tiny_causal(codec)
    fit(loop, examples, cfg, pad_id=codec.pad_id)
    assert made == [True]
    start = tiny_causal(codec).state_dict()
    for (name, a), b in zip(fused.state_dict().items(), loop.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5), name
    moved = [n for n, p in fused.state_dict().items() if not torch.equal(p, start[n])]
    assert moved  # the comparison is between weights that trained
