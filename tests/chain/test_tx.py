"""Transactions: parse / serialize symmetry, txid, weight, errors, on real and random data."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.chain.block import Block
from chainsleuth.chain.tx import COINBASE_PREV_TXID, COINBASE_PREV_VOUT, Tx, TxIn, TxOut
from chainsleuth.errors import BlockDataError

from .conftest import MAINNET_BLOCKS

GENESIS_COINBASE_HEX = (
    "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ff"
    "ff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e2062"
    "72696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a0100"
    "0000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef"
    "38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000"
)
# A real segwit (P2SH-P2WPKH, two inputs) regtest transaction; Core reported
# txid 7bdaba..., hash cd9047..., size 472, vsize 310, weight 1240.
SEGWIT_TX_HEX = (
    "020000000001021a6679a261ff493bf203056c91e0a16086dca7680963b06460b34de61710f7ed0000000017"
    "160014a3de3a786e3c74dc84fa460adc453bf56a3dfd20fdffffffadc7f3f37ec4aff9d876d859b71a81f765"
    "77b475589a6cc78253b433418cc825050000001716001420bdc7f7824a15e1817aaee353795e3eeeda1be0fd"
    "ffffff038a91310400000000225120f8559b00690948a9de6a8c35d7093b9e23278659d9c6bd229fb3ba3086"
    "4768e5eda240000000000017a9142e4bb35dbccae72401c5cf30e3a621ea4c9c31b7878c3e3d030000000022"
    "5120d25b571cff3a2b849c572161d21666aaff1671184a1ff5c9cc08a5bdea42c8a602473044022020898f66"
    "e4ac03b84e12d8016c0975563b4d16a364d768ae03ffdd4f7c411f7c0220570813d9c0474a8f20811c65a8b6"
    "3c7e2d0a89979f80b6b1f36c16da55260d7c012102fbdc72d79743b35c15ccb13d2e473dfd0237f0aeed463f"
    "486fdf6dd4b2b0c6300247304402201743038f224ea5e92f3d80a5a317b1a22a4460b265d01b737484002987"
    "27fc3302202f47b43b1ba8712abed94661da79a832d6bc7bdf7dff40fa3c95858f9e24d7360121028148bc5f"
    "53722568d7feb31b6ecc78f67c7c3bbfdf31e5df50eb708c0daf57762a010000"
)


def _rebuilt(tx: Tx) -> Tx:
    """The same transaction built from its fields (no parse caches): exercises the serializer."""
    return Tx(
        tx.version,
        tuple(dataclasses.replace(i) for i in tx.inputs),
        tuple(dataclasses.replace(o) for o in tx.outputs),
        tx.locktime,
    )


def test_genesis_coinbase() -> None:
    raw = bytes.fromhex(GENESIS_COINBASE_HEX)
    tx = Tx.parse(raw)
    assert tx.txid.hex() == "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
    assert tx.is_coinbase and not tx.has_witness
    assert tx.inputs[0].prev_txid == COINBASE_PREV_TXID
    assert tx.inputs[0].prev_vout == COINBASE_PREV_VOUT
    assert tx.outputs[0].value == 50 * 100_000_000
    assert (tx.size, tx.vsize, tx.weight) == (204, 204, 816)
    assert _rebuilt(tx).serialize() == raw


def test_segwit_transaction_matches_core() -> None:
    raw = bytes.fromhex(SEGWIT_TX_HEX)
    tx = Tx.parse(raw)
    assert tx.txid.hex() == "7bdabaad8603a05d686f4d9bf3858eec8c6a48ddf6c41ece3d49255bb4623075"
    assert tx.wtxid.hex() == "cd9047c3903026c7df6fdbc2554f474cf61e5e269208741f8b9dba92576d9f1c"
    assert (tx.size, tx.vsize, tx.weight) == (472, 310, 1240)
    assert tx.inputs[0].prev_txid.hex().startswith("edf71017e64db360")
    assert tx.inputs[1].prev_vout == 5
    assert len(tx.inputs[0].witness) == 2
    fresh = _rebuilt(tx)
    assert fresh.serialize() == raw
    assert fresh.txid == tx.txid and fresh.wtxid == tx.wtxid
    assert Tx.parse(fresh.serialize(include_witness=False)).txid == tx.txid


@pytest.mark.parametrize("height", [170, 300025, 482683])
def test_serializer_reproduces_every_real_transaction(height: int) -> None:
    block = Block.parse((MAINNET_BLOCKS / f"{height}.bin").read_bytes())
    for tx in block.txs:
        fresh = _rebuilt(tx)
        assert fresh.serialize() == tx.serialize()
        assert fresh.txid == tx.txid and fresh.weight == tx.weight


def test_read_from_offset_and_memoryview() -> None:
    raw = bytes.fromhex(SEGWIT_TX_HEX)
    tx, end = Tx.read_from(memoryview(b"pad" + raw + b"tail"), 3)
    assert end == 3 + len(raw)
    assert tx.txid.hex().startswith("7bdabaad")


def test_truncation_names_offset() -> None:
    raw = bytes.fromhex(SEGWIT_TX_HEX)
    for cut in (3, 10, 50, 200, len(raw) - 1):
        with pytest.raises(BlockDataError, match="offset"):
            Tx.parse(raw[:cut])


def test_trailing_bytes_rejected() -> None:
    raw = bytes.fromhex(GENESIS_COINBASE_HEX)
    with pytest.raises(BlockDataError, match=f"trailing bytes.*offset {len(raw)}"):
        Tx.parse(raw + b"\x00")


def test_superfluous_witness_and_unknown_flag_rejected() -> None:
    tx = Tx(2, (TxIn(b"\x11" * 32, 0, b"", 0, (b"\x01",)),), (TxOut(1, b"\x51"),), 0)
    raw = tx.serialize()
    assert raw[-7:-4] == b"\x01\x01\x01"  # one witness item of one byte, then locktime
    with pytest.raises(BlockDataError, match="superfluous witness"):
        Tx.parse(raw[:-7] + b"\x00" + raw[-4:])  # an empty witness stack instead
    raw = bytearray(tx.serialize())
    raw[5] = 2  # flag byte
    with pytest.raises(BlockDataError, match="flag 0x02"):
        Tx.parse(bytes(raw))


_hashes = st.binary(min_size=32, max_size=32)
_u32 = st.integers(0, 0xFFFFFFFF)
_scripts = st.binary(max_size=300)
_witness = st.lists(st.binary(max_size=80), max_size=4).map(tuple)


@st.composite
def transactions(draw: st.DrawFn) -> Tx:
    coinbase = draw(st.booleans())
    segwit = draw(st.booleans())
    if coinbase:
        prevouts = [(COINBASE_PREV_TXID, COINBASE_PREV_VOUT)]
    else:
        prevouts = draw(st.lists(st.tuples(_hashes, _u32), min_size=1, max_size=4))
    inputs = tuple(
        TxIn(txid, vout, draw(_scripts), draw(_u32), draw(_witness) if segwit else ())
        for txid, vout in prevouts
    )
    outputs = tuple(
        draw(st.lists(st.builds(TxOut, st.integers(0, 2**64 - 1), _scripts), max_size=4))
    )
    return Tx(draw(_u32), inputs, outputs, draw(_u32))


@settings(max_examples=150, deadline=None)
@given(transactions())
def test_random_transactions_round_trip(tx: Tx) -> None:
    raw = tx.serialize()
    parsed = Tx.parse(raw)
    assert parsed == tx
    assert parsed.serialize() == raw
    assert parsed.txid == tx.txid and parsed.wtxid == tx.wtxid
    assert parsed.weight == 3 * len(tx.serialize(include_witness=False)) + len(raw)
    assert parsed.is_coinbase == tx.is_coinbase
    assert Tx.parse(tx.serialize(include_witness=False)).txid == tx.txid
