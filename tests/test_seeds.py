"""Seed streams: every stream a run draws has a name in `prmlab/seeds.py`, and no two streams of
a default run (quick, full, smoke) draw the same problems or the same sampling generator.

Reverting `base.probe.hard` to 20_000_000 and `base.probe.slip` to 40_000_000 (the values before
the registry) makes `test_no_two_streams_of_a_default_run_draw_the_same_problems` fail (the slip
probe is the pool's problems at base.seed = data.seed = 0) and
`test_problem_streams_stay_apart_for_any_config_seeds` fail (the hard probe is the policy's
training problems at base.seed = policy.seed = 1).
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from prmlab import seeds
from prmlab.judges.formats import JUDGE_FORMATS
from prmlab.experiments.config import PRESETS, resolve_config
from prmlab.training.base import PROBE_N

ROOT = Path(__file__).resolve().parents[1]


def problem_streams(cfg) -> list[tuple[str, int, int]]:
    """(stream, config seed, records drawn) for every problem stream `prmlab run` draws with
    `cfg`: the base's corpus and probes, the policy's training problems and every data set."""
    b, d = cfg.base, cfg.data
    out = [("base.corpus", b.seed, b.n_problems),
           ("base.probe.checks", b.seed, PROBE_N),  # snapshots draw the first 200 of each
           ("base.probe.hard", b.seed, PROBE_N),
           ("base.probe.slip", b.seed, PROBE_N),
           ("policy.train", cfg.policy.seed, cfg.policy.n_problems),
           ("data.pool.policy", d.seed, d.pool_policy_problems),
           ("data.pool.injected", d.seed, d.pool_injected),
           ("data.dev.policy", d.seed, d.dev_policy_problems),
           ("data.dev.injected", d.seed, d.dev_injected),
           # the balanced set draws rounds of problems: at most max_rounds of them
           ("data.eval.policy", d.seed, d.eval_policy_problems * d.eval_quota.max_rounds),
           ("data.eval.injected", d.seed, d.eval_injected)]
    if cfg.bon.enabled:
        out.append(("data.bon", d.seed, cfg.bon.n_problems))
    return out


def generator_seeds(cfg, max_calls: int = 1000) -> dict[str, set[int]]:
    """Seeds of the sampling generators a run draws from (greedy scoring draws none): the
    policy's samples for each data set, the TTS passes' rationales and the rollouts (at most
    `max_calls` generate calls)."""
    d = cfg.data
    out = {name: {seeds.seed(name, d.seed)} for name in
           ("data.pool.policy", "data.dev.policy", "data.eval.policy")}
    if cfg.bon.enabled:
        out["data.bon"] = {seeds.seed("data.bon", d.seed)}
    # the balanced evaluation set: generator g's round r (the old data.eval.policy sampling
    # seed is no longer drawn)
    out.pop("data.eval.policy")
    out["data.eval.sample"] = {seeds.seed("data.eval.sample", d.seed, index=r, part=g)
                               for g in range(1 + len(d.eval_quota.policies))
                               for r in range(d.eval_quota.max_rounds)}
    if cfg.tts.enabled and "generative" in cfg.formats:
        out["tts.pass"] = {seeds.seed("judge.generative.sample", seeds.seed("tts.pass", index=k), index=0)
                           for k in range(max(cfg.tts.ks))}  # one sampled rationale per pass
    rl_formats = [f for f in cfg.formats if JUDGE_FORMATS[f].trainer != "sft"]
    if rl_formats:  # a GRPO judge's steps, an rft judge's samples, per judge seed
        out["judge_rl.sample"] = {seeds.seed("judge_rl.sample", s, index=t) for s in cfg.seeds
                                  for t in range(cfg.judge.rl.grpo.steps)}
        out["judge_rl.rft"] = {seeds.seed("judge_rl.rft", s, index=k) for s in cfg.seeds
                               for k in range(cfg.judge.rl.rft_samples)}
    if cfg.label_free.methods:
        out["rollouts.sample"] = {seeds.seed("rollouts.sample", cfg.seeds[0], index=c)
                                  for c in range(max_calls)}
    return out


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_no_two_streams_of_a_default_run_draw_the_same_problems(preset):
    cfg = resolve_config(preset=preset)
    draws = {name: seeds.problem_draws(name, s, n) for name, s, n in problem_streams(cfg)}
    assert len(draws) == len(problem_streams(cfg))  # each stream once
    for (a, da), (b, db) in itertools.combinations(draws.items(), 2):
        both = da & db
        assert not both, f"{preset}: {a} and {b} draw the same problems, e.g. {sorted(both)[:3]}"
    # Every stream is registered as drawn by a run.
    assert all(seeds.stream(name).in_run for name in draws)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_no_two_streams_of_a_default_run_sample_from_the_same_generator(preset):
    cfg = resolve_config(preset=preset)
    got = generator_seeds(cfg)
    for (a, sa), (b, sb) in itertools.combinations(got.items(), 2):
        assert not sa & sb, f"{preset}: {a} and {b} share generator seeds {sorted(sa & sb)[:3]}"


def test_problem_streams_stay_apart_for_any_config_seeds():
    """Not only at the presets' seeds: base.seed, policy.seed and data.seed move independently
    (the hard-type probe met the policy's problems at base.seed = 1)."""
    names = [s.name for s in seeds.STREAMS.values() if s.kind == "problems" and s.in_run]
    for name in names:
        assert seeds.stream(name).stride == 1
    for a, b in itertools.combinations(names, 2):
        gap = abs(seeds.stream(a).base - seeds.stream(b).base)
        assert gap >= seeds.SEED_SPAN, f"{a} and {b}: seeds in [0, {seeds.SEED_SPAN}) can meet"
    # Spot checks of the arithmetic at small seeds, the presets' and a few others.
    for s1, s2 in itertools.product(range(4), repeat=2):
        for a, b in itertools.combinations(names, 2):
            assert seeds.seed(a, s1) != seeds.seed(b, s2), (a, s1, b, s2)


def test_string_keyed_streams_have_their_own_prefixes():
    prefixes = [s.prefix for s in seeds.STREAMS.values() if s.kind == "random"]
    assert len(prefixes) == len(set(prefixes)) and all(prefixes)
    assert not any(p[0].isdigit() for p in prefixes)  # record keys are "{seed}:{i}"
    assert seeds.key("base.probe.rng", 7) == "probe:7"
    assert seeds.key("judge.teacher", 0, "a-1") == "teacher:0:a-1"
    assert seeds.rng("budget.draw", 2).random() == __import__("random").Random("budget:2").random()


def test_values_of_the_streams_a_run_shares_with_cached_artifacts_did_not_move():
    """The policy, the data sets and the corpus keep today's draws (so every per-cell metric
    with the same base does); only the base's health probes moved."""
    want = {"base.corpus": 0, "base.probe.checks": 10_000_000, "policy.train": 20_000_000,
            "cli.sample": 30_000_000,
            "data.pool.policy": 40_000_000, "data.pool.injected": 41_000_000,
            "data.dev.policy": 50_000_000, "data.dev.injected": 51_000_000,
            "data.eval.policy": 60_000_000, "data.eval.injected": 61_000_000, "data.bon": 70_000_000}
    assert {n: seeds.stream(n).base for n in want} == want
    assert [seeds.seed("tts.pass", index=k) for k in range(3)] == [1000, 1001, 1002]
    assert seeds.seed("judge.generative.sample", 2, index=1) == 2 * 1000 + 1
    assert seeds.seed("rollouts.sample", 2, index=5) == 2 * 1_000_003 + 5
    assert seeds.seed("critic.sample", 2, index=5) == 2 * 100_003 + 5
    assert (seeds.stream("base.probe.hard").base, seeds.stream("base.probe.slip").base) == (11_000_000, 12_000_000)


def test_the_balanced_sets_generator_seeds_have_parts():
    assert seeds.seed("data.eval.sample", 0, index=0, part=0) == 80_000_000
    assert seeds.seed("data.eval.sample", 1, index=2, part=1) == 80_000_000 + 10_000 + 1000 + 2
    with pytest.raises(ValueError, match="index 1000"):
        seeds.seed("data.eval.sample", 0, index=1000)
    with pytest.raises(ValueError, match="has no parts"):
        seeds.seed("data.bon", 0, part=1)


def test_the_base_draws_what_the_registry_says(monkeypatch):
    """The probes call `iter_records` with the registered streams' seeds (a spy, no model)."""
    from prmlab.data.arith.problems import Difficulty
    from prmlab.training import base as base_mod

    calls = []
    real = base_mod.iter_records

    def spy(n, seed, *a, **kw):
        calls.append((seed, n))
        return real(n, seed, *a, **kw)

    monkeypatch.setattr(base_mod, "iter_records", spy)
    base_mod.probe_sets(Difficulty(), seed=3, n=5)
    assert calls == [(seeds.seed(n, 3), 5) for n in ("base.probe.checks", "base.probe.hard", "base.probe.slip")]


def test_the_policy_draws_its_registered_stream(monkeypatch):
    from prmlab.training import policy as policy_mod

    seen = []

    def spy(n, seed, *a, **kw):
        seen.append(seed)
        raise _Stop("stop")

    class _Stop(Exception):
        pass

    monkeypatch.setattr(policy_mod, "iter_records", spy)
    monkeypatch.setattr(policy_mod, "base_difficulty", lambda base: None)
    monkeypatch.setattr(policy_mod, "load_codec", lambda base: None)
    with pytest.raises(_Stop):
        policy_mod.train_policy(policy_mod.PolicyConfig(seed=4), "nowhere", "nowhere")
    assert seen == [seeds.seed("policy.train", 4)]


# Seed arithmetic left in files this branch does not edit (each listed, with its replacement, in
# the branch's report): (file, literal). Remove an entry when its line calls prmlab.seeds.
PENDING: set = set()  # every registered stream is drawn through the registry


def test_no_seed_arithmetic_outside_the_registry():
    """A registered base value or string prefix written as a literal elsewhere is a stream
    that bypasses the registry (and could collide unseen)."""
    values = {s.base for s in seeds.STREAMS.values() if s.base >= 1_000_000}
    values |= {s.stride for s in seeds.STREAMS.values() if s.stride > 1000}
    prefixes = {s.prefix + ":" for s in seeds.STREAMS.values() if s.kind == "random"}
    found = set()
    for f in sorted((ROOT / "prmlab").rglob("*.py")):
        rel = str(f.relative_to(ROOT))
        if rel == "prmlab/seeds.py":
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Constant) and type(node.value) is int and node.value in values:
                found.add((rel, node.value))
            if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                head = str(node.values[0].value)
                found |= {(rel, p) for p in prefixes if head.startswith(p)}
    assert found <= PENDING, sorted(found - PENDING, key=str)
