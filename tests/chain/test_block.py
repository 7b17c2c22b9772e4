"""Blocks: real mainnet blocks against the verified manifest and bcoin's decode; building."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.chain.block import (
    WITNESS_COMMITMENT_PREFIX,
    Block,
    BlockHeader,
    make_witness_commitment_output,
    with_witness_commitment,
)
from chainsleuth.chain.network import get_network
from chainsleuth.chain.tx import Tx, TxIn, TxOut
from chainsleuth.errors import BlockDataError, InputError

from .conftest import MAINNET_BLOCKS

HEIGHTS = sorted(int(p.stem) for p in MAINNET_BLOCKS.glob("*.bin"))
REGTEST_BITS = 0x207FFFFF


@cache
def _raw(height: int) -> bytes:
    return (MAINNET_BLOCKS / f"{height}.bin").read_bytes()


@cache
def _block(height: int) -> Block:
    return Block.parse(_raw(height))


@pytest.mark.parametrize("height", HEIGHTS)
def test_mainnet_block_matches_manifest(
    height: int, mainnet_manifest: dict[int, dict[str, Any]]
) -> None:
    entry = mainnet_manifest[height]
    raw = _raw(height)
    block = _block(height)
    assert block.serialize() == raw
    assert block.hash.hex() == entry["hash"]
    assert len(block.txs) == entry["n_tx"]
    assert sum(len(tx.inputs) for tx in block.txs) == entry["n_inputs"]
    assert sum(len(tx.outputs) for tx in block.txs) == entry["n_outputs"]
    assert sum(tx.total_output_value for tx in block.txs) == entry["total_output_value_sats"]
    assert block.size == entry["size_bytes"] == len(raw)
    assert block.weight == entry["weight"]
    assert block.has_witness == entry["has_segwit"]
    assert sum(tx.has_witness for tx in block.txs) == entry["n_segwit_tx"]
    assert block.header.time == entry["time"]
    assert f"{block.header.bits:08x}" == entry["bits"]
    assert block.compute_merkle_root() == block.header.merkle_root
    assert block.txs[0].is_coinbase
    block.check(f"{height}.bin", network=get_network("main"), height=height)
    if height >= 227931:  # BIP34 enforced
        assert block.bip34_height() == height


@pytest.mark.parametrize("height", [h for h in HEIGHTS if h >= 481824])
def test_witness_commitment_verifies(height: int) -> None:
    block = _block(height)
    commitment = block.witness_commitment()
    assert commitment is not None
    assert commitment == block.compute_witness_commitment()


def test_481815_commitment_without_reserved_value_is_accepted() -> None:
    block = _block(481815)  # commitment pattern, no witness data, no reserved value
    assert block.witness_commitment() is not None
    assert block.compute_witness_commitment() is None
    assert not block.has_witness
    block.check("481815.bin")


def test_genesis_has_no_previous_block_and_no_bip34_height() -> None:
    block = _block(0)
    assert block.header.prev_hash == bytes(32)
    assert block.bip34_height() is None
    assert _block(1).header.prev_hash == block.hash


def test_flipped_transaction_byte_fails_merkle_check() -> None:
    raw = bytearray(_raw(170))
    raw[-20] ^= 0x01  # inside the last transaction's output script
    block = Block.parse(bytes(raw))
    expected = r"^block 00000000d11457\w+ \(blk00000\.dat offset 1234\): merkle root mismatch"
    with pytest.raises(BlockDataError, match=expected):
        block.check("blk00000.dat", 1234)


def test_flipped_witness_byte_fails_commitment_check() -> None:
    block = _block(482683)
    tx_pos = next(i for i, tx in enumerate(block.txs) if i and tx.has_witness)
    tx = block.txs[tx_pos]
    txin = tx.inputs[0]
    longest = max(range(len(txin.witness)), key=lambda k: len(txin.witness[k]))
    item = bytearray(txin.witness[longest])
    item[10] ^= 0xFF
    witness = list(txin.witness)
    witness[longest] = bytes(item)
    changed_in = TxIn(
        txin.prev_txid, txin.prev_vout, txin.script_sig, txin.sequence, tuple(witness)
    )
    changed = Tx(tx.version, (changed_in, *tx.inputs[1:]), tx.outputs, tx.locktime)
    txs = list(block.txs)
    txs[tx_pos] = changed
    tampered = Block.parse(Block(block.header, tuple(txs)).serialize())
    with pytest.raises(BlockDataError, match=r"\(x\.dat offset 7\): witness commitment mismatch"):
        tampered.check("x.dat", 7)


def test_bad_proof_of_work_is_rejected() -> None:
    block = _block(170)
    with pytest.raises(BlockDataError, match="hash above the target of nBits 0x1d00ffff"):
        block.with_nonce(block.header.nonce ^ 1).check("f", 0)


def test_truncated_block_names_offset() -> None:
    raw = _raw(170)
    with pytest.raises(BlockDataError, match="offset"):
        Block.parse(raw[:-10])
    with pytest.raises(BlockDataError, match="offset 0"):
        Block.parse(raw[:50])
    with pytest.raises(BlockDataError, match=f"trailing bytes.*offset {len(raw)}"):
        Block.parse(raw + b"\x00")


def test_read_from_consecutive_blocks() -> None:
    joined = _raw(0) + _raw(1) + _raw(170)
    pos, hashes = 0, []
    while pos < len(joined):
        block, pos = Block.read_from(joined, pos)
        hashes.append(block.hash)
    assert hashes == [_block(0).hash, _block(1).hash, _block(170).hash]


def test_header_round_trip_and_hash() -> None:
    header = BlockHeader.parse(_raw(1))
    fresh = BlockHeader(
        header.version, header.prev_hash, header.merkle_root, header.time, header.bits, header.nonce
    )
    assert fresh.serialize() == _raw(1)[:80]
    assert fresh.hash.hex() == "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048"
    assert fresh.check_pow()


def test_block_300025_matches_bcoin_decode() -> None:
    bcoin = json.loads((MAINNET_BLOCKS / "300025.json").read_text())
    block = _block(300025)
    assert block.hash.hex() == bcoin["hash"]
    assert block.header.prev_hash.hex() == bcoin["prevBlock"]
    assert block.header.merkle_root.hex() == bcoin["merkleRoot"]
    assert (block.header.version, block.header.time) == (bcoin["version"], bcoin["time"])
    assert (block.header.bits, block.header.nonce) == (bcoin["bits"], bcoin["nonce"])
    assert len(block.txs) == len(bcoin["txs"])
    for tx, expected in zip(block.txs, bcoin["txs"], strict=True):
        assert tx.txid.hex() == expected["hash"]
        assert tx.version == expected["version"] and tx.locktime == expected["locktime"]
        assert [
            (i.prev_txid.hex(), i.prev_vout, i.script_sig.hex(), i.sequence) for i in tx.inputs
        ] == [
            (i["prevout"]["hash"], i["prevout"]["index"], i["script"], i["sequence"])
            for i in expected["inputs"]
        ]
        assert [(o.value, o.script_pubkey.hex()) for o in tx.outputs] == [
            (o["value"], o["script"]) for o in expected["outputs"]
        ]


# -- building ---------------------------------------------------------------------------------


def _coinbase(height: int, payout: bytes, value: int) -> Tx:
    script_sig = bytes([0x03]) + height.to_bytes(3, "little") + b"chainsleuth"
    return Tx(2, (TxIn(bytes(32), 0xFFFFFFFF, script_sig, 0xFFFFFFFF),), (TxOut(value, payout),), 0)


_spends = st.lists(
    st.tuples(
        st.binary(min_size=32, max_size=32),
        st.integers(0, 50),
        st.lists(st.binary(min_size=1, max_size=72), max_size=3).map(tuple),
        st.integers(1, 10**8),
    ),
    max_size=8,
    unique_by=lambda spend: (spend[0], spend[1]),
)


@settings(max_examples=40, deadline=None)
@given(_spends, st.integers(1, 10**6), st.integers(0, 2**31))
def test_built_blocks_pass_check(
    spends: list[tuple[bytes, int, tuple[bytes, ...], int]], height: int, time: int
) -> None:
    others = [
        Tx(
            2,
            (TxIn(txid, vout, b"", 0xFFFFFFFD, witness),),
            (TxOut(value, bytes.fromhex("0014") + txid[:20]),),
            height,
        )
        for txid, vout, witness, value in spends
    ]
    coinbase = _coinbase(height, bytes.fromhex("51"), 50 * 10**8)
    if any(tx.has_witness for tx in others):
        coinbase = with_witness_commitment(coinbase, others)
    block = Block.build(b"\x22" * 32, [coinbase, *others], time, REGTEST_BITS)
    block.check("built", 0)
    assert block.check_pow()
    assert block.bip34_height() == height
    assert block.header.prev_hash == b"\x22" * 32
    again = Block.parse(block.serialize())
    assert again == block and again.hash == block.hash
    again.check()


def test_commitment_output_shape() -> None:
    out = make_witness_commitment_output([b"\x01" * 32])
    assert out.value == 0
    assert out.script_pubkey.startswith(WITNESS_COMMITMENT_PREFIX)
    assert len(out.script_pubkey) == 38


def test_build_refuses_duplicate_transactions() -> None:
    coinbase = _coinbase(3, b"\x51", 1)
    spend = Tx(2, (TxIn(b"\x05" * 32, 0, b"", 0),), (TxOut(1, b"\x51"),), 0)
    with pytest.raises(InputError, match="same transaction twice"):
        Block.build(bytes(32), [coinbase, spend, spend], 0, REGTEST_BITS)


def test_witness_block_without_commitment_is_rejected() -> None:
    spend = Tx(2, (TxIn(b"\x05" * 32, 0, b"", 0, (b"\x01",)),), (TxOut(1, b"\x51"),), 0)
    block = Block.build(bytes(32), [_coinbase(5, b"\x51", 1), spend], 0, REGTEST_BITS)
    with pytest.raises(BlockDataError, match="no witness commitment"):
        block.check()
