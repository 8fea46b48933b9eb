r"""The ProcessBench critic protocol: ask any causal LM for the index of the first wrong step.

This is the "critic model" protocol of ProcessBench (Zheng et al., arXiv:2412.06559; code:
QwenLM/ProcessBench, `code/run_eval.py` and `code/templates/critique_template.txt`). The
solution's steps are shown as tagged paragraphs indexed from 0,

    <paragraph_0>
    first step
    </paragraph_0>

    <paragraph_1>
    ...

after the problem, and the model is asked to review them one by one and put the index of the
paragraph holding the earliest error, or -1 when there is none, in `\boxed{}`. The prompt is
one user message; when the tokenizer has a chat template it is applied (with the generation
prompt) and the text is tokenized without adding special tokens again, as upstream does; with
no chat template the bare prompt text is tokenized with the tokenizer's default special tokens.

Parsing (`parse_boxed_index`): the content of the LAST `\boxed{...}` (no nested braces, as
upstream's regex), stripped, must be an integer; -1 means "no error". Anything else, an index
outside -1..n_steps-1, or no `\boxed{}` at all is a parse failure (None).

Policy for failures (as upstream): a failed parse is a WRONG prediction — None never equals a
label, so it counts against acc_err on erroneous solutions and against acc_cor on correct
ones. It is never read as -1. Failures are counted per sample and per solution and reported.

K samples (`majority_vote`): the prediction is the most frequent parsed index among the K
samples; failed samples do not vote; when every sample fails the prediction is None (a
failure). Ties go to the smallest index, -1 included (so a tie between -1 and 2 gives -1).
Upstream votes on the raw boxed strings and breaks ties by first occurrence; with parsed
integers and a fixed rule the result does not depend on sample order. K > 1 needs a sampling
temperature above 0 (upstream samples with temperature 1, top-p 0.9; prmlab's sampler has no
top-p, so only the temperature carries over).

Scores for the step-score evaluator (`index_to_scores`, `critic_step_scores`): a predicted
index p becomes step scores 1.0 before p and 0.0 from p on (all 1.0 for p = -1), so
thresholding at 0.5 gives back exactly p and ProcessBench acc_err/acc_cor/F1 computed from the
scores equal those of the predictions. A parse failure has no index, and every score vector
predicts SOME index, so to count it as wrong through the score path its scores are chosen from
the label: all 0.0 (predicts step 0) for a correct solution, all 1.0 (predicts -1) for one with
an error. That uses the label only to encode "wrong"; it is done in `critic_step_scores`, never
in the judge. Step AUROC and ECE of these 0/1 scores mean little (two score values, no
calibration), and with failures scored from the label they are biased by construction (many
failures push AUROC below 0.5): `prmlab critic` reports them as null — read F1/acc_err/acc_cor.

Generation goes through a `Generator` (`prmlab.models.generator`): `generator=` when given
(e.g. an OpenAI-compatible server), else a `KVCacheGenerator` over `model`. The model, when
given, also supplies the context length and its generation_config's end ids.

One module for one protocol (prompt, parser, vote, failure policy and the judge that applies
them), so a change to ProcessBench's template is read beside the parser that must follow it;
that is why it runs past 400 lines.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prmlab import seeds
from prmlab.data.record import Record
from prmlab.errors import InputError
from prmlab.models.chat import end_ids
from prmlab.models.generator import Generator, generator_for, n_tokens

# QwenLM/ProcessBench code/templates/critique_template.txt, read with .strip() and filled with
# str.format (so its `\boxed{{}}` becomes `\boxed{}`).
CRITIQUE_TEMPLATE = (
    "The following is a math problem and a solution (split into paragraphs, enclosed with tags "
    "and indexed from 0):\n"
    "\n"
    "[Math Problem]\n"
    "\n"
    "{problem}\n"
    "\n"
    "[Solution]\n"
    "\n"
    "{tagged_response}\n"
    "\n"
    "Your task is to review and critique the solution paragraph by paragraph. Once you identify "
    "an error in a paragraph, return the index of the paragraph where the earliest error occurs. "
    "Otherwise, return the index of -1 (which typically denotes \"not found\").\n"
    "\n"
    "Please put your final answer (i.e., the index) in \\boxed{{}}."
)

_BOXED = re.compile(r"\\boxed\{([^}]*)\}")
_INT = re.compile(r"[+-]?[0-9]+")


def tag_steps(steps: Sequence[str]) -> str:
    """The solution as ProcessBench's tagged paragraphs.

    >>> print(tag_steps(["a", "b"]))
    <paragraph_0>
    a
    </paragraph_0>
    <BLANKLINE>
    <paragraph_1>
    b
    </paragraph_1>
    """
    return "".join(f"<paragraph_{i}>\n{s}\n</paragraph_{i}>\n\n"
                   for i, s in enumerate(steps)).strip()


def critic_prompt(problem: str, steps: Sequence[str]) -> str:
    """The user message for one solution (the ProcessBench critique template, filled in)."""
    return CRITIQUE_TEMPLATE.format(problem=problem, tagged_response=tag_steps(steps))


def encode_prompt(tokenizer, problem: str, steps: Sequence[str]) -> list[int]:
    """Token ids of the prompt: chat template (generation prompt on) when the tokenizer has one,
    else the bare text with the tokenizer's default special tokens."""
    text = critic_prompt(problem, steps)
    if getattr(tokenizer, "chat_template", None):
        chat = tokenizer.apply_chat_template([{"role": "user", "content": text}],
                                             add_generation_prompt=True, tokenize=False)
        return list(tokenizer(chat, add_special_tokens=False)["input_ids"])
    return list(tokenizer(text)["input_ids"])


def parse_boxed_index(text: str, n_steps: int | None = None) -> int | None:
    r"""The index in the last `\boxed{...}` of `text`, or None when it cannot be read.

    -1 ("no error") is accepted; with `n_steps` given an index outside -1..n_steps-1 is None,
    and without it any integer below -1 is.

    >>> parse_boxed_index(r"Paragraph 2 is wrong. \boxed{2}")
    2
    >>> parse_boxed_index(r"all fine: \boxed{ -1 }")
    -1
    >>> parse_boxed_index(r"\boxed{1} no, wait: \boxed{3}")  # the last one counts
    3
    >>> parse_boxed_index(r"\boxed{3}", n_steps=3) is None  # out of range
    True
    >>> parse_boxed_index(r"\boxed{2}", n_steps=3)
    2
    >>> parse_boxed_index(r"\boxed{-2}") is None
    True
    >>> parse_boxed_index(r"\boxed{two}") is None, parse_boxed_index("2") is None
    (True, True)
    >>> parse_boxed_index(r"\boxed{2} then \boxed{\text{1}}") is None  # last box unreadable
    True
    """
    matches = _BOXED.findall(text)
    if not matches:
        return None
    s = matches[-1].strip()
    if not _INT.fullmatch(s):
        return None
    v = int(s)
    if v < -1 or (n_steps is not None and v >= n_steps):
        return None
    return v


def majority_vote(predictions: Sequence[int | None]) -> int | None:
    """The most frequent parsed index; failures (None) do not vote; ties go to the smallest
    index (-1 included); None when nothing parsed.

    >>> majority_vote([2, None, 2, 1])
    2
    >>> majority_vote([3, 1, None, None])  # tie: the smallest
    1
    >>> majority_vote([-1, 2])  # tie between "no error" and 2: -1 is the smaller
    -1
    >>> majority_vote([None, None]) is None
    True
    """
    votes = Counter(p for p in predictions if p is not None)
    if not votes:
        return None
    best = max(votes.values())
    return min(p for p, c in votes.items() if c == best)


def index_to_scores(prediction: int, n_steps: int) -> list[float]:
    """Step scores that threshold (at 0.5) back to `prediction`: 1.0 before it, 0.0 from it on.

    >>> index_to_scores(1, 3), index_to_scores(-1, 2), index_to_scores(0, 2)
    ([1.0, 0.0, 0.0], [1.0, 1.0], [0.0, 0.0])
    """
    if not -1 <= prediction < n_steps:
        raise ValueError(f"index {prediction} out of range for {n_steps} steps")
    if prediction == -1:
        return [1.0] * n_steps
    return [1.0] * prediction + [0.0] * (n_steps - prediction)


def failure_scores(first_error: int | None, n_steps: int) -> list[float]:
    """Scores for a parse failure that threshold to a WRONG index: step 0 for a correct
    solution, -1 for one with an error (and for an unknown label, which is not evaluated).

    >>> failure_scores(-1, 2), failure_scores(0, 2), failure_scores(1, 2)
    ([0.0, 0.0], [1.0, 1.0], [1.0, 1.0])
    """
    return [0.0] * n_steps if first_error == -1 else [1.0] * n_steps


def critic_step_scores(records: Sequence[Record],
                       predictions: Sequence[int | None]) -> list[list[float]]:
    """Step scores of each record from its predicted index (a failure scores as wrong)."""
    if len(records) != len(predictions):
        raise ValueError(f"{len(records)} records but {len(predictions)} predictions")
    return [failure_scores(r.first_error, len(r.steps)) if p is None
            else index_to_scores(p, len(r.steps)) for r, p in zip(records, predictions)]


# ---- the judge ---------------------------------------------------------------------------------

@dataclasses.dataclass
class CriticPrediction:
    """One solution's critique: the voted index (None = parse failure) and what it came from."""

    id: str
    prediction: int | None
    sample_predictions: list[int | None]
    outputs: list[str]
    prompt_tokens: int
    generated_tokens: list[int]
    finished: list[bool]  # stopped on an end token (False: ran out of max_new_tokens)

    @property
    def failed(self) -> bool:
        return self.prediction is None


def context_length(model) -> int | None:
    cfg = getattr(model, "config", None)
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        v = getattr(cfg, key, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


class CriticJudge:
    """The ProcessBench critic over a Hugging Face causal LM and its tokenizer.

    `predict(records)` returns a `CriticPrediction` per record and fills `self.stats` (parse
    failures, tokens, wall time, prompts too long for the context). Prompts are never truncated:
    one longer than the model's context (with max_new_tokens added) is counted and listed.
    """

    def __init__(self, model, tokenizer, *, k: int = 1, temperature: float | None = None,
                 max_new_tokens: int = 512, batch_size: int = 8, seed: int = 0,
                 name: str = "critic", generator: Generator | None = None):
        if k < 1:
            raise InputError("--k must be at least 1")
        if temperature is None:
            temperature = 0.0 if k == 1 else 1.0
        if temperature < 0:
            raise InputError("--temperature must be >= 0")
        if k > 1 and temperature == 0:
            raise InputError("--k above 1 needs a sampling --temperature above 0 (greedy samples "
                             "would all be the same)")
        if max_new_tokens < 1:
            raise InputError("--max-new-tokens must be at least 1")
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.k, self.temperature, self.max_new_tokens = k, float(temperature), max_new_tokens
        self.batch_size, self.seed = max(1, int(batch_size)), seed
        self.stop_ids = end_ids(tokenizer, model)
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_id = pad if isinstance(pad, int) else (self.stop_ids[0] if self.stop_ids else 0)
        # one engine batch per critic batch: prompts of a call never split further
        self.generator = generator_for(model, generator, batch_size=self.batch_size,
                                       pad_id=self.pad_id)
        self.stats: dict[str, Any] = {}

    def predict(self, records: Sequence[Record], *,
                on_batch: Callable[[int, int, int, float], None] | None = None
                ) -> list[CriticPrediction]:
        """Critique every record K times; `on_batch(done, total, generated_tokens, seconds)` is
        called after each batch (the prompts, K copies each, are sorted by length and batched)."""
        prompts = [encode_prompt(self.tokenizer, r.problem, r.steps) for r in records]
        ctx = context_length(self.model)
        too_long = [r.id for r, p in zip(records, prompts)
                    if ctx is not None and len(p) + self.max_new_tokens > ctx]
        jobs = sorted(((i, j) for i in range(len(records)) for j in range(self.k)),
                      key=lambda ij: (-len(prompts[ij[0]]), ij))
        batches = [jobs[s:s + self.batch_size] for s in range(0, len(jobs), self.batch_size)]
        seqs: dict[tuple[int, int], list[int]] = {}
        n_gen = 0
        t0 = time.perf_counter()
        for b, batch in enumerate(batches):
            samples = self.generator.generate([prompts[i] for i, _ in batch],
                                              max_new_tokens=self.max_new_tokens,
                                              temperature=self.temperature,
                                              stop_ids=self.stop_ids, seed=seeds.seed("critic.sample", self.seed, index=b))
            for ij, sample in zip(batch, samples):
                seqs[ij] = sample.ids
            n_gen += n_tokens(samples)
            if on_batch is not None:
                on_batch(b + 1, len(batches), n_gen, time.perf_counter() - t0)
        wall = time.perf_counter() - t0

        stops = set(self.stop_ids)
        out: list[CriticPrediction] = []
        for i, r in enumerate(records):
            texts, preds, lens, fin = [], [], [], []
            for j in range(self.k):
                seq = seqs[(i, j)]
                finished = bool(seq) and seq[-1] in stops
                texts.append(self.tokenizer.decode(seq, skip_special_tokens=True))
                preds.append(parse_boxed_index(texts[-1], len(r.steps)))
                lens.append(len(seq))
                fin.append(finished)
            out.append(CriticPrediction(r.id, majority_vote(preds), preds, texts, len(prompts[i]),
                                        lens, fin))
        n_samples = len(records) * self.k
        sample_fail = sum(p is None for c in out for p in c.sample_predictions)
        self.stats = {
            "solutions": len(records),
            "k": self.k, "temperature": self.temperature, "max_new_tokens": self.max_new_tokens,
            "samples": n_samples,
            "parse_failures": sum(c.failed for c in out),
            "parse_failure_rate": (sum(c.failed for c in out) / len(out)) if out else None,
            "sample_parse_failures": sample_fail,
            "samples_out_of_tokens": sum(not f for c in out for f in c.finished),
            "prompt_tokens": sum(len(p) for p in prompts) * self.k,
            "prompt_tokens_max": max((len(p) for p in prompts), default=0),
            "generated_tokens": n_gen,
            "generation_seconds": wall,
            "generated_tokens_per_second": n_gen / wall if wall > 0 else None,
            "context_length": ctx,
            "prompts_over_context": len(too_long),
            "prompts_over_context_ids": too_long,
            "stop_ids": self.stop_ids,
            "chat_template": bool(getattr(self.tokenizer, "chat_template", None)),
        }
        return out


def prediction_histogram(predictions: Sequence[int | None]) -> dict[str, int]:
    """Counts of each predicted index ("failed" for None), in index order.

    >>> prediction_histogram([1, -1, None, 1])
    {'-1': 1, '1': 2, 'failed': 1}
    """
    c = Counter(predictions)
    out = {str(k): c[k] for k in sorted(k for k in c if k is not None)}
    if None in c:
        out["failed"] = c[None]
    return out


# ---- loading any causal LM ---------------------------------------------------------------------

DTYPES = ("auto", "float32", "bfloat16", "float16")


def load_causal_lm(model: str | Path, *, gguf_file: str | None = None,
                   trust_remote_code: bool = False, dtype: str = "auto"):
    """(model, tokenizer) from a Hugging Face model folder (safetensors weights only) or a GGUF
    file (`gguf_file` inside the folder `model`, or `model` itself ending in .gguf; transformers
    dequantizes it and needs the `gguf` package). `dtype` other than "auto" casts the loaded
    weights (a dequantized GGUF loads as float32)."""
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype {dtype!r} (known: {', '.join(DTYPES)})")
    path = Path(model)
    if gguf_file is None and path.suffix == ".gguf":
        path, gguf_file = path.parent, path.name
    if not path.is_dir():
        raise InputError("--model must be a model folder or a .gguf file", path=str(model))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if gguf_file is not None:
        if not (path / gguf_file).is_file():
            raise InputError(f"no GGUF file {gguf_file!r} in this folder", path=str(path))
        try:
            import gguf  # noqa: F401
        except ImportError:
            raise InputError("reading a GGUF file needs the gguf package "
                             "(pip install gguf)") from None
        try:
            tok = AutoTokenizer.from_pretrained(str(path), gguf_file=gguf_file,
                                                trust_remote_code=trust_remote_code)
            lm = AutoModelForCausalLM.from_pretrained(str(path), gguf_file=gguf_file,
                                                      trust_remote_code=trust_remote_code)
        except (ValueError, OSError, KeyError) as e:
            raise InputError(f"cannot load the GGUF file: {str(e).splitlines()[0]}",
                             path=str(path / gguf_file)) from None
    else:
        if not any(path.glob("*.safetensors")):
            raise InputError("no .safetensors weights (prmlab loads safetensors only)",
                             path=str(path))
        from prmlab.models.checkpoint import check_checkpoint

        check_checkpoint(path)  # config.json, each safetensors header: one line, not a traceback
        try:
            tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code,
                                                local_files_only=True)
        except Exception as e:  # tokenizers raises its own exception types
            raise InputError(f"cannot load a tokenizer: {(str(e).splitlines() or [type(e).__name__])[0]}",
                             path=str(path)) from None
        try:
            lm = AutoModelForCausalLM.from_pretrained(str(path), use_safetensors=True,
                                                      trust_remote_code=trust_remote_code,
                                                      local_files_only=True)
        except (ValueError, OSError, KeyError, RuntimeError, TypeError) as e:
            raise InputError(f"cannot load a causal LM: {str(e).splitlines()[0]}",
                             path=str(path)) from None
    if dtype != "auto":
        import torch

        lm = lm.to(getattr(torch, dtype))
    lm.eval()
    return lm, tok
