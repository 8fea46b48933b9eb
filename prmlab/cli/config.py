"""`prmlab config show`: the resolved flagship config, each field with its description."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
import yaml
from pydantic import BaseModel

config_app = typer.Typer(add_completion=False, no_args_is_help=True,
                         help="Show the flagship's resolved configuration.")

COMMENT_AT = 36  # column of the descriptions (a longer `key: value` pushes its own further)


def show_command(
    config: Optional[Path] = typer.Argument(None, help="YAML file overriding the preset."),
    preset: Optional[str] = typer.Option(None, "--preset", help="quick (default), full or smoke."),
    sets: list[str] = typer.Option([], "--set", help="Override a key, e.g. --set budgets=[16,64]."),
    as_json: bool = typer.Option(False, "--json", help="The resolved config as JSON, no comments."),
) -> None:
    """Print the config `prmlab run` would use with the same arguments, validated, as YAML with
    each field's description (a file this prints is a valid CONFIG.yaml)."""
    from prmlab.experiments.config import resolve_config

    cfg = resolve_config(config, sets, preset)
    if as_json:
        typer.echo(json.dumps(config_values(cfg), indent=2))
    else:
        typer.echo("\n".join(yaml_lines(cfg)))


def config_values(model: BaseModel) -> dict[str, Any]:
    """Every field of `model` (nested sections as dicts), options left at their default too."""
    out: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        out[name] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    """A config value as plain data (a section, or a list of sections, as dicts)."""
    if isinstance(value, BaseModel):
        return config_values(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def yaml_lines(model: BaseModel, indent: int = 0) -> Iterator[str]:
    """One line per field: `key: value  # description`; a nested section is its key line, then
    its fields indented by two spaces."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        head = " " * indent + f"{name}:"
        if not isinstance(value, BaseModel):
            head += " " + _flow(_plain(value))
        yield _with_comment(head, info.description)
        if isinstance(value, BaseModel):
            yield from yaml_lines(value, indent + 2)


def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10 ** 6, sort_keys=False).strip()
    return text.removesuffix("...").strip()


def _with_comment(head: str, description: str | None) -> str:
    if not description:
        return head
    return f"{head.ljust(COMMENT_AT)}  # {' '.join(description.split())}"


def register(app: typer.Typer) -> None:
    config_app.command("show")(show_command)
    app.add_typer(config_app, name="config", help="Show the resolved configuration (`config show`).")
