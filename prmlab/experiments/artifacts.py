"""The sweep's shared inputs, content-addressed in the cache (`$PRMLAB_CACHE`): the base, the
policy and the labelled data sets. Each is built once per key and read back after that."""

from __future__ import annotations

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
from prmlab.experiments.records import RunArtifacts
from prmlab.models.checkpoint import load_codec, load_model, read_info
from prmlab.training.base import base_report, snapshot_path, train_base
from prmlab.training.base_health import base_warnings
from prmlab.training.policy import sample_policy, train_policy

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

    def eval_set(self, name: str) -> list[Record]:
        """The records of an evaluation set: "policy", "injected" or "all"."""
        return {"policy": self.eval_policy, "injected": self.eval_injected,
                "all": self.eval_policy + self.eval_injected}[name]


@dataclass(frozen=True)
class Artifacts:
    base: Path
    policy: Path
    policy_init: Path
    data: DataSets
    data_folder: Path


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


def policy_init(cfg: RunConfig, base: Path) -> Path:
    if cfg.policy.init == "base":
        return base
    if cfg.base.snapshot_step is None:
        raise InputError("policy.init=snapshot needs base.snapshot_step")
    return snapshot_path(base, cfg.base)


def build_policy(cfg: RunConfig, base: Path, cache: Path, ui) -> Path:
    init = policy_init(cfg, base)
    path = cache / "policy" / cfg.policy.key(base.name, init.name)
    if (path / "prmlab.json").exists():
        ui.log(f"policy: cached at {path}")
        return path
    with ui.steps(f"training policy from {init.name}") as update:
        train_policy(cfg.policy, init, path, progress=update)
    return path


def data_folder(cfg: RunConfig, policy: Path, cache: Path) -> Path:
    key = config_key({"policy": policy.name, "data": cfg.data.model_dump(), "bon": cfg.bon.model_dump(),
                      "difficulty": cfg.base.difficulty.model_dump()})
    return cache / "data" / key


def build_datasets(cfg: RunConfig, policy: Path, cache: Path, ui) -> DataSets:
    d = cfg.data
    diff = cfg.base.difficulty.build()
    folder = data_folder(cfg, policy, cache)
    if all((folder / f"{n}.jsonl").exists() for n in SET_NAMES) and (folder / "summary.json").exists():
        ui.log(f"data: cached at {folder}")
        return DataSets(**{n: read_records(folder / f"{n}.jsonl") for n in SET_NAMES})
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
    ev_p, s_eval = sampled("evalp", d.eval_policy_problems, d.eval_samples_per_problem,
                           "data.eval.policy", d.temperature)
    bon, s_bon = sampled("bon", cfg.bon.n_problems, cfg.bon.n, "data.bon", cfg.bon.temperature)
    sets = DataSets(pool=pool_p + injected(d.pool_injected, "data.pool.injected", "pooli"),
                    dev=dev_p + injected(d.dev_injected, "data.dev.injected", "devi"),
                    eval_policy=ev_p,
                    eval_injected=injected(d.eval_injected, "data.eval.injected", "evali"),
                    bon=bon)
    for n in SET_NAMES:
        write_jsonl(folder / f"{n}.jsonl", (r.to_dict() for r in getattr(sets, n)))
    write_json(folder / "summary.json", {"pool_policy": s_pool, "eval_policy": s_eval, "bon": s_bon})
    ui.log(f"data: policy natural error rate {s_eval['natural_error_rate']:.2f} on the evaluation "
           f"problems; error types {s_eval['error_types']}")
    return sets


def build_artifacts(cfg: RunConfig, cache: Path, ui) -> Artifacts:
    base = build_base(cfg, cache, ui)
    policy = build_policy(cfg, base, cache, ui)
    data = build_datasets(cfg, policy, cache, ui)
    return Artifacts(base, policy, policy_init(cfg, base), data, data_folder(cfg, policy, cache))


def describe(art: Artifacts) -> RunArtifacts:
    return RunArtifacts(base=str(art.base), policy=str(art.policy), policy_init=str(art.policy_init),
                        base_report=read_info(art.base).get("report"),
                        data={n: len(getattr(art.data, n)) for n in SET_NAMES},
                        data_summary=read_json(art.data_folder / "summary.json"))
