"""The shared Typer application, its sub-command groups and consoles every verb registers on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = [
    "MEMORY_HELP",
    "app",
    "at_least",
    "check_categories",
    "console",
    "console_err",
    "eval_app",
    "step_progress",
    "tags_app",
]

MEMORY_HELP = (
    "RAM budget, e.g. 2G (default: $CHAINSLEUTH_MEMORY_LIMIT or 60% of RAM); any size from 64M "
    "up. DuckDB gets half of it and spills to DATASET/_tmp/; the peak is logged."
)

app = typer.Typer(
    name="chainsleuth",
    help="Bitcoin forensics: ingest, cluster, attribute, trace and investigate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
eval_app = typer.Typer(help="Score results against ground truth.", no_args_is_help=True)
tags_app = typer.Typer(
    help="Import, export, list and check attribution tags.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")
app.add_typer(tags_app, name="tags")


def _print_version(value: bool) -> None:
    if value:
        from chainsleuth import __version__

        typer.echo(f"chainsleuth {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version (chainsleuth X.Y.Z) and exit.",
    ),
) -> None:
    """Bitcoin forensics: ingest, cluster, attribute, trace and investigate."""


console = Console()
console_err = Console(stderr=True)


def at_least(bound: float) -> Callable[[Any], Any]:
    """An option callback refusing a value below ``bound``, naming the value (a usage error:
    ``Invalid value for '--hops': 0 (must be at least 1)``, exit 2)."""
    shown = int(bound) if float(bound).is_integer() else bound

    def check(value: Any) -> Any:
        if value is not None and value < bound:
            raise typer.BadParameter(f"{value} (must be at least {shown})")
        return value

    return check


def check_categories(values: list[str], option: str = "--stop-at") -> tuple[str, ...]:
    """Tag categories given on the command line, lower-cased; InputError naming an unknown one
    and listing the taxonomy's (``chainsleuth.tags.taxonomy``)."""
    from chainsleuth.errors import InputError
    from chainsleuth.tags.taxonomy import CATEGORIES

    wanted = tuple(v.strip().lower() for v in values)
    for given, value in zip(values, wanted, strict=True):
        if value not in CATEGORIES:
            raise InputError(
                f"{option}: unknown category {given!r} (valid: {', '.join(CATEGORIES)})"
            )
    return wanted


def step_progress(disable: bool = False) -> Progress:
    """The progress bar of a verb that runs a known number of steps (hidden with --json;
    written as lines instead with ``CHAINSLEUTH_PROGRESS=lines``: see
    :mod:`chainsleuth.progresslines`)."""
    from chainsleuth.progresslines import ReportingProgress, lines_requested

    if lines_requested():
        return ReportingProgress()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=disable,
    )
