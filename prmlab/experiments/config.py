"""The flagship experiment's configuration: presets, YAML files and `--set` overrides.

Every section owns its defaults (the base, the policy and the judges' configs live beside the
code that uses them); a preset only says what differs. Unknown keys are rejected everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prmlab.errors import InputError
from prmlab.judges.formats import JudgeFormatName
from prmlab.training.base import BaseConfig
from prmlab.training.judges import JudgeConfig
from prmlab.training.policy import PolicyConfig


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pool_policy_problems: int = 300  # labelled pool: policy samples (natural errors) ...
    pool_samples_per_problem: int = 2
    pool_injected: int = 600  # ... plus injected-error solutions
    dev_policy_problems: int = 60  # labelled dev split (model selection), same mix
    dev_injected: int = 120
    eval_policy_problems: int = 150  # evaluation: policy samples on fresh problems
    eval_samples_per_problem: int = 2
    eval_injected: int = 200  # evaluation: injected errors, reported separately
    temperature: float = 1.0  # policy sampling temperature
    seed: int = 0


class TTSConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    budget: int | None = None  # default: the largest budget
    ks: list[int] = Field(default_factory=lambda: [1, 2, 4, 8])
    temperature: float = 0.7
    max_solutions: int = 150  # of the policy evaluation set


class BoNConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    n_problems: int = 48
    n: int = 16  # samples per problem
    temperature: float = 1.0


class LabelFreeConfig(BaseModel):
    """Judges trained on step labels derived from policy rollouts (no annotation)."""

    model_config = ConfigDict(extra="forbid")
    methods: list[str] = Field(default_factory=lambda: ["mc-hard"])
    formats: list[JudgeFormatName] = Field(default_factory=lambda: ["generative", "discriminative"])
    n_solutions: int | None = None  # default: the largest gold budget
    k: int = 4  # rollouts per prefix


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preset: str = "quick"
    formats: list[JudgeFormatName] = Field(default_factory=lambda: ["discriminative", "generative", "direct", "orm"])
    # each a judge's budget (JudgeConfig.budget: at least one labelled solution)
    budgets: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [16, 64, 256])
    seeds: list[int] = Field(default_factory=lambda: [0])
    base: BaseConfig = Field(default_factory=BaseConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)  # format/budget/seed set per cell
    zero_label: bool = True
    baselines: list[str] = Field(default_factory=lambda: ["never", "last", "first", "random"])
    tts: TTSConfig = Field(default_factory=TTSConfig)
    bon: BoNConfig = Field(default_factory=BoNConfig)
    label_free: LabelFreeConfig = Field(default_factory=LabelFreeConfig)
    f1_targets: list[float] = Field(default_factory=lambda: [0.5, 0.6, 0.7, 0.8])
    bootstrap_resamples: int = 1000


PRESETS: dict[str, dict[str, Any]] = {
    # Sized for 10 minutes on 2 CPU cores once the base is cached. A generative judge needs ~300
    # steps on ~1,000 labelled solutions to pass its base's own checks, so the budgets reach
    # 1024, epochs cap the small ones, and a learning rate that trails at a dev evaluation
    # stops there (dev/LOG.md, 2026-11-26).
    "quick": {
        "budgets": [16, 128, 1024],
        "judge": {"fit": {"max_steps": 300, "max_epochs": 8}, "dev_max": 60,
                  "abandon_margin": 0.05, "abandon_after": 50},
        "tts": {"max_solutions": 50},
        "bon": {"n_problems": 32},
        "label_free": {"formats": ["generative"], "n_solutions": 128},
    },
    # Sized to be run: 69 min on 2 CPU cores with the default base cached (dev/LOG.md,
    # 2026-11-27). Budgets span three orders of magnitude; the pool holds 8,200 labelled
    # solutions, so the largest budget labels nearly all of it whatever the seed.
    "full": {
        "budgets": [8, 32, 128, 512, 2048, 8192],
        "seeds": [0, 1, 2],
        "data": {"pool_policy_problems": 2500, "pool_injected": 3200, "eval_policy_problems": 300,
                 "eval_injected": 300},
        "judge": {"fit": {"max_steps": 400, "max_epochs": 8}, "dev_max": 60,
                  "abandon_margin": 0.05, "abandon_after": 50},
        "tts": {"max_solutions": 100},
        "bon": {"n_problems": 64, "n": 32},
        "label_free": {"methods": ["mc-hard", "omega"], "formats": ["generative", "discriminative"],
                       "n_solutions": 512},
    },
    # For tests and smoke runs: a tiny model and a handful of everything.
    "smoke": {
        "budgets": [4, 8],
        "formats": ["discriminative", "generative", "direct", "orm"],
        "base": {"preset": "tiny", "n_problems": 200, "fit": {"max_steps": 6, "batch_size": 8},
                 "snapshot_step": 3},
        "policy": {"n_problems": 40, "init": "snapshot", "fit": {"max_steps": 3, "batch_size": 8}},
        "data": {"pool_policy_problems": 8, "pool_injected": 8, "dev_policy_problems": 4,
                 "dev_injected": 4, "eval_policy_problems": 6, "eval_injected": 6,
                 "eval_samples_per_problem": 1},
        "judge": {"lrs": [1e-3], "fit": {"max_steps": 3, "eval_every": 2, "batch_size": 4,
                                          "min_steps": 0}},
        "tts": {"ks": [1, 2], "max_solutions": 4},
        "bon": {"n_problems": 3, "n": 4},
        "label_free": {"k": 2, "formats": ["discriminative"]},
        "bootstrap_resamples": 50,
    },
}


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _parse_set(s: str) -> dict:
    key, sep, raw = s.partition("=")
    if not sep or not key:
        raise InputError(f"--set expects key=value, got {s!r}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    node: dict = {}
    cur = node
    *parents, leaf = key.split(".")
    for p in parents:
        cur[p] = {}
        cur = cur[p]
    cur[leaf] = value
    return node


def resolve_config(config_file: str | Path | None = None, sets: list[str] = (), preset: str | None = None) -> RunConfig:
    """preset defaults ← YAML file ← --set overrides, validated (unknown keys rejected)."""
    file_data: dict = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            file_data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise InputError("no such file", path=str(path)) from None
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise InputError(f"not valid YAML: {str(e).splitlines()[0]}", path=str(path)) from None
        if not isinstance(file_data, dict):
            raise InputError("expected a mapping at the top level", path=str(path))
    name = preset or file_data.get("preset", "quick")
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})")
    # Start from every component's own defaults, so a partial override of a nested section
    # (`--set judge.fit.max_steps=100`) keeps that section's other defaults.
    data = _merge(_merge(RunConfig().model_dump(), PRESETS[name]), file_data)
    data["preset"] = name
    for s in sets:
        data = _merge(data, _parse_set(s))
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = str(config_file) + ": " if config_file else ""
        loc = ".".join(str(x) for x in err["loc"])
        raise InputError(f"{where}field {loc}: {err['msg']}") from None


def config_key(obj: Any) -> str:
    import hashlib

    blob = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
