"""The flagship experiment's configuration: presets, YAML files and `--set` overrides.

Every section owns its defaults (the base, the policy and the judges' configs live beside the
code that uses them); a preset only says what differs. Unknown keys are rejected everywhere.
Every field carries a one-line description (`prmlab config show` prints them), and a config is
checked completely when it is resolved, before any work starts: ranges (strict types: a bool is
not a number), non-empty lists, known names, budgets within the labelled pool, one preset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from prmlab.errors import InputError
from prmlab.strict import load_yaml
from prmlab.judges.baselines import BASELINES
from prmlab.keys import content_key
from prmlab.seeds import SEED_SPAN, check_config_seed
from prmlab.supervision.rollouts import METHODS
from prmlab.training.base import BaseConfig
from prmlab.judges.formats import JUDGE_FORMATS, unknown_format
from prmlab.training.judges import JudgeConfig
from prmlab.training.policy import PolicyConfig


class FieldError(ValueError):
    """A cross-field check that names the field it is about (`resolve_config` puts it in the
    one-line message: "field budgets: ...")."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _known(v: list[str], known, what: str) -> list[str]:
    """`v` if every name is one of `known` and none repeats; ValueError naming the first that is not."""
    for x in v:
        if x not in known:
            raise ValueError(f"unknown {what} {x!r} (known: {', '.join(known)})")
    return _unique(v, f"{what}s")


Temperature = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=1)]  # strict models: a bool is not a count


def _unique(v: list, what: str) -> list:
    dup = sorted({x for x in v if v.count(x) > 1}, key=str)
    if dup:
        raise ValueError(f"{what} repeats {', '.join(map(str, dup))}")
    return v


class EvalQuotaConfig(BaseModel):
    """The policy evaluation set, balanced (experiments/evalsets.py): pooled from `policy` and
    `policies`, each generator's part drawn round by round until it holds its quota."""

    model_config = ConfigDict(extra="forbid", strict=True)
    size: Count = Field(300, description="policy evaluation set size, split evenly between "
                                         "the generators (policy, then policies)")
    correct_share: float = Field(0.5, ge=0.4, le=0.6, description="share of each generator's part "
                                 "that is correct (rounded half up); the rest erroneous")
    max_first_error_share: float = Field(0.4, gt=0, le=1, description="cap (floor, >= 1) on the "
                                         "share of a generator's errors first at any one step")
    max_rounds: Count = Field(20, description="draw rounds per generator before "
                              "the quota counts as unmet (a round: eval_policy_problems problems)")
    on_shortfall: Literal["error", "record"] = Field("error", description="quota unmet after "
                                                     "max_rounds: stop (error) or keep the smaller "
                                                     "set, shortfall in the report (record)")
    policies: list[PolicyConfig] = Field(default_factory=lambda: [PolicyConfig(init="base")],
                                         description="generators besides `policy`, each "
                                         "cached by its own key (default: the base fine-tuned)")


class DataConfig(BaseModel):
    """The labelled pool, the dev split and the evaluation sets the policy's samples make."""

    model_config = ConfigDict(extra="forbid", strict=True)
    pool_policy_problems: int = Field(300, ge=0, description="labelled pool: problems the policy samples (natural errors)")
    pool_samples_per_problem: int = Field(2, ge=1, description="samples per pool (and dev) problem")
    pool_injected: int = Field(600, ge=0, description="labelled pool: injected-error solutions")
    dev_policy_problems: int = Field(60, ge=0, description="dev split (model selection): policy-sampled problems")
    dev_injected: int = Field(120, ge=0, description="dev split: injected-error solutions")
    eval_policy_problems: int = Field(150, ge=1, description="evaluation: fresh problems per draw round of the balanced set")
    eval_samples_per_problem: int = Field(2, ge=1, description="samples per evaluation problem and round")
    eval_quota: EvalQuotaConfig = Field(default_factory=EvalQuotaConfig,
                                        description="the balanced policy evaluation set's quota and generators")
    eval_injected: int = Field(200, ge=1, description="evaluation: injected-error solutions, reported separately")
    temperature: Temperature = Field(1.0, description="policy sampling temperature (0: greedy)")
    seed: int = Field(0, description="seeds every data set's problems and samples (prmlab/seeds.py)")

    @field_validator("seed")
    @classmethod
    def _seed(cls, v: int) -> int:
        return check_config_seed(v, "seed")

    @property
    def pool_size(self) -> int:
        """Labelled solutions in the pool: the most any budget can buy."""
        return self.pool_policy_problems * self.pool_samples_per_problem + self.pool_injected

    @model_validator(mode="after")
    def _sets_not_empty(self) -> "DataConfig":
        if self.pool_size == 0:
            raise FieldError("pool_policy_problems", "the labelled pool is empty "
                             "(pool_policy_problems and pool_injected are both 0)")
        if self.dev_policy_problems + self.dev_injected == 0:
            raise FieldError("dev_policy_problems", "the dev split is empty "
                             "(dev_policy_problems and dev_injected are both 0)")
        q = self.eval_quota
        if q.size < 1 + len(q.policies):
            raise FieldError("eval_quota.size", f"{q.size} cannot give each of the "
                             f"{1 + len(q.policies)} generators a solution")
        if q.max_rounds * self.eval_policy_problems >= SEED_SPAN:
            raise FieldError("eval_quota.max_rounds", f"max_rounds x eval_policy_problems must stay "
                             f"below {SEED_SPAN:_} (the problem stream's span)")
        return self


class TTSConfig(BaseModel):
    """Verifier test-time scaling: the generative judge's score averaged over K sampled rationales."""

    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = Field(True, description="run the test-time-scaling cell (needs the generative format)")
    budget: Count | None = Field(None, description="the judge's label budget (null: the largest of budgets)")
    ks: list[Count] = Field(default_factory=lambda: [1, 2, 4, 8], min_length=1,
                            description="numbers of sampled rationales K to average")
    temperature: Temperature = Field(0.7, description="sampling temperature of the rationales")
    max_solutions: Count = Field(150, description="solutions scored, the first of the policy evaluation set")

    @field_validator("ks")
    @classmethod
    def _ks(cls, v: list[int]) -> list[int]:
        return _unique(v, "ks")


class BoNConfig(BaseModel):
    """Best-of-N reranking of policy samples by each judge."""

    model_config = ConfigDict(extra="forbid", strict=True)
    enabled: bool = Field(True, description="run the best-of-N cell")
    n_problems: Count = Field(48, description="problems sampled for best-of-N")
    n: Count = Field(16, description="samples per problem (N)")
    temperature: Temperature = Field(1.0, description="policy sampling temperature of the N samples")


class LabelFreeConfig(BaseModel):
    """Judges trained on step labels derived from policy rollouts (no annotation)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    methods: list[str] = Field(default_factory=lambda: ["mc-hard"],
                               description=f"labelling methods ({', '.join(METHODS)}; empty: none)")
    formats: list[str] = Field(default_factory=lambda: ["generative", "discriminative"],
                               description="judge formats trained on the derived labels")
    n_solutions: Count | None = Field(None, description="pool solutions relabelled (null: the largest of budgets)")
    k: Count = Field(4, description="rollouts per prefix")

    @field_validator("methods")
    @classmethod
    def _methods(cls, v: list[str]) -> list[str]:
        return _known(v, METHODS, "labelling method")

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        return _known_formats(v)

    @model_validator(mode="after")
    def _formats_when_methods(self) -> "LabelFreeConfig":
        if self.methods and not self.formats:
            raise FieldError("formats", "is empty while methods is not (methods: [] turns "
                             "label-free judges off)")
        return self


def _known_formats(v: list[str]) -> list[str]:
    for f in v:
        if f not in JUDGE_FORMATS:  # the registry as it is now (a format may be added after import)
            raise ValueError(unknown_format(f))
    return _unique(v, "formats")


class RunConfig(BaseModel):
    """The flagship sweep: judge formats x label budgets x seeds, and the cells beside them."""

    model_config = ConfigDict(extra="forbid", strict=True)
    preset: str = Field("quick", description="the preset this config starts from (quick, quick-rl, full, smoke)")
    formats: list[str] = Field(default_factory=lambda: ["discriminative", "generative", "direct", "orm"],
                               min_length=1, description="judge formats trained at every budget and seed")
    budgets: list[Count] = Field(default_factory=lambda: [16, 64, 256], min_length=1,
                                 description="label budgets: labelled solutions a judge trains on")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1,
                             description="judge seeds: which solutions a budget buys, and the judge's training")
    base_seeds: list[int] | None = Field(None, min_length=1, description="base replicates: every "
                                         "cell runs on each (as base.seed); null: [base.seed]")
    base: BaseConfig = Field(default_factory=BaseConfig, description="the base model, pretrained once and cached")
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="the policy whose samples the judges grade")
    data: DataConfig = Field(default_factory=DataConfig, description="the labelled pool, dev and evaluation sets")
    judge: JudgeConfig = Field(default_factory=JudgeConfig,
                               description="judge training (format, budget and seed are set per cell)")
    zero_label: bool = Field(True, description="score with the base's own checks, no labels (the zero-label judge)")
    baselines: list[str] = Field(default_factory=lambda: ["never", "last", "first", "random"],
                                 description=f"trivial judges to report ({', '.join(BASELINES)})")
    tts: TTSConfig = Field(default_factory=TTSConfig, description="verifier test-time scaling")
    bon: BoNConfig = Field(default_factory=BoNConfig, description="best-of-N reranking")
    label_free: LabelFreeConfig = Field(default_factory=LabelFreeConfig,
                                        description="judges trained on rollout-derived labels")
    f1_targets: list[float] = Field(default_factory=lambda: [0.5, 0.6, 0.7, 0.8],
                                    description="F1 levels the report reads the labels needed for (in [0, 1])")
    bootstrap_resamples: int = Field(1000, ge=0, description="bootstrap resamples of every CI (0: no CIs)")

    @field_validator("preset")
    @classmethod
    def _preset(cls, v: str) -> str:
        if v not in PRESETS:
            raise ValueError(f"unknown preset {v!r} (known: {', '.join(PRESETS)})")
        return v

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        return _known_formats(v)

    @field_validator("budgets")
    @classmethod
    def _budgets(cls, v: list[int]) -> list[int]:
        return _unique(v, "budgets")

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        return _unique([check_config_seed(s, "seed") for s in v], "seeds")

    @field_validator("base_seeds")
    @classmethod
    def _base_seeds(cls, v: list[int] | None) -> list[int] | None:
        return None if v is None else _unique([check_config_seed(s, "base seed") for s in v], "base_seeds")

    @property
    def bases(self) -> list[int]:
        """The base replicates' seeds, in order."""
        return list(self.base_seeds) if self.base_seeds is not None else [self.base.seed]

    def for_base(self, base_seed: int) -> "RunConfig":
        """This config with `base.seed` = `base_seed`: what one base replicate builds."""
        return self.model_copy(update={"base": self.base.model_copy(update={"seed": base_seed})})

    @field_validator("baselines")
    @classmethod
    def _baselines(cls, v: list[str]) -> list[str]:
        return _known(v, BASELINES, "baseline")

    @field_validator("f1_targets")
    @classmethod
    def _targets(cls, v: list[float]) -> list[float]:
        for t in v:
            if not 0 <= t <= 1:
                raise ValueError(f"F1 targets are in [0, 1], got {t}")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> "RunConfig":
        pool = self.data.pool_size
        d = self.data
        where = (f"data.pool_policy_problems x pool_samples_per_problem + pool_injected = "
                 f"{d.pool_policy_problems} x {d.pool_samples_per_problem} + {d.pool_injected}")
        big = [b for b in self.budgets if b > pool]
        if big:
            raise FieldError("budgets", f"{big[0]} is larger than the labelled pool of {pool} "
                             f"solutions ({where})")
        n = self.label_free.n_solutions
        if self.label_free.methods and n is not None and n > pool:
            raise FieldError("label_free.n_solutions", f"{n} is larger than the labelled pool of "
                             f"{pool} solutions ({where})")
        t = self.tts
        if t.enabled and "generative" in self.formats and t.budget is not None and t.budget not in self.budgets:
            raise FieldError("tts.budget", f"{t.budget} is not one of budgets {self.budgets}: "
                             "test-time scaling reads the generative judge trained at that budget")
        return self


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
        # Three bases x three judge seeds; the policy evaluation set holds 300 correct and 300
        # erroneous solutions per base, so no F1 rests on fewer than 100 of either.
        "base_seeds": [0, 1, 2],
        "data": {"pool_policy_problems": 2500, "pool_injected": 3200, "eval_policy_problems": 300,
                 "eval_injected": 300, "eval_quota": {"size": 600}},
        "judge": {"fit": {"max_steps": 400, "max_epochs": 8}, "dev_max": 60,
                  "abandon_margin": 0.05, "abandon_after": 50},
        "tts": {"max_solutions": 100},
        "bon": {"n_problems": 64, "n": 32},
        "label_free": {"methods": ["mc-hard", "omega"], "formats": ["generative", "discriminative"],
                       "n_solutions": 512},
    },
    # quick with the judges trained on their own samples beside the supervised ones (issue 22):
    # the same budgets, dev split and evaluation sets, on gold labels and on rollout labels.
    # Opt-in so that quick keeps its time bar; the RL cells' cost is in dev/LOG.md (2026-12-03).
    "quick-rl": {
        "budgets": [16, 128, 1024],
        "formats": ["discriminative", "generative", "direct", "orm", "generative-rl", "direct-rl", "rft"],
        "judge": {"fit": {"max_steps": 300, "max_epochs": 8}, "dev_max": 60,
                  "abandon_margin": 0.05, "abandon_after": 50},  # judge.rl at its defaults
        "tts": {"max_solutions": 50},
        "bon": {"n_problems": 32},
        "label_free": {"formats": ["generative", "generative-rl", "rft"], "n_solutions": 128},
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
                 "eval_samples_per_problem": 1,
                 # a tiny few-step model may never solve a problem: keep what it drew
                 "eval_quota": {"size": 6, "max_rounds": 2, "on_shortfall": "record",
                                "policies": [{"n_problems": 40, "init": "base",
                                              "fit": {"max_steps": 3, "batch_size": 8}}]}},
        "judge": {"lrs": [1e-3], "fit": {"max_steps": 3, "eval_every": 2, "batch_size": 4,
                                          "min_steps": 0},
                  "rl": {"grpo": {"steps": 3, "prompts_per_step": 4, "num_generations": 2,
                                  "max_new_tokens": 48}, "eval_every": 2, "rft_samples": 4}},
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


def _preset_name(preset: str | None, file_data: dict, set_nodes: list[tuple[str, dict]],
                 config_file: str | Path | None) -> str:
    """The one preset asked for by --preset, the file's `preset:` and `--set preset=...`;
    InputError when they disagree (the preset's defaults are the config's starting point, so it
    cannot be changed by an override after them)."""
    asked: list[tuple[str, Any]] = []
    if preset is not None:
        asked.append(("--preset", preset))
    if "preset" in file_data:
        asked.append((f"{config_file}: preset", file_data["preset"]))
    asked += [(f"--set {s}", node["preset"]) for s, node in set_nodes if "preset" in node]
    names = {v for _, v in asked}
    if len(names) > 1:
        raise InputError("conflicting presets: " + ", ".join(f"{k} ({v})" for k, v in asked)
                         + "; give the preset once")
    name = names.pop() if names else "quick"
    if not isinstance(name, str) or name not in PRESETS:
        raise InputError(f"field preset: unknown preset {name!r} (known: {', '.join(PRESETS)})")
    return name


def resolve_config(config_file: str | Path | None = None, sets: list[str] = (), preset: str | None = None) -> RunConfig:
    """preset defaults ← YAML file ← --set overrides, validated completely (unknown keys,
    ranges, known names, budgets within the pool) before any work starts."""
    file_data: dict = {}
    if config_file is not None:
        path = Path(config_file)
        try:
            file_data = load_yaml(path.read_text(encoding="utf-8"), path=path) or {}
        except FileNotFoundError:
            raise InputError("no such file", path=str(path)) from None
        except IsADirectoryError:
            raise InputError("is a folder, not a YAML file", path=str(path)) from None
        except PermissionError:
            raise InputError("cannot read it (permission denied)", path=str(path)) from None
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise InputError(f"not valid YAML: {str(e).splitlines()[0]}", path=str(path)) from None
        if not isinstance(file_data, dict):
            raise InputError("expected a mapping at the top level", path=str(path))
    set_nodes = [(s, _parse_set(s)) for s in sets]
    name = _preset_name(preset, file_data, set_nodes, config_file)
    # Start from every component's own defaults, so a partial override of a nested section
    # (`--set judge.fit.max_steps=100`) keeps that section's other defaults.
    data = _merge(_merge(RunConfig().model_dump(), PRESETS[name]), file_data)
    for _, node in set_nodes:
        data = _merge(data, node)
    data["preset"] = name
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        raise InputError(_one_line(e, config_file)) from None


def _one_line(e: ValidationError, config_file: str | Path | None) -> str:
    """The first error as one line naming its field: "c.yaml: field budgets.1: ..."."""
    err = e.errors()[0]
    loc = [str(x) for x in err["loc"]]
    cause = (err.get("ctx") or {}).get("error")
    msg = str(cause) if isinstance(cause, Exception) else err["msg"]
    if isinstance(cause, FieldError):
        loc.append(cause.field)
    msg = msg.removeprefix("Value error, ")
    if cause is None and not isinstance(err.get("input"), (dict, list)):
        msg += f" (got {err.get('input')!r})"
    where = str(config_file) + ": " if config_file else ""
    field = f"field {'.'.join(loc)}: " if loc else ""
    return (where + field + msg).replace("\n", " ")


def config_key(obj: Any) -> str:
    """16 hex digits of the SHA-256 of `obj` as sorted JSON (`prmlab.keys.content_key`)."""
    return content_key(obj)
