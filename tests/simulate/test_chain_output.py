"""The simulated chain: valid blocks, balanced values, determinism, ingestable, truth complete."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from chainsleuth.chain.network import get_network
from chainsleuth.simulate import load_scenario, simulate

SEED = 11  # as tests/simulate/conftest.py
TINY = Path(__file__).resolve().parents[2] / "scenarios" / "tiny.yaml"


def _digest_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_byte_identical_files(tiny_run: Any, tmp_path: Path) -> None:
    # A separate process with another hash seed: no output may depend on set or dict order.
    again = tmp_path / "again"
    code = (
        "from chainsleuth.cli import main; raise SystemExit(main(['simulate', "
        f"{str(TINY)!r}, '--out', {str(again)!r}, '--seed', '{SEED}', '--quiet']))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
    first = _digest_tree(tiny_run.out)
    assert first == _digest_tree(again)
    assert "blocks/blk00000.dat" in first and "truth/txs.parquet" in first
    assert "truth/tagpacks/exchanges.yaml" in first


def test_other_seed_gives_other_chain(tiny_run: Any, tmp_path: Path) -> None:
    scenario = load_scenario(TINY)
    other = tmp_path / "other"
    simulate(scenario, other, seed=SEED + 1)
    assert (other / "blocks" / "blk00000.dat").read_bytes() != (
        tiny_run.out / "blocks" / "blk00000.dat"
    ).read_bytes()


def test_blocks_parse_check_and_chain_up(tiny_run: Any) -> None:
    blocks = tiny_run.blocks
    regtest = get_network("regtest")
    assert blocks[0][2].hash.hex() == regtest.genesis_hash
    assert (tiny_run.out / "blocks" / "xor.dat").read_bytes() != bytes(8)
    prev = blocks[0][2]
    for height, (name, offset, block) in enumerate(blocks[1:], start=1):
        block.check(name, offset)
        assert block.header.prev_hash == prev.hash
        assert block.header.time > prev.header.time
        assert block.bip34_height() == height
        assert block.txs[0].locktime == height - 1  # as Core's coinbase
        prev = block


def test_values_balance_and_fees_match_truth(tiny_run: Any) -> None:
    fees = dict(zip(tiny_run.txs.txid, tiny_run.txs.fee, strict=True))
    utxo: dict[tuple[bytes, int], int] = {}
    for height, (_, _, block) in enumerate(tiny_run.blocks):
        block_fees = 0
        for tx in block.txs[1:]:
            in_value = sum(utxo.pop((i.prev_txid, i.prev_vout)) for i in tx.inputs)
            fee = in_value - tx.total_output_value
            assert fee > 0
            assert fee == fees[tx.txid.hex()]
            block_fees += fee
            for vout, out in enumerate(tx.outputs):
                utxo[(tx.txid, vout)] = out.value
        coinbase = block.txs[0]
        if height:
            subsidy = (50 * 100_000_000) >> (height // 150)
            assert coinbase.total_output_value == subsidy + block_fees
        for vout, out in enumerate(coinbase.outputs):
            utxo[(coinbase.txid, vout)] = out.value


def test_truth_covers_every_transaction_and_output_address(tiny_run: Any) -> None:
    txids = {tx.txid.hex() for _, _, b in tiny_run.blocks[1:] for tx in b.txs}
    assert set(tiny_run.txs.txid) == txids
    assert len(tiny_run.txs) > 1500
    kinds = Counter(tiny_run.txs.kind)
    for kind in (
        "withdrawal",
        "deposit",
        "consolidation",
        "service-payment",
        "cashout",
        "coinjoin",
    ):
        assert kinds[kind] > 0, kind
    assert tiny_run.addresses.address.is_unique
    assert set(tiny_run.payments.customer) - {"investigator"} <= set(
        tiny_run.entities.name[tiny_run.entities.customer_of.notna()]
    )


def test_ingest_finds_every_truth_txid_and_address(tiny_run: Any, tmp_path: Path) -> None:
    ingest = pytest.importorskip("chainsleuth.ingest")
    dataset_mod = pytest.importorskip("chainsleuth.store.dataset")
    data = tmp_path / "ds"
    ingest.ingest_blocks(tiny_run.out / "blocks", data, "regtest")
    ds = dataset_mod.Dataset.open(data)
    txids = {bytes(t).hex() for (t,) in ds.sql("select txid from txs").fetchall()}
    assert set(tiny_run.txs.txid) <= txids
    addresses = {a for (a,) in ds.sql("select address from addresses").fetchall()}
    assert set(tiny_run.addresses.address) <= addresses
    (bad,) = ds.sql(
        "select count(*) from txs where not is_coinbase "
        "and (fee <= 0 or in_value <> out_value + fee)"
    ).fetchone()
    assert bad == 0
