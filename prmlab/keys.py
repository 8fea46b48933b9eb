"""Content addresses of cached artifacts, from configs whose fields say how they enter the key.

A config field marks itself with `json_schema_extra`:

- `DEFAULT_OFF` (`{"key_when_default": False}`): left out of the key while it holds its default.
  A new option that is off by default goes in this way, so adding it changes no existing key
  (every artifact cached before it existed was built with it off).
- `NOT_IN_KEY` (`{"key": False}`): never in the key (it does not change what is built, e.g. which
  extra snapshot is saved beside the weights).

Every other field is in the key with its value, nested configs field by field under the same
rules. A change of *code* that changes what a config builds is a format version beside that
code (`training/base.py` `FORMAT_VERSION`, `training/policy.py` `POLICY_VERSION`), passed to
`content_key` with the fields.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel

DEFAULT_OFF: dict[str, Any] = {"key_when_default": False}
NOT_IN_KEY: dict[str, Any] = {"key": False}


def without_default_off(model: BaseModel, dumped: Any, info: Any) -> Any:
    """`dumped` (a model_serializer's `handler(model)`) without the DEFAULT_OFF fields that hold
    their default, for configs whose dumps are pinned in run folders: a folder pinned before
    such an option existed still equals today's config, and resumes. A dump with
    `context={"every_field": True}` keeps them (the dump `--set` overrides are applied to)."""
    if not isinstance(dumped, dict):
        return dumped
    if isinstance(info.context, dict) and info.context.get("every_field"):
        return dumped
    for name, f in type(model).model_fields.items():
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        if (extra.get("key_when_default") is False and name in dumped
                and getattr(model, name) == f.get_default(call_default_factory=True)):
            dumped.pop(name)
    return dumped


def key_fields(model: BaseModel) -> dict[str, Any]:
    """The fields of `model` that enter its key, as plain data (nested models recursively)."""
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("key") is False:
            continue
        value = getattr(model, name)
        if extra.get("key_when_default") is False and value == info.get_default(call_default_factory=True):
            continue
        out[name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return key_fields(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def content_key(obj: Any) -> str:
    """16 hex digits of the SHA-256 of `obj` as sorted JSON (models by `key_fields`)."""
    blob = json.dumps(_plain(obj), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def drop_removed(data: Any, removed: dict[str, Any], section: str) -> Any:
    """A config section's raw input without the options measured and removed (`removed`: name
    -> the value saved configs hold for it, today's behaviour); any other value of one is refused
    by name, so an old config reads with the key it had and a config of the removed option
    fails clearly rather than as an unknown key."""
    if not isinstance(data, dict):
        return data
    for name, off in removed.items():
        if name in data:
            if data[name] != off or isinstance(data[name], bool) != isinstance(off, bool):
                raise ValueError(f"{section}.{name} was removed (measured and left off, dev/LOG.md)")
            data = {k: v for k, v in data.items() if k != name}
    return data
