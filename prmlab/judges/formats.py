"""Judge formats as data: one `JudgeFormat` spec per format, in `JUDGE_FORMATS`.

A spec says everything prmlab needs to know about a format: the model head it trains and
loads, what it learns from, how its training examples are built and its step labels counted,
whether the base must have learnt this code's check format, which loss trains it, how a judge
object of the format is built, and its colour and one-line description for reports and CLI help.
Configs validate format names against this registry at validation time, so a format added here
is known to `JudgeConfig`, `RunConfig`, `prmlab train judge`, `load_judge` and the figures.

What is data and what is code, and why it sits here:
- pure data (name, head, label source, rationale flag, check-format flag, loss name, colour,
  description) and plain functions that need no torch: the example builders (records → token
  ids and labels, through the teacher chains of `supervision`), the per-record step-label
  count. They use only layers to the left of `judges`, so they live in the spec itself.
- `make` builds the scorer (`HeadJudge` for a token head, `GenerativeJudge` with the spec's
  rationale flag for a causal verdict LM), importing it lazily: importing this module loads no
  torch, so the report layer reads colours and descriptions from it.
- the loss is the one part that cannot live here: loss functions are torch code in
  `prmlab.training.loop`, a layer to the right of `judges`. A spec therefore names its loss
  (`loss`), and `prmlab.training.judges.LOSSES` maps each name to its loss, read off the
  judge's config. A new format built from an existing head, example builder and loss is one
  entry in this file (plus its tests); only a new *kind* of loss touches `training/judges.py`
  too (tests check that both sides name the same losses).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated, Any, Callable, Literal, Sequence

from pydantic import AfterValidator

from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.supervision.budget import step_labels_through_first_error
from prmlab.supervision.chains import Chain, filter_chains, teacher_chains

if TYPE_CHECKING:  # the codec's module imports transformers: only its type is needed here
    from prmlab.models.text import Codec

Head = Literal["token", "causal"]
LearnsFrom = Literal["step labels", "outcome", "verification chains", "verdicts",
                     "own checks rewarded by step labels", "own checks filtered by step labels"]
# How a format is fitted: "sft" on the examples its builder makes (training/judges.py); "grpo"
# by reinforcement on its own samples, rewarded by the step labels (training/judge_rl_fit.py);
# "rft" on its own sampled checks that reached the label's verdict, then as "sft".
Trainer = Literal["sft", "grpo", "rft"]

# Options of generation only: a head judge reads one forward pass and ignores them.
GENERATION_OPTIONS = frozenset({"k", "temperature", "seed", "progress", "max_new_tokens", "generator"})


@dataclasses.dataclass(frozen=True)
class ExampleOptions:
    """What an example builder may read of the judge's training config."""

    max_length: int = 512  # longer examples are an error, never silently cut
    seed: int = 0  # the teacher's chains
    teacher_error_rate: float = 0.0  # verification chains only
    filter_chains: bool = True  # verification chains only


# An example builder: (codec, labelled records, options) -> (examples, extra training info).
Builder = Callable[["Codec", Sequence[Record], ExampleOptions], "tuple[list[dict], dict[str, Any]]"]


@dataclasses.dataclass(frozen=True)
class JudgeFormat:
    """One judge format. See the module docstring for what is data and what is code."""

    name: str
    head: Head  # "token": a token-classification head; "causal": a verdict-writing LM
    learns_from: LearnsFrom
    rationale: bool  # writes a worked check before its verdict (causal heads only)
    needs_check_format: bool  # trained on check text: the base must know this code's format
    examples: Builder | None  # None: the trainer makes them from the model's own samples
    step_labels: Callable[[Record], int]  # step labels one labelled solution costs
    loss: str  # a key of prmlab.training.judges.LOSSES ("grpo" for trainer "grpo")
    color: str  # figures: "#rrggbb"
    description: str  # one line, for reports and CLI help
    trainer: Trainer = "sft"
    sft_start: str | None = None  # GRPO formats: the supervised format `judge.rl.start=sft` fits first

    def __post_init__(self) -> None:
        if self.head not in ("token", "causal"):
            raise ValueError(f"judge format {self.name}: head must be token or causal, not {self.head!r}")
        if self.rationale and self.head != "causal":
            raise ValueError(f"judge format {self.name}: only a causal head writes a rationale")
        if not (len(self.color) == 7 and self.color.startswith("#")):
            raise ValueError(f"judge format {self.name}: color must be #rrggbb, not {self.color!r}")
        if "\n" in self.description:
            raise ValueError(f"judge format {self.name}: the description is one line")
        if (self.examples is None) != (self.trainer != "sft"):
            raise ValueError(f"judge format {self.name}: an example builder is given exactly "
                             "when the trainer is sft (the others sample their own)")
        if self.trainer != "sft" and self.head != "causal":
            raise ValueError(f"judge format {self.name}: only a causal head samples its own checks")
        if self.sft_start is not None and self.trainer != "grpo":
            raise ValueError(f"judge format {self.name}: only a GRPO format starts from a supervised one")
        if (self.trainer == "grpo") != (self.loss == "grpo"):
            raise ValueError(f"judge format {self.name}: loss 'grpo' is trainer grpo's, and only its")

    def count_step_labels(self, records: Sequence[Record]) -> int:
        """Step labels the labelled solutions `records` cost this format.

        >>> r = Record(id="a", problem="p", steps=["x", "y", "z"], labels=[1, 0, 0], first_error=1)
        >>> [JUDGE_FORMATS[f].count_step_labels([r, r]) for f in JUDGE_FORMATS]
        [6, 4, 4, 4, 2, 4, 4, 4]
        """
        return sum(self.step_labels(r) for r in records)

    def make(self, model, codec: "Codec", **kw):
        """A judge of this format reading `model`, named after the format. Generation options
        (`GENERATION_OPTIONS`) apply to causal heads and are ignored by a token head."""
        if self.head == "token":
            from prmlab.judges.discriminative import HeadJudge

            rest = {k: v for k, v in kw.items() if k not in GENERATION_OPTIONS}
            return HeadJudge(model, codec, name=self.name, **rest)
        from prmlab.judges.generative import GenerativeJudge

        return GenerativeJudge(model, codec, name=self.name, rationale=self.rationale, **kw)


# ---- step-label counts -------------------------------------------------------------------------

def every_step(r: Record) -> int:
    """A head trained on every step's label reads all of them."""
    return len(r.steps)


def _through_first_bad(labels: Sequence[int | None]) -> list[int]:
    """Indices of the known labels up to and including the first bad one (all when none is).

    >>> _through_first_bad([1, None, 1, 0, 1, 0])
    [0, 2, 3]
    >>> _through_first_bad([1, 1])
    [0, 1]
    """
    out = []
    for i, lab in enumerate(labels):
        if lab is None:
            continue
        out.append(i)
        if not lab:
            break
    return out


def through_first_bad(r: Record) -> int:
    """A head trained on the steps through the first bad label reads those."""
    return len(_through_first_bad(r.labels))


def one_per_solution(r: Record) -> int:
    """An outcome label: one per solution."""
    return 1


# ---- example builders ----------------------------------------------------------------------------

def _check_length(ids: list[int], max_length: int, rid: str) -> None:
    if len(ids) > max_length:
        raise InputError(f"{len(ids)} tokens exceed max_length={max_length}; raise max_length or "
                         f"shorten the solution (no step label is dropped silently)", field=f"id {rid}")


def _solution_examples(codec: "Codec", records: Sequence[Record], max_length: int,
                       place: Callable[[Record, list[int]], list[tuple[int, int]]]) -> list[dict]:
    """Each whole solution once; `place(record, step_ends)` says which (position, label) pairs
    are targets, every other position is -100."""
    out = []
    for r in records:
        ids, ends = codec.solution(r.problem, r.steps)
        _check_length(ids, max_length, r.id)
        labels = [-100] * len(ids)
        for pos, lab in place(r, ends):
            labels[pos] = lab
        out.append({"input_ids": ids, "labels": labels})
    return out


def _on_every_step_end(r: Record, ends: list[int]) -> list[tuple[int, int]]:
    return [(e, int(lab)) for e, lab in zip(ends, r.labels) if lab is not None]


def _on_steps_through_first_bad(r: Record, ends: list[int]) -> list[tuple[int, int]]:
    return [(ends[i], int(r.labels[i])) for i in _through_first_bad(r.labels)]


def _on_last_step_end(r: Record, ends: list[int]) -> list[tuple[int, int]]:
    if r.answer_correct is None:
        raise InputError("the ORM needs answer_correct", field=f"id {r.id}")
    return [(ends[-1], int(r.answer_correct))]


def verdict_examples(codec: "Codec", chains: Sequence[Chain], rationale: bool, max_length: int) -> list[dict]:
    """Per checked step: prompt = problem + steps so far + check marker; target = the check's
    text (when `rationale`) + the verdict token + end of sequence; the prompt is masked."""
    out = []
    for ch in chains:
        r = ch.record
        for i, (text, ok) in enumerate(zip(ch.checks, ch.verdicts)):
            prompt = codec.check_prompt(r.problem, r.steps[: i + 1])
            target = (codec.encode(text) if rationale else []) + [codec.ok_id if ok else codec.bad_id, codec.eos_id]
            ids = prompt + target
            _check_length(ids, max_length, r.id)
            out.append({"input_ids": ids, "labels": [-100] * len(prompt) + target})
    return out


def step_label_examples(codec: "Codec", records: Sequence[Record], o: ExampleOptions):
    """Whole solutions, each step's label on its step-end token."""
    return _solution_examples(codec, records, o.max_length, _on_every_step_end), {}


def first_error_examples(codec: "Codec", records: Sequence[Record], o: ExampleOptions):
    """Whole solutions, the labels of the steps through the first bad one on their step-end
    tokens; the steps after it are not targets (what a verifier that stops there reads)."""
    return _solution_examples(codec, records, o.max_length, _on_steps_through_first_bad), {}


def outcome_examples(codec: "Codec", records: Sequence[Record], o: ExampleOptions):
    """Whole solutions, the outcome (answer correct) on the last step-end token only."""
    return _solution_examples(codec, records, o.max_length, _on_last_step_end), {}


def chain_examples(codec: "Codec", records: Sequence[Record], o: ExampleOptions):
    """The teacher's verification chains at its error rate, filtered against the gold labels
    (the kept fraction is recorded as `filter`), each check followed by its verdict."""
    chains = teacher_chains(records, error_rate=o.teacher_error_rate, seed=o.seed)
    info: dict[str, Any] = {}
    if o.filter_chains:
        chains, info["filter"] = filter_chains(chains)
    return verdict_examples(codec, chains, True, o.max_length), info


def verdict_only_examples(codec: "Codec", records: Sequence[Record], o: ExampleOptions):
    """The gold verdict of each step through the first error, right after the check marker."""
    chains = teacher_chains(records, error_rate=0.0, seed=o.seed)
    return verdict_examples(codec, chains, False, o.max_length), {}


# ---- the registry -----------------------------------------------------------------------------

JUDGE_FORMATS: dict[str, JudgeFormat] = {f.name: f for f in (
    JudgeFormat("discriminative", head="token", learns_from="step labels", rationale=False,
                needs_check_format=False, examples=step_label_examples, step_labels=every_step,
                loss="token-classification", color="#1f77b4",
                description="a classification head read at each step's end token"),
    # The same head on the steps the causal formats learn from: under prefix labels every step
    # after the first error is bad, so `discriminative` can score late steps bad by position.
    JudgeFormat("discriminative-fe", head="token", learns_from="step labels", rationale=False,
                needs_check_format=False, examples=first_error_examples,
                step_labels=through_first_bad, loss="token-classification", color="#aec7e8",
                description="the classification head trained on the steps through the first error only"),
    JudgeFormat("generative", head="causal", learns_from="verification chains", rationale=True,
                needs_check_format=True, examples=chain_examples,
                step_labels=step_labels_through_first_error, loss="verdict-weighted-lm",
                color="#d62728",
                description="writes a worked check of each step, then a verdict token"),
    JudgeFormat("direct", head="causal", learns_from="verdicts", rationale=False,
                needs_check_format=False, examples=verdict_only_examples,
                step_labels=step_labels_through_first_error, loss="lm", color="#2ca02c",
                description="the verdict token alone, right after the check marker"),
    JudgeFormat("orm", head="token", learns_from="outcome", rationale=False,
                needs_check_format=False, examples=outcome_examples, step_labels=one_per_solution,
                loss="token-classification", color="#9467bd",
                description="outcome reward model: the same head, one label per solution"),
    # StepWiser's RL-trained judges and its rejection-sampling ablation (issue 22): the same
    # base and label budget as the supervised formats, step labels through the first error.
    JudgeFormat("generative-rl", head="causal", learns_from="own checks rewarded by step labels",
                rationale=True, needs_check_format=True, examples=None,
                step_labels=step_labels_through_first_error, loss="grpo", color="#ff7f0e",
                trainer="grpo", sft_start="generative",
                description="the generative judge trained by GRPO: rewarded when its verdict is right"),
    JudgeFormat("direct-rl", head="causal", learns_from="own checks rewarded by step labels",
                rationale=False, needs_check_format=False, examples=None,
                step_labels=step_labels_through_first_error, loss="grpo", color="#17becf",
                trainer="grpo", sft_start="direct",
                description="the verdict alone trained by GRPO, drawn from P(ok) / (P(ok) + P(bad))"),
    JudgeFormat("rft", head="causal", learns_from="own checks filtered by step labels",
                rationale=True, needs_check_format=True, examples=None,
                step_labels=step_labels_through_first_error, loss="verdict-weighted-lm",
                color="#8c564b", trainer="rft",
                description="fine-tuned on its own sampled checks whose verdict matched the step label"),
)}


def unknown_format(name: object) -> str:
    """The one-line message for a name that is not a judge format.

    >>> unknown_format("nope")
    "unknown judge format 'nope' (known: discriminative, discriminative-fe, generative, direct, orm, generative-rl, direct-rl, rft)"
    """
    return f"unknown judge format {name!r} (known: {', '.join(JUDGE_FORMATS)})"


def judge_format(name: str) -> JudgeFormat:
    """The spec of format `name`; InputError (one line, listing the known ones) otherwise."""
    spec = JUDGE_FORMATS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise InputError(unknown_format(name))
    return spec


def _known(name: str) -> str:
    if name not in JUDGE_FORMATS:
        raise ValueError(unknown_format(name))  # pydantic turns a ValueError into its error
    return name


# A config field holding a judge format's name, checked against the registry when validated.
JudgeFormatName = Annotated[str, AfterValidator(_known)]

__all__ = ["JudgeFormat", "JUDGE_FORMATS", "Trainer", "JudgeFormatName", "ExampleOptions", "GENERATION_OPTIONS",
           "judge_format", "unknown_format", "verdict_examples", "step_label_examples",
           "outcome_examples", "chain_examples", "verdict_only_examples", "every_step",
           "one_per_solution"]
