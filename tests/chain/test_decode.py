"""Core-compatible JSON: every regtest transaction and block against Bitcoin Core's getblock 2."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from chainsleuth.chain.block import Block, BlockHeader
from chainsleuth.chain.decode import (
    GENESIS_HEX,
    block_to_core_json,
    btc_value,
    core_difficulty,
    decode_raw,
    dumps_core_json,
    tx_to_core_json,
)
from chainsleuth.chain.network import get_network
from chainsleuth.chain.tx import Tx
from chainsleuth.errors import BlockDataError, NetworkMismatchError

from .conftest import DATA, MAINNET_BLOCKS

REGTEST = get_network("regtest")
MAIN = get_network("main")
# Keys of getblock that need the chain or prevouts, and descriptors (not produced).
CHAIN_KEYS = ("confirmations", "mediantime", "chainwork", "nextblockhash")


def _without_context(core_tx: dict[str, Any]) -> dict[str, Any]:
    tx = copy.deepcopy(core_tx)
    tx.pop("fee", None)
    for out in tx["vout"]:
        out["scriptPubKey"].pop("desc", None)
    return tx


def _as_loaded(obj: Any) -> Any:
    """Our JSON as the fixture loaded Core's (json.loads: amounts become floats)."""
    return json.loads(dumps_core_json(obj))


def _block_from_core(core: dict[str, Any]) -> Block:
    header = BlockHeader(
        core["version"],
        bytes.fromhex(core.get("previousblockhash", "00" * 32)),
        bytes.fromhex(core["merkleroot"]),
        core["time"],
        int(core["bits"], 16),
        core["nonce"],
    )
    return Block(header, tuple(Tx.parse(bytes.fromhex(t["hex"])) for t in core["tx"]))


def test_every_regtest_tx_matches_core(core_regtest_blocks: list[dict[str, Any]]) -> None:
    n_checked = 0
    for core_block in core_regtest_blocks:
        for core_tx in core_block["tx"]:
            tx = Tx.parse(bytes.fromhex(core_tx["hex"]))
            mine = tx_to_core_json(tx, REGTEST)
            expected = _without_context(core_tx)
            expected.pop("hex")
            assert _as_loaded(mine) == expected, core_tx["txid"]
            n_checked += 1
    assert n_checked == 3981  # README: 3981 transactions


def test_every_regtest_block_matches_core(core_regtest_blocks: list[dict[str, Any]]) -> None:
    for core_block in core_regtest_blocks:
        block = _block_from_core(core_block)
        block.check(f"height {core_block['height']}")
        mine = block_to_core_json(block, REGTEST, core_block["height"])
        expected = {k: v for k, v in core_block.items() if k not in CHAIN_KEYS}
        expected["tx"] = [_without_context(t) for t in core_block["tx"]]
        assert _as_loaded(mine) == expected, core_block["hash"]
        if core_block["height"] > 16:
            assert block.bip34_height() == core_block["height"]


def test_amounts_are_written_with_eight_decimals_like_core(
    core_regtest_blocks: list[dict[str, Any]],
) -> None:
    # Core writes every amount with exactly 8 decimals; a float round trip would not.
    for core_block in core_regtest_blocks[200:260]:
        for core_tx in core_block["tx"]:
            tx = Tx.parse(bytes.fromhex(core_tx["hex"]))
            for out, core_out in zip(tx.outputs, core_tx["vout"], strict=True):
                assert dumps_core_json(btc_value(out.value)) == f"{core_out['value']:.8f}"
    text = dumps_core_json({"value": btc_value(2_100_000_000_000_000)})
    assert text == '{"value":21000000.00000000}'


def test_regtest_blk_file_blocks_check_out(core_regtest_blocks: list[dict[str, Any]]) -> None:
    # Core's own blk00000.dat (XOR-obfuscated): each record is magic, size, block.
    blocks_dir = DATA / "regtest-core-a" / "blocks"
    key = (blocks_dir / "xor.dat").read_bytes()
    raw = (blocks_dir / "blk00000.dat").read_bytes()
    mask = (key * (len(raw) // 8 + 1))[: len(raw)]
    data = (int.from_bytes(raw, "big") ^ int.from_bytes(mask, "big")).to_bytes(len(raw), "big")
    pos, hashes = 0, []
    while pos + 8 <= len(data) and data[pos : pos + 4] == REGTEST.magic:
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        block, end = Block.read_from(data, pos + 8)
        assert end == pos + 8 + size
        block.check("blk00000.dat", pos)
        hashes.append(block.hash.hex())
        pos = end
    assert hashes == [b["hash"] for b in core_regtest_blocks]


def test_decode_raw_detects_block_and_tx() -> None:
    genesis = decode_raw(bytes.fromhex(GENESIS_HEX), MAIN)
    assert isinstance(genesis, Block)
    coinbase_raw = genesis.txs[0].serialize()
    tx = decode_raw(coinbase_raw, MAIN)
    assert isinstance(tx, Tx) and tx.txid == genesis.txs[0].txid
    with pytest.raises(BlockDataError, match="neither a block"):
        decode_raw(coinbase_raw[:-1], MAIN)


def test_decode_raw_refuses_regtest_block_as_mainnet(
    core_regtest_blocks: list[dict[str, Any]],
) -> None:
    raw = _block_from_core(core_regtest_blocks[5]).serialize()
    assert isinstance(decode_raw(raw, REGTEST), Block)
    with pytest.raises(NetworkMismatchError, match="207fffff"):
        decode_raw(raw, MAIN)


def test_mainnet_block_json_fields() -> None:
    block = Block.parse((MAINNET_BLOCKS / "713126.bin").read_bytes())
    j = block_to_core_json(block, MAIN, 713126)
    assert j["hash"] == "0000000000000000000593310d3b0cdc082af49f38b8a1611239072aef8433a8"
    assert j["nTx"] == len(j["tx"]) == 2967
    assert j["height"] == 713126
    assert j["versionHex"] == f"{block.header.version:08x}"
    types = {o["scriptPubKey"]["type"] for t in j["tx"] for o in t["vout"]}
    assert "witness_v1_taproot" in types
    taproot = next(
        o["scriptPubKey"]
        for t in j["tx"]
        for o in t["vout"]
        if o["scriptPubKey"]["type"] == "witness_v1_taproot"
    )
    assert taproot["address"].startswith("bc1p")
    assert Tx.parse(bytes.fromhex(j["tx"][5]["hex"])).txid.hex() == j["tx"][5]["txid"]


def test_difficulty_like_core() -> None:
    assert core_difficulty(0x1D00FFFF) == 1.0
    # Core prints 1 for the mainnet limit and this 16-digit value for regtest.
    assert f"{core_difficulty(0x207FFFFF):.16g}" == "4.656542373906925e-10"


def test_dumps_core_json_compact_and_indented() -> None:
    obj = {"a": Decimal("0.00000001"), "b": [1, "x"], "c": None, "d": False}
    assert dumps_core_json(obj) == '{"a":0.00000001,"b":[1,"x"],"c":null,"d":false}'
    pretty = dumps_core_json(obj, indent=2)
    assert json.loads(pretty, parse_float=Decimal) == obj
    assert '  "a": 0.00000001,' in pretty.splitlines()
    with pytest.raises(TypeError):
        dumps_core_json({"x": object()})
