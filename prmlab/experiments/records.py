"""What a sweep cell writes (`cells/<id>/cell.json`), as one typed schema per cell kind.

The sweep writes these records, the reports read them back through `read_record`, and tests
build them directly. Nothing here imports torch: a report is rebuilt on a machine without it.
A record that does not match its schema is an error naming the file, never a silent default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (BaseModel, ConfigDict, Field, TypeAdapter, ValidationError,
                      model_serializer)

from prmlab.errors import InputError
from prmlab.strict import read_json

EVAL_SETS = ("policy", "injected", "all")
GOLD = "gold"

Number = Union[int, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Metric(_Strict):
    """One reported number: `prmlab.metrics` result dicts, typed."""

    value: float | None
    ci: list[float] | None = None
    direction: Literal["higher", "lower"] | None = None
    n: int | None = None
    aggregation: str | None = None
    reason: str | None = None
    n_undefined_resamples: int | None = None
    ci_method: str | None = None  # how the CI was formed when not the plain percentile one

    _always: ClassVar[tuple[str, ...]] = ("value", "ci")  # written even when null

    @model_serializer(mode="wrap")
    def _drop_absent(self, handler):
        return {k: v for k, v in handler(self).items() if v is not None or k in self._always}

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


class OtherThreshold(_Strict):
    """The same scores read at the judge's other saved threshold (0.5 or its dev-tuned one)."""

    threshold: float
    tuned: bool
    f1: Metric
    acc_err: Metric
    acc_cor: Metric


class SetMetrics(_Strict):
    f1: Metric
    acc_err: Metric
    acc_cor: Metric
    auroc: Metric
    ece: Metric
    threshold: float
    other_threshold: OtherThreshold | None = None
    composition: Composition | None = None  # None in cells from before balanced sets

    def metric(self, name: str) -> Metric:
        return getattr(self, name)


class EvalMetrics(_Strict):
    """Metrics on each evaluation set: policy samples, injected errors, both together."""

    policy: SetMetrics
    injected: SetMetrics
    all: SetMetrics

    def of(self, eval_set: str) -> SetMetrics:
        if eval_set not in EVAL_SETS:
            raise KeyError(eval_set)
        return getattr(self, eval_set)


class Provenance(_Strict):
    command: list[str]
    git_revision: str | None
    versions: dict[str, str]


class ThresholdOther(_Strict):
    value: float
    tuned: bool
    dev_f1: float | None = None


class Threshold(_Strict):
    """The threshold a judge is read at, and the other one it saved (0.5 or its dev-tuned one)."""

    value: float
    tuned: bool
    dev_f1: float | None = None
    other: ThresholdOther | None = None


class Trial(_Strict):
    lr: float
    dev_f1: float | None
    best_step: int | None
    curve: dict[str, float]
    steps: int
    stopped_by: str
    seconds: float
    precision: str
    threshold: float


class Selection(_Strict):
    metric: str
    dev_solutions: int
    trials: list[Trial]
    chosen_lr: float
    chosen_step: int | None


class ChainFilter(_Strict):
    chains: int
    kept: int
    kept_fraction: float | None


Compute = dict[str, Number | None]


class BaselineCell(_Strict):
    kind: Literal["baseline"] = "baseline"
    format: str  # "baseline:<kind>"
    budget: int = 0
    seed: int = 0
    step_labels: int = 0
    metrics: EvalMetrics
    base_seed: int | None = None  # the base replicate (None: a folder from before the axis)
    provenance: Provenance | None = None


class ZeroLabelCell(_Strict):
    kind: Literal["zero-label"] = "zero-label"
    format: Literal["zero-label"] = "zero-label"
    budget: int = 0
    seed: int = 0
    step_labels: int = 0
    metrics: EvalMetrics
    compute: Compute
    seconds: float
    base_seed: int | None = None  # the base replicate (None: a folder from before the axis)
    provenance: Provenance | None = None


class JudgeCell(_Strict):
    """A trained judge: gold labels under a budget, or labels from another source (rollouts)."""

    kind: Literal["judge"] = "judge"
    format: str
    budget: int
    seed: int
    label_source: str = GOLD
    budget_solutions: int
    step_labels: int
    rollout_labelled_solutions: int | None = None
    selection: Selection
    filter: ChainFilter | None
    label_quality: dict[str, Number | None] | None = None
    threshold: Threshold
    train_seconds: float
    score_seconds: float
    compute: Compute
    metrics: EvalMetrics
    base_seed: int | None = None  # the base replicate (None: a folder from before the axis)
    provenance: Provenance | None = None


class KPoint(Metric):
    """F1 with K sampled rationales, accuracies beside it (`prmlab.metrics.f1_by_k`): a metric
    with three more fields, so the schema extends `Metric` (no behaviour is inherited)."""

    acc_err: float | None
    acc_cor: float | None
    k: int

    _always: ClassVar[tuple[str, ...]] = ("value", "ci", "acc_err", "acc_cor")


class TTSCell(_Strict):
    kind: Literal["tts"] = "tts"
    format: str
    budget: int
    seed: int
    ks: list[int]
    temperature: float
    threshold: float
    f1_by_k: dict[str, KPoint]
    compute: dict[str, Compute]
    base_seed: int | None = None  # the base replicate (None: a folder from before the axis)
    provenance: Provenance | None = None


class BonCell(_Strict):
    kind: Literal["bon"] = "bon"
    budget: int
    seed: int
    n: int
    n_problems: int
    pass_at_k: dict[str, Metric] = Field(alias="pass@k")
    maj_at_k: dict[str, Metric] = Field(alias="maj@k")
    oracle: Metric
    rm_at_k: dict[str, dict[str, dict[str, Metric]]] = Field(alias="rm@k")  # judge -> aggregation -> k
    base_seed: int | None = None  # the base replicate (None: a folder from before the axis)
    provenance: Provenance | None = None


class GeneratorComposition(_Strict):
    """One generator's (policy's) part of an evaluation set: what it contributes, and what it
    drew to fill its quota (its natural error rate is over everything it drew)."""

    generator: str
    correct: int
    erroneous: int
    drawn: int | None = None  # solutions sampled to fill the quota (None: not a quota draw)
    rounds: int | None = None  # draw rounds used
    natural_error_rate: float | None = None  # share of the drawn solutions with a wrong step
    first_error_histogram: dict[str, int] = Field(default_factory=dict)  # step -> erroneous
    error_types: dict[str, int] = Field(default_factory=dict)  # oracle reason -> count (kept)
    shortfall: str | None = None  # what the quota still missed when the draws ran out


class Composition(_Strict):
    """What an evaluation set holds: counted from its records (`experiments/evalsets.py`),
    the rule it was drawn by, and whether the rule's quota was met."""

    n: int
    correct: int
    erroneous: int
    first_error_histogram: dict[str, int]  # step position (0-based) -> erroneous solutions
    error_types: dict[str, int]  # oracle reason ("correct" included) -> solutions
    generators: list[GeneratorComposition] = Field(default_factory=list)
    rule: str | None = None  # the quota rule in words (None: drawn without one)
    quota_met: bool | None = None


class DataSummary(_Strict):
    """Sampling statistics of one policy-sampled set (`training.policy.sample_policy`); the
    balanced evaluation set adds its composition."""

    n: int | None = None
    natural_error_rate: float | None = None
    answer_accuracy: float | None = None
    right_answer_wrong_process: float | None = None
    error_types: dict[str, int] = Field(default_factory=dict)
    generated_tokens: int | None = None
    prompt_tokens: int | None = None
    composition: Composition | None = None


class RunArtifacts(_Strict):
    """Where one base's shared inputs came from, for the report. The base's probe report is
    free-form: its probes change with the check format."""

    base: str
    policy: str
    policy_init: str
    base_report: dict[str, Any] | None
    data: dict[str, int]
    data_summary: dict[str, DataSummary]
    base_seed: int | None = None  # None in folders from before bases were an axis
    generators: dict[str, str] = Field(default_factory=dict)  # evaluation generator -> policy


class SweepArtifacts(_Strict):
    """`OUT/artifacts.json`: every base's `RunArtifacts`, in `base_seeds` order. (Folders from
    before bases were an axis hold one `RunArtifacts` at the top level; `reports.load` reads both.)"""

    bases: list[RunArtifacts] = Field(min_length=1)


CellRecord = Annotated[Union[BaselineCell, ZeroLabelCell, JudgeCell, TTSCell, BonCell],
                       Field(discriminator="kind")]
CELL_KINDS = ("baseline", "zero-label", "judge", "tts", "bon")
_ADAPTER: TypeAdapter = TypeAdapter(CellRecord)


def record_from_dict(d: Any, *, path: str | None = None) -> Any:
    """The typed record of a cell.json object; InputError naming the file and field otherwise."""
    try:
        return _ADAPTER.validate_python(d)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise InputError(f"cell.json does not match its schema (written by another prmlab "
                         f"version?): {err['msg']}", path=path, field=loc or None) from None


def read_record(path: str | Path) -> Any:
    p = Path(path)
    return record_from_dict(read_json(p), path=str(p))


def record_to_dict(rec: BaseModel) -> dict[str, Any]:
    return rec.model_dump(mode="json", by_alias=True)


def read_artifacts(path: Path, base: int) -> dict[int, RunArtifacts]:
    """artifacts.json by base seed: a `SweepArtifacts` (bases as an axis), or the one
    `RunArtifacts` of an older folder (its base: `base`)."""
    raw = read_json(path)
    model = SweepArtifacts if isinstance(raw, dict) and "bases" in raw else RunArtifacts
    try:
        got = model.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        raise InputError(f"artifacts.json does not match its schema: {err['msg']}", path=str(path),
                         field=".".join(str(x) for x in err["loc"]) or None) from None
    arts = got.bases if isinstance(got, SweepArtifacts) else [got]
    return {(a.base_seed if a.base_seed is not None else base): a for a in arts}
