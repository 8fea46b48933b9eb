"""Tree-GRPO's core on hand-worked trees: lineage sharing, segments, intra / inter / summed
advantages (numbers worked out in the comments), the sibling preferences and their agreement
with hand-made oracle labels, step ends, and the matched chain group size."""

from __future__ import annotations

import math
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402

from prmlab.training.tree_grpo import (Leaf, branchings, check_leaves,  # noqa: E402
                                       inter_advantages, intra_advantages, segments,
                                       shared_prefix, sibling_pairs, token_advantages)

# Two trees of one prompt.
#   tree 0: leaf 0 = the first chain (6 tokens, reward 1)
#           leaf 1 = branch of leaf 0 after 2 tokens (5 tokens, reward 0)
#           leaf 2 = branch of leaf 1 after 4 tokens (6 tokens, reward 1)
#   tree 1: leaf 3 = the first chain (4 tokens, reward 0)
#           leaf 4 = branch of leaf 3 after 1 token (3 tokens, reward 0)
#
#   tree 0:  root --[0,2)-- A --[2,6)-- leaf 0          (A: node at offset 2, leaves {0,1,2})
#                           +--[2,4)-- B --[4,5)-- leaf 1   (B: offset 4, leaves {1,2})
#                                        +--[4,6)-- leaf 2
LEAVES = [Leaf(0, 6), Leaf(0, 5, 0, 2), Leaf(0, 6, 1, 4), Leaf(1, 4), Leaf(1, 3, 3, 1)]
REWARDS = [1.0, 0.0, 1.0, 0.0, 0.0]


def test_lineage_sharing():
    # S[0][1] = 2 (the branch point); S[1][2] = 4; S[0][2] = min(4, S[1][0]) = 2; trees share 0
    assert shared_prefix(LEAVES) == [[6, 2, 2, 0, 0], [2, 5, 4, 0, 0], [2, 4, 6, 0, 0],
                                     [0, 0, 0, 4, 1], [0, 0, 0, 1, 3]]


def test_segments_and_their_groups():
    segs = segments(LEAVES)
    # leaf 1: [0,2) from the root (group: tree 0), [2,4) from node A, [4,5) from node B
    assert [(s.start, s.end, s.group, s.subtree) for s in segs[1]] == [
        (0, 2, (0, 1, 2), (0, 1, 2)), (2, 4, (0, 1, 2), (1, 2)), (4, 5, (1, 2), (1,))]
    assert [(s.start, s.end) for s in segs[0]] == [(0, 2), (2, 6)]
    assert [(s.start, s.end, s.group) for s in segs[2]] == [(0, 2, (0, 1, 2)), (2, 4, (0, 1, 2)),
                                                            (4, 6, (1, 2))]
    assert [(s.start, s.end, s.group) for s in segs[4]] == [(0, 1, (3, 4)), (1, 3, (3, 4))]


def test_intra_tree_advantages_by_hand():
    # tree 0's mean reward (1 + 0 + 1) / 3 = 2/3; node B's group {1, 2}: (0 + 1) / 2 = 1/2
    #   leaf 0: 1 - 2/3 = 1/3 on both segments
    #   leaf 1: 0 - 2/3 = -2/3 on [0,2) and [2,4); 0 - 1/2 = -1/2 on [4,5)
    #   leaf 2: 1/3 on [0,2) and [2,4); 1 - 1/2 = 1/2 on [4,6)
    # tree 1: every reward 0: 0 everywhere
    got = [[(s.start, s.end, round(a, 6)) for s, a in segs]
           for segs in intra_advantages(LEAVES, REWARDS, scale=False)]
    t, h = round(1 / 3, 6), round(2 / 3, 6)
    assert got == [[(0, 2, t), (2, 6, t)],
                   [(0, 2, -h), (2, 4, -h), (4, 5, -0.5)],
                   [(0, 2, t), (2, 4, t), (4, 6, 0.5)],
                   [(0, 1, 0.0), (1, 4, 0.0)],
                   [(0, 1, 0.0), (1, 3, 0.0)]]
    # summed over the leaves that train on a segment, it is |subtree| x (V(segment) - V(node)):
    # segment [2,4) under A is shared by leaves 1 and 2: -2/3 + 1/3 = 2 x (1/2 - 2/3)
    assert -2 / 3 + 1 / 3 == pytest.approx(2 * (0.5 - 2 / 3))
    # scaled: node B's rewards {0, 1} have std sqrt(1/2); tree 0's {1, 0, 1} have std sqrt(1/3)
    scaled = intra_advantages(LEAVES, REWARDS, scale=True)
    assert scaled[2][2][1] == pytest.approx(0.5 / (math.sqrt(0.5) + 1e-4))
    assert scaled[0][0][1] == pytest.approx((1 / 3) / (math.sqrt(1 / 3) + 1e-4))
    assert scaled[3][0][1] == 0.0  # equal rewards: 0, not 0/0


def test_inter_and_summed_token_advantages_by_hand():
    # every leaf of the prompt: mean (1 + 0 + 1 + 0 + 0) / 5 = 0.4
    assert [round(a, 6) for a in inter_advantages(LEAVES, REWARDS, scale=False)] == [0.6, -0.4, 0.6, -0.4, -0.4]
    inter = token_advantages(LEAVES, REWARDS, "inter", scale=False)
    assert [len(r) for r in inter] == [6, 5, 6, 4, 3]
    assert inter[1] == pytest.approx([-0.4] * 5)
    intra = token_advantages(LEAVES, REWARDS, "intra", scale=False)
    assert intra[2] == pytest.approx([1 / 3] * 4 + [0.5] * 2)
    both = token_advantages(LEAVES, REWARDS, "sum", scale=False)
    # leaf 1: -2/3 - 0.4 on tokens 0..3, -1/2 - 0.4 = -0.9 on token 4
    assert both[1] == pytest.approx([-2 / 3 - 0.4] * 4 + [-0.9])
    assert both[2] == pytest.approx([1 / 3 + 0.6] * 4 + [1.1] * 2)
    assert both[4] == pytest.approx([-0.4] * 3)
    with pytest.raises(ValueError, match="unknown advantage"):
        token_advantages(LEAVES, REWARDS, "paper")


def test_a_single_chain_has_no_intra_tree_signal():
    # a tree that was never expanded is its own group: R - R = 0, whatever the reward
    assert token_advantages([Leaf(0, 3), Leaf(1, 2)], [1.0, 0.0], "intra", scale=False) == [[0.0] * 3, [0.0] * 2]


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="earlier leaf"):
        check_leaves([Leaf(0, 3, 1, 1), Leaf(0, 3)])
    with pytest.raises(ValueError, match="earlier leaf"):
        check_leaves([Leaf(0, 3), Leaf(1, 3, 0, 1)])
    with pytest.raises(ValueError, match="inside"):
        check_leaves([Leaf(0, 3), Leaf(0, 5, 0, 3)])  # nothing of the parent's left to branch in
    with pytest.raises(ValueError, match="rewards"):
        intra_advantages(LEAVES, REWARDS[:3])


def test_branchings_of_the_hand_worked_tree():
    assert [(b.tree, b.offset, b.children) for b in branchings(LEAVES)] == [
        (0, 2, ((0,), (1, 2))), (0, 4, ((1,), (2,))), (1, 1, ((3,), (4,)))]


# Oracle labels for the agreement metric (prefix semantics: 1...1 0...0), with the token
# offset just after each step:
#   tree 0: leaf 0 steps end at 2, 4, 6, labels 1 1 1 (reward 1)
#           leaf 1 (shares 2 tokens = step 1 with leaf 0) ends 2, 4, 5, labels 1 0 0 (reward 0)
#           leaf 2 (shares 4 tokens = steps 1-2 with leaf 1) ends 2, 4, 6, labels 1 0 0 (reward 1:
#           a lucky right answer after a wrong step)
#   tree 1: leaf 3 ends 2, 4, labels 1 1 (reward 0: no answer)
#           leaf 4 (shares step 1, branches at 2) ends 2, 3, labels 1 0 (reward 1)
AGREE_LEAVES = [Leaf(0, 6), Leaf(0, 5, 0, 2), Leaf(0, 6, 1, 4), Leaf(1, 4), Leaf(1, 3, 3, 2)]
AGREE_REWARDS = [1.0, 0.0, 1.0, 0.0, 1.0]
LABELS = [[1, 1, 1], [1, 0, 0], [1, 0, 0], [1, 1], [1, 0]]
ENDS = [[2, 4, 6], [2, 4, 5], [2, 4, 6], [2, 4], [2, 3]]


def test_sibling_pairs_against_the_oracle_by_hand():
    pairs = sibling_pairs(AGREE_LEAVES, AGREE_REWARDS, LABELS, ENDS)
    got = [(p.tree, p.offset, p.winner, p.loser, p.winner_reward, p.loser_reward, p.winner_wrong,
            p.loser_wrong, p.winner_steps, p.loser_steps, p.prefix_correct, p.verdict) for p in pairs]
    assert got == [
        # node at 2 of tree 0: {0} (mean reward 1) beats {1, 2} (mean 1/2); after offset 2 leaf 0
        # has 0 wrong steps (of 2), leaves 1 and 2 have 2 each: the winner holds fewer: agree
        (0, 2, (0,), (1, 2), 1.0, 0.5, 0.0, 2.0, 2.0, 2.0, True, "agree"),
        # node at 4: {2} (1) beats {1} (0); one step after it each, both wrong: tie; the shared
        # prefix already holds leaf 1's wrong step 2
        (0, 4, (2,), (1,), 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, False, "tie"),
        # tree 1's node at 2: {4} (1) beats {3} (0) but holds 1 wrong step against 0: disagree
        (1, 2, (4,), (3,), 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, True, "disagree"),
    ]
    # equal rewards make no preference
    assert sibling_pairs(AGREE_LEAVES, [1.0] * 5, LABELS, ENDS) == []
    with pytest.raises(ValueError, match="labels for"):
        sibling_pairs(AGREE_LEAVES, AGREE_REWARDS, LABELS, [[2, 4]] + ENDS[1:])


def test_preference_agreement_rate_and_baselines():
    from prmlab.experiments.tree_rl import preference_agreement

    pairs = [("1:0", p) for p in sibling_pairs(AGREE_LEAVES, AGREE_REWARDS, LABELS, ENDS)]
    m = preference_agreement(pairs, n_resamples=50)
    assert (m["pairs"], m["agree"], m["disagree"], m["tie"]) == (3, 1, 1, 1)
    # decisive pairs: one agrees, one disagrees -> 1/2; both have a correct prefix -> 1/2
    assert m["agreement"]["value"] == 0.5 and m["agreement"]["n"] == 2
    assert m["agreement_prefix_correct"]["value"] == 0.5
    # the shorter-branch baseline: both decisive pairs have children of equal step counts -> 0.5
    assert m["baselines"]["shorter"]["value"] == 0.5 and m["baselines"]["random"] == 0.5
    none = preference_agreement([], n_resamples=50)
    assert none["agreement"]["value"] is None and "no sibling pair" in none["agreement"]["reason"]


def test_step_ends_follow_split_steps():
    from prmlab.training.base import arith_codec
    from prmlab.training.tree_loop import step_ends

    codec = arith_codec()
    se, eos = codec.step_end, codec.eos_id
    a, b = codec.encode("23 + 7 = 30"), codec.encode("answer = 30")
    ids = a + se + b + se + [eos]
    assert step_ends(ids, se, eos) == [len(a) + len(se), len(a) + len(b) + 2 * len(se)]
    assert len(codec.split_steps(ids)) == 2
    cut = ids[:len(a) + len(se) + 2]  # a second step cut off by the token budget
    assert step_ends(cut, se, eos) == [len(a) + len(se), len(cut)]
    assert len(codec.split_steps(cut)) == 2


def test_matched_generations():
    from prmlab.experiments.tree_rl import matched_generations

    # 4 first chains of 100 tokens in all, 250 tokens generated: 4 x 250 / 100 = 10 chains
    assert matched_generations([{"generated_tokens": 150, "root_chain_tokens": 60},
                                {"generated_tokens": 100, "root_chain_tokens": 40}], 4) == 10
    assert matched_generations([{"generated_tokens": 10, "root_chain_tokens": 10}], 1) == 2  # at least 2
