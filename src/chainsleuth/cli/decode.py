"""``chainsleuth decode``: decode a raw block or transaction the way Bitcoin Core does."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from chainsleuth.cli._app import app, console
from chainsleuth.errors import InputError

if TYPE_CHECKING:
    from chainsleuth.chain.block import Block
    from chainsleuth.chain.network import Network
    from chainsleuth.chain.tx import Tx

__all__ = ["decode", "read_raw_input"]

_HEX_CHARS = frozenset(string.hexdigits)
_HEX_TEXT_BYTES = frozenset(string.hexdigits.encode() + b" \t\r\n")
_TABLE_ROWS = 20


def _short(text: str, limit: int = 256) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a long hex string is no valid file name
        return False


def read_raw_input(source: str) -> bytes:
    """Bytes named by ``source``: a file (binary or hex text) or a hex string.

    >>> read_raw_input("00ff")
    b'\\x00\\xff'
    """
    path = Path(source)
    if _is_file(path):
        try:
            data = path.read_bytes()
        except OSError as err:
            raise InputError(f"cannot read {source}: {err.strerror}") from None
        stripped = data.strip()
        if stripped and all(byte in _HEX_TEXT_BYTES for byte in stripped):
            text = b"".join(stripped.split()).decode()
            if len(text) % 2:
                raise InputError(f"odd number of hex digits ({len(text)}) in {source}")
            return bytes.fromhex(text)
        return data
    text = source.strip()
    if text and all(ch in _HEX_CHARS for ch in text):
        if len(text) % 2:
            raise InputError(f"odd number of hex digits ({len(text)}): {_short(text)!r}")
        return bytes.fromhex(text)
    if len(source) < 4096 and path.exists():
        raise InputError(f"not a regular file: {source}")
    raise InputError(f"no such file and not hex: {_short(source)!r}")


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _btc(sats: int) -> str:
    from chainsleuth.chain.decode import btc_value

    return f"{btc_value(sats):f}"


def _print_block(block: Block) -> None:
    header = block.header
    height = block.bip34_height()
    console.print(f"[bold]block[/bold] {block.hash.hex()}")
    if height is not None:
        console.print(f"  height      {height} (BIP34)")
    console.print(f"  time        {_utc(header.time)}")
    console.print(f"  previous    {header.prev_hash.hex()}")
    console.print(f"  merkle root {header.merkle_root.hex()}")
    console.print(f"  version     {header.version & 0xFFFFFFFF:08x}   bits {header.bits:08x}")
    console.print(
        f"  {len(block.txs)} transactions, {block.size:,} bytes, stripped {block.stripped_size:,}"
        f", weight {block.weight:,}"
    )
    table = Table(title=f"first {min(_TABLE_ROWS, len(block.txs))} of {len(block.txs)} txs")
    table.add_column("#", justify="right")
    table.add_column("txid", overflow="fold")
    table.add_column("in", justify="right")
    table.add_column("out", justify="right")
    table.add_column("output BTC", justify="right")
    table.add_column("vsize", justify="right")
    for pos, tx in enumerate(block.txs[:_TABLE_ROWS]):
        table.add_row(
            f"{pos} cb" if tx.is_coinbase else str(pos),
            tx.txid.hex(),
            str(len(tx.inputs)),
            str(len(tx.outputs)),
            _btc(tx.total_output_value),
            str(tx.vsize),
        )
    console.print(table)


def _print_tx(tx: Tx, network: Network) -> None:
    from chainsleuth.chain.address import script_to_address
    from chainsleuth.chain.script import classify_script

    console.print(f"[bold]transaction[/bold] {tx.txid.hex()}")
    if tx.has_witness:
        console.print(f"  wtxid    {tx.wtxid.hex()}")
    console.print(
        f"  version {tx.version}, locktime {tx.locktime}, {tx.size} bytes, vsize {tx.vsize},"
        f" weight {tx.weight}"
    )
    inputs = Table(title=f"{len(tx.inputs)} inputs")
    inputs.add_column("#", justify="right")
    inputs.add_column("spends")
    inputs.add_column("sequence", justify="right")
    for n, txin in enumerate(tx.inputs):
        spends = "coinbase" if tx.is_coinbase else f"{txin.prev_txid.hex()}:{txin.prev_vout}"
        inputs.add_row(str(n), spends, f"{txin.sequence:#010x}")
    console.print(inputs)
    outputs = Table(title=f"{len(tx.outputs)} outputs, {_btc(tx.total_output_value)} BTC")
    outputs.add_column("#", justify="right")
    outputs.add_column("BTC", justify="right")
    outputs.add_column("type")
    outputs.add_column("address")
    for n, out in enumerate(tx.outputs):
        address = script_to_address(out.script_pubkey, network)
        outputs.add_row(str(n), _btc(out.value), classify_script(out.script_pubkey), address or "-")
    console.print(outputs)


@app.command(
    "decode",
    epilog=(
        "Example: chainsleuth decode tests/data/mainnet-blocks/170.bin --json\n\n"
        "Example: chainsleuth decode 0200000001... --network regtest"
    ),
)
def decode(
    source: Annotated[
        str,
        typer.Argument(help="A file (raw bytes or hex text) or a hex string.", metavar="FILE|HEX"),
    ],
    network: Annotated[
        str, typer.Option("--network", help="main, test, testnet4, signet or regtest.")
    ] = "main",
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print Bitcoin Core's JSON (getblock 2 / decoderawtransaction)."
        ),
    ] = False,
) -> None:
    """Decode a raw block or transaction as Bitcoin Core would.

    A block prints like `getblock <hash> 2` (fields known from the block alone); a
    transaction like `decoderawtransaction`.
    """
    from chainsleuth.chain.block import Block
    from chainsleuth.chain.decode import (
        block_to_core_json,
        decode_raw,
        dumps_core_json,
        tx_to_core_json,
    )
    from chainsleuth.chain.network import get_network

    net = get_network(network)
    decoded = decode_raw(read_raw_input(source), net)
    if isinstance(decoded, Block):
        if as_json:
            payload = block_to_core_json(decoded, net, decoded.bip34_height())
            typer.echo(dumps_core_json(payload, indent=2))
        else:
            _print_block(decoded)
    elif as_json:
        typer.echo(dumps_core_json(tx_to_core_json(decoded, net), indent=2))
    else:
        _print_tx(decoded, net)
