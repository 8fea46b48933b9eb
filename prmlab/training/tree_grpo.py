"""Tree-GRPO's arithmetic (arXiv:2509.21240) on step-level trees: the tree's shape, its
segments, intra-tree / inter-tree / summed advantages, and the sibling preferences it implies.
Pure functions of (tree shape, rewards); sampling the trees is `prmlab.training.tree_loop`.

A prompt gets `m_trees` trees. Tree t starts as one chain (a full sampled solution); each of
`l_rounds` rounds picks `n_expand` expansion points of each tree (step boundaries: the token
offset right after a step-end marker, at least one step in, before the solution states its
answer) and resamples the rest of the solution from that prefix. Every sampled solution is a
*leaf*; a leaf made by expanding leaf p at offset k shares p's first k completion tokens
(`Leaf(tree, length, parent=p, offset=k)`). Sharing is by lineage, never by token value: two
independent samples that happen to start alike are different branches.

Segments and advantages. Along leaf i, the set of leaves sharing its first o + 1 tokens shrinks
as o grows; it changes only at branching nodes, which cut i's completion into segments. Segment
[b, e) hangs from the branching node at offset b, whose leaves (those sharing i's first b
tokens) are the segment's *group*; the first segment's group is the whole tree (its root).

* intra-tree: A_intra(i, segment) = R_i - mean(R over the segment's group), divided by the
  group's std + 1e-4 when `scale` (Bessel's std as in `grpo.group_advantages`; a group of
  one leaf has advantage 0). The first segment's value is the paper's intra-tree advantage
  (R_i - the tree's mean); deeper segments compare i only with the leaves that share its
  prefix up to that node, so a shared prefix is credited with its subtree's mean (summed over
  the leaves that train on it, segment v gets |v| x (V(v) - V(parent node)): a step-level
  advantage, the paper's equivalence with step-level preference learning).
* inter-tree: A_inter(i) = R_i - mean(R over every leaf of the prompt's trees), scaled by
  their std + 1e-4 when `scale`; one value for all of i's tokens (chain GRPO over leaves).
* sum: A_intra + A_inter per token (the paper's combination).

Sibling preferences. At a branching node every pair of child subtrees whose mean rewards differ
is a preference: the winner is the child with the higher mean reward. `sibling_pairs` asks the
oracle question of it: does the winner's leaves hold fewer wrong steps after the node (mean over
a child's leaves of the wrong steps that follow the node's offset) than the loser's?
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

STD_EPS = 1e-4  # as grpo.STD_EPS: a group of equal rewards gets advantage 0, not 0/0
ADVANTAGES = ("intra", "inter", "sum")


class TreeConfig(BaseModel):
    """The shape of Tree-GRPO's sampling and which advantage it trains on."""

    model_config = ConfigDict(extra="forbid", strict=True)
    m_trees: int = Field(4, ge=1, description="trees per prompt (M): each starts as one sampled chain")
    n_expand: int = Field(2, ge=1, description="expansion points per tree per round (N), drawn among step boundaries")
    l_rounds: int = Field(1, ge=1, description="rounds of expansion (L): later rounds may branch from earlier branches")
    advantage: Literal["intra", "inter", "sum"] = Field(
        "sum", description="intra-tree (step level), inter-tree (over the prompt's leaves) or their sum")


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One sampled solution of a prompt's trees."""

    tree: int
    length: int  # completion tokens
    parent: int | None = None  # the leaf it branched from (None: the tree's first chain)
    offset: int = 0  # completion tokens it shares with `parent`


@dataclasses.dataclass(frozen=True)
class Segment:
    """Tokens [start, end) of one leaf's completion, between two branching nodes."""

    start: int
    end: int
    group: tuple[int, ...]  # leaves below the node it hangs from (its baseline)
    subtree: tuple[int, ...]  # leaves that share this segment


@dataclasses.dataclass(frozen=True)
class Branching:
    """A node where a prompt's tree splits: the prefix of `offset` tokens that its leaves share."""

    tree: int
    offset: int
    children: tuple[tuple[int, ...], ...]  # the leaves of each child subtree


def check_leaves(leaves: Sequence[Leaf]) -> None:
    """ValueError unless every parent comes before its child, in the same tree, and the branch
    point lies inside both (a branch shares some tokens and adds at least one)."""
    for i, leaf in enumerate(leaves):
        if leaf.length < 1:
            raise ValueError(f"leaf {i} has no tokens")
        if leaf.parent is None:
            if leaf.offset:
                raise ValueError(f"leaf {i} has no parent but offset {leaf.offset}")
            continue
        p = leaf.parent
        if not 0 <= p < i or leaves[p].tree != leaf.tree:
            raise ValueError(f"leaf {i}: parent {p} must be an earlier leaf of tree {leaf.tree}")
        if not 0 < leaf.offset < min(leaf.length, leaves[p].length):
            raise ValueError(f"leaf {i}: offset {leaf.offset} must lie inside its own and its "
                             f"parent's completion")


def shared_prefix(leaves: Sequence[Leaf]) -> list[list[int]]:
    """S[i][j]: completion tokens leaves i and j share by lineage (S[i][i] = length).

    A branch of p at offset k shares k tokens with p, and min(k, S[p][x]) with any other x.

    >>> shared_prefix([Leaf(0, 5), Leaf(0, 6, 0, 3), Leaf(0, 4, 1, 1), Leaf(1, 2)])
    [[5, 3, 1, 0], [3, 6, 1, 0], [1, 1, 4, 0], [0, 0, 0, 2]]
    """
    check_leaves(leaves)
    n = len(leaves)
    s = [[0] * n for _ in range(n)]
    for i, leaf in enumerate(leaves):
        s[i][i] = leaf.length
        if leaf.parent is not None:
            for x in range(i):
                s[i][x] = s[x][i] = leaf.offset if x == leaf.parent else min(leaf.offset, s[leaf.parent][x])
    return s


def segments(leaves: Sequence[Leaf]) -> list[list[Segment]]:
    """Each leaf's completion cut at the branching nodes along it (see the module docstring)."""
    s = shared_prefix(leaves)
    out = []
    for i, leaf in enumerate(leaves):
        tree = tuple(j for j, x in enumerate(leaves) if x.tree == leaf.tree)
        cuts = sorted({s[i][j] for j in tree if j != i and 0 < s[i][j] < leaf.length})
        starts = [0] + cuts
        ends = cuts + [leaf.length]
        segs = []
        for b, e in zip(starts, ends):
            group = tree if b == 0 else tuple(j for j in tree if s[i][j] >= b)
            subtree = tuple(j for j in tree if s[i][j] > b)
            segs.append(Segment(b, e, group, subtree))
        out.append(segs)
    return out


def _stats(values: Sequence[float]) -> tuple[float, float]:
    """Mean and Bessel std (0 for fewer than two values)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def _relative(r: float, group: Sequence[float], scale: bool) -> float:
    mean, std = _stats(group)
    return (r - mean) / (std + STD_EPS) if scale else r - mean


def intra_advantages(leaves: Sequence[Leaf], rewards: Sequence[float], *,
                     scale: bool = True) -> list[list[tuple[Segment, float]]]:
    """Per leaf, its segments with their intra-tree advantage.

    >>> [[round(a, 6) for _, a in segs] for segs in
    ...  intra_advantages([Leaf(0, 4), Leaf(0, 5, 0, 2)], [1.0, 0.0], scale=False)]
    [[0.5, 0.5], [-0.5, -0.5]]
    """
    if len(rewards) != len(leaves):
        raise ValueError(f"{len(rewards)} rewards for {len(leaves)} leaves")
    return [[(seg, _relative(rewards[i], [rewards[j] for j in seg.group], scale)) for seg in segs]
            for i, segs in enumerate(segments(leaves))]


def inter_advantages(leaves: Sequence[Leaf], rewards: Sequence[float], *,
                     scale: bool = True) -> list[float]:
    """One advantage per leaf, relative to every leaf of the prompt's trees.

    >>> inter_advantages([Leaf(0, 3), Leaf(1, 3), Leaf(1, 3, 1, 1), Leaf(1, 2)], [1.0, 0.0, 0.0, 1.0], scale=False)
    [0.5, -0.5, -0.5, 0.5]
    """
    check_leaves(leaves)
    if len(rewards) != len(leaves):
        raise ValueError(f"{len(rewards)} rewards for {len(leaves)} leaves")
    return [_relative(r, rewards, scale) for r in rewards]


def token_advantages(leaves: Sequence[Leaf], rewards: Sequence[float],
                     mode: str = "sum", *, scale: bool = True) -> list[list[float]]:
    """Per leaf, one advantage per completion token under `mode` (intra, inter or sum)."""
    if mode not in ADVANTAGES:
        raise ValueError(f"unknown advantage {mode!r} (known: {', '.join(ADVANTAGES)})")
    inter = inter_advantages(leaves, rewards, scale=scale)
    intra = intra_advantages(leaves, rewards, scale=scale)
    out = []
    for i, leaf in enumerate(leaves):
        row = [0.0] * leaf.length
        for seg, a in intra[i]:
            v = {"intra": a, "inter": inter[i], "sum": a + inter[i]}[mode]
            row[seg.start:seg.end] = [v] * (seg.end - seg.start)
        out.append(row)
    return out


def branchings(leaves: Sequence[Leaf]) -> list[Branching]:
    """Every branching node of the prompt's trees, with its child subtrees (in leaf order).

    Leaf 1 branches from leaf 0 at offset 2, leaf 2 from leaf 1 at offset 3:

    >>> branchings([Leaf(0, 5), Leaf(0, 6, 0, 2), Leaf(0, 6, 1, 3)])
    [Branching(tree=0, offset=2, children=((0,), (1, 2))), Branching(tree=0, offset=3, children=((1,), (2,)))]
    """
    s = shared_prefix(leaves)
    seen: dict[tuple[tuple[int, ...], int], Branching] = {}
    for segs in segments(leaves):
        for seg in segs:
            if seg.start == 0 or (seg.group, seg.start) in seen:
                continue
            children: list[list[int]] = []
            for j in seg.group:  # a trie: "shares the token at the node" is an equivalence
                for c in children:
                    if s[c[0]][j] > seg.start:
                        c.append(j)
                        break
                else:
                    children.append([j])
            seen[(seg.group, seg.start)] = Branching(leaves[seg.group[0]].tree, seg.start,
                                                     tuple(tuple(c) for c in children))
    return sorted(seen.values(), key=lambda b: (b.tree, b.offset, b.children))


@dataclasses.dataclass(frozen=True)
class SiblingPair:
    """Two child subtrees of one branching node whose mean rewards differ."""

    tree: int
    offset: int
    winner: tuple[int, ...]
    loser: tuple[int, ...]
    winner_reward: float
    loser_reward: float
    winner_wrong: float  # mean over the winner's leaves of wrong steps after the node
    loser_wrong: float
    winner_steps: float  # mean over its leaves of steps after the node (the length baseline)
    loser_steps: float
    prefix_correct: bool  # every step before the node is correct (the oracle's labels)

    @property
    def verdict(self) -> Literal["agree", "disagree", "tie"]:
        """agree: the winner holds fewer wrong steps; tie: as many."""
        if self.winner_wrong == self.loser_wrong:
            return "tie"
        return "agree" if self.winner_wrong < self.loser_wrong else "disagree"


def _after(labels: Sequence[int], ends: Sequence[int], offset: int) -> tuple[int, int]:
    """(wrong steps, steps) among the steps that end after token `offset`."""
    idx = [k for k, e in enumerate(ends) if e > offset]
    return sum(1 for k in idx if labels[k] == 0), len(idx)


def sibling_pairs(leaves: Sequence[Leaf], rewards: Sequence[float],
                  labels: Sequence[Sequence[int]], step_ends: Sequence[Sequence[int]]) -> list[SiblingPair]:
    """The preferences of every branching node, each with the oracle's wrong-step counts.

    `labels[i]` are the oracle's 0/1 labels of leaf i's steps, `step_ends[i]` the completion
    offset just after each step (its step-end marker included): a step belongs to the branch
    when it ends after the node's offset.
    """
    if not len(labels) == len(step_ends) == len(rewards) == len(leaves):
        raise ValueError("one reward, label list and step-end list per leaf")
    for i, (lab, ends) in enumerate(zip(labels, step_ends)):
        if len(lab) != len(ends):
            raise ValueError(f"leaf {i}: {len(lab)} labels for {len(ends)} steps")
    out = []
    for b in branchings(leaves):
        stats = []
        for child in b.children:
            counts = [_after(labels[j], step_ends[j], b.offset) for j in child]
            stats.append((sum(rewards[j] for j in child) / len(child),
                          sum(c[0] for c in counts) / len(child),
                          sum(c[1] for c in counts) / len(child)))
        j0 = b.children[0][0]
        prefix_ok = all(lab == 1 for lab, e in zip(labels[j0], step_ends[j0]) if e <= b.offset)
        for x in range(len(b.children)):
            for y in range(x + 1, len(b.children)):
                if stats[x][0] == stats[y][0]:
                    continue
                w, l = (x, y) if stats[x][0] > stats[y][0] else (y, x)
                out.append(SiblingPair(b.tree, b.offset, b.children[w], b.children[l],
                                       stats[w][0], stats[l][0], stats[w][1], stats[l][1],
                                       stats[w][2], stats[l][2], prefix_ok))
    return out
