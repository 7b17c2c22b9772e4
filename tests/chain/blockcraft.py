"""Crafted bad blocks made from real ones, shared by the decode and ingest tests of the checks."""

from __future__ import annotations

from collections.abc import Callable

from chainsleuth.chain.block import Block
from chainsleuth.chain.checks import target_from_bits
from chainsleuth.chain.hashes import sha256d
from chainsleuth.chain.network import get_network
from chainsleuth.chain.tx import Tx, TxIn

REGTEST = get_network("regtest")


def with_header(raw: bytes, *, bits: int | None = None, nonce: int | None = None) -> bytes:
    """``raw`` with another nBits and/or nonce in its header."""
    head = bytearray(raw[:80])
    if bits is not None:
        head[72:76] = bits.to_bytes(4, "little")
    if nonce is not None:
        head[76:80] = nonce.to_bytes(4, "little")
    return bytes(head) + raw[80:]


def grind(raw: bytes, accept: Callable[[int], bool]) -> bytes:
    """``raw`` with the first nonce whose header hash (as a number) ``accept`` takes."""
    for nonce in range(1 << 16):
        candidate = with_header(raw, nonce=nonce)
        if accept(int.from_bytes(sha256d(candidate[:80])[::-1], "big")):
            return candidate
    raise AssertionError("no nonce found")


def mutate_last_tx(raw: bytes) -> bytes:
    """The block with its last transaction repeated (same merkle root when the count is odd)."""
    block = Block.parse(raw)
    return Block(block.header, (*block.txs, block.txs[-1])).serialize()


def break_witness(raw: bytes) -> bytes:
    """Flip a byte of a non-coinbase witness item: txids (and the header) stay, a wtxid moves."""
    block = Block.parse(raw)
    pos = next(i for i, tx in enumerate(block.txs) if i and tx.has_witness)
    tx = block.txs[pos]
    txin = tx.inputs[0]
    item = bytearray(txin.witness[0])
    item[-1] ^= 0x01
    changed_in = TxIn(
        txin.prev_txid, txin.prev_vout, txin.script_sig, txin.sequence,
        (bytes(item), *txin.witness[1:]),
    )  # fmt: skip
    changed = Tx(tx.version, (changed_in, *tx.inputs[1:]), tx.outputs, tx.locktime)
    txs = list(block.txs)
    txs[pos] = changed
    return Block(block.header, tuple(txs)).serialize()


REGTEST_TARGET = target_from_bits(REGTEST.pow_limit_bits) or 0

# name -> (height of the regtest block to start from, how to break it, reason in the error)
CRAFTED: dict[str, tuple[int, Callable[[bytes], bytes], str]] = {
    "over-limit": (
        5,
        lambda r: with_header(r, bits=0x2100FFFF),
        "nBits 0x2100ffff target above regtest's proof-of-work limit 0x207fffff",
    ),
    "negative": (
        5,
        lambda r: with_header(r, bits=0x20800001),
        "nBits 0x20800001 target is negative (sign bit 0x00800000 set)",
    ),
    "overflow": (
        5,
        lambda r: with_header(r, bits=0x23000001),
        "nBits 0x23000001 target overflows 256 bits",
    ),
    "zero": (5, lambda r: with_header(r, bits=0x20000000), "nBits 0x20000000 target is zero"),
    "hash-above-target": (
        5,
        lambda r: grind(r, lambda h: h > REGTEST_TARGET),
        "hash above the target of nBits 0x207fffff",
    ),
    "mutated-merkle": (
        211,
        mutate_last_tx,
        "mutated merkle tree: identical hashes paired, duplicate transactions "
        "(bad-txns-duplicate, CVE-2012-2459)",
    ),
    "bad-witness-commitment": (211, break_witness, "witness commitment mismatch (coinbase "),
}
