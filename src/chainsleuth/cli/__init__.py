"""The ``chainsleuth`` command line: a thin layer over the library.

Each verb lives in its own module of this package and registers itself on :data:`app`;
:func:`main` turns every :class:`~chainsleuth.errors.UserError` into one line on stderr and
exit code 2 (1 for internal failures), never a traceback.
"""

from __future__ import annotations

import sys

from chainsleuth.cli._app import app, console_err
from chainsleuth.errors import ChainsleuthError

# Verb modules register their commands on import (one line per module).
from chainsleuth.cli import decode as _decode  # noqa: E402,F401
from chainsleuth.cli import cluster as _cluster  # noqa: E402,F401
from chainsleuth.cli import simulate as _simulate  # noqa: E402,F401
from chainsleuth.cli import tags as _tags  # noqa: E402,F401
from chainsleuth.cli import ingest as _ingest  # noqa: E402,F401
from chainsleuth.cli import show as _show  # noqa: E402,F401

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (used by the console script and tests).

    >>> main(["--help"]) in (0, None)  # doctest: +SKIP
    True
    """
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
    except Exception as exc:  # click usage errors in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            return 1
        raise
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
