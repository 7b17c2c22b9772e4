"""``chainsleuth ingest``: block files → dataset, with a progress bar and resume."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from chainsleuth.cli._app import app, at_least, console, console_err
from chainsleuth.errors import InputError


@app.command()
def ingest(
    source: Annotated[
        str,
        typer.Argument(
            help="Bitcoin Core blocks/ directory, datadir, or rpc://USER:PASS@HOST:PORT "
            "(or rpc://HOST:PORT?cookie=PATH)."
        ),
    ],
    data: Annotated[Path, typer.Option("--data", help="Dataset directory (created if new).")],
    network: Annotated[str, typer.Option(help="main, test, testnet4, signet or regtest.")] = "main",
    to_height: Annotated[
        int | None, typer.Option(callback=at_least(0), help="Stop at this height.")
    ] = None,
    partition_span: Annotated[
        int | None,
        typer.Option(
            callback=at_least(1), help="Heights per Parquet part (new datasets only; default 1000)."
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            callback=at_least(1), help="Processes that walk and hash blocks while this one links."
        ),
    ] = 1,
    memory_limit: Annotated[
        str | None,
        typer.Option(
            help="RAM budget, e.g. 2G (default: $CHAINSLEUTH_MEMORY_LIMIT or 60% of RAM); "
            "any size from 64M up."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    engine: Annotated[
        str,
        typer.Option(
            help="local (this machine: numba kernels, resumable) or spark (PySpark, the "
            "chainsleuth[spark] extra; writes the same rows into a new dataset)."
        ),
    ] = "local",
    master: Annotated[
        str | None,
        typer.Option(
            help="Spark master with --engine spark: local[N] or spark://HOST:PORT (default: "
            "spark-submit's, else local[2])."
        ),
    ] = None,
    conf: Annotated[
        list[str] | None,
        typer.Option("--conf", help="A Spark setting KEY=VALUE with --engine spark (repeatable)."),
    ] = None,
) -> None:
    """Ingest blk*.dat files into a dataset; re-running continues where it stopped.

    Ctrl-C (or SIGTERM) keeps every finished partition (a checkpoint) and exits 130; the same
    command then resumes from there.

    Example: chainsleuth ingest ~/.bitcoin/regtest/blocks --data case.ds --network regtest

    On Spark: chainsleuth ingest blocks/ --data full.ds --engine spark --master spark://m:7077
    --conf spark.executor.memory=8g (docs/spark.md).
    """
    if engine not in ("local", "spark"):
        raise InputError(f"bad --engine {engine!r}: expected local or spark")
    if engine == "spark":
        _ingest_spark(
            source, data, network, to_height, partition_span, workers, master, conf, as_json
        )
        return
    if master is not None or conf:
        raise InputError("--master and --conf apply to --engine spark")
    from chainsleuth.ingest import ingest_blocks
    from chainsleuth.ingest.blkfiles import TruncatedBlockWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncatedBlockWarning)
        with Progress(
            TextColumn("[bold]ingest"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} blocks"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console_err,
            transient=True,
            disable=as_json or not console_err.is_terminal,  # no stray line in a log file
        ) as progress:
            task = progress.add_task("ingest", total=0, rate="scanning block files")

            def hook(blocks: int, txs: int, total: int) -> None:
                elapsed = progress.tasks[task].elapsed or 1e-9
                rate = f"{blocks / elapsed:,.0f} blk/s {txs / elapsed:,.0f} tx/s"
                progress.update(task, completed=blocks, total=total, rate=rate)

            report = ingest_blocks(
                source,
                data,
                network,
                to_height=to_height,
                partition_span=partition_span,
                progress=hook,
                workers=workers,
                memory_limit=memory_limit,
            )
    for w in caught:
        console_err.print(f"warning: {w.message}", markup=False)
    if as_json:
        console.print_json(
            json.dumps(
                {
                    **_common_fields(report),
                    "peak_rss_bytes": report.peak_rss,
                    "peak_anon_bytes": report.peak_anon,
                    "memory_limit_bytes": report.memory_limit,
                    "utxo_entries": report.utxo_entries,
                    "utxo_bytes": report.utxo_bytes,
                    "utxo_peak_bytes": report.utxo_peak_bytes,
                    "utxo_spilled_bytes": report.utxo_spilled_bytes,
                    "utxo_peak_ram_bytes": report.utxo_peak_ram_bytes,
                }
            )
        )
        return
    if report.up_to_date:
        console.print(f"dataset {data} is up to date at height {report.tip_height}")
    else:
        rate = report.txs_added / report.seconds if report.seconds else 0.0
        console.print(
            f"ingested {report.blocks_added:,} blocks, {report.txs_added:,} transactions in "
            f"{report.seconds:.1f} s ({rate:,.0f} tx/s); tip {report.tip_height} {report.tip_hash}"
        )
        peak = f"{report.peak_rss / (1 << 20):,.0f} MiB"
        if report.peak_anon is not None:
            peak += f", of which {report.peak_anon / (1 << 20):,.0f} MiB anonymous"
        console.print(
            f"peak memory {peak} (budget {report.memory_limit / (1 << 20):,.0f} MiB); UTXO index "
            f"{report.utxo_entries:,} unspent outputs in {report.utxo_bytes / (1 << 20):,.1f} MiB "
            f"(peak {report.utxo_peak_bytes / (1 << 20):,.1f} MiB; at most "
            f"{report.utxo_peak_ram_bytes / (1 << 20):,.1f} MiB in RAM, "
            f"{report.utxo_spilled_bytes / (1 << 20):,.1f} MiB on file at the end)"
        )
    if report.stale_blocks or report.unconnected_blocks:
        console.print(
            f"ignored {report.stale_blocks} stale block(s) and {report.unconnected_blocks} "
            "block(s) not connected to genesis"
        )


def _common_fields(report: Any) -> dict[str, Any]:
    """The fields both engines' reports share, for ``--json``."""
    return {
        "tip_height": report.tip_height,
        "tip_hash": report.tip_hash,
        "blocks_added": report.blocks_added,
        "txs_added": report.txs_added,
        "stale_blocks": report.stale_blocks,
        "unconnected_blocks": report.unconnected_blocks,
        "truncated": report.truncated,
        "seconds": round(report.seconds, 3),
        "up_to_date": report.up_to_date,
    }


def _ingest_spark(
    source: str,
    data: Path,
    network: str,
    to_height: int | None,
    partition_span: int | None,
    workers: int,
    master: str | None,
    conf: list[str] | None,
    as_json: bool,
) -> None:
    """``--engine spark``: options checked before Spark starts, then the report."""
    from chainsleuth.spark import check_master, ingest_spark, parse_conf

    if workers != 1:
        raise InputError("--workers applies to --engine local (Spark sizes its executors)")
    if master is not None:
        check_master(master)
    settings = parse_conf(conf)
    from chainsleuth.ingest.blkfiles import TruncatedBlockWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncatedBlockWarning)
        report = ingest_spark(
            source,
            data,
            network,
            to_height=to_height,
            partition_span=partition_span,
            master=master,
            conf=settings,
        )
    for w in caught:
        if issubclass(w.category, TruncatedBlockWarning):
            console_err.print(f"warning: {w.message}", markup=False)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if as_json:
        console.print_json(
            json.dumps(
                {
                    **_common_fields(report),
                    "engine": "spark",
                    "master": report.master,
                    "stages": report.stages,
                }
            )
        )
        return
    if report.up_to_date:
        console.print(f"dataset {data} is up to date at height {report.tip_height}")
    else:
        rate = report.txs_added / report.seconds if report.seconds else 0.0
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in report.stages.items())
        console.print(
            f"ingested {report.blocks_added:,} blocks, {report.txs_added:,} transactions on "
            f"Spark {report.master} in {report.seconds:.1f} s ({rate:,.0f} tx/s); tip "
            f"{report.tip_height} {report.tip_hash}"
        )
        console.print(f"stages: {stages}")
    if report.stale_blocks or report.unconnected_blocks:
        console.print(
            f"ignored {report.stale_blocks} stale block(s) and {report.unconnected_blocks} "
            "block(s) not connected to genesis"
        )
