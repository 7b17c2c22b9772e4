"""The shared Typer application and consoles every verb module registers on."""

from __future__ import annotations

import typer
from rich.console import Console

__all__ = ["app", "console", "console_err"]

app = typer.Typer(
    name="chainsleuth",
    help="Bitcoin forensics: ingest, cluster, attribute, trace and investigate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
console_err = Console(stderr=True)
