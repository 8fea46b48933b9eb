"""The `prmlab` command. Bad input ends with one line on stderr and exit status 2."""

from __future__ import annotations

import os
import sys

import typer

from prmlab.errors import InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="prmlab: how many step labels does a process reward model need?")


_registered = False


def _register() -> None:
    """Attach every command once (main() may be called many times in one process)."""
    global _registered
    if _registered:
        return
    _registered = True
    from prmlab.cli import arith as arith_cli
    from prmlab.cli import data as data_cli

    data_cli.app.command("generate")(arith_cli.generate)
    data_cli.app.command("check")(arith_cli.check)
    app.add_typer(data_cli.app, name="data", help="Generate, check, validate, convert and describe data.")
    from prmlab.cli import evaluate as evaluate_cli

    evaluate_cli.register(app)  # `eval` and `bon`
    from prmlab.cli import train as train_cli

    train_cli.register(app)  # `train base|policy|judge`, `sample`
    from prmlab.cli import run as run_cli

    run_cli.register(app)  # `run`: the flagship experiment
    from prmlab.cli import config as config_cli

    config_cli.register(app)  # `config show`: the resolved config, with descriptions
    from prmlab.cli import report as report_cli

    report_cli.register(app)  # `report OUT`
    from prmlab.cli import label as label_cli

    label_cli.register(app)  # `label`: step labels from rollouts, no annotation
    from prmlab.cli import critic as critic_cli

    critic_cli.register(app)  # `critic`: ProcessBench critic protocol for any HF causal LM


def _quiet_libraries() -> None:
    """prmlab draws its own progress bars; the libraries' per-load bars are noise."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


def main(argv: list[str] | None = None) -> None:
    _quiet_libraries()
    _register()
    try:
        rc = app(args=argv, standalone_mode=False)
        if isinstance(rc, int) and rc != 0:  # typer.Exit(n) returns n without standalone mode
            raise SystemExit(rc)
    except InputError as e:
        print(f"prmlab: error: {e}", file=sys.stderr)
        raise SystemExit(2)
    except typer.Abort:
        print("prmlab: aborted", file=sys.stderr)
        raise SystemExit(130)
    except KeyboardInterrupt:
        print("prmlab: interrupted", file=sys.stderr)
        raise SystemExit(130)
    except Exception as e:  # click usage errors
        usage, exits = _click_exceptions()
        if isinstance(e, usage):
            msg = e.format_message().replace("\n", " ")
            print(f"prmlab: error: {msg}", file=sys.stderr)
            raise SystemExit(2)
        if isinstance(e, exits):
            raise SystemExit(e.exit_code)
        raise


def _click_exceptions() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """Usage-error and exit classes of click and of the copy of click that recent typer
    releases vendor (`typer._click`): an unknown command raises the latter, not a click class."""
    import importlib

    mods = []
    for name in ("click.exceptions", "typer._click.exceptions"):
        try:
            mods.append(importlib.import_module(name))
        except ImportError:
            continue
    return (tuple(m.ClickException for m in mods if hasattr(m, "ClickException")),
            tuple(m.Exit for m in mods if hasattr(m, "Exit")))


if __name__ == "__main__":
    main()
