"""Tree-GRPO on a causal-LM policy: sample step-level trees through the batched engine, reward
their leaves, advantages from `prmlab.training.tree_grpo`, and GRPO's clipped update
(`GRPOLoop.update`, unchanged: it takes per-token advantages).

One step: the problems of `batch_problems` (stream `rl.order`, the same problems chain GRPO gets
at that step); `m_trees` chains per problem (stream `tree.sample`, part 0); then `l_rounds`
rounds: in each tree `n_expand` expansion points are drawn without replacement (stream
`tree.expand`, keyed by step, problem slot, tree and round) among the step boundaries of its
leaves, and each is continued by one sample (stream `tree.sample`, part = round). All of a
round's expansions are one generate call; an expansion from offset k may add at most
`max_new_tokens - k` tokens, so a leaf is never longer than a chain may be (the call asks for
the longest budget and each sample is cut to its own: sampling is left to right, so the cut
sample is what a shorter budget would have drawn).

A step boundary is an offset right after a step-end marker, with at least one step before it,
tokens after it, and no final answer stated before it (a stated answer decides the outcome:
branching there teaches nothing). Points are deduplicated by lineage (one per tree node and
offset); a point already branched from may be drawn again (one more sibling).

Token accounting (`TreeBatch.generated_tokens`): the tokens the engine sampled and kept for the
trees — each chain once, each expansion's new tokens once; shared prefixes are not counted
again (the budget matched against chain GRPO). `engine_tokens` adds the tokens sampled past a
branch's own budget and cut (the price of one call per round; a token budget is what a server
charges for what it returns, so the match uses the kept ones). The update trains on every leaf's
full completion (`trained_tokens` >= generated).
Nothing here writes files: `on_step(step, row, batch)` receives each finished step.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Sequence

import torch

from prmlab import seeds
from prmlab.data.tasks import Task
from prmlab.models.generator import Generator
from prmlab.models.text import Codec
from prmlab.training.grpo import RLConfig
from prmlab.training.grpo_loop import GRPOLoop, StepBatch, batch_problems
from prmlab.training.rewards import Completion, RewardFn
from prmlab.training.tree_grpo import Leaf, TreeConfig, shared_prefix, token_advantages


@dataclasses.dataclass
class PromptTrees:
    """One problem's trees: its leaves (shape, ids, engine log-probabilities)."""

    problem: str
    slot: int
    leaves: list[Leaf]
    ids: list[list[int]]
    logprobs: list[list[float]]
    generated: int = 0  # tokens sampled for these trees
    expansions: int = 0


@dataclasses.dataclass
class TreeBatch:
    """One step's trees and the flat batch the update trains on (leaves prompt after prompt)."""

    trees: list[PromptTrees]
    batch: StepBatch
    engine_tokens: int = 0  # sampled by the engine, cut-off tokens included (its cost)

    @property
    def generated_tokens(self) -> int:
        return sum(t.generated for t in self.trees)

    @property
    def root_chain_tokens(self) -> int:
        return sum(len(ids) for t in self.trees for leaf, ids in zip(t.leaves, t.ids)
                   if leaf.parent is None)


def step_ends(ids: Sequence[int], step_end: Sequence[int], eos_id: int) -> list[int]:
    """The completion offset just after each step of `Codec.split_steps(ids)` (its marker
    included; a trailing unfinished step ends where the tokens do), one per step it returns.

    >>> step_ends([5, 9, 7, 9, 6, 0], [9], 0), step_ends([5, 9, 9, 4], [9], 0)
    ([2, 4, 5], [2, 3, 4])
    """
    ends, cur, i, se = [], 0, 0, list(step_end)
    ids = list(ids)
    while i < len(ids):
        if ids[i] == eos_id:
            break
        if ids[i:i + len(se)] == se:
            i += len(se)
            ends.append(i)
            cur = 0
            continue
        cur += 1
        i += 1
    if cur:
        ends.append(i)
    return ends


def expansion_points(trees: PromptTrees, tree: int, codec: Codec, task: Task) -> list[tuple[int, int]]:
    """(leaf, offset) points of tree `tree` where an expansion may start, one per tree node and
    offset (the earliest leaf through it stands for it), in a fixed order."""
    s = shared_prefix(trees.leaves)
    se = list(codec.step_end)
    points = set()
    for j, leaf in enumerate(trees.leaves):
        if leaf.tree != tree:
            continue
        ids = trees.ids[j]
        for k in range(len(se), leaf.length):
            if ids[k - len(se):k] != se or codec.eos_id in ids[:k]:
                continue
            steps = codec.split_steps(ids[:k])
            if not steps or task.final_answer(steps) is not None:
                continue
            first = min(x for x in range(len(trees.leaves)) if s[x][j] >= k)
            points.add((first, k))
    return sorted(points)


class TreeGRPO:
    """Tree-GRPO on a policy; `loop` (a `GRPOLoop`) owns the optimizer, reference and update."""

    def __init__(self, model, codec: Codec, cfg: RLConfig, tree: TreeConfig, reward: RewardFn,
                 task: Task, *, generator: Generator | None = None, batch_size: int = 256):
        self.cfg, self.tree, self.codec, self.task, self.reward = cfg, tree, codec, task, reward
        self.loop = GRPOLoop(model, codec, cfg, reward, generator=generator, batch_size=batch_size)
        self.model, self.generator = model, self.loop.generator
        self.engine_tokens = 0  # every token the engine sampled, the ones cut off included

    def _generate(self, prompts: list[list[int]], budgets: list[int], step: int, rnd: int):
        out = self.generator.generate(prompts, max_new_tokens=max(budgets),
                                      temperature=self.cfg.temperature,
                                      stop_ids=[self.codec.eos_id], logprobs=True,
                                      seed=seeds.seed("tree.sample", self.cfg.seed, index=step, part=rnd))
        self.engine_tokens += sum(len(s.ids) for s in out)
        return [(list(s.ids[:b]), list(s.logprobs or [])[:b]) for s, b in zip(out, budgets)]

    def sample(self, problems: Sequence[str], step: int) -> TreeBatch:
        """Grow and score step `step`'s trees (the model in eval mode, no gradients)."""
        cfg, tc, codec = self.cfg, self.tree, self.codec
        chosen = batch_problems(problems, cfg, step)
        engine_before = self.engine_tokens
        self.model.eval()
        with torch.no_grad():
            prompts = [codec.policy_prompt(p) for p in chosen for _ in range(tc.m_trees)]
            roots = self._generate(prompts, [cfg.max_new_tokens] * len(prompts), step, 0)
            trees = []
            for slot, text in enumerate(chosen):
                mine = roots[slot * tc.m_trees:(slot + 1) * tc.m_trees]
                trees.append(PromptTrees(text, slot, [Leaf(m, len(ids)) for m, (ids, _) in enumerate(mine)],
                                         [ids for ids, _ in mine], [lp for _, lp in mine],
                                         generated=sum(len(ids) for ids, _ in mine)))
            for rnd in range(1, tc.l_rounds + 1):
                requests = []  # (prompt trees, parent leaf, offset)
                for pt in trees:
                    for m in range(tc.m_trees):
                        points = expansion_points(pt, m, codec, self.task)
                        rng = seeds.rng("tree.expand", cfg.seed, step, pt.slot, m, rnd)
                        requests += [(pt, j, k) for j, k in rng.sample(points, min(tc.n_expand, len(points)))]
                if not requests:
                    break
                new = self._generate([codec.policy_prompt(pt.problem) + pt.ids[j][:k] for pt, j, k in requests],
                                     [cfg.max_new_tokens - k for _, _, k in requests], step, rnd)
                for (pt, j, k), (ids, lps) in zip(requests, new):
                    pt.leaves.append(Leaf(pt.leaves[j].tree, k + len(ids), j, k))
                    pt.ids.append(pt.ids[j][:k] + ids)
                    pt.logprobs.append(pt.logprobs[j][:k] + lps)
                    pt.generated += len(ids)
                    pt.expansions += 1
        comps, prompt_ids, ids, lps = [], [], [], []
        for pt in trees:
            for i, leaf_ids in enumerate(pt.ids):
                comps.append(Completion(pt.problem, codec.split_steps(leaf_ids), step, pt.slot, i))
                prompt_ids.append(codec.policy_prompt(pt.problem))
                ids.append(leaf_ids)
                lps.append(pt.logprobs[i])
        rewards = [float(r) for r in self.reward(comps)]
        batch = StepBatch(comps, prompt_ids, ids, lps, rewards, torch.zeros(0))
        batch.advantages = self.advantages(trees, rewards)
        return TreeBatch(trees, batch, self.engine_tokens - engine_before)

    def advantages(self, trees: Sequence[PromptTrees], rewards: Sequence[float]) -> torch.Tensor:
        """(leaves, longest completion) per-token advantages, prompt by prompt."""
        rows, at = [], 0
        for pt in trees:
            n = len(pt.leaves)
            rows += token_advantages(pt.leaves, rewards[at:at + n], self.tree.advantage,
                                     scale=self.cfg.scale_rewards)
            at += n
        out = torch.zeros((len(rows), max(1, max(len(r) for r in rows))))
        for i, r in enumerate(rows):
            out[i, :len(r)] = torch.tensor(r, dtype=torch.float32)
        return out

    def run(self, problems: Sequence[str], *, start_step: int = 0,
            on_step: Callable[[int, dict, TreeBatch], None] | None = None) -> list[dict]:
        """Steps `start_step`..`cfg.steps - 1`; one row per step."""
        if not problems:
            raise ValueError("no training problems")
        rows = []
        for step in range(start_step, self.cfg.steps):
            t0 = time.perf_counter()
            tb = self.sample(problems, step)
            t1 = time.perf_counter()
            stats = self.loop.update(tb.batch)
            t2 = time.perf_counter()
            r = torch.tensor(tb.batch.rewards)
            at, flat = 0, []
            for pt in tb.trees:  # trees whose leaves all got one reward: no intra-tree signal
                for m in range(self.tree.m_trees):
                    flat.append({tb.batch.rewards[at + i] for i, leaf in enumerate(pt.leaves) if leaf.tree == m})
                at += len(pt.leaves)
            row = {"step": step + 1, "reward_mean": float(r.mean()),
                   "reward_std": float(r.std()) if r.numel() > 1 else 0.0,
                   "leaves": len(tb.batch.rewards),
                   "expansions": sum(pt.expansions for pt in tb.trees),
                   "trees_all_equal": sum(1 for x in flat if len(x) == 1),
                   "generated_tokens": tb.generated_tokens,
                   "root_chain_tokens": tb.root_chain_tokens,
                   "engine_tokens": tb.engine_tokens,
                   "trained_tokens": sum(len(c) for c in tb.batch.completion_ids),
                   "sample_s": t1 - t0, "update_s": t2 - t1, **stats}
            rows.append(row)
            if on_step is not None:
                on_step(step + 1, row, tb)
        return rows
