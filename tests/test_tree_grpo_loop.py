"""Tree-GRPO's sampler and trainer: trees grown from a scripted generator (token accounting,
expansion points at step boundaries, budgets, prefixes), and `prmlab tree-grpo` end to end on a
tiny random policy (run folder, matched chain group, resume, bad input)."""

from __future__ import annotations

import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from prmlab.data.tasks import ARITH  # noqa: E402
from prmlab.models.generator import Sample  # noqa: E402
from prmlab.training.grpo import RLConfig  # noqa: E402
from prmlab.training.rewards import RewardConfig, build_reward  # noqa: E402
from prmlab.training.tree_grpo import TreeConfig  # noqa: E402
from prmlab.training.tree_loop import TreeGRPO, expansion_points, step_ends  # noqa: E402

torch.set_num_threads(1)

P = ("ann has 23 coins. bob has 7 more coins than ann. "
     "cal has 3 times as many coins as bob. how many coins does cal have?")


@pytest.fixture(scope="module")
def codec():
    from prmlab.training.base import arith_codec

    return arith_codec()


@pytest.fixture(scope="module")
def tiny_model(codec):
    from transformers import LlamaForCausalLM

    from prmlab.models.presets import llama_config

    torch.manual_seed(0)
    cfg = llama_config("tiny", codec.vocab_size, pad_id=codec.pad_id,
                       bos_id=codec.bos[0] if codec.bos else codec.eos_id, eos_id=codec.eos_id)
    return LlamaForCausalLM(cfg)


class Scripted:
    """A generator that continues every prompt with the same steps "3", "3", "3", then end of
    sequence (7 tokens: 3 se 3 se 3 se eos), cut to max_new_tokens; it records the calls."""

    def __init__(self, codec):
        three = codec.encode("3")
        assert len(three) == 1 and len(codec.step_end) == 1
        self.script = (three + codec.step_end) * 3 + [codec.eos_id]
        self.calls: list[tuple[list[list[int]], int]] = []

    def generate(self, prompts, *, max_new_tokens, temperature=0.0, top_k=None, stop_ids=(),
                 seed=None, logprobs=False, watch_ids=None, progress=None):
        self.calls.append(([list(p) for p in prompts], max_new_tokens))
        ids = self.script[:max_new_tokens]
        return [Sample(list(ids), [-0.5] * len(ids)) for _ in prompts]


def test_trees_from_a_scripted_generator(codec, tiny_model):
    gen = Scripted(codec)
    cfg = RLConfig(steps=1, prompts_per_step=2, max_new_tokens=7)
    tc = TreeConfig(m_trees=2, n_expand=2, l_rounds=1, advantage="sum")
    tree = TreeGRPO(tiny_model, codec, cfg, tc, build_reward(RewardConfig(), ARITH, seed=0), ARITH,
                    generator=gen)
    tb = tree.sample([P], 0)
    # step boundaries of a 7-token chain "3 se 3 se 3 se eos": offsets 2, 4, 6 (after each step)
    from prmlab.training.tree_grpo import Leaf
    from prmlab.training.tree_loop import PromptTrees

    chain = PromptTrees(P, 0, [Leaf(0, 7)], [gen.script], [[0.0] * 7])
    assert expansion_points(chain, 0, codec, ARITH) == [(0, 2), (0, 4), (0, 6)]
    # a branch of it at offset 2 adds the nodes of its own steps (4 and 6 along it); the shared
    # point at 2 is listed once, under the earliest leaf through it
    chain.leaves.append(Leaf(0, 7, 0, 2))
    chain.ids.append(gen.script)
    assert expansion_points(chain, 0, codec, ARITH) == [(0, 2), (0, 4), (0, 6), (1, 4), (1, 6)]
    # round 0: 2 problems x 2 trees = 4 chains of 7; round 1: 2 of the 3 points in each tree
    assert len(gen.calls) == 2 and len(gen.calls[0][0]) == 4 and len(gen.calls[1][0]) == 8
    assert tb.root_chain_tokens == 4 * 7
    for pt in tb.trees:
        assert len(pt.leaves) == 2 + 4 and pt.expansions == 4
        for i, leaf in enumerate(pt.leaves):
            if leaf.parent is None:
                continue
            assert leaf.offset in (2, 4, 6)
            # the branch keeps its parent's prefix and adds the rest of a <= 7-token solution
            assert pt.ids[i][:leaf.offset] == pt.ids[leaf.parent][:leaf.offset]
            assert leaf.length == len(pt.ids[i]) == 7  # the script refills to the budget
            assert pt.logprobs[i] == [-0.5] * 7
        # generated: the two chains once, each branch's own 7 - offset tokens once
        assert pt.generated == 14 + sum(7 - x.offset for x in pt.leaves if x.parent is not None)
    assert tb.generated_tokens == sum(pt.generated for pt in tb.trees)
    # an expansion's prompt is the problem's prompt plus the parent's prefix; the call asks for
    # the longest budget (7 - the smallest offset) and each sample is cut to its own
    offsets = [x.offset for pt in tb.trees for x in pt.leaves if x.parent is not None]
    assert gen.calls[1][1] == 7 - min(offsets)
    # the engine sampled 4 x 7 chains and 8 expansions at that longest budget, cut afterwards
    assert tb.engine_tokens == 4 * 7 + 8 * (7 - min(offsets))
    assert tb.engine_tokens >= tb.generated_tokens
    prompts = gen.calls[1][0]
    base = codec.policy_prompt(P)
    assert sorted(len(p) - len(base) for p in prompts) == sorted(offsets)
    # every leaf answers nothing ("3" steps): reward 0 everywhere, so every advantage is 0
    assert tb.batch.rewards == [0.0] * 12 and float(tb.batch.advantages.abs().sum()) == 0.0
    assert tuple(tb.batch.advantages.shape) == (12, 7)
    # a terminal prefix is no expansion point: after "answer = 90" the outcome is decided

    first = codec.encode("23 + 7 = 30") + codec.step_end
    ans = codec.encode("answer = 90") + codec.step_end
    ids = first + ans + gen.script
    pts = PromptTrees(P, 0, [Leaf(0, len(ids))], [ids], [[0.0] * len(ids)])
    assert expansion_points(pts, 0, codec, ARITH) == [(0, len(first))]

def test_tree_run_rows_count_tokens(codec, tiny_model):
    import copy

    gen = Scripted(codec)
    cfg = RLConfig(steps=2, prompts_per_step=1, max_new_tokens=7)
    tree = TreeGRPO(copy.deepcopy(tiny_model), codec, cfg, TreeConfig(m_trees=1, n_expand=1, l_rounds=2),
                    build_reward(RewardConfig(), ARITH, seed=0), ARITH, generator=gen)
    seen = []
    rows = tree.run([P], on_step=lambda s, row, tb: seen.append((s, tb)))
    assert [r["step"] for r in rows] == [1, 2] and [s for s, _ in seen] == [1, 2]
    for row, (_, tb) in zip(rows, seen):
        assert row["leaves"] == 3 and row["expansions"] == 2  # one chain, one branch per round
        assert row["generated_tokens"] == tb.generated_tokens
        assert row["root_chain_tokens"] == 7
        assert row["trained_tokens"] == 3 * 7  # every leaf is trained on whole
        assert row["trees_all_equal"] == 1


# ---- `prmlab tree-grpo` end to end ----------------------------------------------------------

@pytest.fixture(scope="module")
def policy_ckpt(tmp_path_factory, codec, tiny_model):
    from prmlab.models.checkpoint import save_checkpoint

    return save_checkpoint(tmp_path_factory.mktemp("tree") / "policy", tiny_model, codec,
                           {"kind": "policy"})


ARGS = ["--set", "rl.steps=2", "--set", "rl.prompts_per_step=2", "--set", "rl.max_new_tokens=8",
        "--set", "tree.m_trees=2", "--set", "tree.n_expand=1", "--set", "n_train=3",
        "--set", "n_test=4", "--set", "eval_every=1", "--set", "save_every=1",
        "--set", "bootstrap_resamples=20"]


def _rows(path):
    return [json.loads(x) for x in path.read_text().splitlines() if x]


def test_tree_grpo_cli_run_folder_and_resume(policy_ckpt, tmp_path, run_cli):
    out = tmp_path / "run"
    code, stdout, err = run_cli("tree-grpo", "--policy", policy_ckpt, "--out", out, *ARGS)
    assert code == 0, err
    last = json.loads(stdout.strip().splitlines()[-1])
    assert last["steps"] == 2 and set(last["tokens"]) == {"tree", "chain"}
    for f in ("config.json", "eval-initial.json", "matched.json", "metrics.json", "summary.json",
              "tree_vs_chain.png", "tree/curve.jsonl", "tree/evals.jsonl", "chain/curve.jsonl",
              "tree/samples/step-0002.jsonl", "chain/samples/step-0002.jsonl",
              "tree/checkpoint/model.safetensors", "chain/state.json"):
        assert (out / f).exists(), f
    tree_curve, chain_curve = _rows(out / "tree" / "curve.jsonl"), _rows(out / "chain" / "curve.jsonl")
    # the chain's group is matched to the tree's generated tokens by the stated rule
    matched = json.loads((out / "matched.json").read_text())
    gen = sum(r["generated_tokens"] for r in tree_curve)
    roots = sum(r["root_chain_tokens"] for r in tree_curve)
    assert matched["chain_generations"] == max(2, round(2 * gen / roots))
    assert matched["tree_generated_tokens"] == gen
    chain_rows = _rows(out / "chain" / "samples" / "step-0001.jsonl")
    assert len(chain_rows) == 2 * matched["chain_generations"]
    assert chain_curve[0]["generated_tokens"] == sum(r["tokens"] for r in chain_rows)
    assert chain_curve[1]["tokens_cumulative"] == sum(r["generated_tokens"] for r in chain_curve)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["tokens"]["generated"] == {"tree": gen, "chain": chain_curve[1]["tokens_cumulative"]}
    assert metrics["tokens"]["chain_over_tree"] == pytest.approx(metrics["tokens"]["generated"]["chain"] / gen)
    # accuracy vs tokens: step 0 (the starting policy, 0 tokens) then every step
    tv = metrics["accuracy_vs_tokens"]["tree"]
    assert [r["step"] for r in tv] == [0, 1, 2] and tv[0]["tokens"] == 0
    assert tv[2]["tokens"] == gen and tv[0]["accuracy"] == metrics["initial_accuracy"]
    assert metrics["final_accuracy"]["tree"]["n"] == 4
    # the tree samples hold each leaf's shape and oracle labels; rewards are the verifier's
    leaves = _rows(out / "tree" / "samples" / "step-0002.jsonl")
    assert all(r["reward"] == float(r["correct"]) for r in leaves)
    assert all(len(r["labels"]) == len(r["steps"]) == len(r["step_ends"]) for r in leaves)
    assert {r["slot"] for r in leaves} == {0, 1}
    pa = metrics["preference_agreement"]
    assert pa["agree"] + pa["disagree"] + pa["tie"] == pa["pairs"]
    # interrupted after the tree's step 1: the rerun trains its step 2 only; the chain is done
    (out / "tree" / "state.json").write_text(json.dumps({"step": 1}))
    step1 = tree_curve[0]
    code, _, err = run_cli("tree-grpo", "--policy", policy_ckpt, "--out", out, *ARGS)
    assert code == 0, err
    assert "tree: resuming after step 1" in err
    again = _rows(out / "tree" / "curve.jsonl")
    assert [r["step"] for r in again] == [1, 2] and again[0] == step1
    assert _rows(out / "chain" / "curve.jsonl") == chain_curve


def test_tree_grpo_cli_bad_input(policy_ckpt, tmp_path, run_cli):
    out = tmp_path / "run"
    for bad, word in (("rl.num_generations=4", "chain_generations"),
                      ("tree.advantage=paper", "tree.advantage"),
                      ("tree.m_trees=0", "tree.m_trees"), ("chain_generations=1", "chain_generations")):
        code, _, err = run_cli("tree-grpo", "--policy", policy_ckpt, "--out", out, "--set", bad)
        assert code == 2 and word in err, (bad, err)
    assert not out.exists()
