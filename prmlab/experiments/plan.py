"""The flagship sweep as data: a config becomes a list of cell specs, in the order they run.

A spec names one cell (its `id` is its folder under `cells/`), holds everything that cell needs
besides the shared artifacts, and lists the cells it reads (`deps`). Every cell belongs to one
base replicate (`base`, a base seed: its artifacts are that base's); its id ends in `-b<base>`. Planning validates the
whole sweep before any work starts: a cell that would need a missing cell is an error here.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from prmlab.errors import InputError
from prmlab.experiments.config import RunConfig
from prmlab.training.judges import JudgeConfig


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    base: int = 0  # the base replicate's seed
    # Whether the cell runs a model (so an executor may give it an accelerator); not a field.
    runs_model: ClassVar[bool] = True

    @property
    def deps(self) -> tuple[str, ...]:
        return ()


def base_suffix(base: int) -> str:
    return f"-b{base}"


class BaselineSpec(_Spec):
    kind: Literal["baseline"] = "baseline"
    baseline: str
    runs_model: ClassVar[bool] = False

    @property
    def id(self) -> str:
        return f"baseline-{self.baseline}{base_suffix(self.base)}"


class ZeroLabelSpec(_Spec):
    kind: Literal["zero-label"] = "zero-label"

    @property
    def id(self) -> str:
        return f"zero-label{base_suffix(self.base)}"


def judge_cell_id(fmt: str, budget: int, seed: int, base: int = 0) -> str:
    """>>> judge_cell_id("generative", 64, 1, base=2)
    'generative-N64-s1-b2'
    """
    return f"{fmt}-N{budget}-s{seed}{base_suffix(base)}"


class JudgeSpec(_Spec):
    """A judge trained on `budget` gold-labelled solutions of the pool."""

    kind: Literal["judge"] = "judge"
    judge: JudgeConfig  # format, budget and seed set

    @property
    def id(self) -> str:
        return judge_cell_id(self.judge.format, self.judge.budget, self.judge.seed, self.base)


class LabelFreeSpec(_Spec):
    """A judge trained on the `n` solutions a gold budget n would label, relabelled by `method`
    from `k` policy rollouts per prefix (no annotation)."""

    kind: Literal["label-free"] = "label-free"
    judge: JudgeConfig  # format and seed set; budget = the number of relabelled solutions
    method: str
    n: int
    k: int

    @property
    def id(self) -> str:
        return f"{self.judge.format}-{self.method}-N{self.n}-s{self.judge.seed}{base_suffix(self.base)}"

    @property
    def labels_name(self) -> str:
        """The rollout labels' file stem: shared by every format trained on them (of one base)."""
        return f"{self.method}-N{self.n}-k{self.k}-s{self.judge.seed}{base_suffix(self.base)}"


class TTSSpec(_Spec):
    """Verifier test-time scaling: the generative judge of cell `judge_cell` with K sampled
    rationales averaged."""

    kind: Literal["tts"] = "tts"
    budget: int
    seed: int
    ks: list[int]
    temperature: float
    max_solutions: int

    @property
    def judge_cell(self) -> str:
        return judge_cell_id("generative", self.budget, self.seed, self.base)

    @property
    def id(self) -> str:
        return f"tts-generative-N{self.budget}-s{self.seed}{base_suffix(self.base)}"

    @property
    def deps(self) -> tuple[str, ...]:
        return (self.judge_cell,)


class BonSpec(_Spec):
    """Best-of-N: each judge format at (budget, seed), and the zero-label judge, picks among N."""

    kind: Literal["bon"] = "bon"
    budget: int
    seed: int
    formats: list[str]
    zero_label: bool
    n: int
    n_problems: int

    @property
    def id(self) -> str:
        return f"bon{base_suffix(self.base)}"

    @property
    def deps(self) -> tuple[str, ...]:
        return tuple(judge_cell_id(f, self.budget, self.seed, self.base) for f in self.formats)


CellSpec = Annotated[Union[BaselineSpec, ZeroLabelSpec, JudgeSpec, LabelFreeSpec, TTSSpec, BonSpec],
                     Field(discriminator="kind")]


def _judge(cfg: RunConfig, fmt: str, budget: int, seed: int) -> JudgeConfig:
    return JudgeConfig.model_validate({**cfg.judge.model_dump(), "format": fmt, "budget": budget,
                                       "seed": seed})


def plan_base(cfg: RunConfig, base: int) -> list[CellSpec]:
    """One base replicate's cells, in run order: baselines, zero-label, judges (seed, budget,
    format), label-free judges, test-time scaling, best-of-N."""
    specs: list = [BaselineSpec(baseline=b, base=base) for b in cfg.baselines]
    if cfg.zero_label:
        specs.append(ZeroLabelSpec(base=base))
    specs += [JudgeSpec(judge=_judge(cfg, f, b, s), base=base)
              for s in cfg.seeds for b in cfg.budgets for f in cfg.formats]
    lf = cfg.label_free
    n, seed = lf.n_solutions or max(cfg.budgets), cfg.seeds[0]
    specs += [LabelFreeSpec(judge=_judge(cfg, f, n, seed), method=m, n=n, k=lf.k, base=base)
              for m in lf.methods for f in lf.formats]
    t = cfg.tts
    if t.enabled and "generative" in cfg.formats:
        specs.append(TTSSpec(budget=t.budget or max(cfg.budgets), seed=seed, ks=t.ks,
                             temperature=t.temperature, max_solutions=t.max_solutions, base=base))
    if cfg.bon.enabled:
        specs.append(BonSpec(budget=max(cfg.budgets), seed=seed, formats=list(cfg.formats),
                             zero_label=cfg.zero_label, n=cfg.bon.n, n_problems=cfg.bon.n_problems,
                             base=base))
    return specs


def plan(cfg: RunConfig) -> list[CellSpec]:
    """Every cell of the sweep: each base replicate's cells (`plan_base`), base after base, so a
    sweep stopped early holds whole bases."""
    specs = [s for b in cfg.bases for s in plan_base(cfg, b)]
    check_plan(specs)
    return specs


def check_plan(specs: list) -> None:
    """Unique ids; every dependency planned before the cell that reads it."""
    seen: set[str] = set()
    for s in specs:
        if s.id in seen:
            raise InputError(f"two cells of the sweep share the id {s.id!r}")
        missing = [d for d in s.deps if d not in seen]
        if missing:
            raise InputError(f"cell {s.id} needs cell {missing[0]}, which the sweep does not run "
                             f"(is its budget in `budgets` and its format in `formats`?)")
        seen.add(s.id)
