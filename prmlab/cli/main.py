"""The `prmlab` command. Bad input ends with one line on stderr and exit status 2.

So does every OS error a user can cause (a read-only or full disk, a missing folder, a file
where a folder should be): `prmlab: error: PATH: REASON`, no traceback. Ctrl-C says where the
command stopped and that finished work is kept (exit status 130); SIGTERM the same (143).
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import threading

import typer

from prmlab import outdir
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
    from prmlab.cli import claims as claims_cli

    claims_cli.register(app)  # `claims`: the pre-registered claim suite and its verdicts
    from prmlab.cli import synth as synth_cli

    synth_cli.register(app)  # `synth chains|import|judge`: ThinkPRM teacher chains and judges
    from prmlab.cli import rl as rl_cli

    rl_cli.register(app)  # `rl`: GRPO on the policy
    from prmlab.cli import pcl as pcl_cli

    pcl_cli.register(app)  # `pcl`: Post-Completion Learning vs GRPO, self-evaluation as a judge
    from prmlab.cli import tree_rl as tree_rl_cli

    tree_rl_cli.register(app)  # `tree-grpo`: Tree-GRPO vs chain GRPO at matched tokens
    from prmlab.cli import judge_compute as judge_compute_cli

    judge_compute_cli.register(app)  # `judge-compute`, `chunk-reset`: test-time judge compute
    from prmlab.cli import serve as serve_cli

    serve_cli.register(app)  # `serve`: a model / judge behind HTTP (OpenAI completions, step scores)


def _quiet_libraries() -> None:
    """prmlab draws its own progress bars; the libraries' per-load bars are noise."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that temporary files are cleaned up."""


_signalled = {"term": False}


def _on_sigterm(signum, frame):  # pragma: no cover - exercised through a subprocess
    _signalled["term"] = True
    raise _Terminated()


def os_error_line(e: OSError) -> str:
    """`PATH: REASON` for an OSError (the path it names, else just the reason).

    >>> os_error_line(PermissionError(13, "Permission denied", "/ro/x.json"))
    '/ro/x.json: Permission denied'
    >>> os_error_line(OSError(28, "No space left on device"))
    'No space left on device (disk full)'
    """
    reason = e.strerror or (errno.errorcode.get(e.errno or -1)) or str(e) or type(e).__name__
    if e.errno == errno.ENOSPC:
        reason = "No space left on device (disk full)"
    names = [str(n) for n in (e.filename, e.filename2) if n is not None]
    return ": ".join([" -> ".join(names), reason] if names else [reason])


def main(argv: list[str] | None = None) -> None:
    _quiet_libraries()
    _register()
    _signalled["term"] = False
    old_term = None
    if threading.current_thread() is threading.main_thread():
        old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        with outdir.command():
            _main(argv)
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


def _interrupted(e: BaseException | None) -> None:
    term = _signalled["term"] or isinstance(e, _Terminated) or (e is not None and isinstance(
        e.__cause__, _Terminated))
    line = outdir.interrupt_line()
    if term:
        line = line.replace("interrupted", "terminated", 1)
    print(f"prmlab: {line}", file=sys.stderr)
    raise SystemExit(143 if term else 130)


def _main(argv: list[str] | None) -> None:
    usage, exits, aborts = _click_exceptions()
    try:
        rc = app(args=argv, standalone_mode=False)
        if rc == 130:  # typer turns Ctrl-C into Exit(130), and returns it here
            _interrupted(None)
        if isinstance(rc, int) and rc != 0:  # typer.Exit(n) returns n without standalone mode
            raise SystemExit(rc)
    except InputError as e:
        print(f"prmlab: error: {_one_line(str(e))}", file=sys.stderr)
        raise SystemExit(2)
    except KeyboardInterrupt as e:
        _interrupted(e)
    except OSError as e:
        print(f"prmlab: error: {_one_line(os_error_line(e))}", file=sys.stderr)
        raise SystemExit(2)
    except RecursionError:
        print("prmlab: error: input nested too deeply to process", file=sys.stderr)
        raise SystemExit(2)
    except ValueError as e:  # Python's own limit on parsing integers, from any parser
        if "integer string conversion" not in str(e):
            raise
        print("prmlab: error: an integer in the input has more than 4300 digits", file=sys.stderr)
        raise SystemExit(2)
    except Exception as e:  # click usage errors, and Ctrl-C as click reports it
        if isinstance(e, aborts) or isinstance(e, typer.Abort):
            _interrupted(e)
        if isinstance(e, usage):
            msg = e.format_message().replace("\n", " ")
            print(f"prmlab: error: {msg}", file=sys.stderr)
            raise SystemExit(2)
        if isinstance(e, exits):
            raise SystemExit(e.exit_code)
        raise


def _one_line(s: str) -> str:
    return " ".join(s.split("\n")) if "\n" in s else s


def _click_exceptions() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """Usage-error, exit and abort classes of click and of the copy of click that recent typer
    releases vendor (`typer._click`): an unknown command raises the latter, not a click class."""
    import importlib

    mods = []
    for name in ("click.exceptions", "typer._click.exceptions"):
        try:
            mods.append(importlib.import_module(name))
        except ImportError:
            continue
    return (tuple(m.ClickException for m in mods if hasattr(m, "ClickException")),
            tuple(m.Exit for m in mods if hasattr(m, "Exit")),
            tuple(m.Abort for m in mods if hasattr(m, "Abort")))


if __name__ == "__main__":
    main()
