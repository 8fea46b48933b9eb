"""Label-free step supervision: rollout labels worked out by hand with a stub `complete`,
label quality, consensus filtering, and the policy-backed sampler's compute bill."""

from __future__ import annotations

import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from prmlab.data.record import Record  # noqa: E402
from prmlab.errors import InputError  # noqa: E402
from prmlab.supervision.rollouts import (Outcome, Request, consensus_filter,  # noqa: E402
                                         derive_labels, label_quality)

torch.set_num_threads(1)

PROBLEM = ("ann has 23 coins. bob has 7 more coins than ann. "
           "cal has 3 times as many coins as bob. how many coins does cal have?")


def rec(rid: str, n: int, fe: int = -1, steps=None, problem: str = "p") -> Record:
    steps = steps or [f"s{i}" for i in range(n)]
    labels = [1] * len(steps) if fe == -1 else [1] * fe + [0] * (len(steps) - fe)
    return Record(id=rid, problem=problem, steps=steps, labels=labels, first_error=fe)


class Stub:
    """Known success probability per prefix length: exactly floor(p*k + 0.5) successes.

    `paths[j]` (optional): the generated steps of a successful rollout from prefix j; a failed
    one generates ["bad{j}"]. Records every request it sees."""

    def __init__(self, p: dict[int, float], paths: dict[int, list[str]] | None = None):
        self.p, self.paths = p, paths
        self.seen: list[Request] = []

    def __call__(self, requests):
        out = []
        for r in requests:
            self.seen.append(r)
            s = int(self.p[r.n_prefix] * r.k + 0.5)
            succ = [True] * s + [False] * (r.k - s)
            comps = None
            if self.paths is not None:
                comps = [list(self.paths[r.n_prefix]) if ok else [f"bad{r.n_prefix}"] for ok in succ]
            out.append(Outcome(succ, generated_tokens=10 * r.k, prompt_tokens=3 * r.k,
                               completions=comps))
        return out

    @property
    def rollouts(self) -> int:
        return sum(r.k for r in self.seen)


# MC(j) for the prefixes of a 4-step solution whose first real error is step 2
P4 = {0: 0.5, 1: 0.75, 2: 0.5, 3: 0.0, 4: 0.0}


def run(method, p=P4, n=4, k=4, threshold=None, paths=None):
    stub = Stub(p, paths)
    out, summary = derive_labels([rec("a", n)], method, stub, k=k, threshold=threshold)
    return out[0], summary, stub


def test_mc_hard_by_hand():
    # MC(1..4) = 3/4, 2/4, 0, 0 -> good iff any success: T T F F -> first error 2
    r, s, stub = run("mc-hard")
    assert (r.first_error, r.labels) == (2, [1, 1, 0, 0])
    m = r.meta["rollout_labels"]
    assert m["soft_scores"] == [0.75, 0.5, 0.0, 0.0]
    assert m["mc"] == [[1, 3, 4], [2, 2, 4], [3, 0, 4], [4, 0, 4]]
    assert stub.rollouts == s["rollouts"] == m["rollouts"] == 16  # n * K
    assert s["tokens_generated"] == 160 and s["tokens_processed"] == 48
    assert m["method"] == "mc-hard" and m["k"] == 4


def test_mc_soft_by_hand():
    # soft = .75 .5 0 0; threshold .5 (>=): T T F F -> 2; threshold .6: T F F F -> 1
    r, _, _ = run("mc-soft")
    assert (r.first_error, r.meta["rollout_labels"]["threshold"]) == (2, 0.5)
    assert r.meta["rollout_labels"]["soft_scores"] == [0.75, 0.5, 0.0, 0.0]
    r, _, _ = run("mc-soft", threshold=0.6)
    assert (r.first_error, r.labels) == (1, [1, 0, 0, 0])


def test_rpe_by_hand():
    # MC(0..4) = .5 .75 .5 0 0; ratios 1.5, .667, 0, undefined (0/0)
    r, s, stub = run("rpe")  # threshold .8: step 1 (.667) is the first below -> 1
    m = r.meta["rollout_labels"]
    assert r.first_error == 1
    assert m["ratios"][0] == pytest.approx(1.5) and m["ratios"][1] == pytest.approx(2 / 3)
    assert m["ratios"][2:] == [0.0, None]
    assert s["rollouts"] == stub.rollouts == 20  # (n + 1) * K: the problem alone too
    r, _, _ = run("rpe", threshold=0.6)  # .667 passes; step 2 has MC 0 -> 2
    assert r.first_error == 2
    # a hopeless start (MC(0) = 0): any progress is good
    r, _, _ = run("rpe", p={0: 0.0, 1: 0.5, 2: 0.5, 3: 0.0, 4: 0.0})
    assert r.first_error == 2 and r.meta["rollout_labels"]["ratios"][0] is None


def test_omega_by_hand():
    # lo=0, hi=5: probe 2 (MC .5 > 0) -> lo=2; probe 3 (MC 0) -> hi=3; first error 3-1 = 2
    r, s, stub = run("omega")
    assert (r.first_error, r.labels) == (2, [1, 1, 0, 0])
    assert r.meta["rollout_labels"]["probes"] == [2, 3]
    assert [q.n_prefix for q in stub.seen] == [2, 3]
    assert s["rollouts"] == 8 and s["rounds"] == 2


def test_omega_spends_fewer_rollouts_than_mc_hard_on_a_long_solution():
    p = {j: (1.0 if j <= 6 else 0.0) for j in range(9)}  # 8 steps, first error at step 6
    om, so, _ = run("omega", p=p, n=8)
    mc, sm, _ = run("mc-hard", p=p, n=8)
    assert om.first_error == mc.first_error == 6
    # probes 4 (good), 6 (good), 7 (bad): 3 probes
    assert om.meta["rollout_labels"]["probes"] == [4, 6, 7]
    assert (so["rollouts"], sm["rollouts"]) == (12, 32)
    ok = {j: 1.0 for j in range(9)}  # a correct solution: probes 4, 6, 7, 8 -> no error
    om, so, _ = run("omega", p=ok, n=8)
    assert om.first_error == -1 and so["rollouts"] == 16  # mc-hard: 32


def test_tree_without_completion_texts():
    # no texts: nothing pooled; V = .5 .75 .5 0 0; margin .5: V(3) = 0 -> step 2 wrong
    r, s, _ = run("tree")
    m = r.meta["rollout_labels"]
    assert r.first_error == 2 and m["values"] == [0.5, 0.75, 0.5, 0.0, 0.0]
    assert s["rollouts"] == 20 and m["preferences"] == []
    r, _, _ = run("tree", threshold=0.2)  # V(1) - V(2) = .25 > .2 -> step 1 wrong
    assert r.first_error == 1


def test_tree_pools_rollouts_through_shared_prefixes_and_compares_siblings():
    # Spine s0 s1 s2; s2 is wrong (the right step is c2). Successes from prefix j follow the
    # right path; failures go astray with "bad{j}". K = 2.
    p = {0: 0.5, 1: 1.0, 2: 1.0, 3: 0.0}
    paths = {0: ["s0", "s1", "c2"], 1: ["s1", "c2"], 2: ["c2"], 3: []}
    r, s, stub = run("tree", p=p, n=3, k=2, paths=paths)
    m = r.meta["rollout_labels"]
    # node 0 draws 2 [ok via s0 s1, fail]; the success is pooled at nodes 1 and 2 -> node 1
    # draws 1 (pooled into node 2 too) -> node 2 has 2 already -> node 3 draws 2 (both fail)
    assert [(q.n_prefix, q.k) for q in stub.seen] == [(0, 2), (1, 1), (3, 2)]
    assert m["n_samples"] == [2, 2, 2, 2] and m["drawn"] == [2, 1, 0, 2]
    assert m["values"] == [0.5, 1.0, 1.0, 0.0]
    assert r.first_error == 2 and s["rollouts"] == 5  # rpe would spend 8
    prefs = {(q["prefix"], q["chosen"], q["rejected"]): q for q in m["preferences"]}
    assert set(prefs) == {(0, "s0", "bad0"), (2, "c2", "s2")}
    assert prefs[(0, "s0", "bad0")]["solution_step"] == "chosen"
    assert prefs[(2, "c2", "s2")]["solution_step"] == "rejected"
    assert (prefs[(2, "c2", "s2")]["chosen_n"], prefs[(2, "c2", "s2")]["rejected_rate"]) == (2, 0.0)


def test_terminal_prefixes_cost_nothing_and_use_the_gold_answer():
    steps = ["23 + 7 = 30", "30 * 3 = 90", "answer = 90"]
    stub = Stub({1: 1.0, 2: 1.0})
    out, s = derive_labels([rec("a", 0, steps=steps, problem=PROBLEM)], "mc-hard", stub, k=3)
    assert out[0].first_error == -1
    assert [q.n_prefix for q in stub.seen] == [1, 2]  # the answered prefix never reaches it
    assert (s["rollouts"], s["terminal_prefixes"]) == (6, 1)
    wrong = steps[:2] + ["answer = 91"]
    out, _ = derive_labels([rec("b", 0, steps=wrong, problem=PROBLEM)], "mc-hard", Stub({1: 1.0, 2: 1.0}), k=3)
    assert out[0].first_error == 2


def test_records_advance_together_one_call_per_round():
    calls = []

    def complete(reqs):
        calls.append(len(reqs))
        return [Outcome([True] * r.k) for r in reqs]

    derive_labels([rec("a", 4), rec("b", 8), rec("c", 2)], "omega", complete, k=2)
    # omega rounds: a (n=4) probes 2,3,4; b (n=8) 4,6,7,8; c (n=2) 1,2 -> 3,3,2,1 requests/round
    assert calls == [3, 3, 2, 1]


def test_bad_method_and_threshold():
    with pytest.raises(InputError):
        derive_labels([rec("a", 2)], "nope", Stub(P4), k=2)
    with pytest.raises(InputError):
        derive_labels([rec("a", 2)], "mc-hard", Stub(P4), k=2, threshold=0.5)
    with pytest.raises(InputError):
        derive_labels([rec("a", 2, steps=["answer = 3"])], "mc-hard", Stub(P4), k=2)  # no gold


def test_label_quality_by_hand():
    oracle = [rec("A", 3, -1), rec("B", 3, 1), rec("C", 2, 0), rec("D", 2, -1)]
    derived = [rec("A", 3, -1), rec("B", 3, 2), rec("C", 2, 0), rec("D", 2, 1)]
    q = label_quality(derived, oracle)
    # steps: A 3/3 agree; B d110 vs o100 -> 2/3 (one missed wrong, one hit); C 00 vs 00;
    # D d10 vs o11 -> one false alarm. 8/10 agree; wrong: tp 3, fp 1, fn 1.
    assert q["n"] == 4 and q["n_steps"] == 10
    assert q["step_agreement"] == pytest.approx(0.8)
    assert q["wrong_precision"] == pytest.approx(0.75) and q["wrong_recall"] == pytest.approx(0.75)
    assert q["wrong_f1"] == pytest.approx(0.75)
    assert q["first_error_exact"] == pytest.approx(0.5)  # A and C
    assert q["acc_err"] == pytest.approx(0.5) and q["acc_cor"] == pytest.approx(0.5)
    assert q["pb_f1"] == pytest.approx(0.5)
    assert q["error_precision"] == pytest.approx(2 / 3) and q["error_recall"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        label_quality([rec("Z", 2)], oracle)


def test_consensus_filter():
    rs = [rec("r1", 3, 2), rec("r2", 3, -1), rec("r3", 3, 0), rec("r4", 3, 1), rec("r5", 3, 1)]
    kept, info = consensus_filter(rs, {"r1": 2, "r2": -1, "r3": 1, "r4": None})
    assert [r.id for r in kept] == ["r1", "r2"]
    assert (info["n"], info["judged"], info["missing"], info["judge_unparsed"]) == (5, 4, 1, 1)
    assert info["kept_fraction"] == pytest.approx(0.4)
    assert info["kept_fraction_of_judged"] == pytest.approx(0.5)
    assert (info["kept_with_error"], info["kept_correct"]) == (1, 1)


# ---- the real sampler on a tiny random Llama ----------------------------------------------------

@pytest.fixture(scope="module")
def tiny_policy():
    from transformers import LlamaForCausalLM

    from prmlab.models.presets import llama_config
    from prmlab.training.base import arith_codec

    codec = arith_codec()
    torch.manual_seed(0)
    cfg = llama_config("tiny", codec.vocab_size, pad_id=codec.pad_id,
                       bos_id=codec.bos[0] if codec.bos else codec.eos_id, eos_id=codec.eos_id)
    return LlamaForCausalLM(cfg).eval(), codec


def _records(n=3):
    from prmlab.data.arith.generate import iter_records

    rs = list(iter_records(n, seed=5, error_rate=0.5))
    # a second solution of the first problem sharing its first step: identical prefixes
    dup = Record(id="dup", problem=rs[0].problem, steps=rs[0].steps[:1] + ["zoe = 1 + 1 = 2"],
                 labels=[None, None], first_error=None)
    return rs + [dup]


def test_sampler_bill_matches_independent_token_count(tiny_policy):
    from prmlab.training import rollout_sampler as rs_mod

    from prmlab.models.generator import KVCacheGenerator

    model, codec = tiny_policy
    seen = {"gen": 0, "prompt": 0, "rollouts": 0, "calls": 0}
    real = KVCacheGenerator(model, pad_id=codec.pad_id)

    class Counting:  # a generator that counts what passes through it
        def generate(self, prompts, **kw):
            out = real.generate(prompts, **kw)
            seen["gen"] += sum(len(s.ids) for s in out)  # counted here, independently
            seen["prompt"] += sum(len(p) for p in prompts)
            seen["rollouts"] += len(prompts)
            seen["calls"] += 1
            return out

    records = _records()
    sampler = rs_mod.RolloutSampler(model, codec, temperature=1.0, max_new_tokens=12, seed=0,
                                    generator=Counting())
    sampler.begin_run()
    out, s = derive_labels(records, "mc-hard", sampler, k=2)
    assert seen["calls"] == 1  # one batched generate for every prefix of every record
    assert s["tokens_generated"] == seen["gen"] > 0
    assert s["tokens_processed"] == seen["prompt"]
    assert s["rollouts"] == seen["rollouts"]
    assert sum(r.meta["rollout_labels"]["tokens_generated"] for r in out) == seen["gen"]
    # the duplicate's first prefix is shared: drawn once, paid by the first record
    n_prefixes = sum(1 for r in records for j in range(1, len(r.steps) + 1)
                     if not any(x.startswith("answer") for x in r.steps[:j]))
    assert seen["rollouts"] == 2 * (n_prefixes - 1)
    dup = out[-1].meta["rollout_labels"]
    assert dup["rollouts_used"] - dup["rollouts"] == 2
    for r in out:  # prefix semantics and a valid record
        assert r.labels == ([1] * len(r.steps) if r.first_error == -1 else
                            [1] * r.first_error + [0] * (len(r.steps) - r.first_error))
        from prmlab.data.record import record_from_dict
        record_from_dict(json.loads(json.dumps(r.to_dict())))

    # a second run at a larger K reuses the first run's draws but bills as if alone
    before = dict(seen)
    sampler.begin_run()
    _, s3 = derive_labels(records, "mc-hard", sampler, k=3)
    assert seen["rollouts"] - before["rollouts"] == n_prefixes - 1  # one more per prefix
    assert s3["rollouts"] == 3 * (n_prefixes - 1)
    assert sampler.stats["tokens_generated"] == seen["gen"]


def test_label_cli_end_to_end(tiny_policy, tmp_path):
    import typer

    from prmlab.atomic import write_jsonl
    from prmlab.cli import label as label_cli
    from prmlab.models.checkpoint import save_checkpoint

    model, codec = tiny_policy
    ckpt = save_checkpoint(tmp_path / "policy", model, codec, {"kind": "policy"})
    records = _records()[:3]
    data = tmp_path / "data.jsonl"
    write_jsonl(data, (r.to_dict() for r in records))
    judge = tmp_path / "samples.jsonl"
    write_jsonl(judge, [{"id": r.id, "prediction": r.first_error} for r in records])
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    label_cli.register(app)
    out = tmp_path / "labels.jsonl"
    app(["label", "--method", "omega", "--policy", str(ckpt), "--data", str(data), "--out", str(out),
         "--k", "2", "--max-new-tokens", "10", "--quality", "--quality-ks", "1,2",
         "--consensus", str(judge)], standalone_mode=False)
    labelled = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in labelled] == [r.id for r in records]
    summary = json.loads((tmp_path / "labels.summary.json").read_text())
    assert summary["rollouts"] == sum(r["meta"]["rollout_labels"]["rollouts"] for r in labelled)
    assert summary["consensus"]["n"] == 3
    q = json.loads((tmp_path / "labels.quality.json").read_text())
    assert {(r["method"], r["k"]) for r in q["rows"]} == {(m, k) for m in
                                                          ("mc-hard", "mc-soft", "rpe", "omega", "tree",
                                                           "abs-q", "rel-ratio", "rel-effective")
                                                          for k in (1, 2)}
    assert (tmp_path / "labels.quality.png").stat().st_size > 1000
    assert (tmp_path / "labels.consensus.jsonl").exists()


def test_label_cli_rejects_problems_without_a_gold_answer(tmp_path):
    import typer

    from prmlab.atomic import write_jsonl
    from prmlab.cli import label as label_cli

    data = tmp_path / "data.jsonl"
    write_jsonl(data, [rec("x", 2, problem="what is 2 + 2?").to_dict()])
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    label_cli.register(app)
    with pytest.raises(InputError, match="record 'x'.*not an arith problem"):
        app(["label", "--method", "mc-hard", "--policy", str(tmp_path / "none"), "--data", str(data),
             "--out", str(tmp_path / "o.jsonl")], standalone_mode=False)
    with pytest.raises(InputError, match="unknown --method"):
        app(["label", "--method", "mc", "--policy", str(tmp_path), "--data", str(data),
             "--out", str(tmp_path / "o.jsonl")], standalone_mode=False)
