"""``chainsleuth show``: a readable (or --json) profile of a transaction, address or block."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from chainsleuth.cli._app import MEMORY_HELP, app, console
from chainsleuth.errors import InputError

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def btc(sats: int | None) -> str:
    """Format satoshis as BTC with 8 decimals.

    >>> btc(123456789)
    '1.23456789'
    """
    if sats is None:
        return "-"
    sign = "-" if sats < 0 else ""
    q, r = divmod(abs(sats), 100_000_000)
    return f"{sign}{q}.{r:08d}"


def profile_for(
    ds: Dataset, what: str, run: str | None = None, *, allow_stale: bool = False
) -> tuple[str, dict[str, Any]]:
    """Dispatch cluster:ID / TXID / block hash / HEIGHT / ADDRESS to its annotated profile
    (a stale clustering run is refused unless ``allow_stale``)."""
    from chainsleuth.report.annotate import annotate_profile, cluster_view, resolve_run

    run = resolve_run(ds, run, allow_stale=allow_stale)
    if what.lower().startswith("cluster:"):
        ident = what.split(":", 1)[1]
        if not ident.isdigit():
            raise InputError(f"cluster id must be a number: {what!r}")
        if run is None:
            raise InputError("no clustering run in this dataset: run `chainsleuth cluster` first")
        return "cluster", cluster_view(ds, run, int(ident), allow_stale=allow_stale)
    kind, prof = _plain_profile(ds, what)
    annotate_profile(ds, kind, prof, run, allow_stale=allow_stale)
    return kind, prof


def _plain_profile(ds: Dataset, what: str) -> tuple[str, dict[str, Any]]:
    from chainsleuth.store.profiles import address_profile, block_profile, tx_profile
    from chainsleuth.store.queries import is_block_hash

    if what.isdigit():
        return "block", block_profile(ds, what)
    if _HEX64.match(what):
        if ds.lookup.indexed and ds.lookup.tx_id(bytes.fromhex(what)) is not None:
            return "tx", tx_profile(ds, what)  # indexed: no scan of the blocks table first
        if is_block_hash(ds, bytes.fromhex(what)):
            return "block", block_profile(ds, what)
        return "tx", tx_profile(ds, what)
    return "address", address_profile(ds, what)


@app.command()
def show(
    what: Annotated[
        str, typer.Argument(help="TXID, ADDRESS, cluster:ID, block HEIGHT or block hash.")
    ],
    data: Annotated[Path, typer.Option("--data", help="Dataset directory.")],
    clustering: Annotated[
        str | None, typer.Option(help="Clustering run (default: the newest).")
    ] = None,
    memory_limit: Annotated[str | None, typer.Option(help=MEMORY_HELP)] = None,
    allow_stale: Annotated[
        bool,
        typer.Option(
            "--allow-stale", help="Use a clustering run older than the dataset's tip (warns)."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a profile of a transaction, an address (with its cluster), a cluster or a block.

    Example: chainsleuth show --data case.ds bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2
    """
    from chainsleuth.budget import MemoryBudget
    from chainsleuth.store.dataset import Dataset

    budget = MemoryBudget.from_option(memory_limit)
    with Dataset.open(data) as ds:
        if memory_limit is not None:
            budget.apply(ds.con, ds.path)
        kind, prof = profile_for(ds, what, clustering, allow_stale=allow_stale)
    if as_json:
        console.print_json(json.dumps({"kind": kind, **prof}, default=str))
        return
    renderers = {
        "tx": _render_tx,
        "address": _render_address,
        "block": _render_block,
        "cluster": _render_cluster,
    }
    renderers[kind](prof)


def _render_tx(p: dict[str, Any]) -> None:
    console.print(f"[bold]transaction[/] {p['txid']}")
    console.print(
        f"block {p['height']} #{p['block_pos']}  {p['time']}  size {p['size']} vsize {p['vsize']}"
        f"  fee {btc(p['fee'])} BTC  locktime {p['locktime']}"
    )
    ins = Table("vin", "from", "value (BTC)", "spends", title="inputs")
    for i in p["inputs"]:
        spends = (
            "coinbase" if i["prev_txid"] is None else f"{i['prev_txid'][:16]}…:{i['prev_vout']}"
        )
        ins.add_row(str(i["vin"]), i["address"] or i["script_type"] or "-", btc(i["value"]), spends)
    outs = Table("vout", "to", "type", "value (BTC)", "spent by", title="outputs")
    for o in p["outputs"]:
        outs.add_row(
            str(o["vout"]),
            o["address"] or "-",
            o["script_type"],
            btc(o["value"]),
            (o["spent_by"] or "unspent")[:16],
        )
    console.print(ins)
    console.print(outs)


def _render_address(p: dict[str, Any]) -> None:
    console.print(f"[bold]address[/] {p['address']}  ({p['script_type']}, addr_id {p['addr_id']})")
    console.print(
        f"received {btc(p['received'])} BTC in {p['n_outputs_received']} outputs; spent "
        f"{btc(p['spent'])} BTC; balance {btc(p['balance'])} BTC; {p['n_txs']} transactions, "
        f"heights {p['first_height']}–{p['last_height']}"
    )
    for tag in p.get("labels", []):
        console.print(
            f"label: {tag['label']} ({tag['category']}, {tag['confidence']}) from {tag['source']}"
        )
    if "cluster" in p:
        c = p["cluster"]
        conflict = "  [red]conflicting tags[/]" if c["conflict"] else ""
        console.print(
            f"cluster {c['cluster_id']} (run {c['run']}): {c['size']} addresses"
            f"{'  ' + c['label'] if c['label'] else ''}{conflict}"
            f"  → chainsleuth show cluster:{c['cluster_id']}"
        )
    t = Table("txid", "height", "time", "received", "sent", title="latest transactions")
    for tx in p["txs"][:20]:
        t.add_row(
            tx["txid"],
            str(tx["height"]),
            str(tx["time"])[:19],
            btc(tx["received"]),
            btc(tx["sent"]),
        )
    console.print(t)


def _render_block(p: dict[str, Any]) -> None:
    console.print(f"[bold]block[/] {p['height']} {p['hash']}")
    console.print(
        f"{p['time']}  {p['n_tx']} txs, {p['n_inputs']} inputs, {p['n_outputs']} outputs; size "
        f"{p['size']} weight {p['weight']}; out {btc(p['total_out'])} BTC, fees "
        f"{btc(p['total_fee'])} BTC"
    )
    t = Table("txid", "in", "out", "out value (BTC)", "fee", title="largest transactions")
    for tx in p["top_txs"]:
        t.add_row(
            tx["txid"], str(tx["n_in"]), str(tx["n_out"]), btc(tx["out_value"]), btc(tx["fee"])
        )
    console.print(t)


def _render_cluster(p: dict[str, Any]) -> None:
    label = f"  {p['label']}" if p["label"] else ""
    console.print(f"[bold]cluster[/] {p['cluster_id']} (run {p['run']}){label}")
    console.print(
        f"{p['size']:,} addresses, {p['n_txs']:,} transactions, first {p['first_seen']} "
        f"(height {p['first_height']}), last {p['last_seen']} (height {p['last_height']})"
    )
    console.print(
        f"received {btc(p['total_received'])} BTC, sent {btc(p['total_sent'])} BTC, "
        f"balance {btc(p['balance'])} BTC; {p['n_tags']} tags"
    )
    if p["conflict"]:
        console.print(f"[red]conflict:[/] members carry tags of {', '.join(p['actors'])}")
    t = Table("address", "label", "received", "sent", "outputs", title="largest addresses")
    for a in p["top_addresses"]:
        t.add_row(
            a["address"] or str(a["addr_id"]),
            a["label"],
            btc(a["received"]),
            btc(a["sent"]),
            str(a["n_outputs"]),
        )
    console.print(t)
