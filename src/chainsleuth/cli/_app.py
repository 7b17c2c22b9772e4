"""The shared Typer application, its sub-command groups and consoles every verb registers on."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = [
    "MEMORY_HELP",
    "app",
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

console = Console()
console_err = Console(stderr=True)


def step_progress(disable: bool = False) -> Progress:
    """The progress bar of a verb that runs a known number of steps (hidden with --json)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=disable,
    )
