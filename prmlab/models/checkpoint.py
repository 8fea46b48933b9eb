"""Checkpoints: `save_pretrained` (safetensors only) + tokenizer + text format + prmlab config.

A checkpoint folder loads with plain transformers (`AutoModelForCausalLM.from_pretrained(dir)`,
`AutoModelForTokenClassification.from_pretrained(dir)`); prmlab adds `prmlab.json` (what the
checkpoint is and the resolved config it was trained with) and `prmlab_text.json`.

Loading checks the folder before transformers sees it, so every broken checkpoint is one
`InputError` naming the file: a path that does not exist (never looked up on the Hugging Face
hub: every load is `local_files_only`), an empty folder, a missing or unparsable `config.json`
or `prmlab.json`, no weights, a truncated or garbage `.safetensors` file (its header and length
are checked against each other). Saving never deletes a folder prmlab did not write
(`prmlab.outdir.install_folder`).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification,
                          AutoModelForTokenClassification)

from prmlab import outdir
from prmlab.errors import InputError
from prmlab.provenance import provenance
from prmlab.models.text import Codec
from prmlab.strict import decode, dumps, loads, read_json

HEADS = {"causal": AutoModelForCausalLM, "token": AutoModelForTokenClassification,
         "sequence": AutoModelForSequenceClassification}
_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
             "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
# What save_checkpoint writes (with this transformers version), checked up front by commands.
CHECKPOINT_FILES = ("config.json", "generation_config.json", "model.safetensors",
                    "model.safetensors.index.json", "prmlab.json", "prmlab_text.json",
                    "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json",
                    "vocab.json", "merges.txt", "chat_template.jinja",
                    "rl_curve.jsonl", "rl_curve.png")  # RL-trained judges' reward curve
_LOAD_ERRORS = (OSError, ValueError, KeyError, TypeError, RuntimeError, AttributeError,
                IndexError, EnvironmentError)


def save_checkpoint(out_dir: str | Path, model, codec: Codec, info: dict[str, Any],
                    files: dict[str, str] | None = None) -> Path:
    """Write atomically: into a temporary folder, moved into place when complete. Only files
    prmlab wrote at `out_dir` are replaced; a folder with anything else in it is refused.
    `files`: more text files (name -> content) installed with the weights (a training curve)."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as e:
        raise OSError(e.errno, e.strerror or str(e), str(out.parent)) from None
    ident = outdir.identity(tmp)
    try:
        model.save_pretrained(str(tmp), safe_serialization=True)
        codec.save(tmp)
        info = {**info, "provenance": provenance()}
        (tmp / "prmlab.json").write_text(dumps(info, indent=2, sort_keys=True, default=str))
        for name, text in (files or {}).items():
            if "/" in name or (tmp / name).exists():
                raise ValueError(f"save_checkpoint: {name!r} is not a free file name")
            (tmp / name).write_text(text, encoding="utf-8")
        outdir.install_folder(tmp, out)
    except OSError as e:
        if e.filename is None:  # e.g. the disk filled up inside save_pretrained
            raise OSError(e.errno, e.strerror or str(e), str(out)) from None
        raise
    except Exception as e:  # safetensors reports a full disk as its own error type
        if "No space left" in str(e) or "Read-only file system" in str(e):
            raise OSError(28 if "No space" in str(e) else 30, str(e).splitlines()[0], str(out)) from None
        raise
    finally:  # gone once installed; after a failure, the partial folder of this call
        outdir.remove_own(tmp, ident)
    return out


def _need_folder(ckpt: Path, what: str = "checkpoint folder") -> None:
    """An existing, non-empty folder; never a name to look up on a hub."""
    if not ckpt.exists():
        if ckpt.is_symlink():
            raise InputError(f"is a broken symbolic link, expected a {what}", path=str(ckpt))
        raise InputError(f"no such folder (expected a {what}; a path is never looked up on the "
                         "Hugging Face hub)", path=str(ckpt))
    if not ckpt.is_dir():
        raise InputError(f"is a file, expected a {what}", path=str(ckpt))
    try:
        empty = not any(p.name != outdir.MANIFEST for p in ckpt.iterdir())
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", path=str(ckpt)) from None
    if empty:
        raise InputError(f"empty folder, not a {what}", path=str(ckpt))


def read_info(ckpt: str | Path) -> dict[str, Any]:
    """prmlab.json of a checkpoint ({} when absent, e.g. a plain Hugging Face model); an
    InputError naming the file when it is not valid."""
    p = Path(ckpt, "prmlab.json")
    if not p.exists() and not p.is_symlink():
        return {}
    # Not noted as an input: prmlab.json is prmlab's own record of the checkpoint, which prmlab
    # itself updates (a cached base's re-probed report). The checkpoint folder is protected as
    # an input where a command takes it (`prepare_out(..., input_folders=...)`).
    info = read_json(p, note=False)
    if not isinstance(info, dict):
        raise InputError("expected a JSON object", path=str(p))
    for key, kinds in (("config", dict), ("threshold", dict), ("report", dict), ("kind", str),
                       ("format", (str, int))):
        v = info.get(key)
        if v is not None and (not isinstance(v, kinds) or isinstance(v, bool)):
            raise InputError(f"has the wrong type ({type(v).__name__})", path=str(p), field=key)
    thr = info.get("threshold")
    if thr is not None and "value" in thr:
        v = thr["value"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError("expected a finite number", path=str(p), field="threshold.value")
    return info


def _check_safetensors(f: Path) -> None:
    """The file's header parses and its tensors end exactly where the file does."""
    try:
        size = f.stat().st_size
        with open(f, "rb") as fh:
            head = fh.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if n <= 1 or 8 + n > size:
                raise InputError("truncated or not a safetensors file (its header length does "
                                 "not fit the file)", path=str(f))
            raw = fh.read(n)
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", path=str(f)) from None
    header = loads(decode(raw, f).rstrip(" "), path=f)
    if not isinstance(header, dict):
        raise InputError("not a safetensors file (its header is not a JSON object)", path=str(f))
    end = 0
    for name, t in header.items():
        if name == "__metadata__":
            continue
        ok = (isinstance(t, dict) and isinstance(t.get("data_offsets"), list)
              and len(t["data_offsets"]) == 2
              and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                      for x in t["data_offsets"])
              and t["data_offsets"][0] <= t["data_offsets"][1]
              and isinstance(t.get("shape"), list)
              and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in t["shape"])
              and t.get("dtype") in _ITEMSIZE)
        if ok:
            a, b = t["data_offsets"]
            ok = b - a == math.prod(t["shape"]) * _ITEMSIZE[t["dtype"]]
        if not ok:
            raise InputError(f"not a valid safetensors file (bad entry for tensor {name[:60]!r})",
                             path=str(f))
        end = max(end, t["data_offsets"][1])
    if 8 + n + end != size:
        what = "truncated" if 8 + n + end > size else "has trailing bytes"
        raise InputError(f"{what}: the tensors need {8 + n + end} bytes, the file has {size}",
                         path=str(f))


def check_checkpoint(ckpt: str | Path, *, weights: bool = True) -> dict[str, Any]:
    """Everything that can be checked without loading: the folder, config.json, prmlab.json,
    prmlab_text.json and each .safetensors file. Returns prmlab.json ({} when absent)."""
    ckpt = Path(ckpt)
    _need_folder(ckpt)
    cfg_path = ckpt / "config.json"
    if weights:
        if not cfg_path.is_file():
            raise InputError("missing: not a model checkpoint (no config.json)", path=str(cfg_path))
        if not isinstance(read_json(cfg_path), dict):
            raise InputError("expected a JSON object", path=str(cfg_path))
        files = sorted(ckpt.glob("*.safetensors"))
        if not files:
            raise InputError("no .safetensors weights (prmlab loads safetensors only)",
                             path=str(ckpt))
        index = ckpt / "model.safetensors.index.json"
        if index.exists():
            idx = read_json(index)
            wm = idx.get("weight_map") if isinstance(idx, dict) else None
            if not isinstance(wm, dict) or not all(isinstance(v, str) for v in wm.values()):
                raise InputError("expected {\"weight_map\": {tensor: file}}", path=str(index))
            for shard in sorted(set(wm.values())):
                if "/" in shard or not (ckpt / shard).is_file():
                    raise InputError(f"names a missing shard {shard[:80]!r}", path=str(index))
        for f in files:
            _check_safetensors(f)
    from prmlab.models.text import TextFormat

    TextFormat.load(ckpt)  # validates prmlab_text.json when present
    return read_info(ckpt)


def load_model(ckpt: str | Path, head: str = "causal", *, trust_remote_code: bool = False,
               dtype: torch.dtype | None = None, **kwargs):
    ckpt = Path(ckpt)
    check_checkpoint(ckpt)
    try:
        return HEADS[head].from_pretrained(str(ckpt), use_safetensors=True, local_files_only=True,
                                           trust_remote_code=trust_remote_code, dtype=dtype,
                                           **kwargs)
    except InputError:
        raise
    except _LOAD_ERRORS as e:
        raise InputError(f"cannot load the model: {_first_line(e)}", path=str(ckpt)) from None
    except Exception as e:  # safetensors' own error type, and the like
        if type(e).__module__.split(".")[0] in ("safetensors", "tokenizers", "transformers"):
            raise InputError(f"cannot load the model: {_first_line(e)}", path=str(ckpt)) from None
        raise


def load_codec(ckpt: str | Path) -> Codec:
    ckpt = Path(ckpt)
    _need_folder(ckpt)
    return Codec.load(ckpt)


def _first_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return (s[0] if s else type(e).__name__)[:300]
