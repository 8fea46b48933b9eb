"""A claim suite: the sizes, the run folders they plan, and running them.

A suite folder holds `suite.json` (the size and every planned folder's resolved config, pinned:
resuming with another size is refused), `runs/<folder>/` (flagship run folders written by the
flagship executor, resumable cell by cell, their artifacts from the shared cache) and the
claims files. A folder is planned once per experiment a registered claim names, per base
(`base.seed`) and, for per-seed experiments, per judge seed (`seeds: [s]`), so that every cell
kind the flagship runs for its first seed only (test-time scaling, rollout labels) is measured
in every replicate.

Planning resolves configs and running calls the executor, which need torch: both import it
inside the function. Reading a pinned plan (`load_plan`) does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict

from prmlab.atomic import write_json
from prmlab.claims.claim import Claim, Experiment
from prmlab.errors import InputError
from prmlab.strict import read_json

PLAN_FILE = "suite.json"
RUNS = "runs"


class Size(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    preset: str
    bases: list[int]
    seeds: list[int]
    note: str
    sets: tuple[str, ...] = ()  # --set overrides on every folder of this size (before the experiment's)
    rl_size: str = "quick"  # the size of its RL, Tree-GRPO and PCL experiments (experiments/rl_suite.py, policy_runs.py)


SIZES: dict[str, Size] = {
    # flagship-b0-s0 is exactly `prmlab run --preset quick`, so a quick flagship folder can be
    # read as the suite's first replicate.
    "quick": Size(name="quick", preset="quick", bases=[0], seeds=[0, 1], note=(
        "quick: one base × two judge seeds. Its CIs over two replicates (t with 1 degree of "
        "freedom) are wide by construction, and claims whose replicates are bases have one; "
        "read its verdicts as a check of the suite, not as results.")),
    "full": Size(name="full", preset="full", bases=[0, 1, 2], seeds=[0, 1, 2], note=(
        "full: three bases × three judge seeds. Bases are `base.seed` 0, 1, 2, each in its own "
        "run folders (base, policy and data sets built per base; the preset's own `base_seeds` "
        "axis is set aside per folder, so no base is run twice).")),
    # The tests' size: tiny models, a handful of everything; its numbers mean nothing.
    # Only what a claim reads, so that the suite end to end takes seconds.
    "smoke": Size(name="smoke", preset="smoke", bases=[0], seeds=[0], note=(
        "smoke: the tests' tiny preset; its numbers mean nothing."), sets=(
        "formats=[discriminative,generative,direct]", "baselines=[]", "bon.enabled=false",
        "label_free.formats=[generative]", "tts.ks=[1,8]"), rl_size="smoke"),
}


class FolderPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    experiment: str
    base: int
    seed: int | None  # None: a per-base experiment (run with the size's first judge seed)
    sets: list[str]
    config: dict[str, Any]  # the resolved RunConfig dump (RL: RLSuiteConfig), as the folder holds it
    kind: str = "flagship"  # "rl": an RL suite folder (experiments/rl_suite.py); "tree"/"pcl": experiments/policy_runs.py


class SuitePlan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: Size
    folders: list[FolderPlan]

    def folder(self, experiment: str, base: int, seed: int | None) -> FolderPlan | None:
        return next((f for f in self.folders if f.experiment == experiment and f.base == base
                     and f.seed == seed), None)


def experiments_of(claims: Sequence[Claim]) -> list[Experiment]:
    """The experiments the claims name, each once, in first-named order; two different
    experiments under one name are an error (their folders would collide)."""
    out: dict[str, Experiment] = {}
    for c in claims:
        for e in c.experiments:
            if out.setdefault(e.name, e) != e:
                raise ValueError(f"two experiments are named {e.name!r} (claim {c.id})")
    return list(out.values())


def size_of(name: str) -> Size:
    if name not in SIZES:
        raise InputError(f"unknown size {name!r} (known: {', '.join(SIZES)})")
    return SIZES[name]


def plan_suite(size: str, claims: Sequence[Claim]) -> SuitePlan:
    """Every run folder of the suite, its config resolved and validated before any work."""
    from prmlab.experiments.config import resolve_config  # loads torch (the training configs)

    s = size_of(size)
    folders = []
    for e in experiments_of(claims):
        for b in s.bases:
            for seed in (s.seeds if e.level == "seed" else [None]):
                if e.kind == "rl":
                    from prmlab.experiments.rl_suite import suite_config

                    one = s.seeds[0] if seed is None else seed
                    rl_size = f"{s.rl_size}-{e.rl_variant}" if e.rl_variant else s.rl_size
                    cfg = suite_config(rl_size, base_seed=b, seeds=[one], rewards=list(e.rewards) or None)
                    folders.append(FolderPlan(
                        name=e.folder(b, one), experiment=e.name, base=b, seed=seed, sets=[],
                        kind="rl", config=cfg.model_dump(mode="json")))
                    continue
                if e.kind in ("tree", "pcl"):
                    from prmlab.experiments.policy_runs import policy_run_config

                    one = s.seeds[0] if seed is None else seed
                    folders.append(FolderPlan(
                        name=e.folder(b, one), experiment=e.name, base=b, seed=seed, sets=[],
                        kind=e.kind, config=policy_run_config(e.kind, s.rl_size, base_seed=b,
                                                              seed=one).model_dump(mode="json")))
                    continue
                # one base per folder: `base_seeds=null` undoes a preset's base axis (full has
                # one), so a folder is one base's run and each resumes on its own
                sets = [*s.sets, *e.sets, "base_seeds=null", f"base.seed={b}",
                        f"seeds=[{s.seeds[0] if seed is None else seed}]"]
                cfg = resolve_config(sets=sets, preset=s.preset)
                folders.append(FolderPlan(name=e.folder(b, seed if seed is not None else s.seeds[0]),
                                          experiment=e.name, base=b, seed=seed, sets=sets,
                                          config=cfg.model_dump()))
    return SuitePlan(size=s, folders=folders)


def load_plan(out: Path) -> SuitePlan | None:
    """The plan pinned in OUT/suite.json, or None when there is none."""
    f = out / PLAN_FILE
    if not f.is_file():
        return None
    raw = read_json(f, note=False)  # prmlab's own record, rewritten when the plan grows
    try:
        return SuitePlan.model_validate(raw.get("plan") if isinstance(raw, dict) else None)
    except ValueError as e:
        raise InputError(f"suite.json does not match its schema: {str(e).splitlines()[0]}",
                         path=str(f)) from None


def extends(old: SuitePlan, new: SuitePlan) -> bool:
    """Is `new` the pinned plan `old` with folders added (claims registered since), every
    folder `old` planned unchanged?"""
    have = {f.name: f.model_dump(mode="json") for f in new.folders}
    return (old.size.model_dump(mode="json") == new.size.model_dump(mode="json")
            and all(have.get(f.name) == f.model_dump(mode="json") for f in old.folders))


def pin_plan(plan: SuitePlan, out: Path) -> None:
    """Write OUT/suite.json, or check that the one there is this plan. A plan that only adds
    folders to the pinned one (a claim registered since) is pinned in its place: the folders
    already run keep their configs, so their cells stay valid."""
    from prmlab.provenance import provenance

    old = load_plan(out)
    if old is None or (old.model_dump(mode="json") != plan.model_dump(mode="json") and extends(old, plan)):
        write_json(out / PLAN_FILE, {"plan": plan.model_dump(mode="json"), **provenance()})
    elif old.model_dump(mode="json") != plan.model_dump(mode="json"):
        raise InputError(f"this folder holds a claim suite of another size or plan "
                         f"({old.size.name}); use a new --out, or the same --size to resume",
                         path=str(out / PLAN_FILE))


def folders_for(plan: SuitePlan, claims: Sequence[Claim]) -> list[FolderPlan]:
    """The planned folders these claims read, in plan order."""
    names = {e.name for c in claims for e in c.experiments}
    return [f for f in plan.folders if f.experiment in names]


def run_suite(plan: SuitePlan, out: Path, cache: Path | None = None, ui: Any = None,
              only: Sequence[FolderPlan] | None = None) -> list[str]:
    """Run every planned folder (or those in `only`, for a few claims) that is not finished, in
    plan order, with the flagship executor (each resumes cell by cell); returns the folders that
    ran cells now. The whole plan is pinned either way, so the rest can run later."""
    from prmlab.experiments.config import RunConfig
    from prmlab.experiments.executor import PlainUI, run_sweep  # loads torch

    ui = ui or PlainUI()
    pin_plan(plan, out)
    todo = plan.folders if only is None else [f for f in plan.folders if f in only]
    ran = []
    for i, f in enumerate(todo):
        ui.log(f"claims: run folder {i + 1}/{len(todo)}: {RUNS}/{f.name} ({f.experiment})")
        if f.kind == "rl":
            from prmlab.experiments.artifacts import default_cache
            from prmlab.experiments.rl_suite import RLSuiteConfig, run_rl_suite

            if run_rl_suite(RLSuiteConfig.model_validate(f.config), out / RUNS / f.name,
                            cache or default_cache(), ui):
                ran.append(f.name)
        elif f.kind in ("tree", "pcl"):
            from prmlab.experiments.artifacts import default_cache
            from prmlab.experiments.policy_runs import PolicyRunConfig, run_policy_run

            if run_policy_run(PolicyRunConfig.model_validate(f.config), out / RUNS / f.name,
                              cache or default_cache(), ui):
                ran.append(f.name)
        elif run_sweep(RunConfig.model_validate(f.config), out / RUNS / f.name, cache, ui=ui):
            ran.append(f.name)
    return ran
