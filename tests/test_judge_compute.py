"""Judge compute at test time: hand-worked aggregators, the meta-verifier's top-k selection,
the sampler's seeds and token bill through a stub generator, and a tiny end to end run."""

from __future__ import annotations

import dataclasses
import json

import pytest

from prmlab import seeds
from prmlab.data.record import Record
from prmlab.metrics.voting import (Check, aggregators, check_features, fit_meta_verifier, keep_count,
                                   majority, mean_p, meta_top, running_min, top_indices)
from prmlab.models.generator import Sample

# ---- aggregators, hand-worked ---------------------------------------------------------------


def test_majority_mean_and_meta_top_on_one_step():
    cs = [Check(0.9), Check(0.3), Check(0.45), Check(0.5, parsed=False), Check(0.8)]
    # parsed votes: good, bad, bad, good -> 2 of 4
    assert majority(cs) == 0.5
    assert mean_p(cs) == pytest.approx((0.9 + 0.3 + 0.45 + 0.5 + 0.8) / 5)
    # the meta-verifier trusts checks 1 and 2 (both bad) most: keep 2 -> 0 good votes
    assert meta_top(cs, [0.1, 0.9, 0.8, 0.7, 0.2], 2) == 0.0
    # keep 3: checks 1, 2 and the unparsed 3 (which does not vote) -> still 0
    assert meta_top(cs, [0.1, 0.9, 0.8, 0.7, 0.2], 3) == 0.0
    # trusting checks 0 and 4 instead: both good
    assert meta_top(cs, [0.9, 0.1, 0.1, 0.1, 0.8], 2) == 1.0


def test_top_k_selection_on_a_hand_built_case():
    assert top_indices([0.3, 0.7, 0.7, 0.1], 2) == [1, 2]
    assert top_indices([0.3, 0.7, 0.7, 0.1], 1) == [1]  # ties: the earlier check
    assert keep_count(8, 0.25) == 2 and keep_count(3, 0.25) == 1
    with pytest.raises(ValueError):
        meta_top([Check(0.9)], [0.1, 0.2], 1)


def test_the_meta_verifier_learns_that_agreeing_confident_checks_are_right():
    # Two checks of a step; the right one agrees with the label. Checks with p near 0.5 are
    # wrong in this toy set, confident ones right: the head must rank a confident check first.
    x, y = [], []
    for p, right in [(0.95, 1), (0.05, 1), (0.55, 0), (0.45, 0), (0.9, 1), (0.52, 0)] * 3:
        cs = [Check(p), Check(0.5)]
        x.append(check_features(cs, 0, 0, 1))
        y.append(right)
    mv = fit_meta_verifier(x, y)
    assert mv.train_accuracy == 1.0 and mv.positive_rate == 0.5
    cs = [Check(0.55), Check(0.1), Check(0.53)]
    scores = [mv.score(check_features(cs, i, 0, 1)) for i in range(3)]
    assert top_indices(scores, 1) == [1]
    agg = aggregators(mv, 1 / 3)["meta_top"]
    assert agg(cs, 0, 1) == 0.0  # only the confident bad check votes
    assert majority(cs) == pytest.approx(2 / 3)  # plain voting says good


def test_running_min_is_prefix_semantics():
    assert running_min([0.8, 0.9, 0.3, 0.6]) == [0.8, 0.8, 0.3, 0.3]


# ---- the sampler through a stub generator ---------------------------------------------------

class Scripted:
    """Returns, per call, the same ids for every prompt; verdict probabilities per call."""

    def __init__(self, ids, probs):
        self.ids, self.probs, self.calls = ids, probs, []

    def generate(self, prompts, *, max_new_tokens, temperature=0.0, top_k=None, stop_ids=(),
                 seed=None, logprobs=False, watch_ids=None, progress=None):
        p = self.probs[len(self.calls)]
        self.calls.append({"seed": seed, "n": len(prompts), "top_k": top_k, "temperature": temperature})
        return [Sample(list(self.ids), None, [[0.0, 0.0]] * (len(self.ids) - 1) + [list(p)]) for _ in prompts]


@pytest.fixture(scope="module")
def codec():
    from prmlab.training.base import arith_codec

    return arith_codec()


def test_sample_checks_seeds_each_pass_from_its_stream_and_bills_tokens(codec):
    from prmlab.judges.sampled_checks import sample_checks

    recs = [Record(id="a", problem="p", steps=["1 + 1 = 2", "answer = 2"], labels=[1, 1], first_error=-1)]
    ids = codec.encode("1 + 1 = 2") + [codec.ok_id]
    gen = Scripted(ids, [(0.6, 0.2), (0.1, 0.3), (0.5, 0.5)])
    cs = sample_checks(recs, codec, gen, k=3, temperature=0.7, top_k=5, seed=2)
    assert [c["seed"] for c in gen.calls] == [seeds.seed("judge.compute.check", 2, index=j) for j in range(3)]
    assert [c["seed"] for c in gen.calls] == [2_002_000, 2_002_001, 2_002_002]
    assert gen.calls[0]["top_k"] == 5 and gen.calls[0]["n"] == 2
    assert [c.p_good for c in cs.checks[0][0]] == [pytest.approx(0.75), pytest.approx(0.25), 0.5]
    assert cs.tokens(2)["generated"] == 2 * 2 * len(ids)
    assert [len(x) for x in cs.first(2)[0]] == [2, 2]
    with pytest.raises(ValueError, match="temperature"):
        sample_checks(recs, codec, gen, k=2, temperature=0.0)


def test_a_check_that_never_reaches_its_verdict_is_unparsed(codec):
    from prmlab.judges.sampled_checks import read_check

    c = read_check(Sample(codec.encode("1 + 1"), None, [[0.9, 0.1]] * 3), codec)
    assert not c.parsed and c.p_good == 0.5 and c.tokens == len(codec.encode("1 + 1"))


# ---- end to end with a tiny untrained judge ---------------------------------------------------

@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory, codec):
    import torch
    from transformers import LlamaForCausalLM

    from prmlab.models.checkpoint import save_checkpoint
    from prmlab.models.presets import llama_config
    from prmlab.training.base import FORMAT_VERSION

    torch.manual_seed(0)
    cfg = llama_config("tiny", codec.vocab_size, pad_id=codec.pad_id, bos_id=codec.bos[0],
                       eos_id=codec.eos_id, max_positions=256)
    out = tmp_path_factory.mktemp("judge") / "judge"
    save_checkpoint(out, LlamaForCausalLM(cfg), codec,
                    {"kind": "judge", "format": "generative", "base_format": FORMAT_VERSION,
                     "threshold": {"value": 0.5}})
    return out


def test_judge_compute_end_to_end(tiny_judge, tmp_path, run_cli):
    from prmlab.atomic import write_jsonl
    from prmlab.data.arith.generate import iter_records

    ev = list(iter_records(4, 5, error_rate=0.5))
    pool = list(iter_records(3, 6, error_rate=0.5))
    bon = []
    for pi, r in enumerate(iter_records(2, 7, error_rate=0.5)):
        for j in range(2):
            bon.append(dataclasses.replace(r, id=f"b{pi}-{j}", meta={**r.meta, "problem_id": f"p{pi}"}))
    write_jsonl(tmp_path / "eval.jsonl", (r.to_dict() for r in ev))
    write_jsonl(tmp_path / "pool.jsonl", (r.to_dict() for r in pool))
    write_jsonl(tmp_path / "bon.jsonl", (r.to_dict() for r in bon))
    args = ["judge-compute", "--judge", tiny_judge, "--eval", tmp_path / "eval.jsonl", "--train",
            tmp_path / "pool.jsonl", "--out", tmp_path / "run", "--ks", "1,2", "--max-new-tokens", "4",
            "--bootstrap-resamples", "20", "--bon", tmp_path / "bon.jsonl"]
    code, out, err = run_cli(*args)
    assert code == 0, err
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(m["f1"]) == {"majority", "mean_p", "meta_top"}
    for by_k in m["f1"].values():
        assert set(by_k) == {"1", "2"}
        assert by_k["2"]["judge_tokens"]["generated"] > by_k["1"]["judge_tokens"]["generated"] > 0
        assert by_k["1"]["direction"] == "higher"
    assert m["f1_baselines"]["baseline:never"]["value"] == 0.0  # acc_err = 0
    rows = (tmp_path / "run" / "checks" / "eval.jsonl").read_text().splitlines()
    assert len(rows) == sum(len(r.steps) for r in ev)
    assert all(len(json.loads(x)["p_good"]) == 2 for x in rows)
    assert (tmp_path / "run" / "judge_compute.png").stat().st_size > 0
    assert (tmp_path / "run" / "meta_verifier.json").exists()
    assert m["bon"]["N"] == 2 and set(m["bon"]["rm@N"]["majority"]) == {"1", "2"}
    assert m["bon"]["rm@N"]["mean_p"]["1"]["direction"] == "higher"


def test_judge_compute_refuses_a_head_judge(tmp_path, run_cli, tiny_judge):
    info = json.loads((tiny_judge / "prmlab.json").read_text())
    import shutil

    other = tmp_path / "disc"
    shutil.copytree(tiny_judge, other)
    (other / "prmlab.json").write_text(json.dumps({**info, "format": "discriminative"}))
    (tmp_path / "e.jsonl").write_text(json.dumps(Record(id="a", problem="p", steps=["x"], labels=[1], first_error=-1).to_dict()) + "\n")
    code, out, err = run_cli("judge-compute", "--judge", other, "--eval", tmp_path / "e.jsonl",
                             "--out", tmp_path / "o")
    assert code == 2 and "causal" in err and err.count("\n") == 1


def test_a_rerun_with_the_same_config_reuses_the_sampled_passes(tiny_judge, tmp_path, codec):
    from prmlab.atomic import write_jsonl
    from prmlab.data.arith.generate import iter_records
    from prmlab.experiments.judge_compute import JudgeComputeConfig, run_judge_compute

    write_jsonl(tmp_path / "eval.jsonl", (r.to_dict() for r in iter_records(3, 5, error_rate=0.5)))
    cfg = JudgeComputeConfig(judge=str(tiny_judge), eval=str(tmp_path / "eval.jsonl"), ks=[1, 2],
                             bootstrap_resamples=10)
    ids = codec.encode("1 + 1 = 2") + [codec.ok_id]
    first = run_judge_compute(cfg, tmp_path / "run", generator=Scripted(ids, [(0.9, 0.1), (0.1, 0.9)]))

    class Refuses:
        def generate(self, *a, **kw):
            raise AssertionError("every pass is on disk")

    again = run_judge_compute(cfg, tmp_path / "run", generator=Refuses())
    assert again["f1"] == first["f1"]
    # pass 0 says good (0.9), pass 1 bad: K=1 never flags, K=2's mean is 0.5 (not below 0.5)
    assert first["f1"]["mean_p"]["1"]["acc_cor"] == 1.0
    assert first["f1"]["mean_p"]["1"]["judge_tokens"]["generated"] * 2 == first["f1"]["mean_p"]["2"]["judge_tokens"]["generated"]
    changed = cfg.model_copy(update={"seed": 1})
    with pytest.raises(AssertionError, match="on disk"):
        run_judge_compute(changed, tmp_path / "run", generator=Refuses())
