"""Bitcoin Core-compatible JSON for transactions and blocks.

:func:`tx_to_core_json` gives the shape of ``decoderawtransaction``; :func:`block_to_core_json`
the fields of ``getblock <hash> 2`` that follow from the block alone. BTC amounts are
:class:`~decimal.Decimal` with exactly 8 decimals; :func:`dumps_core_json` writes them as Core
does (``50.00000000``), never through a float.

>>> from chainsleuth.chain.network import get_network
>>> blk = decode_raw(bytes.fromhex(GENESIS_HEX), get_network("main"))
>>> dumps_core_json(block_to_core_json(blk, get_network("main"), 0)["tx"][0]["vout"][0]["value"])
'50.00000000'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from chainsleuth.chain import checks
from chainsleuth.chain.address import script_to_address
from chainsleuth.chain.asm import script_to_asm
from chainsleuth.chain.block import Block
from chainsleuth.chain.network import NETWORKS, Network
from chainsleuth.chain.script import classify_script
from chainsleuth.chain.tx import BytesLike, Tx
from chainsleuth.errors import BlockDataError, NetworkMismatchError

__all__ = [
    "GENESIS_HEX",
    "block_to_core_json",
    "btc_value",
    "core_difficulty",
    "decode_raw",
    "dumps_core_json",
    "tx_to_core_json",
]

GENESIS_HEX = (
    "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b2"
    "7ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c0101000000010000"
    "000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d01044554"
    "68652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f6620"
    "7365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0"
    "fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de"
    "5c384df7ba0b8d578a4c702b6bf11d5fac00000000"
)
"""Mainnet genesis block, raw hex (used in examples and tests)."""

_INT64_WRAP = 1 << 64
_INT64_MAX = (1 << 63) - 1


def btc_value(sats: int) -> Decimal:
    """An amount in satoshis as BTC with exactly 8 decimals (Core's ``ValueFromAmount``).

    Amounts read as unsigned 64-bit are shown as Core's signed ``CAmount`` would be.

    >>> btc_value(5000000000), btc_value(1)
    (Decimal('50.00000000'), Decimal('1E-8'))
    >>> dumps_core_json(btc_value(1))
    '0.00000001'
    """
    if sats > _INT64_MAX:
        sats -= _INT64_WRAP
    return Decimal(sats).scaleb(-8)


def core_difficulty(bits: int) -> float:
    """Difficulty as Core's ``GetDifficulty`` computes it from ``nBits``.

    >>> core_difficulty(0x1D00FFFF)
    1.0
    >>> format(core_difficulty(0x207FFFFF), ".16g")  # Core prints 16 significant digits
    '4.656542373906925e-10'
    """
    shift = (bits >> 24) & 0xFF
    difficulty = float(0x0000FFFF) / float(bits & 0x00FFFFFF or 1)
    while shift < 29:
        difficulty *= 256.0
        shift += 1
    while shift > 29:
        difficulty /= 256.0
        shift -= 1
    return difficulty


def _script_pubkey_json(script: bytes, network: Network) -> dict[str, Any]:
    entry: dict[str, Any] = {"asm": script_to_asm(script), "hex": script.hex()}
    address = script_to_address(script, network)
    if address is not None:
        entry["address"] = address
    entry["type"] = classify_script(script)
    return entry


def tx_to_core_json(tx: Tx, network: Network) -> dict[str, Any]:
    """The ``decoderawtransaction`` result for ``tx`` (without ``desc``, which needs context).

    >>> from chainsleuth.chain.network import get_network
    >>> cb = Block.parse(bytes.fromhex(GENESIS_HEX)).txs[0]
    >>> j = tx_to_core_json(cb, get_network("main"))
    >>> j["txid"][:16], j["vin"][0]["sequence"], j["vout"][0]["scriptPubKey"]["type"]
    ('4a5e1e4baab89f3a', 4294967295, 'pubkey')
    """
    coinbase = tx.is_coinbase
    vin: list[dict[str, Any]] = []
    for txin in tx.inputs:
        entry: dict[str, Any]
        if coinbase:
            entry = {"coinbase": txin.script_sig.hex()}
        else:
            entry = {
                "txid": txin.prev_txid.hex(),
                "vout": txin.prev_vout,
                "scriptSig": {
                    "asm": script_to_asm(txin.script_sig, sighash_decode=True),
                    "hex": txin.script_sig.hex(),
                },
            }
        if txin.witness:
            entry["txinwitness"] = [item.hex() for item in txin.witness]
        entry["sequence"] = txin.sequence
        vin.append(entry)
    vout = [
        {
            "value": btc_value(out.value),
            "n": n,
            "scriptPubKey": _script_pubkey_json(out.script_pubkey, network),
        }
        for n, out in enumerate(tx.outputs)
    ]
    return {
        "txid": tx.txid.hex(),
        "hash": tx.wtxid.hex(),
        "version": tx.version,
        "size": tx.size,
        "vsize": tx.vsize,
        "weight": tx.weight,
        "locktime": tx.locktime,
        "vin": vin,
        "vout": vout,
    }


def _coinbase_summary(coinbase: Tx) -> dict[str, Any]:
    txin = coinbase.inputs[0]
    summary: dict[str, Any] = {
        "version": coinbase.version,
        "locktime": coinbase.locktime,
        "sequence": txin.sequence,
        "coinbase": txin.script_sig.hex(),
    }
    if txin.witness:
        summary["witness"] = txin.witness[0].hex()
    return summary


def block_to_core_json(block: Block, network: Network, height: int | None) -> dict[str, Any]:
    """The ``getblock <hash> 2`` fields computable from the block alone (plus ``height``).

    Omitted: ``confirmations``, ``mediantime``, ``chainwork``, ``nextblockhash`` (need the
    chain), each tx's ``fee`` (needs prevouts), ``desc``; ``height`` when None is given;
    ``previousblockhash`` for a block whose previous hash is all zeros (a genesis block).

    >>> from chainsleuth.chain.network import get_network
    >>> j = block_to_core_json(Block.parse(bytes.fromhex(GENESIS_HEX)), get_network("main"), 0)
    >>> j["hash"][:12], j["nTx"], j["bits"], j["difficulty"], "previousblockhash" in j
    ('000000000019', 1, '1d00ffff', 1.0, False)
    """
    header = block.header
    target = checks.target_from_bits(header.bits) or 0
    result: dict[str, Any] = {"hash": block.hash.hex()}
    if height is not None:
        result["height"] = height
    result.update(
        {
            "version": header.version,
            "versionHex": f"{header.version & 0xFFFFFFFF:08x}",
            "merkleroot": header.merkle_root.hex(),
            "time": header.time,
            "nonce": header.nonce,
            "bits": f"{header.bits:08x}",
            "target": f"{target:064x}",
            # rounded to the 16 significant digits Core's JSON carries
            "difficulty": float(format(core_difficulty(header.bits), ".16g")),
            "nTx": len(block.txs),
        }
    )
    if header.prev_hash != bytes(32):
        result["previousblockhash"] = header.prev_hash.hex()
    result["strippedsize"] = block.stripped_size
    result["size"] = block.size
    result["weight"] = block.weight
    if block.txs and block.txs[0].inputs:
        result["coinbase_tx"] = _coinbase_summary(block.txs[0])
    txs = []
    for tx in block.txs:
        entry = tx_to_core_json(tx, network)
        entry["hex"] = tx.serialize().hex()
        txs.append(entry)
    result["tx"] = txs
    return result


def decode_raw(data: BytesLike, network: Network, *, check: bool = True) -> Tx | Block:
    """Decode raw bytes as a block (if a block parse consumes every byte) or else a transaction.

    A block is checked as Core checks it (:meth:`Block.check` on ``network``: proof of work,
    merkle root, coinbase, witness commitment; errors name its BIP34 height when it has one),
    unless ``check`` is False. A block whose target is easier than ``network``'s proof-of-work
    limit but within another network's raises :class:`NetworkMismatchError` (e.g. a regtest
    block decoded as mainnet); any other failure :class:`BlockDataError`.

    >>> from chainsleuth.chain.network import get_network
    >>> type(decode_raw(bytes.fromhex(GENESIS_HEX), get_network("main"))).__name__
    'Block'
    >>> decode_raw(b"junk", get_network("main"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainsleuth.errors.BlockDataError: 4 bytes are neither a block (truncated block header ...
    """
    try:
        block = Block.parse(data)
    except BlockDataError as block_error:
        try:
            return Tx.parse(data)
        except BlockDataError as tx_error:
            raise BlockDataError(
                f"{len(data)} bytes are neither a block ({block_error}) "
                f"nor a transaction ({tx_error})"
            ) from None
    if not check:
        return block
    height = block.bip34_height()
    target = checks.target_from_bits(block.header.bits)
    if target is not None and target > network.pow_limit:
        fits = [net.name for net in NETWORKS.values() if target <= net.pow_limit]
        if fits:
            reason = checks.pow_problem(block.hash, block.header.bits, network) or ""
            raise NetworkMismatchError(
                f"{checks.block_error(block.hash, reason, height)}; wrong --network? "
                f"(within the limit of {', '.join(fits)})"
            )
    block.check(network=network, height=height)
    return block


def dumps_core_json(obj: Any, indent: int | None = None) -> str:
    """JSON text as Bitcoin Core writes it: Decimal amounts verbatim, doubles with 16 digits.

    Compact (``{"a":1}``) without ``indent``, else nested with that many spaces per level.

    >>> dumps_core_json({"value": Decimal("0.10000000"), "n": [1, 2], "d": 1.0, "ok": True})
    '{"value":0.10000000,"n":[1,2],"d":1,"ok":true}'
    >>> print(dumps_core_json({"a": [], "b": {"c": None}}, indent=2))
    {
      "a": [
      ],
      "b": {
        "c": null
      }
    }
    """
    parts: list[str] = []
    _write_json(obj, parts, indent, 0)
    return "".join(parts)


def _write_json(obj: Any, out: list[str], indent: int | None, depth: int) -> None:
    if isinstance(obj, Mapping):
        items = [(str(k), v) for k, v in obj.items()]
        _write_container("{", "}", items, out, indent, depth)
    elif isinstance(obj, (list, tuple)):
        _write_container("[", "]", [(None, v) for v in obj], out, indent, depth)
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif obj is None:
        out.append("null")
    elif isinstance(obj, Decimal):
        out.append(format(obj, "f"))
    elif isinstance(obj, int):
        out.append(str(obj))
    elif isinstance(obj, float):
        out.append(format(obj, ".16g"))
    elif isinstance(obj, str):
        out.append(json.dumps(obj))
    else:
        raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def _write_container(
    open_: str,
    close: str,
    items: Sequence[tuple[str | None, Any]],
    out: list[str],
    indent: int | None,
    depth: int,
) -> None:
    out.append(open_)
    if indent is None:
        for i, (key, value) in enumerate(items):
            if i:
                out.append(",")
            if key is not None:
                out.append(json.dumps(key) + ":")
            _write_json(value, out, None, depth + 1)
        out.append(close)
        return
    pad = " " * (indent * (depth + 1))
    for i, (key, value) in enumerate(items):
        out.append(",\n" if i else "\n")
        out.append(pad)
        if key is not None:
            out.append(json.dumps(key) + ": ")
        _write_json(value, out, indent, depth + 1)
    out.append("\n" + " " * (indent * depth) + close)
