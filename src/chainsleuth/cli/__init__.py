"""The ``chainsleuth`` command line: a thin layer over the library.

Each verb lives in its own module of this package and registers itself on :data:`app`;
:func:`main` turns every :class:`~chainsleuth.errors.UserError` into one line on stderr and
exit code 2 (1 for internal failures), never a traceback, and every
:class:`~chainsleuth.errors.ChainsleuthWarning` into one ``warning:`` line on stderr.
"""

from __future__ import annotations

import sys
import warnings

# Verb modules register their commands on import (one line per module).
from chainsleuth.cli import cluster as _cluster  # noqa: F401
from chainsleuth.cli import decode as _decode  # noqa: F401
from chainsleuth.cli import demo as _demo  # noqa: F401
from chainsleuth.cli import ingest as _ingest  # noqa: F401
from chainsleuth.cli import investigate as _investigate  # noqa: F401
from chainsleuth.cli import show as _show  # noqa: F401
from chainsleuth.cli import simulate as _simulate  # noqa: F401
from chainsleuth.cli import tags as _tags  # noqa: F401
from chainsleuth.cli import trace as _trace  # noqa: F401
from chainsleuth.cli._app import app, console_err
from chainsleuth.errors import ChainsleuthError, ChainsleuthWarning

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (used by the console script and tests).

    >>> main(["--help"]) in (0, None)  # doctest: +SKIP
    True
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


def _main(argv: list[str] | None) -> int:
    try:
        app(args=argv, prog_name="chainsleuth", standalone_mode=False)
    except ChainsleuthError as err:
        console_err.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
        return err.exit_code
    except SystemExit as exc:  # typer/click exits (usage errors print their own message)
        return int(exc.code or 0)
    except KeyboardInterrupt:
        console_err.print("interrupted", markup=False)
        return 130
    except Exception as exc:  # typer/click usage errors (non-standalone mode)
        show = getattr(exc, "show", None)
        if callable(show) and isinstance(getattr(exc, "exit_code", None), int):
            show()
            return int(exc.exit_code)  # type: ignore[attr-defined]
        if type(exc).__name__ == "Abort":
            return 1
        raise
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
