"""The `prmlab` command. Bad input ends with one line on stderr and exit status 2."""

from __future__ import annotations

import sys

import typer

from prmlab.errors import InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="prmlab: how many step labels does a process reward model need?")


def _register() -> None:
    # Sub-apps register themselves here; each lives in its own module.
    from prmlab.cli import arith as arith_cli
    from prmlab.cli import data as data_cli

    data_cli.app.command("generate")(arith_cli.generate)
    data_cli.app.command("check")(arith_cli.check)
    app.add_typer(data_cli.app, name="data", help="Generate, check, validate, convert and describe data.")
    from prmlab.cli import evaluate as evaluate_cli

    evaluate_cli.register(app)  # `eval` and `bon`


def main(argv: list[str] | None = None) -> None:
    _register()
    try:
        app(args=argv, standalone_mode=False)
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
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            raise SystemExit(2)
        if isinstance(e, click.exceptions.Exit):
            raise SystemExit(e.exit_code)
        raise


if __name__ == "__main__":
    main()
