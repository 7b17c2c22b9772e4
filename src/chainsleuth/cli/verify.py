"""``chainsleuth verify``: check every file of a dataset against its manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from chainsleuth.cli._app import app, console, console_err
from chainsleuth.errors import IntegrityError

__all__ = ["format_size", "verify"]


def format_size(n: int) -> str:
    """Bytes as the summary line shows them.

    >>> format_size(350_123_456_789), format_size(2_258_204)
    ('350.12 GB', '0.00226 GB')
    """
    gb = n / 1e9
    return f"{gb:.2f} GB" if gb >= 1 else f"{gb:.3g} GB"


@app.command()
def verify(
    data: Annotated[Path, typer.Option("--data", help="Dataset directory.")],
    deep: Annotated[
        bool,
        typer.Option(
            "--deep",
            help="Also re-derive each part's row count and id range from its Parquet data "
            "(footer metadata and column statistics) and compare them with the manifest.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute the sha256 of every file the manifest lists and check the manifest itself.

    Reports missing files, size and sha256 mismatches, files under tables/, index/ or state/
    the manifest does not list, and a manifest whose partitions are not contiguous (heights,
    tx/out/addr ids), whose counts do not add up or whose tip is not the last block. Exit 0
    with one "ok:" line; any problem exits 2 with one line per problem, naming the file.

    Example: chainsleuth verify --data case.ds --deep
    """
    from chainsleuth.store.verify import verify_dataset

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console_err,
        transient=True,
        disable=as_json or not console_err.is_terminal,  # no stray blank line in logs
    ) as bar:
        task = bar.add_task("hashing", total=None)

        def hook(path: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=path)

        report = verify_dataset(data, deep=deep, progress=hook)
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
    if not report.ok:
        raise IntegrityError([str(p) for p in report.problems])
    if not as_json:
        what = " (deep)" if deep else ""
        console.print(
            f"ok: {report.files} files, {format_size(report.bytes)} verified{what}",
            markup=False,
            highlight=False,
        )
