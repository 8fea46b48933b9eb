"""Build a judge from a spec: a checkpoint folder, or `baseline:never|last|first|random`."""

from __future__ import annotations

from pathlib import Path

from prmlab.errors import InputError
from prmlab.judges.baselines import BASELINES, BaselineJudge
from prmlab.judges.formats import JUDGE_FORMATS
from prmlab.judges.zero_label import ZeroLabelJudge
from prmlab.models.checkpoint import check_checkpoint, load_codec, load_model


def load_judge(spec: str, *, k: int = 1, temperature: float | None = None, seed: int = 0,
               zero_label: bool = False, trust_remote_code: bool = False, progress: bool = False,
               generator=None, batch_size: int | None = None):
    """`generator` (a `prmlab.models.generator.Generator`, e.g. a server backend) writes the
    tokens of a generative or zero-label judge; None: the checkpoint's own KV-cache engine.
    `batch_size`: prompts per forward or generation batch (None: the judge's own default, sized
    for the embedded domain's small models; a 135M+ LM with long prompts needs far fewer)."""
    if batch_size is not None and batch_size < 1:
        raise InputError(f"batch size must be at least 1, got {batch_size}", field="batch_size")
    gen = {} if generator is None else {"generator": generator}
    if batch_size is not None:
        gen["batch_size"] = batch_size
    if spec.startswith("baseline:"):  # k, temperature and progress do not apply
        kind = spec.split(":", 1)[1]
        if kind not in BASELINES:
            raise InputError(f"unknown baseline {kind!r} (known: {', '.join(BASELINES)})")
        return BaselineJudge(kind, seed=seed)
    path = Path(spec)
    if not path.is_dir():
        raise InputError("--judge must be a checkpoint folder or baseline:never|last|first|random",
                         path=spec)
    info = check_checkpoint(path)  # the whole folder, before the tokenizer or model load
    if not info and not zero_label:
        raise InputError("missing: not a prmlab checkpoint (a judge or a base trained by prmlab; "
                         "--zero-label reads any causal LM)", path=str(path / "prmlab.json"))
    codec = load_codec(path)
    fmt = info.get("format")
    if zero_label or info.get("kind") == "base":
        model = load_model(path, "causal", trust_remote_code=trust_remote_code)
        return ZeroLabelJudge(model, codec, progress=progress, **gen)
    jf = JUDGE_FORMATS.get(fmt) if isinstance(fmt, str) else None
    if jf is None:
        raise InputError(f"checkpoint is not a prmlab judge (prmlab.json format={fmt!r}; judge "
                         f"formats: {', '.join(JUDGE_FORMATS)})", path=spec)
    model = load_model(path, jf.head, trust_remote_code=trust_remote_code)
    if temperature is None:
        temperature = 0.0 if k == 1 else 0.7  # one greedy rationale, or K sampled ones
    # k, temperature, seed and progress apply to generation; a head judge ignores them
    return jf.make(model, codec, k=k, temperature=temperature, seed=seed, progress=progress, **gen)
