"""An RL suite: seeds × rewards × training-set sizes × bases of different pretraining, each arm
an ordinary `prmlab rl` run folder, and one report over them.

The folder (`OUT/`):

* `rl-suite.json` — the resolved `RLSuiteConfig` and provenance; a rerun must have the same;
* `runs/<base>-<reward>-n<N|all>-s<seed>/` — `prmlab rl` run folders (`experiments/rl.py`),
  each resumable on its own; a finished one (`result.json`) is skipped;
* `report.md`, `report.html`, `figures/` — `reports/rl.py: write_rl_suite_report` (written by
  `prmlab rl-suite`, rebuilt by `prmlab report OUT`).

Bases are built like the flagship's (`experiments/artifacts.build_base` / `build_policy`, from
the shared cache) from the size's flagship `preset` with each base's `sets` on top, so the
`worked` base of the quick size is exactly the quick flagship's base and policy, and
`no-worked` is the same recipe with `base.worked=false` (the claim suite's `no-worked`
experiment uses the same base). The RL starts from each base's policy.

Sizes: `smoke` (the tests' tiny preset: numbers mean nothing; seconds per run), `quick`
(the quick preset's two bases; durations in dev/LOG.md), and `smoke-controls` /
`quick-controls`: every control reward (random, incorrect, format, majority) beside the outcome
reward on the full training set. A size's RL settings are `--set` overrides of every run's
`RLRunConfig`; the command's own `--set`, `--reward`, `--seed` and `--judge` are pinned with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from prmlab.errors import InputError
from prmlab.experiments.config import _merge, _parse_set, resolve_config
from prmlab.experiments.pinned import pin_config
from prmlab.experiments.rl import RLRunConfig, run_rl
from prmlab.experiments.rl_records import RESULT_FILE
from prmlab.training.rewards import REWARDS

RUNS = "runs"
SUITE_FILE = "rl-suite.json"


class SuiteBase(BaseModel):
    """One base arm: a name and the flagship `--set` overrides that build its base and policy."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9-]*$", description="the arm's name (folder names, report lines)")
    sets: list[str] = Field(default_factory=list, description="flagship --set overrides of its base/policy (e.g. base.worked=false)")


class RLSuiteConfig(BaseModel):
    """Which RL runs a suite holds: every base × reward × training-set size × seed."""

    model_config = ConfigDict(extra="forbid", strict=True)
    size: str = Field(..., description="the size this config was made from (smoke, quick)")
    preset: str = Field(..., description="the flagship preset whose base and policy sections build the bases")
    base_seed: int = Field(0, description="base.seed of every base (the claims suite's base replicate)")
    bases: list[SuiteBase] = Field(..., min_length=1, description="base arms of different pretraining")
    rewards: list[str] = Field(..., min_length=1, description="reward names (training/rewards.py)")
    train_sizes: list[int | None] = Field(..., min_length=1, description="train_problems of each arm (null: all n_train)")
    seeds: list[int] = Field(..., min_length=1, description="rl.seed of each replicate")
    sets: list[str] = Field(default_factory=list, description="--set overrides of every run's RLRunConfig")
    judge: str | None = Field(None, description="process rewards: the judge checkpoint folder")

    @field_validator("rewards")
    @classmethod
    def _rewards(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if r not in REWARDS]
        if bad:
            raise ValueError(f"unknown reward {bad[0]!r} (known: {', '.join(REWARDS)})")
        return v

    @model_validator(mode="after")
    def _judge_read(self) -> "RLSuiteConfig":
        if self.judge and not any("process" in r for r in self.rewards):
            raise ValueError("judge is read by the process rewards only (process, outcome+process)")
        return self


_SMOKE_RL = ("rl.steps=2", "rl.prompts_per_step=2", "rl.num_generations=2", "rl.max_new_tokens=8",
             "n_train=8", "n_test=6", "n_eval_train=4", "eval_samples=4", "eval_every=1",
             "save_every=2", "bootstrap_resamples=50")
_QUICK_RL = ("rl.steps=40", "rl.prompts_per_step=8", "rl.num_generations=8", "rl.lr=0.0001",
             "n_train=256", "n_test=100", "n_eval_train=100", "eval_samples=64", "eval_every=10",
             "save_every=10", "bootstrap_resamples=1000")
NO_WORKED = SuiteBase(name="no-worked", sets=["base.worked=false"])
WORKED = SuiteBase(name="worked", sets=[])

# every control reward of the spurious-rewards paper beside the ground truth, on the full
# training set (the quick size keeps to outcome vs random so the claims suite's pin is unchanged;
# the claims' `rl-controls` experiment runs these sizes restricted to the three other controls)
_CONTROLS = ["outcome", "random", "incorrect", "format", "majority"]

SIZES: dict[str, dict[str, Any]] = {
    "smoke": dict(preset="smoke", bases=[WORKED, NO_WORKED], rewards=["outcome", "random"],
                  train_sizes=[1, None], seeds=[0], sets=list(_SMOKE_RL)),
    "quick": dict(preset="quick", bases=[WORKED, NO_WORKED], rewards=["outcome", "random"],
                  train_sizes=[1, 16, None], seeds=[0, 1], sets=list(_QUICK_RL)),
    "smoke-controls": dict(preset="smoke", bases=[WORKED, NO_WORKED], rewards=_CONTROLS,
                           train_sizes=[None], seeds=[0], sets=list(_SMOKE_RL)),
    "quick-controls": dict(preset="quick", bases=[WORKED, NO_WORKED], rewards=_CONTROLS,
                           train_sizes=[None], seeds=[0, 1], sets=list(_QUICK_RL)),
}


def suite_config(size: str, *, base_seed: int = 0, seeds: list[int] | None = None,
                 rewards: list[str] | None = None, sets: list[str] | None = None,
                 judge: str | None = None) -> RLSuiteConfig:
    """The config of a named size, for one base seed; `seeds` and `rewards` replace the size's,
    `sets` are appended to its run overrides (a later one wins), `judge` serves the process
    rewards."""
    if size not in SIZES:
        raise InputError(f"unknown RL suite size {size!r} (known: {', '.join(SIZES)})")
    d = dict(SIZES[size], size=size, base_seed=base_seed)
    if seeds is not None:
        d["seeds"] = list(seeds)
    if rewards is not None:
        d["rewards"] = list(rewards)
    if sets:
        d["sets"] = [*d["sets"], *sets]
    if judge is not None:
        d["judge"] = judge
    try:
        return RLSuiteConfig(**d)
    except ValidationError as e:
        err = e.errors()[0]
        raise InputError(f"RL suite: {err['msg']}", field=".".join(map(str, err["loc"])) or None) from None


def run_name(base: str, reward: str, n: int | None, seed: int) -> str:
    return f"{base}-{reward.replace('+', '_')}-n{'all' if n is None else n}-s{seed}"


def run_configs(cfg: RLSuiteConfig, policies: dict[str, str]) -> dict[str, RLRunConfig]:
    """Every run of the suite, validated before any work (`policies`: base name -> policy)."""
    out = {}
    for b in cfg.bases:
        for reward in cfg.rewards:
            for n in cfg.train_sizes:
                for seed in cfg.seeds:
                    data: dict = {"policy": policies[b.name], "label": b.name, "train_problems": n,
                                  "reward": {"name": reward, **({"judge": cfg.judge} if cfg.judge
                                                                 and "process" in reward else {})},
                                  "rl": {"seed": seed}}
                    for s in cfg.sets:
                        data = _merge(data, _parse_set(s))
                    name = run_name(b.name, reward, n, seed)
                    try:
                        out[name] = RLRunConfig.model_validate(data)
                    except ValidationError as e:
                        err = e.errors()[0]
                        raise InputError(f"RL suite run {name}: {err['msg']}",
                                         field=".".join(map(str, err["loc"])) or None) from None
    return out


def build_policies(cfg: RLSuiteConfig, cache: Path, ui) -> dict[str, str]:
    """Each base arm's base and policy, from the cache or built (the flagship's artifacts)."""
    from prmlab.experiments.artifacts import build_base, build_policy

    out = {}
    for b in cfg.bases:
        run_cfg = resolve_config(sets=[*b.sets, "base_seeds=null", f"base.seed={cfg.base_seed}"],
                                 preset=cfg.preset)
        ui.log(f"rl suite: base {b.name} ({', '.join(b.sets) or 'the preset as it is'})")
        base = build_base(run_cfg, cache, ui)
        out[b.name] = str(build_policy(run_cfg, base, cache, ui))
    return out


def run_rl_suite(cfg: RLSuiteConfig, out: Path, cache: Path, ui, *,
                 progress: Callable[[int, int], None] | None = None) -> list[str]:
    """Run every unfinished run of the suite; returns the runs run now (the CLI writes the
    report: reports sit above experiments)."""
    out = Path(out)
    saved = out / SUITE_FILE
    pin_config(cfg, saved, what="an RL suite", resume="size")
    runs = run_configs(cfg, build_policies(cfg, Path(cache), ui))
    ran = []
    for i, (name, rc) in enumerate(runs.items()):
        folder = out / RUNS / name
        if (folder / RESULT_FILE).is_file():
            continue
        ui.log(f"rl suite: run {i + 1}/{len(runs)}: {RUNS}/{name}")
        run_rl(rc, folder, log=ui.log)
        ran.append(name)
        if progress is not None:
            progress(i + 1, len(runs))
    return ran
