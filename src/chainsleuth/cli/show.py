"""``chainsleuth show``: a readable (or --json) profile of a transaction, address or block."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from chainsleuth.cli._app import app, console
from chainsleuth.store.dataset import Dataset
from chainsleuth.store.profiles import address_profile, block_profile, tx_profile

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


def profile_for(ds: Dataset, what: str) -> tuple[str, dict[str, Any]]:
    """Dispatch a TXID / block hash / HEIGHT / ADDRESS to its profile."""
    if what.isdigit():
        return "block", block_profile(ds, what)
    if _HEX64.match(what):
        hit = ds.sql("SELECT 1 FROM blocks WHERE hash = ?", [bytes.fromhex(what)]).fetchone()
        if hit:
            return "block", block_profile(ds, what)
        return "tx", tx_profile(ds, what)
    return "address", address_profile(ds, what)


@app.command()
def show(
    what: Annotated[str, typer.Argument(help="TXID, ADDRESS, block HEIGHT or block hash.")],
    data: Annotated[Path, typer.Option("--data", help="Dataset directory.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a profile of a transaction, an address or a block.

    Example: chainsleuth show --data case.ds bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2
    """
    with Dataset.open(data) as ds:
        kind, prof = profile_for(ds, what)
    if as_json:
        console.print_json(json.dumps({"kind": kind, **prof}, default=str))
        return
    {"tx": _render_tx, "address": _render_address, "block": _render_block}[kind](prof)


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
