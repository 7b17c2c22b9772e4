"""The ``chainsleuth`` command line: a thin layer over the library.

Each verb lives in its own module of this package and registers itself on :data:`app`;
:func:`main` turns every :class:`~chainsleuth.errors.UserError` into one line on stderr and
exit code 2 (1 for internal failures), never a traceback, and every
:class:`~chainsleuth.errors.ChainsleuthWarning` into one ``warning:`` line on stderr. A usage
error (click's) and an :class:`OSError` (a missing folder, a file where a folder is needed,
permission denied, a full disk) are one ``error:`` line naming the option or path, exit 2.
SIGINT and SIGTERM raise :class:`~chainsleuth.interrupt.Interrupted` (the verb keeps what is
complete and says what) and exit 130 with one ``interrupted:`` line.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings

import typer

# Verb modules register their commands on import (one line per module).
from chainsleuth.cli import cluster as _cluster  # noqa: F401
from chainsleuth.cli import decode as _decode  # noqa: F401
from chainsleuth.cli import demo as _demo  # noqa: F401
from chainsleuth.cli import export as _export  # noqa: F401
from chainsleuth.cli import index as _index  # noqa: F401
from chainsleuth.cli import ingest as _ingest  # noqa: F401
from chainsleuth.cli import investigate as _investigate  # noqa: F401
from chainsleuth.cli import report as _report  # noqa: F401
from chainsleuth.cli import serve as _serve  # noqa: F401
from chainsleuth.cli import show as _show  # noqa: F401
from chainsleuth.cli import simulate as _simulate  # noqa: F401
from chainsleuth.cli import tags as _tags  # noqa: F401
from chainsleuth.cli import trace as _trace  # noqa: F401
from chainsleuth.cli import users as _users  # noqa: F401
from chainsleuth.cli import verify as _verify  # noqa: F401
from chainsleuth.cli._app import app, console_err
from chainsleuth.cli._errors import describe_os_error, path_from_argv
from chainsleuth.errors import ChainsleuthError, ChainsleuthWarning
from chainsleuth.interrupt import Interrupted, signal_handlers

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (used by the console script and tests).

    >>> main(["--version"])  # doctest: +ELLIPSIS
    chainsleuth ...
    0
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ChainsleuthWarning)
        code = 1
        try:
            code = _main(argv)
        finally:
            _print_warnings(caught, ours=code == 0)
        return code


def _print_warnings(caught: list[warnings.WarningMessage], *, ours: bool) -> None:
    """Our warnings as one ``warning:`` line each (repeats once; none after an error, whose
    one line says it all); others as Python shows them."""
    seen: set[str] = set()
    for w in caught:
        if not issubclass(w.category, ChainsleuthWarning):
            warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)
        elif ours and str(w.message) not in seen:
            seen.add(str(w.message))
            text = f"warning: {w.message}"
            console_err.print(text, markup=False, highlight=False, soft_wrap=True)


def _say(text: str) -> None:
    console_err.print(text, markup=False, highlight=False, soft_wrap=True)


def _main(argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with signal_handlers():
            result = app(args=args, prog_name="chainsleuth", standalone_mode=False)
    except ChainsleuthError as err:
        _say(f"error: {err}")
        return err.exit_code
    except Interrupted as stop:
        _say(f"interrupted: {stop.kept or _nothing_kept(args, stop.signal_name)}")
        return 130
    except KeyboardInterrupt:  # raised where no handler of ours runs
        _say(f"interrupted: {_nothing_kept(args, 'SIGINT')}")
        return 130
    except _classes("Exit") as done:
        return int(getattr(done, "exit_code", 0))
    except _classes("ClickException") as usage:
        _say(f"error: {_message(usage)}{_help_hint(usage)}")
        return 2  # bad usage or input (UsageError is 2 already; FileError and others too)
    except _classes("Abort") as abort:
        if isinstance(abort.__cause__ or abort.__context__, KeyboardInterrupt):
            _say(f"interrupted: {_nothing_kept(args, 'SIGINT')}")
            return 130
        _say("aborted")
        return 1
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # stdout closed early (`| head`): stop quietly
            _silence_stdout()
            return 1
        _say(f"error: {describe_os_error(exc, path_from_argv(args))}")
        return 2
    except SystemExit as exc:  # typer/click exits (usage errors print their own message)
        return int(exc.code or 0)
    except Exception as exc:  # one more kind of user error: DuckDB's IO errors
        duckdb = sys.modules.get("duckdb")
        if duckdb is not None and isinstance(exc, duckdb.IOException):
            _say(f"error: {' '.join(str(exc).split())}")
            return 2
        raise
    if isinstance(result, int) and result == 130:  # Typer's own Ctrl-C exit
        _say(f"interrupted: {_nothing_kept(args, 'SIGINT')}")
        return 130
    return result if isinstance(result, int) else 0


_READ_ONLY = {"show", "explain", "trace", "decode", "eval", "list", "search", "clusters",
              "conflicts"}  # fmt: skip


def _nothing_kept(args: list[str], signal_name: str) -> str:
    """The line for a verb that said nothing about what it kept."""
    verbs = [a for a in args if not a.startswith("-")][:2]
    if any(v in _READ_ONLY for v in verbs):
        return f"{signal_name}; nothing was written"
    return f"{signal_name}; the command's output may be incomplete (re-run it)"


def _classes(name: str) -> tuple[type[BaseException], ...]:
    """Typer's exception classes of that kind: its own (Typer >= 0.2x vendors click, whose
    ClickException derives from ``typer.TyperException``) and click's when click is loaded."""
    ours = {"Exit": typer.Exit, "Abort": typer.Abort}
    found: list[type[BaseException]] = []
    if name in ours:
        found.append(ours[name])
    elif hasattr(typer, "TyperException"):
        found.append(typer.TyperException)
    click = sys.modules.get("click")
    if click is not None:
        found.append(getattr(click.exceptions, name))
    return tuple(found)


def _message(usage: BaseException) -> str:
    format_message = getattr(usage, "format_message", None)
    return str(format_message()) if callable(format_message) else str(usage)


def _help_hint(usage: BaseException) -> str:
    ctx = getattr(usage, "ctx", None)
    if ctx is None:
        return ""
    return f" (see: {ctx.command_path} --help)"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a captured or replaced stdout
        pass


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
