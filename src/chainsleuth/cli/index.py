"""``chainsleuth index``: add the lookup index files an older dataset lacks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from chainsleuth.cli._app import app, console

__all__ = ["index"]


@app.command()
def index(data: Annotated[Path, typer.Option("--data", help="Dataset directory.")]) -> None:
    """Build the per-partition lookup index files (txid, address, spender) a dataset made by
    an older chainsleuth lacks, so show/trace lookups and the streamed clustering read them
    instead of scanning tables. Partitions that have them are left alone; an interrupted run
    keeps the partitions it finished.

    Example: chainsleuth index --data data/main
    """
    from chainsleuth.store.reindex import add_missing_indexes

    with Progress(
        TextColumn("indexing partitions"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("index", total=None)
        done = add_missing_indexes(
            data, lambda n, total: bar.update(task, completed=n, total=total)
        )
    what = (
        f"built the index files of {done:,} partitions"
        if done
        else "every partition has its index files"
    )
    console.print(f"{data}: {what}", highlight=False, soft_wrap=True)
