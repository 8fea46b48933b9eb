"""The claim suite's Tree-GRPO and PCL folders: one `prmlab tree-grpo` or `prmlab pcl` run on a
base's policy, at a named size, for one base seed and RL seed.

A folder (`OUT/`) holds `policy-run.json` (the resolved `PolicyRunConfig` and provenance: what
the claim suite plans and checks; a rerun must have the same) and, beside it, the run folder of
the command itself (`experiments/tree_rl.py` or `experiments/pcl.py`: its own `config.json`
with the policy's path, its arms, `metrics.json`). A folder with `metrics.json` is finished;
an unfinished one resumes through the command's own resume.

The policy is the flagship's (`experiments/artifacts.build_base` / `build_policy`, from the
shared cache) for the size's preset with `base_seeds=null base.seed=B`: the quick size's is the
quick flagship's base-0 policy, the one the RL suite's `worked` base starts from. Sizes:
`smoke` (the tests' tiny preset: seconds, numbers mean nothing) and `quick` (durations in
dev/LOG.md). A size's settings are `--set` overrides of the command's config (`sets`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prmlab.errors import InputError
from prmlab.experiments.config import _merge, _parse_set, resolve_config
from prmlab.experiments.pinned import pin_config

CONFIG_FILE = "policy-run.json"
METRICS_FILE = "metrics.json"
Kind = Literal["tree", "pcl"]


class PolicyRunConfig(BaseModel):
    """One Tree-GRPO or PCL run of the claim suite: which policy, which seed, which settings."""

    model_config = ConfigDict(extra="forbid", strict=True)
    kind: Kind = Field(..., description="tree: prmlab tree-grpo (tree vs chain GRPO); pcl: prmlab pcl (PCL vs GRPO)")
    size: str = Field(..., description="the size these settings were made from (smoke, quick)")
    preset: str = Field(..., description="the flagship preset whose base and policy sections build the policy")
    base_seed: int = Field(0, description="base.seed of the policy's base (the claims suite's base replicate)")
    seed: int = Field(0, description="rl.seed of the run (the claims suite's seed replicate)")
    sets: list[str] = Field(default_factory=list, description="--set overrides of the command's config")


_SMOKE = ("rl.steps=2", "rl.prompts_per_step=2", "rl.max_new_tokens=8", "n_train=8", "n_test=6",
          "save_every=2", "bootstrap_resamples=50")
# quick: 20 steps of 8 problems at the RL suite's lr, 100 test problems (as the RL suite's); PCL segments
# get the generative judge's check budget (120 tokens: the quick base's checks run past 24)
_QUICK = ("rl.steps=20", "rl.prompts_per_step=8", "rl.lr=0.0001", "n_train=256", "n_test=100",
          "save_every=5", "bootstrap_resamples=1000")
SIZES: dict[str, dict[Kind, tuple[str, ...]]] = {
    "smoke": {"tree": (*_SMOKE, "tree.m_trees=2", "tree.n_expand=1", "tree.l_rounds=1", "eval_every=1"),
              "pcl": (*_SMOKE, "rl.num_generations=2", "eval_samples=2", "pcl.eval_max_tokens=4")},
    "quick": {"tree": (*_QUICK, "tree.m_trees=4", "tree.n_expand=2", "tree.l_rounds=1",
                       "tree.advantage=sum", "eval_every=5"),
              "pcl": (*_QUICK, "rl.num_generations=8", "eval_samples=4", "pcl.lam=1.0",
                      "pcl.eval_max_tokens=120")},
}


def policy_run_config(kind: Kind, size: str, *, base_seed: int = 0, seed: int = 0) -> PolicyRunConfig:
    """The config of a named size for one base seed and RL seed."""
    if size not in SIZES:
        raise InputError(f"unknown Tree-GRPO/PCL size {size!r} (known: {', '.join(SIZES)})")
    return PolicyRunConfig(kind=kind, size=size, preset=size, base_seed=base_seed, seed=seed,
                           sets=list(SIZES[size][kind]))


def run_config(cfg: PolicyRunConfig, policy: str):
    """The command's own config (`TreeRunConfig` / `PCLRunConfig`) for `policy`, validated."""
    if cfg.kind == "tree":
        from prmlab.experiments.tree_rl import TreeRunConfig as cls
    else:
        from prmlab.experiments.pcl import PCLRunConfig as cls
    data: dict = {"policy": policy, "rl": {"seed": cfg.seed}}
    for s in cfg.sets:
        data = _merge(data, _parse_set(s))
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise InputError(f"{cfg.kind} run: {err['msg']}", field=".".join(map(str, err["loc"])) or None) from None


def build_policy_of(cfg: PolicyRunConfig, cache: Path, ui) -> str:
    """The base's policy, from the cache or built (the flagship's artifacts)."""
    from prmlab.experiments.artifacts import build_base, build_policy

    run_cfg = resolve_config(sets=["base_seeds=null", f"base.seed={cfg.base_seed}"], preset=cfg.preset)
    return str(build_policy(run_cfg, build_base(run_cfg, cache, ui), cache, ui))


def run_policy_run(cfg: PolicyRunConfig, out: Path, cache: Path, ui) -> bool:
    """Run (or resume) the folder; False when it was finished already."""
    out = Path(out)
    pin_config(cfg, out / CONFIG_FILE, what=f"a {cfg.kind} run of the claim suite", resume="size")
    if (out / METRICS_FILE).is_file():
        return False
    rc = run_config(cfg, build_policy_of(cfg, Path(cache), ui))
    if cfg.kind == "tree":
        from prmlab.experiments.tree_rl import run_tree_rl

        run_tree_rl(rc, out, log=ui.log)
    else:
        from prmlab.experiments.pcl import run_pcl

        run_pcl(rc, out, log=ui.log)
    return True
