"""Verb ``trace``: follow value from seed addresses backwards or forwards."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from chainsleuth.cli._app import (
    MEMORY_HELP,
    app,
    at_least,
    check_categories,
    console,
    console_err,
    step_progress,
)
from chainsleuth.errors import InputError

__all__ = ["parse_time", "trace_cmd"]


def parse_time(text: str | None, option: str) -> int | None:
    """Epoch seconds of an ISO date/time (UTC unless it names a zone); None passes through.

    >>> parse_time("2025-01-02", "--start")
    1735776000
    """
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{option} is not an ISO date/time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def _btc(sats: float) -> str:
    return f"{sats / 1e8:.8f}"


@app.command("trace")
def trace_cmd(
    seeds: list[str] = typer.Argument(..., help="Seed addresses."),
    data: Path = typer.Option(..., "--data", help="Dataset directory."),
    direction: str = typer.Option("back", "--direction", help="back | forward."),
    hops: int = typer.Option(
        5, "--hops", callback=at_least(1), help="Transactions to cross at most."
    ),
    policy: str = typer.Option("haircut", "--policy", help="poison | haircut | fifo."),
    stop_at: list[str] = typer.Option(
        ["exchange"],
        "--stop-at",
        help="Stop at clusters of this tag category (repeatable; see docs/tags.md).",
    ),
    no_stop: bool = typer.Option(False, "--no-stop", help="Do not stop at any category."),
    min_value: float = typer.Option(
        546.0, "--min-value", callback=at_least(0), help="Drop flows below N sats."
    ),
    start: str | None = typer.Option(
        None, "--start", help="Ignore transactions before (ISO date/time, UTC)."
    ),
    end: str | None = typer.Option(
        None, "--end", help="Ignore transactions after (ISO date/time, UTC; not before --start)."
    ),
    max_cluster_size: int | None = typer.Option(
        None,
        "--max-cluster-size",
        callback=at_least(1),
        help="Record, but do not expand, larger clusters.",
    ),
    clustering: str | None = typer.Option(
        None, "--clustering", help="Clustering run (default: the newest)."
    ),
    limit: int = typer.Option(
        20, "--limit", callback=at_least(0), help="Endpoints shown in the table."
    ),
    allow_stale: bool = typer.Option(
        False, "--allow-stale", help="Use a clustering run older than the dataset's tip (warns)."
    ),
    memory_limit: str | None = typer.Option(None, "--memory-limit", help=MEMORY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the flow subgraph as JSON."),
) -> None:
    """Trace value from seed addresses hop by hop, at cluster level.

    Example: chainsleuth trace --data data/regtest bcrt1q... --direction back --hops 5
    --policy haircut --stop-at exchange
    """
    from chainsleuth.budget import MemoryBudget
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.trace.engine import trace
    from chainsleuth.trace.export import trace_to_dict

    start_t = parse_time(start, "--start")
    end_t = parse_time(end, "--end")
    if start_t is not None and end_t is not None and end_t < start_t:
        raise InputError(f"--end {end} is before --start {start}")
    categories = () if no_stop else check_categories(stop_at)
    budget = MemoryBudget.from_option(memory_limit)
    with (
        Dataset.open(data) as ds,
        step_progress(disable=as_json) as bar,
    ):
        budget.apply(ds.con, ds.path)
        task = bar.add_task("tracing", total=hops)
        result = trace(
            ds,
            seeds,
            direction=direction,
            hops=hops,
            policy=policy,
            min_value=min_value,
            start_time=start_t,
            end_time=end_t,
            stop_categories=categories,
            max_cluster_size=max_cluster_size,
            run=clustering,
            allow_stale=allow_stale,
            per_seed=False,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            budget=budget,
        )
        doc = trace_to_dict(ds, result)
    if as_json:
        console.print_json(json.dumps(doc))
        return
    console_err.print(budget.report(), style="dim")
    p = doc["parameters"]
    console.print(
        f"{p['direction']} trace, {p['policy']}, {p['hops']} hops, run {p['run']}: "
        f"{len(doc['nodes'])} clusters, {len(doc['edges'])} edges, "
        f"{len(doc['endpoints'])} endpoints",
        highlight=False,
    )
    table = Table(title="endpoints reached")
    for col in ("cluster", "entity", "category", "kind", "BTC", "hops", "txid"):
        table.add_column(col, justify="right" if col in ("BTC", "hops") else "left")
    for e in doc["endpoints"][:limit]:
        table.add_row(
            str(e["node"]),
            e["entity"] or "-",
            e["category"] or "-",
            e["kind"],
            _btc(e["value_sats"]),
            str(e["hops"]),
            (e["txid"] or "-")[:16],
        )
    console.print(table)
    _print_dropped(doc)


def _print_dropped(doc: dict[str, Any]) -> None:
    """The value each limit cut off, in BTC and as a share of the seeds' value."""
    rows = [d for d in doc["dropped"] if d["value_sats"]]
    seed = doc["seed_value_sats"]
    if not rows:
        console.print(f"no value dropped by a limit (seeds: {_btc(seed)} BTC)", highlight=False)
        return
    console.print(f"value dropped by limits (seeds: {_btc(seed)} BTC)", highlight=False)
    table = Table()
    for col in ("limit", "BTC", "share of seeds"):
        table.add_column(col, justify="left" if col == "limit" else "right")
    for d in rows:
        table.add_row(d["option"], _btc(d["value_sats"]), f"{100 * d['share']:.2f}%")
    console.print(table)
