"""Checkpoints: `save_pretrained` (safetensors only) + tokenizer + text format + prmlab config.

A checkpoint folder loads with plain transformers (`AutoModelForCausalLM.from_pretrained(dir)`,
`AutoModelForTokenClassification.from_pretrained(dir)`); prmlab adds `prmlab.json` (what the
checkpoint is and the resolved config it was trained with) and `prmlab_text.json`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from transformers import (AutoModelForCausalLM, AutoModelForSequenceClassification,
                          AutoModelForTokenClassification)

from prmlab.errors import InputError
from prmlab.provenance import provenance
from prmlab.models.text import Codec

HEADS = {"causal": AutoModelForCausalLM, "token": AutoModelForTokenClassification,
         "sequence": AutoModelForSequenceClassification}


def save_checkpoint(out_dir: str | Path, model, codec: Codec, info: dict[str, Any]) -> Path:
    """Write atomically: into a temporary folder, renamed into place when complete."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(str(tmp), safe_serialization=True)
        codec.save(tmp)
        info = {**info, "provenance": provenance()}
        (tmp / "prmlab.json").write_text(json.dumps(info, indent=2, sort_keys=True, default=str))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def read_info(ckpt: str | Path) -> dict[str, Any]:
    p = Path(ckpt, "prmlab.json")
    return json.loads(p.read_text()) if p.exists() else {}


def load_model(ckpt: str | Path, head: str = "causal", *, trust_remote_code: bool = False,
               dtype: torch.dtype | None = None, **kwargs):
    ckpt = Path(ckpt)
    if not ckpt.is_dir():
        raise InputError("not a checkpoint folder", path=str(ckpt))
    if not any(ckpt.glob("*.safetensors")):
        raise InputError("no .safetensors weights (prmlab loads safetensors only)", path=str(ckpt))
    return HEADS[head].from_pretrained(str(ckpt), use_safetensors=True,
                                       trust_remote_code=trust_remote_code, dtype=dtype, **kwargs)


def load_codec(ckpt: str | Path) -> Codec:
    return Codec.load(ckpt)
