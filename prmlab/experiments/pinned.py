"""A run folder's config, pinned: written on the first run, checked on every rerun."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from prmlab.atomic import write_json
from prmlab.errors import InputError
from prmlab.provenance import provenance
from prmlab.strict import read_json


def pin_config(cfg: BaseModel, saved: Path, *, what: str = "a run", resume: str = "options") -> None:
    """Write `saved` ({"config", "provenance"}), or check that the config there is `cfg`. The
    saved config is validated before comparing, so a folder written before a default-off option
    existed resumes as the same run; any other difference is refused."""
    if not saved.exists():
        write_json(saved, {"config": cfg.model_dump(mode="json"), "provenance": provenance()})
        return
    old = read_json(saved, note=False).get("config")
    try:
        same = type(cfg).model_validate(old) == cfg
    except ValueError:
        same = False
    if not same:
        raise InputError(f"holds {what} of another config: give another --out, or the same "
                         f"{resume} to resume it", path=str(saved))
