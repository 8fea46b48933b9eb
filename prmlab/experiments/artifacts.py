"""The sweep's shared inputs, content-addressed in the cache (`$PRMLAB_CACHE`): per base
replicate, the base, the policies (the pool's policy and the evaluation set's other generators)
and the labelled data sets. Each is built once per key and read back after that."""

from __future__ import annotations

import dataclasses
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from prmlab import seeds
from prmlab.atomic import write_json, write_jsonl
from prmlab.data.arith.generate import iter_records
from prmlab.data.jsonl import read_records
from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.strict import read_json
from prmlab.experiments.config import RunConfig, config_key
from prmlab.experiments.evalsets import (Draws, Quota, check_fills, composition, fill_quota,
                                         interleave, rule_text)
from prmlab.experiments.records import Composition, DataSummary, RunArtifacts, SweepArtifacts
from prmlab.models.checkpoint import load_codec, load_model, read_info
from prmlab.training.base import base_report, snapshot_path, train_base
from prmlab.training.base_health import base_warnings
from prmlab.training.policy import PolicyConfig, sample_policy, train_policy

SET_NAMES = ("pool", "dev", "eval_policy", "eval_injected", "bon")


def default_cache() -> Path:
    env = os.environ.get("PRMLAB_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "prmlab"


@dataclass(frozen=True)
class DataSets:
    pool: list[Record]  # labelled pool that budgets draw from
    dev: list[Record]  # labelled dev split (model selection)
    eval_policy: list[Record]  # evaluation: policy samples on fresh problems
    eval_injected: list[Record]  # evaluation: injected errors
    bon: list[Record]  # best-of-N samples
    composition: dict[str, Composition]  # evaluation set name ("policy", ...) -> what it holds

    def eval_set(self, name: str) -> list[Record]:
        """The records of an evaluation set: "policy", "injected" or "all"."""
        return {"policy": self.eval_policy, "injected": self.eval_injected,
                "all": self.eval_policy + self.eval_injected}[name]


@dataclass(frozen=True)
class Artifacts:
    """One base replicate's inputs."""

    base: Path
    policy: Path
    policy_init: Path
    data: DataSets
    data_folder: Path
    base_seed: int = 0
    generators: dict[str, Path] = dataclasses.field(default_factory=dict)  # name -> policy


def generators(cfg: RunConfig) -> list[tuple[str, PolicyConfig]]:
    """The evaluation set's generators, named by position and start: `policy` first (it also
    samples the pool, the dev split and best-of-N), then `data.eval_quota.policies`."""
    pols = [cfg.policy] + list(cfg.data.eval_quota.policies)
    return [(f"g{i}-{p.init}", p) for i, p in enumerate(pols)]


def build_base(cfg: RunConfig, cache: Path, ui) -> Path:
    key = cfg.base.key()
    path = cache / "base" / key
    if (path / "prmlab.json").exists():
        if cfg.base.snapshot_step is not None and not (snapshot_path(path, cfg.base) / "prmlab.json").exists():
            raise InputError("the cached base has no snapshot (deleted?); remove the base folder to rebuild it",
                             path=str(path))
        ui.log(f"base: cached at {path}")
        _warn(ui, base_report(path, log=ui.log))  # re-probes a report of older probes
        return path
    ui.log(f"base: pretraining (cache miss, key {key}); cached for next time")
    with ui.steps("pretraining base") as update:
        report = train_base(cfg.base, path, log=ui.log, progress=update)
    ui.log(f"base: worked arithmetic {report['worked_exact']:.3f}, copy {report['copy_exact']:.3f}, "
           f"recompute {report['recompute_exact']:.3f} ({report['seconds']:.0f}s)")
    _warn(ui, report)
    return path


def _warn(ui, base_report: dict) -> None:
    for w in base_warnings(base_report):
        ui.log(f"base: WARNING: {w}")


def policy_init(cfg: RunConfig, base: Path, pcfg: PolicyConfig | None = None) -> Path:
    if (pcfg or cfg.policy).init == "base":
        return base
    if cfg.base.snapshot_step is None:
        raise InputError("policy.init=snapshot needs base.snapshot_step")
    return snapshot_path(base, cfg.base)


def build_policy(cfg: RunConfig, base: Path, cache: Path, ui, pcfg: PolicyConfig | None = None) -> Path:
    pcfg = pcfg or cfg.policy
    init = policy_init(cfg, base, pcfg)
    path = cache / "policy" / pcfg.key(base.name, init.name)
    if (path / "prmlab.json").exists():
        ui.log(f"policy: cached at {path}")
        return path
    with ui.steps(f"training policy from {init.name}") as update:
        train_policy(pcfg, init, path, progress=update)
    return path


def data_folder(cfg: RunConfig, gens: dict[str, Path], cache: Path) -> Path:
    """Keyed by every generator's policy (the first samples the pool) and the data config."""
    names = list(gens.values())
    key = config_key({"policy": names[0].name, "generators": [p.name for p in names],
                      "data": cfg.data.model_dump(), "bon": cfg.bon.model_dump(),
                      "difficulty": cfg.base.difficulty.model_dump()})
    return cache / "data" / key


def _compositions(sets: dict[str, list[Record]], policy: Composition) -> dict[str, Composition]:
    draws = {g.generator: Draws.of(g) for g in policy.generators}
    return {"policy": policy, "injected": composition(sets["eval_injected"]),
            "all": composition(sets["eval_policy"] + sets["eval_injected"], draws, policy.rule)}


def balanced_eval_set(cfg: RunConfig, gens: dict[str, Path], ui) -> tuple[list[Record], dict]:
    """The policy evaluation set (experiments/evalsets.py): each generator samples rounds of
    fresh problems (stream data.eval.policy, the same problems for every generator) until its
    part holds its quota; returns the pooled set and its summary (composition included)."""
    d, q = cfg.data, cfg.data.eval_quota
    diff = cfg.base.difficulty.build()
    per_problem, per_round = d.eval_samples_per_problem, d.eval_policy_problems
    stream = iter_records(per_round * q.max_rounds, seeds.seed("data.eval.policy", d.seed), diff,
                          error_rate=0.0)
    problems: list[str] = []

    def round_problems(r: int) -> list[str]:
        while len(problems) < (r + 1) * per_round:
            problems.extend(rec.problem for rec in itertools.islice(stream, per_round))
        return problems[r * per_round:(r + 1) * per_round]

    sizes = [q.size // len(gens) + (i < q.size % len(gens)) for i in range(len(gens))]
    fills, tokens = [], {"generated_tokens": 0, "prompt_tokens": 0}
    for g, ((name, path), size) in enumerate(zip(gens.items(), sizes)):
        model, codec = load_model(path, "causal"), load_codec(path)

        def draw(r: int, g=g, name=name, model=model, codec=codec) -> list[Record]:
            recs, summ = sample_policy(model, codec, round_problems(r), n_per_problem=per_problem,
                                       temperature=d.temperature, id_prefix=f"evalp-{name}-r{r}",
                                       seed=seeds.seed("data.eval.sample", d.seed, index=r, part=g))
            for k in tokens:
                tokens[k] += summ[k]
            # The problem, not the generator, is the bootstrap's cluster: every generator
            # answers problem i of round r.
            return [dataclasses.replace(rec, meta={
                **rec.meta, "generator": name,
                "problem_id": f"evalp-{r * per_round + int(rec.meta['problem_id'].rsplit('-', 1)[1])}"})
                for rec in recs]

        with ui.phase(f"sampling the balanced evaluation set from {name} ({size} solutions)"):
            fills.append(fill_quota(name, draw, Quota.of(size, q.correct_share, q.max_first_error_share),
                                    q.max_rounds))
    check_fills(fills, q.on_shortfall)
    records = interleave(fills)
    rule = rule_text(sizes[0], len(gens), q.correct_share, q.max_first_error_share, q.max_rounds)
    comp = composition(records, {f.generator: f.draws() for f in fills}, rule)
    drawn = sum(f.drawn for f in fills)
    summary = DataSummary(
        n=len(records), natural_error_rate=sum(f.drawn_erroneous for f in fills) / drawn if drawn else None,
        answer_accuracy=sum(bool(r.answer_correct) for r in records) / max(1, len(records)),
        right_answer_wrong_process=sum(bool(r.answer_correct) and r.first_error != -1
                                       for r in records) / max(1, len(records)),
        error_types=comp.error_types, composition=comp, **tokens)
    for f in fills:
        ui.log(f"data: {f.generator}: {f.correct} correct + {f.erroneous} erroneous of {f.drawn} "
               f"drawn in {f.rounds} rounds (natural error rate {f.natural_error_rate or 0:.2f})"
               + (f"; SHORTFALL {f.shortfall()}" if not f.met else ""))
    return records, summary.model_dump(mode="json")


def read_datasets(folder: Path) -> DataSets:
    """The data sets a cache folder holds (written by `build_datasets`)."""
    sets = {n: read_records(folder / f"{n}.jsonl") for n in SET_NAMES}
    summ = DataSummary.model_validate(read_json(folder / "summary.json")["eval_policy"])
    if summ.composition is None:
        raise InputError("the cached data set has no evaluation-set composition (written by "
                         "another prmlab version?); remove the folder to rebuild it", path=str(folder))
    return DataSets(**sets, composition=_compositions(sets, summ.composition))


def build_datasets(cfg: RunConfig, gens: dict[str, Path], cache: Path, ui) -> DataSets:
    d = cfg.data
    diff = cfg.base.difficulty.build()
    folder = data_folder(cfg, gens, cache)
    if all((folder / f"{n}.jsonl").exists() for n in SET_NAMES) and (folder / "summary.json").exists():
        ui.log(f"data: cached at {folder}")
        return read_datasets(folder)
    policy = next(iter(gens.values()))
    model, codec = load_model(policy, "causal"), load_codec(policy)

    def sampled(tag: str, n_problems: int, per: int, stream: str, temperature: float):
        s = seeds.seed(stream, d.seed)  # the problems and their sampling share the stream
        problems = [r.problem for r in iter_records(n_problems, s, diff, error_rate=0.0)]
        with ui.phase(f"sampling {tag} ({n_problems}x{per})"):
            return sample_policy(model, codec, problems, n_per_problem=per,
                                 temperature=temperature, seed=s, id_prefix=tag)

    def injected(n: int, stream: str, tag: str) -> list[Record]:
        return list(iter_records(n, seeds.seed(stream, d.seed), diff, id_prefix=tag))

    per = d.pool_samples_per_problem
    pool_p, s_pool = sampled("pool", d.pool_policy_problems, per, "data.pool.policy", d.temperature)
    dev_p, _ = sampled("dev", d.dev_policy_problems, per, "data.dev.policy", d.temperature)
    bon, s_bon = sampled("bon", cfg.bon.n_problems, cfg.bon.n, "data.bon", cfg.bon.temperature)
    ev_p, s_eval = balanced_eval_set(cfg, gens, ui)
    sets = {"pool": pool_p + injected(d.pool_injected, "data.pool.injected", "pooli"),
            "dev": dev_p + injected(d.dev_injected, "data.dev.injected", "devi"),
            "eval_policy": ev_p,
            "eval_injected": injected(d.eval_injected, "data.eval.injected", "evali"),
            "bon": bon}
    for n in SET_NAMES:
        write_jsonl(folder / f"{n}.jsonl", (r.to_dict() for r in sets[n]))
    write_json(folder / "summary.json", {"pool_policy": s_pool, "eval_policy": s_eval, "bon": s_bon})
    comp = Composition.model_validate(s_eval["composition"])
    return DataSets(**sets, composition=_compositions(sets, comp))


def build_artifacts(cfg: RunConfig, cache: Path, ui) -> Artifacts:
    """One base replicate's inputs (`cfg.base.seed` is the base); see `build_all`."""
    base = build_base(cfg, cache, ui)
    gens = {name: build_policy(cfg, base, cache, ui, pcfg) for name, pcfg in generators(cfg)}
    data = build_datasets(cfg, gens, cache, ui)
    policy = next(iter(gens.values()))
    return Artifacts(base, policy, policy_init(cfg, base), data, data_folder(cfg, gens, cache),
                     cfg.base.seed, gens)


def build_all(cfg: RunConfig, cache: Path, ui) -> dict[int, Artifacts]:
    """Every base replicate's inputs, by base seed, in `cfg.bases` order."""
    out = {}
    for b in cfg.bases:
        if len(cfg.bases) > 1:
            ui.log(f"base replicate base.seed={b}")
        out[b] = build_artifacts(cfg.for_base(b), cache, ui)
    return out


def describe(art: Artifacts) -> RunArtifacts:
    return RunArtifacts(base=str(art.base), policy=str(art.policy), policy_init=str(art.policy_init),
                        base_report=read_info(art.base).get("report"),
                        data={n: len(getattr(art.data, n)) for n in SET_NAMES},
                        data_summary=read_json(art.data_folder / "summary.json"),
                        base_seed=art.base_seed, generators={k: str(v) for k, v in art.generators.items()})


def describe_all(arts: dict[int, Artifacts]) -> SweepArtifacts:
    """`OUT/artifacts.json`: every base's inputs."""
    return SweepArtifacts(bases=[describe(a) for a in arts.values()])
