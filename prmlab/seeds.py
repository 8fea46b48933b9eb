"""Named seed streams: every random draw prmlab makes from a config seed has a name, and its base
value is defined here, once.

A stream is one of three kinds:

- `problems`: a seed for `data.arith.generate.iter_records`. Record `i` of stream seed `S` is
  drawn from `random.Random(f"{S}:{i}")`, so two streams draw the same problems exactly when
  their seeds are equal (every stream's indices start at 0). Seeds of these streams also key the
  torch generator that samples the policy on those problems (the flagship's data sets).
- `generator`: a seed handed to `models.generate.generate` (one torch generator per call), or to
  a judge that derives its generator seeds from it.
- `random`: a Python `random.Random` keyed by the string `"{prefix}:{config seed}[:more]"`; the
  prefix names the stream, so no two of them share draws.

The seed of a stream is `base + stride * config_seed + index` (`seed()`). Problem streams have
stride 1 and bases at least `SEED_SPAN` apart, so any config seeds in `[0, SEED_SPAN)` keep them
disjoint; config sections check their seeds against that range (`check_config_seed`).
`tests/test_seeds.py` enumerates what a default run draws and fails on any overlap.

Seeds used as they are for one generator and one purpose — model init
(`torch.manual_seed(cfg.seed)`), a fit's shuffling (`FitConfig.seed`), the bootstrap's and the
random baseline's seed — are config values, not streams.

Two streams moved (health probes only: evaluation of the base, never its training data or any
metric): `base.probe.hard` was `20_000_000 + base.seed`, the policy's training problems at
`base.seed = policy.seed`; `base.probe.slip` was `40_000_000 + base.seed`, the labelled pool's
problems at `base.seed = data.seed`. `PROBE_VERSION` in `training/base.py` records the move.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Literal

SEED_SPAN = 1_000_000  # config seeds live in [0, SEED_SPAN): problem streams stay apart


@dataclasses.dataclass(frozen=True)
class Stream:
    name: str
    kind: Literal["problems", "generator", "random"]
    seeded_by: str  # the config value (or CLI option) that seeds it
    where: str  # the module that draws it
    doc: str
    base: int = 0
    stride: int = 1  # multiplier of the config seed (0: the stream ignores it)
    prefix: str = ""  # `random` streams: the string key's first part
    part_stride: int = 0  # multiplier of the part (a generator's index in a pool; 0: no parts)
    in_run: bool = True  # drawn by `prmlab run` (the flagship sweep)


_STREAMS = [
    # ---- problems ---------------------------------------------------------------------------
    Stream("base.corpus", "problems", "base.seed", "training/base.py -> data/arith/corpus.py",
           "the base's pretraining problems (n = base.n_problems)", base=0),
    Stream("base.probe.checks", "problems", "base.seed", "training/base.py",
           "held-out check probes of the base (n = 500; 200 for snapshots)", base=10_000_000),
    Stream("base.probe.hard", "problems", "base.seed", "training/base.py",
           "held-out hard-type check probes (was 20_000_000: the policy's problems at "
           "base.seed = policy.seed)", base=11_000_000),
    Stream("base.probe.slip", "problems", "base.seed", "training/base.py",
           "held-out arithmetic-slip probes (was 40_000_000: the pool's problems at "
           "base.seed = data.seed)", base=12_000_000),
    Stream("policy.train", "problems", "policy.seed", "training/policy.py",
           "the policy's gold training problems (n = policy.n_problems)", base=20_000_000),
    Stream("cli.sample", "problems", "`prmlab sample --seed`", "cli/train.py",
           "problems `prmlab sample` draws when given no --problems", base=30_000_000,
           in_run=False),
    Stream("data.pool.policy", "problems", "data.seed", "experiments/artifacts.py",
           "labelled pool: policy-sampled problems (and their sampling seed)", base=40_000_000),
    Stream("data.pool.injected", "problems", "data.seed", "experiments/artifacts.py",
           "labelled pool: injected-error solutions", base=41_000_000),
    Stream("data.dev.policy", "problems", "data.seed", "experiments/artifacts.py",
           "dev split: policy-sampled problems (and their sampling seed)", base=50_000_000),
    Stream("data.dev.injected", "problems", "data.seed", "experiments/artifacts.py",
           "dev split: injected-error solutions", base=51_000_000),
    Stream("data.eval.policy", "problems", "data.seed", "experiments/artifacts.py",
           "evaluation: policy-sampled problems (and their sampling seed)", base=60_000_000),
    Stream("data.eval.injected", "problems", "data.seed", "experiments/artifacts.py",
           "evaluation: injected-error solutions", base=61_000_000),
    Stream("data.bon", "problems", "data.seed", "experiments/artifacts.py",
           "best-of-N problems (and their sampling seed)", base=70_000_000),
    Stream("rl.train", "problems", "rl.seed", "experiments/rl.py",
           "`prmlab rl`: the policy's RL training problems", base=80_000_000, in_run=False),
    Stream("rl.test", "problems", "rl.seed", "experiments/rl.py",
           "`prmlab rl`: held-out test problems of the RL policy", base=81_000_000, in_run=False),
    # ---- generator seeds --------------------------------------------------------------------
    Stream("data.eval.sample", "generator", "data.seed (x10_000) + generator (x1000) + round",
           "experiments/evalsets.py",
           "the balanced evaluation set: generator g's sampling seed in draw round r (the "
           "round's problems are records of data.eval.policy)",
           base=80_000_000, stride=10_000, part_stride=1000),
    Stream("tts.pass", "generator", "(none) + pass k", "experiments/artifacts.py",
           "the judge seed of test-time-scaling pass k (one sampled rationale each)",
           base=1000, stride=0),
    Stream("judge.generative.sample", "generator", "judge seed (x1000) + rationale k",
           "judges/generative.py", "a generative judge's k-th sampled rationale", stride=1000),
    Stream("rollouts.sample", "generator", "label-free seed (x1_000_003) + call",
           "training/rollout_sampler.py", "the rollout sampler's n-th generate call",
           stride=1_000_003),
    Stream("critic.sample", "generator", "critic seed (x100_003) + batch", "judges/critic.py",
           "the ProcessBench critic's b-th batch", stride=100_003, in_run=False),
    Stream("synth.chains", "generator", "synth seed (x100_019) + chunk", "models/chat.py",
           "a teacher's c-th chunk of verification chains (`prmlab synth chains`)",
           stride=100_019, in_run=False),
    Stream("rl.sample", "generator", "rl seed (x1_000_003) + step", "training/grpo_loop.py",
           "the completions GRPO samples at step n", base=500_000, stride=1_000_003,
           in_run=False),
    Stream("rl.eval", "generator", "rl seed (x1_000_003) + pass", "experiments/rl.py",
           "sampled evaluation of the RL policy (pass k)", base=900_000, stride=1_000_003,
           in_run=False),
    Stream("rl.pick", "generator", "rl seed (x1_000_003)", "experiments/rl.py",
           "one-example RLVR's mid-pass-rate rule: the pre-RL policy's samples of each "
           "candidate training problem", base=950_000, stride=1_000_003, in_run=False),
    Stream("pcl.segment", "generator", "rl seed (x1_000_003) + step", "training/pcl.py",
           "the self-evaluation segments PCL samples after step n's answers", base=610_000,
           stride=1_000_003, in_run=False),
    Stream("pcl.test", "generator", "rl seed (x1_000_003) + pass", "experiments/pcl.py",
           "PCL's sampled test answers and their self-evaluations (pass 0: answers, 1: "
           "segments)", base=930_000, stride=1_000_003, in_run=False),
    Stream("tree.sample", "generator", "rl seed (x10_000_019) + round (x100_000) + step",
           "training/tree_loop.py", "Tree-GRPO at step n: round 0 samples the trees' first "
           "chains, round r > 0 their r-th expansions", base=6_000_000, stride=10_000_019,
           part_stride=100_000, in_run=False),
    Stream("judge.compute.check", "generator", "judge-compute seed (x1000) + check k",
           "judges/sampled_checks.py", "the k-th sampled check of every step (judge compute)",
           base=2_000_000, stride=1000, in_run=False),
    Stream("chunk_reset.step", "generator", "chunk-reset seed (x100_000) + call",
           "judges/chunk_reset.py", "the policy's n-th step-sampling call in chunk-reset decoding",
           base=3_000_000, stride=100_000, in_run=False),
    Stream("chunk_reset.bon", "generator", "chunk-reset seed (x1000)", "experiments/chunk_reset.py",
           "the best-of-N policy samples chunk-reset is compared with", base=4_000_000,
           stride=1000, in_run=False),
    Stream("judge_rl.sample", "generator", "judge seed (x1_000_003) + step",
           "training/judge_rl.py", "the checks (or verdicts) an RL-trained judge samples at "
           "GRPO step n", base=5_300_000, stride=1_000_003),
    Stream("judge_rl.rft", "generator", "judge seed (x1000) + sample k",
           "training/judge_rl_fit.py", "the k-th check of every step a rejection-sampling "
           "fine-tuned judge samples from its starting judge", base=6_000_000, stride=1000),
    Stream("openai.request", "generator", "the generate call's seed (x1_000_033) + prompt",
           "models/openai_client.py", "the i-th prompt's request to an OpenAI-compatible "
           "server (each prompt its own seed: copies of a prompt draw apart)",
           stride=1_000_033, in_run=False),
    # ---- string-keyed Python generators ------------------------------------------------------
    Stream("base.corpus.rng", "random", "base.seed", "data/arith/corpus.py",
           "which steps the corpus checks, hard-type errors, worked lines", prefix="corpus"),
    Stream("base.probe.rng", "random", "base.seed", "training/base.py",
           "the probes' worked lines, checked steps and injected errors", prefix="probe"),
    Stream("budget.draw", "random", "judge seed", "supervision/budget.py",
           "which pool solutions a label budget buys (nested in the budget)", prefix="budget"),
    Stream("judge.teacher", "random", "judge seed, record id", "supervision/chains.py",
           "a generative judge's teacher chains (per record)", prefix="teacher"),
    Stream("thinkprm.split", "random", "thinkprm seed", "experiments/thinkprm.py",
           "which problems of the labelled file are held out for evaluation and dev",
           prefix="thinkprm-split", in_run=False),
    Stream("rl.order", "random", "rl seed, step", "training/grpo_loop.py",
           "which training problems fill GRPO step n's batch", prefix="rlorder", in_run=False),
    Stream("judge_rl.verdict", "random", "judge seed, step", "training/judge_rl.py",
           "the verdicts an RL-trained generative judge draws where its checks stop, at GRPO "
           "step n", prefix="judgerlverdict"),
    Stream("judge_rl.rft_verdict", "random", "judge seed, sample k", "training/judge_rl_fit.py",
           "the verdicts a rejection-sampling fine-tuned judge draws where its k-th checks stop",
           prefix="judgerftverdict"),
    Stream("pcl.verdict", "random", "rl seed, step", "training/pcl.py",
           "the verdicts PCL's self-evaluation segments draw where they stop, at step n",
           prefix="pclverdict", in_run=False),
    Stream("judge_rl.order", "random", "judge seed, step", "training/judge_rl.py",
           "which (prefix, step) prompts fill an RL-trained judge's step n (class-balanced)",
           prefix="judgerlorder"),
    Stream("tree.expand", "random", "rl seed, step, slot, tree, round", "training/tree_loop.py",
           "which step boundaries Tree-GRPO expands in a tree's round", prefix="treeexpand",
           in_run=False),
    Stream("rl.reward.random", "random", "rl seed, step, slot, sample", "training/rewards.py",
           "the random control reward: Bernoulli(p) per sample", prefix="rlrandom", in_run=False),
]

STREAMS: dict[str, Stream] = {s.name: s for s in _STREAMS}
assert len(STREAMS) == len(_STREAMS), "stream names must be unique"


def stream(name: str) -> Stream:
    try:
        return STREAMS[name]
    except KeyError:
        raise ValueError(f"unknown seed stream {name!r}; known: {', '.join(STREAMS)}") from None


def check_config_seed(value: int, what: str = "seed") -> int:
    """`value` if it is a seed the streams keep apart; ValueError (naming `what`) otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < SEED_SPAN:
        raise ValueError(f"{what} must be an integer in [0, {SEED_SPAN:_}) so that its seed "
                         f"streams stay apart, got {value!r}")
    return value


def seed(name: str, config_seed: int = 0, index: int = 0, part: int = 0) -> int:
    """The integer seed of stream `name` for `config_seed` (and `index`, where the stream has
    one: a pass, a rationale, a call; and `part`, where it has parts: a generator of a pool).

    >>> seed("data.pool.policy", 2)
    40000002
    >>> seed("tts.pass", index=3)
    1003
    >>> seed("data.eval.sample", 2, index=3, part=1)
    80021003
    """
    s = stream(name)
    if s.kind == "random":
        raise ValueError(f"seed stream {name!r} is string-keyed: use seeds.rng()")
    if part and not s.part_stride:
        raise ValueError(f"seed stream {name!r} has no parts")
    if s.part_stride and not 0 <= int(index) < s.part_stride:
        raise ValueError(f"seed stream {name!r}: index {index} outside [0, {s.part_stride})")
    if s.part_stride and not 0 <= int(part) * s.part_stride < s.stride:
        raise ValueError(f"seed stream {name!r}: part {part} outside [0, {s.stride // s.part_stride})")
    return s.base + s.stride * int(config_seed) + s.part_stride * int(part) + int(index)


def key(name: str, config_seed: int, *more: object) -> str:
    """The string key of a `random` stream: `"{prefix}:{config_seed}[:more...]"`.

    >>> key("judge.teacher", 0, "pool-3")
    'teacher:0:pool-3'
    """
    s = stream(name)
    if s.kind != "random":
        raise ValueError(f"seed stream {name!r} is integer-seeded: use seeds.seed()")
    return ":".join([s.prefix, str(config_seed), *map(str, more)])


def rng(name: str, config_seed: int, *more: object) -> random.Random:
    """A fresh `random.Random` for a `random` stream (see `key`)."""
    return random.Random(key(name, config_seed, *more))


def problem_draws(name: str, config_seed: int, n: int) -> set[str]:
    """The record keys (`"{seed}:{i}"`, i < n) a problem stream draws: what two streams must
    never share."""
    s = stream(name)
    if s.kind != "problems":
        raise ValueError(f"seed stream {name!r} does not draw problems")
    first = seed(name, config_seed)
    return {f"{first}:{i}" for i in range(n)}
