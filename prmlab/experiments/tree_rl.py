"""`prmlab tree-grpo`: Tree-GRPO against chain GRPO at a matched token budget, from one policy,
in a run folder you can resume and recompute from.

Both arms train a copy of the same policy on the same problems in the same order (stream
`rl.order`), with the same algorithm (`rl`) and reward; they differ in how a problem's samples
are drawn and credited. The tree arm runs first. The chain arm's group size is then matched to
the tokens the tree arm generated (`matched_generations`):

    G = max(2, round(m_trees x tree tokens generated / tree first-chain tokens))

(its first chains are what chain GRPO samples, so their mean length prices one chain), unless
`chain_generations` fixes G. Every step's generated tokens are recorded in both arms, and the
metrics put the totals and their ratio side by side: the match is measured, not assumed.

The folder (`OUT/`):

* `config.json` — the resolved `TreeRunConfig` and provenance; a resumed run must have the same;
* `eval-initial.json` — greedy test accuracy of the starting policy (both arms' step 0);
* `tree/`, `chain/` — one arm each: `curve.jsonl` (per step: reward, loss, tokens generated
  and cumulated, seconds), `evals.jsonl` (greedy test accuracy with its 95% bootstrap CI every
  `eval_every` steps, at the cumulated tokens), `samples/step-NNNN.jsonl` (every leaf or chain:
  steps, answer, reward, the verifier's verdict; the tree's leaves also their shape — tree,
  parent, offset —, the oracle's step labels, step ends and their segments' advantages),
  `checkpoint/` + `state.json` (the step a rerun resumes after; Adam's moments restart);
* `matched.json` — the chain arm's group size and the tree tokens it was derived from;
* `metrics.json` — final accuracy per arm and their paired difference (CIs over test problems),
  the accuracy-vs-tokens rows, the token budgets, and the sibling preferences' agreement with
  the oracle (`preference_agreement`); `summary.json` — the headline numbers.

Training and test problems are those of `prmlab rl` for the same seed (streams `rl.train`,
`rl.test`, at the policy's own difficulty).
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from prmlab import seeds
from prmlab.atomic import write_json, write_jsonl
from prmlab.data.arith.generate import iter_records
from prmlab.data.tasks import ARITH, is_solved
from prmlab.experiments.pinned import pin_config
from prmlab.metrics.bootstrap import HIGHER, metric, weighted_mean, with_ci
from prmlab.models.checkpoint import load_codec, load_model, read_info, save_checkpoint
from prmlab.models.generator import KVCacheGenerator
from prmlab.strict import loads, read_json
from prmlab.training.grpo import RLConfig
from prmlab.training.grpo_loop import GRPOLoop
from prmlab.training.policy import base_difficulty
from prmlab.training.rewards import RewardConfig, build_reward
from prmlab.training.tree_grpo import Leaf, SiblingPair, TreeConfig, intra_advantages, sibling_pairs
from prmlab.training.tree_loop import TreeGRPO, step_ends

ARMS = ("tree", "chain")
_DEFAULT_G = RLConfig.model_fields["num_generations"].default

Progress = Callable[[str, int, int, dict], None]
"""progress(arm, step, steps, {"loss", "reward", "tokens"}) after each optimizer step."""


class TreeRunConfig(BaseModel):
    """A `prmlab tree-grpo` run: the policy, the shared algorithm, the tree, the budget match."""

    model_config = ConfigDict(extra="forbid", strict=True)
    policy: str = Field(..., description="the policy checkpoint folder both arms start from")
    rl: RLConfig = Field(default_factory=RLConfig, description="the GRPO algorithm and schedule both arms share (set the chain's group with chain_generations)")
    tree: TreeConfig = Field(default_factory=TreeConfig, description="Tree-GRPO's trees (M, N, L) and its advantage")
    reward: RewardConfig = Field(default_factory=RewardConfig, description="what both arms are rewarded for")
    chain_generations: int | None = Field(None, ge=2, description="chain GRPO's group size; null: matched to the tree arm's generated tokens")
    n_train: int = Field(256, ge=1, description="training problems (stream rl.train)")
    n_test: int = Field(200, ge=1, description="held-out test problems (stream rl.test) for greedy accuracy")
    eval_every: int = Field(5, ge=1, description="steps between greedy test evaluations (the accuracy-vs-tokens points)")
    save_every: int = Field(5, ge=1, description="steps between checkpoints a rerun resumes from")
    bootstrap_resamples: int = Field(1000, ge=0, description="bootstrap resamples of every CI")

    @model_validator(mode="after")
    def _one_group_size(self) -> "TreeRunConfig":
        if self.rl.num_generations != _DEFAULT_G:
            raise ValueError("rl.num_generations is not read here: the tree arm samples "
                             "tree.m_trees chains and their expansions, and the chain arm's "
                             "group is chain_generations (null: matched tokens)")
        return self


def _problems(cfg: TreeRunConfig, stream: str, n: int) -> list[str]:
    diff = base_difficulty(read_info(cfg.policy).get("base") or cfg.policy)
    return [r.problem for r in iter_records(n, seeds.seed(stream, cfg.rl.seed), diff, error_rate=0.0)]


def greedy_test(model, codec, test: list[str], cfg: TreeRunConfig) -> dict[str, Any]:
    """Greedy accuracy on `test` with its CI over problems, and each problem's verdict."""
    gen = KVCacheGenerator(model, pad_id=codec.pad_id)
    model.eval()
    samples = gen.generate([codec.policy_prompt(p) for p in test], temperature=0.0,
                           max_new_tokens=cfg.rl.max_new_tokens, stop_ids=[codec.eos_id])
    ok = [bool(is_solved(ARITH, p, codec.split_steps(s.ids))) for p, s in zip(test, samples)]
    acc = with_ci(weighted_mean(np.array(ok, dtype=float)), [str(i) for i in range(len(test))],
                  direction=HIGHER, n=len(test), n_resamples=cfg.bootstrap_resamples,
                  aggregation="share of test problems whose greedy solution states the gold answer")
    return {"accuracy": acc, "correct": ok}


def matched_generations(tree_rows: list[dict], m_trees: int) -> int:
    """Chain GRPO's group size that generates as many tokens as the tree arm did.

    >>> matched_generations([{"generated_tokens": 300, "root_chain_tokens": 100}], 4)
    12
    """
    gen = sum(r["generated_tokens"] for r in tree_rows)
    roots = sum(r["root_chain_tokens"] for r in tree_rows)
    return max(2, round(m_trees * gen / max(roots, 1)))


# ---- sample rows, and the preferences read back from them ------------------------------------

def tree_sample_rows(tb, codec) -> list[dict[str, Any]]:
    """One row per leaf: its shape, steps, reward, verdict, oracle labels, segments' advantages."""
    rows, at = [], 0
    for pt in tb.trees:
        n = len(pt.leaves)
        rewards = tb.batch.rewards[at:at + n]
        intra = intra_advantages(pt.leaves, rewards, scale=False)
        for i, leaf in enumerate(pt.leaves):
            c = tb.batch.completions[at + i]
            rows.append({"step": c.step + 1, "slot": pt.slot, "leaf": i, "tree": leaf.tree,
                         "parent": leaf.parent, "offset": leaf.offset, "length": leaf.length,
                         "problem": c.problem, "steps": c.steps, "answer": ARITH.final_answer(c.steps),
                         "reward": rewards[i], "correct": is_solved(ARITH, c.problem, c.steps),
                         "labels": ARITH.step_oracle(c.problem, c.steps).labels if c.steps else [],
                         "step_ends": step_ends(pt.ids[i], codec.step_end, codec.eos_id),
                         "segments_unscaled_intra": [[s.start, s.end, a] for s, a in intra[i]]})
        at += n
    return rows


def chain_sample_rows(batch) -> list[dict[str, Any]]:
    return [{"step": c.step + 1, "slot": c.group, "sample": c.sample, "problem": c.problem,
             "steps": c.steps, "answer": ARITH.final_answer(c.steps), "reward": r,
             "correct": is_solved(ARITH, c.problem, c.steps), "tokens": len(ids)}
            for c, r, ids in zip(batch.completions, batch.rewards, batch.completion_ids)]


def pairs_from_rows(rows: list[dict]) -> list[tuple[str, SiblingPair]]:
    """The sibling preferences of saved tree leaves, each with its cluster (step:slot)."""
    by: dict[tuple[int, int], list[dict]] = defaultdict(list)
    for r in rows:
        by[(r["step"], r["slot"])].append(r)
    out = []
    for (step, slot), leaves in sorted(by.items()):
        leaves.sort(key=lambda r: r["leaf"])
        shape = [Leaf(r["tree"], r["length"], r["parent"], r["offset"]) for r in leaves]
        for p in sibling_pairs(shape, [r["reward"] for r in leaves], [r["labels"] for r in leaves],
                               [r["step_ends"] for r in leaves]):
            out.append((f"{step}:{slot}", p))
    return out


def preference_agreement(pairs: list[tuple[str, SiblingPair]], *, n_resamples: int = 1000) -> dict[str, Any]:
    """Does the sibling with the higher mean reward hold fewer wrong steps after the node?

    `agreement`: share of pairs whose wrong-step counts differ where the winner holds fewer
    (CI: bootstrap over step:slot clusters, a tree's pairs are not independent); also over
    pairs whose shared prefix is still correct. Baselines beside it, over the same pairs: a
    coin flip (0.5), and `shorter`: the child with fewer steps after the node is preferred
    (0.5 for equal lengths) — once a step is wrong every later one is, so length alone says
    something.
    """
    dec = [(c, p) for c, p in pairs if p.verdict != "tie"]
    counts = {v: sum(1 for _, p in pairs if p.verdict == v) for v in ("agree", "disagree", "tie")}

    def rate(sub: list[tuple[str, SiblingPair]], what: str, values) -> dict[str, Any]:
        if not sub:
            return metric(None, direction=HIGHER, n=0, aggregation=what,
                          reason="no sibling pair with differing rewards and wrong-step counts")
        return with_ci(weighted_mean(np.array(values(sub), dtype=float)), [c for c, _ in sub],
                       direction=HIGHER, n=len(sub), aggregation=what, n_resamples=n_resamples)

    def agree(sub):
        return [float(p.verdict == "agree") for _, p in sub]

    def shorter(sub):
        out = []
        for _, p in sub:
            if p.winner_steps == p.loser_steps:
                out.append(0.5)
                continue
            short_wrong, long_wrong = ((p.winner_wrong, p.loser_wrong) if p.winner_steps < p.loser_steps
                                       else (p.loser_wrong, p.winner_wrong))
            out.append(float(short_wrong < long_wrong))
        return out

    ok = [(c, p) for c, p in dec if p.prefix_correct]
    return {"pairs": len(pairs), **counts,
            "agreement": rate(dec, "share of decisive sibling pairs whose higher-reward child "
                                   "holds fewer wrong steps after the node", agree),
            "agreement_prefix_correct": rate(ok, "the same, over nodes whose shared prefix is "
                                                 "still correct", agree),
            "baselines": {"random": 0.5,
                          "shorter": rate(dec, "share of the same pairs whose child with fewer "
                                               "steps after the node holds fewer wrong steps "
                                               "(0.5 for equal lengths)", shorter)}}


# ---- the run ---------------------------------------------------------------------------------

def _read_rows(path: Path, upto: int) -> list[dict]:
    if not path.exists():
        return []
    return [r for r in (loads(x, path=path) for x in path.read_text(encoding="utf-8").splitlines() if x)
            if r["step"] <= upto]


def _run_arm(arm: Literal["tree", "chain"], cfg: TreeRunConfig, out: Path, train: list[str],
             test: list[str], initial: dict, groups: int | None, log, progress) -> tuple[list, list]:
    """Train one arm (or resume it); its curve and evaluation rows."""
    import torch

    d = out / arm
    # the run's own files, read back to resume: not inputs (they are rewritten)
    state = read_json(d / "state.json", note=False) if (d / "state.json").exists() else None
    start = int(state["step"]) if state else 0
    rows = _read_rows(d / "curve.jsonl", start)
    evals = _read_rows(d / "evals.jsonl", start) or [{"step": 0, "tokens": 0, **initial}]
    if start >= cfg.rl.steps:
        return rows, evals
    if start:
        log(f"{arm}: resuming after step {start} of {cfg.rl.steps}")
    src = d / "checkpoint" if state else Path(cfg.policy)
    torch.manual_seed(cfg.rl.seed)
    model, codec = load_model(src, "causal"), load_codec(src)
    judge = None
    if cfg.reward.judge:
        from prmlab.judges.load import load_judge

        judge = load_judge(cfg.reward.judge)
    reward = build_reward(cfg.reward, ARITH, seed=cfg.rl.seed, judge=judge)
    if arm == "tree":
        trainer = TreeGRPO(model, codec, cfg.rl, cfg.tree, reward, ARITH)
    else:
        trainer = GRPOLoop(model, codec, cfg.rl.model_copy(update={"num_generations": groups}), reward)

    def on_step(step: int, row: dict, batch) -> None:
        if arm == "chain":
            row["generated_tokens"] = row["completion_tokens"]
        row["tokens_cumulative"] = (rows[-1]["tokens_cumulative"] if rows else 0) + row["generated_tokens"]
        rows.append(row)
        samples = tree_sample_rows(batch, codec) if arm == "tree" else chain_sample_rows(batch)
        write_jsonl(d / "samples" / f"step-{step:04d}.jsonl", samples)
        write_jsonl(d / "curve.jsonl", rows)
        if step % cfg.eval_every == 0 or step == cfg.rl.steps:
            evals.append({"step": step, "tokens": row["tokens_cumulative"], **greedy_test(model, codec, test, cfg)})
            write_jsonl(d / "evals.jsonl", evals)
        if step % cfg.save_every == 0 or step == cfg.rl.steps:
            save_checkpoint(d / "checkpoint", model, codec,
                            {"kind": "policy", "tree_rl": cfg.model_dump(mode="json"), "arm": arm,
                             "step": step, "base": read_info(cfg.policy).get("base")})
            write_json(d / "state.json", {"step": step})
        if progress is not None:
            progress(arm, step, cfg.rl.steps, {"loss": row["loss"], "reward": row["reward_mean"],
                                               "tokens": row["tokens_cumulative"]})

    trainer.run(train, start_step=start, on_step=on_step)
    return rows, evals


def _difference(tree_ok: list[bool], chain_ok: list[bool], n_resamples: int) -> dict[str, Any]:
    diff = np.array(tree_ok, dtype=float) - np.array(chain_ok, dtype=float)
    return with_ci(weighted_mean(diff), [str(i) for i in range(len(diff))], direction=HIGHER,
                   n=len(diff), n_resamples=n_resamples,
                   aggregation="tree minus chain final greedy accuracy, paired over test problems")


def run_tree_rl(cfg: TreeRunConfig, out: Path, *, log: Callable[[str], None] = print,
                progress: Progress | None = None) -> dict[str, Any]:
    """Train (or resume) both arms and measure them; returns `metrics.json`'s content."""
    out = Path(out)
    saved = out / "config.json"
    pin_config(cfg, saved)
    t0 = time.perf_counter()
    train = _problems(cfg, "rl.train", cfg.n_train)
    test = _problems(cfg, "rl.test", cfg.n_test)
    if not (out / "eval-initial.json").exists():
        log(f"evaluating the starting policy on {cfg.n_test} test problems")
        write_json(out / "eval-initial.json",
                   greedy_test(load_model(cfg.policy, "causal"), load_codec(cfg.policy), test, cfg))
    initial = read_json(out / "eval-initial.json", note=False)
    curves, evals = {}, {}
    curves["tree"], evals["tree"] = _run_arm("tree", cfg, out, train, test, initial, None, log, progress)
    if (out / "matched.json").exists():
        matched = read_json(out / "matched.json", note=False)
    else:
        g = cfg.chain_generations or matched_generations(curves["tree"], cfg.tree.m_trees)
        matched = {"chain_generations": g, "derived": cfg.chain_generations is None,
                   "tree_generated_tokens": sum(r["generated_tokens"] for r in curves["tree"]),
                   "tree_root_chain_tokens": sum(r["root_chain_tokens"] for r in curves["tree"]),
                   "m_trees": cfg.tree.m_trees,
                   "rule": "G = max(2, round(m_trees x tree generated tokens / tree first-chain tokens))"}
        write_json(out / "matched.json", matched)
    log(f"chain GRPO with groups of {matched['chain_generations']}")
    curves["chain"], evals["chain"] = _run_arm("chain", cfg, out, train, test, initial,
                                               matched["chain_generations"], log, progress)
    tokens = {arm: sum(r["generated_tokens"] for r in curves[arm]) for arm in ARMS}
    tree_rows = [r for p in sorted((out / "tree" / "samples").glob("step-*.jsonl"))
                 for r in _read_rows(p, cfg.rl.steps)]
    metrics = {
        "initial_accuracy": initial["accuracy"],
        "final_accuracy": {arm: evals[arm][-1]["accuracy"] for arm in ARMS},
        "final_difference": _difference(evals["tree"][-1]["correct"], evals["chain"][-1]["correct"],
                                        cfg.bootstrap_resamples),
        "accuracy_vs_tokens": {arm: [{"step": e["step"], "tokens": e["tokens"], "accuracy": e["accuracy"]}
                                     for e in evals[arm]] for arm in ARMS},
        "tokens": {"generated": tokens, "chain_over_tree": tokens["chain"] / max(tokens["tree"], 1),
                   "trained_tree": sum(r["trained_tokens"] for r in curves["tree"]),
                   "per_step": {arm: [r["generated_tokens"] for r in curves[arm]] for arm in ARMS},
                   "chain_generations": matched["chain_generations"]},
        "preference_agreement": preference_agreement(pairs_from_rows(tree_rows),
                                                     n_resamples=cfg.bootstrap_resamples),
        "advantage": cfg.tree.advantage,
    }
    write_json(out / "metrics.json", metrics)
    write_json(out / "summary.json", {
        "steps": cfg.rl.steps, "seconds": time.perf_counter() - t0,
        "initial_accuracy": initial["accuracy"]["value"],
        **{f"{arm}_final_accuracy": metrics["final_accuracy"][arm]["value"] for arm in ARMS},
        **{f"{arm}_tokens": tokens[arm] for arm in ARMS},
        "chain_generations": matched["chain_generations"],
        "preference_agreement": metrics["preference_agreement"]["agreement"]["value"]})
    return metrics
